"""What a checkpointer that implements only the saver contract (``put`` / ``put_writes``,
subclassed to watch them) sees of a run, compared with what LangGraph hands the same
saver: the thread id always as text, each checkpoint's parent one that the same saver's
``put`` stored, one put per checkpoint in the same order. Graphs with subgraphs that
hand off to their parent (``Command(graph=Command.PARENT)``) are the case in point.
"""

from __future__ import annotations

import operator
from types import SimpleNamespace
from typing import Annotated, Any, TypedDict

import pytest

from tests.differential._harness import modules


class Log(TypedDict):
    log: Annotated[list[str], operator.add]


def _watching_saver(pkg: str) -> Any:
    """An in-memory saver of ``pkg`` whose ``put`` fails on a parent checkpoint it never
    stored (as LangGraph's own test saver does) and records every put and write."""
    memory = __import__(f"{pkg}.checkpoint.memory", fromlist=["InMemorySaver"])

    class Watching(memory.InMemorySaver):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[tuple[Any, ...]] = []
            self.stored: set[tuple[Any, str, str]] = set()

        def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
            conf = config["configurable"]
            thread, ns, parent = conf["thread_id"], conf.get("checkpoint_ns", ""), conf.get("checkpoint_id")
            if parent is not None:
                assert (thread, ns, parent) in self.stored, f"put after {parent} it never stored ({thread!r}, {ns!r})"
            self.stored.add((thread, ns, checkpoint["id"]))
            self.calls.append(("put", type(thread).__name__, ns.split(":")[0], metadata["source"], metadata["step"]))
            return super().put(config, checkpoint, metadata, new_versions)

        def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
            conf = config["configurable"]
            assert (conf["thread_id"], conf.get("checkpoint_ns", ""), conf["checkpoint_id"]) in self.stored
            self.calls.append(("writes", type(conf["thread_id"]).__name__))
            super().put_writes(config, writes, task_id, task_path)

    return Watching()


def _handoff(m: SimpleNamespace, persist: bool, depth: int) -> Any:
    """A parent whose subgraph (``depth`` levels deep) ends with a handoff to ``after``."""

    def work(state: Log) -> dict[str, Any]:
        return {"log": ["work"]}

    def handoff(state: Log) -> Any:
        return m.types.Command(graph=m.types.Command.PARENT, goto="after", update={"log": ["handoff"]})

    def after(state: Log) -> dict[str, Any]:
        return {"log": ["after"]}

    inner = m.graph.StateGraph(Log)
    inner.add_node("work", work)
    inner.add_node("handoff", handoff)
    inner.add_edge(m.graph.START, "work")
    inner.add_edge("work", "handoff")
    sub = inner.compile(checkpointer=persist)
    for _ in range(depth - 1):
        mid = m.graph.StateGraph(Log)
        mid.add_node("deeper", sub, destinations=("after",))
        mid.add_node("after", after)
        mid.add_edge(m.graph.START, "deeper")
        sub = mid.compile(checkpointer=persist)
    g = m.graph.StateGraph(Log)
    g.add_node("sub", sub, destinations=("after",))
    g.add_node("after", after)
    g.add_edge(m.graph.START, "sub")
    return g


@pytest.mark.parametrize("thread_id", [1, "1"])
@pytest.mark.parametrize("persist", [False, True])
@pytest.mark.parametrize("depth", [1, 2])
def test_handoff_from_a_subgraph_saves_like_langgraph(thread_id: Any, persist: bool, depth: int) -> None:
    seen = {}
    for pkg in ("langgraph", "asyncgraph"):
        saver = _watching_saver(pkg)
        graph = _handoff(modules(pkg), persist, depth).compile(checkpointer=saver)
        config = {"configurable": {"thread_id": thread_id}}
        out = graph.invoke({"log": ["in"]}, config)
        state = graph.get_state(config)
        puts = [c for c in saver.calls if c[0] == "put"]
        seen[pkg] = (out, state.values, state.next, puts, {c[1] for c in saver.calls})
    assert seen["asyncgraph"] == seen["langgraph"]
    assert seen["asyncgraph"][-1] == {"str"}  # the saver never saw an int thread id


@pytest.mark.parametrize("step_timeout", [None, 1.0])
def test_parent_command_out_of_the_root_graph_is_raised_as_itself(step_timeout: float | None) -> None:
    # Nothing above the root takes the command: the caller gets it, as in LangGraph.
    class V(TypedDict):
        value: str

    seen = {}
    for pkg in ("langgraph", "asyncgraph"):
        m = modules(pkg)
        errors = __import__(f"{pkg}.errors", fromlist=["ParentCommand"])

        def node(state: V) -> Any:
            return m.types.Command(graph=m.types.Command.PARENT, goto="elsewhere", update={"key": "v"})

        b = m.graph.StateGraph(V)
        b.add_node("node", node)
        b.add_edge(m.graph.START, "node")
        graph = b.compile(checkpointer=_watching_saver(pkg))
        graph.step_timeout = step_timeout
        config = {"configurable": {"thread_id": "t"}}
        with pytest.raises(errors.ParentCommand) as info:
            graph.invoke({"value": "start"}, config)
        cmd = info.value.args[0]
        state = graph.get_state(config)
        seen[pkg] = (cmd.goto, cmd.update, state.values, state.next)
    assert seen["asyncgraph"] == seen["langgraph"] == ("elsewhere", {"key": "v"}, {"value": "start"}, ("node",))
