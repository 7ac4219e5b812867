"""``add_node(error_handler=...)`` and ``set_node_defaults()`` against LangGraph.

Each graph is built on both packages; the final state, the values and updates streams
(``assert_same``), and where a checkpointer is involved the state history after a
crash and a resume, must match.
"""

from __future__ import annotations

import importlib
import operator
from typing import Annotated, Any

import pytest
from typing_extensions import TypedDict

from tests.differential._harness import PACKAGES, assert_same, modules

pytestmark = pytest.mark.anyio


class State(TypedDict):
    foo: str
    log: Annotated[list[str], operator.add]


def _errors(m: Any) -> Any:
    return importlib.import_module(f"{m.name}.errors")


def _saver(m: Any) -> Any:
    return importlib.import_module(f"{m.name}.checkpoint.memory").InMemorySaver()


def _failing(msg: str = "boom") -> Any:
    def node(state: Any) -> Any:
        raise ValueError(msg)

    return node


def _append(tag: str) -> Any:
    def node(state: Any) -> dict[str, list[str]]:
        return {"log": [tag]}

    return node


async def test_handler_update_runs_in_the_failed_nodes_place() -> None:
    # The sibling's and the handler's writes land in one step, in the failed node's
    # place in the barrier's order; the failed node's own edge is not followed.
    def build(m: Any) -> Any:
        NodeError = _errors(m).NodeError

        def handler(state: State, error: NodeError) -> dict[str, Any]:  # type: ignore[valid-type]
            return {"foo": f"{error.node}:{error.error}", "log": ["h"]}

        g = m.graph.StateGraph(State)
        g.add_node("bad", _failing(), error_handler=handler)
        g.add_node("ok", _append("ok"))
        g.add_node("next", _append("next"))
        g.add_edge(m.graph.START, "bad")
        g.add_edge(m.graph.START, "ok")
        g.add_edge("bad", "next")
        return g.compile()

    await assert_same(build, {"foo": "", "log": []})


async def test_handler_command_routes_on() -> None:
    def build(m: Any) -> Any:
        def handler(state: State) -> Any:
            return m.types.Command(update={"foo": "handled"}, goto="after")

        g = m.graph.StateGraph(State)
        g.add_node("bad", _failing(), error_handler=handler)
        g.add_node("after", _append("after"))
        g.add_edge(m.graph.START, "bad")
        return g.compile()

    await assert_same(build, {"foo": "", "log": []})


async def test_handler_after_retries_and_async_nodes() -> None:
    attempts: dict[str, int] = {}

    def build(m: Any) -> Any:
        NodeError = _errors(m).NodeError
        attempts[m.name] = 0

        async def flaky(state: State) -> dict[str, Any]:
            attempts[m.name] += 1
            raise KeyError("nope")

        async def handler(state: State, error: NodeError) -> dict[str, Any]:  # type: ignore[valid-type]
            return {"log": [f"{type(error.error).__name__}"]}

        policy = m.types.RetryPolicy(max_attempts=3, initial_interval=0, jitter=False, retry_on=KeyError)
        g = m.graph.StateGraph(State)
        g.add_node("flaky", flaky, retry_policy=policy, error_handler=handler)
        g.add_edge(m.graph.START, "flaky")
        return g.compile()

    await assert_same(build, {"foo": "", "log": []})
    # ainvoke + astream: two runs of three attempts on each package.
    assert attempts == {"langgraph": 6, "asyncgraph": 6}


async def test_send_task_failure_is_handled_with_the_packet() -> None:
    def build(m: Any) -> Any:
        def work(arg: dict[str, int]) -> dict[str, Any]:
            if arg["x"] == 2:
                raise ValueError("two")
            return {"log": [f"ok{arg['x']}"]}

        def handler(arg: dict[str, int]) -> dict[str, Any]:
            return {"log": [f"handled{arg['x']}"]}

        g = m.graph.StateGraph(State)
        g.add_node("work", work, error_handler=handler)
        g.add_conditional_edges(m.graph.START, lambda s: [m.types.Send("work", {"x": i}) for i in (1, 2, 3)])
        return g.compile()

    await assert_same(build, {"foo": "", "log": []})


async def test_default_handler_and_per_node_handler() -> None:
    def build(m: Any) -> Any:
        NodeError = _errors(m).NodeError

        def default(state: State, error: NodeError) -> dict[str, Any]:  # type: ignore[valid-type]
            return {"log": [f"default:{error.node}"]}

        def own(state: State, error: NodeError) -> dict[str, Any]:  # type: ignore[valid-type]
            return {"log": [f"own:{error.node}"]}

        g = m.graph.StateGraph(State)
        g.set_node_defaults(error_handler=default)
        g.add_node("a", _failing(), error_handler=own)
        g.add_node("b", _failing())
        g.add_node("c", _append("c"))
        g.add_edge(m.graph.START, "a")
        g.add_edge(m.graph.START, "b")
        g.add_edge(m.graph.START, "c")
        return g.compile()

    await assert_same(build, {"foo": "", "log": []})


async def test_subgraph_failure_is_handled_by_the_parent() -> None:
    def build(m: Any) -> Any:
        sub = m.graph.StateGraph(State)
        sub.add_node("inner", _failing("inner"))
        sub.add_edge(m.graph.START, "inner")

        def handler(state: State) -> dict[str, Any]:
            return {"foo": "parent handled"}

        g = m.graph.StateGraph(State)
        g.add_node("sub", sub.compile(), error_handler=handler)
        g.add_edge(m.graph.START, "sub")
        return g.compile()

    await assert_same(build, {"foo": "", "log": []})


def _history(app: Any, cfg: dict[str, Any]) -> list[Any]:
    out = []
    for snap in app.get_state_history(cfg):
        out.append((snap.metadata.get("source"), snap.metadata.get("step"), snap.next, snap.values,
                    [(t.name, t.error is not None, bool(t.interrupts)) for t in snap.tasks]))
    return out


@pytest.mark.parametrize("durability", ["sync", "exit"])
@pytest.mark.parametrize("how", ["crash", "interrupt"])
def test_handler_resumes_not_the_node(how: str, durability: str) -> None:
    """The handler crashes (or calls interrupt()) and the run is resumed: the handler
    runs again, the failed node does not. Outputs, state and history match."""
    seen = {}
    for pkg in PACKAGES:
        m = modules(pkg)
        calls = {"node": 0, "handler": 0}
        crash = [True]

        def node(state: State) -> Any:
            calls["node"] += 1
            raise ValueError("boom")

        def handler(state: State) -> dict[str, Any]:
            calls["handler"] += 1
            if how == "interrupt":
                answer = m.types.interrupt("why?")
                return {"log": [f"h:{answer}"]}
            if crash[0]:
                raise RuntimeError("handler crash")
            return {"foo": "recovered"}

        g = m.graph.StateGraph(State)
        g.add_node("node", node, error_handler=handler)
        g.add_edge(m.graph.START, "node")
        if how == "interrupt":
            # A sibling finishes in the paused step (with a crash, whether LangGraph
            # saves a sibling's writes depends on timing).
            g.add_node("ok", _append("ok"))
            g.add_edge(m.graph.START, "ok")
        app = g.compile(checkpointer=_saver(m))
        cfg = {"configurable": {"thread_id": "t"}}
        first: Any
        if how == "crash":
            with pytest.raises(RuntimeError, match="handler crash"):
                app.invoke({"foo": "", "log": []}, cfg, durability=durability)
            first = None
            crash[0] = False
            resumed = list(app.stream(None, cfg, stream_mode="updates", durability=durability))
        else:
            first = app.invoke({"foo": "", "log": []}, cfg, durability=durability)
            first = {k: v for k, v in first.items() if k != "__interrupt__"}
            resumed = list(app.stream(m.types.Command(resume="yes"), cfg, stream_mode="updates", durability=durability))
        # LangGraph also replays the writes restored from the checkpoint as updates
        # marked cached (asyncgraph does not, for any resume): compare the rest.
        resumed = [c for c in resumed if "__metadata__" not in c]
        state = app.get_state(cfg)
        seen[pkg] = (first, resumed, dict(calls), state.values, state.next, _history(app, cfg))
    assert seen["asyncgraph"] == seen["langgraph"]
    assert seen["asyncgraph"][2] == {"node": 1, "handler": 2}


def test_interrupt_in_the_node_is_not_handled() -> None:
    seen = {}
    for pkg in PACKAGES:
        m = modules(pkg)

        def node(state: State) -> dict[str, Any]:
            return {"foo": m.types.interrupt("need input")}

        def handler(state: State) -> dict[str, Any]:
            return {"foo": "handled"}

        g = m.graph.StateGraph(State)
        g.add_node("node", node, error_handler=handler)
        g.add_edge(m.graph.START, "node")
        app = g.compile(checkpointer=_saver(m))
        cfg = {"configurable": {"thread_id": "t"}}
        app.invoke({"foo": "", "log": []}, cfg)
        paused = app.get_state(cfg)
        out = app.invoke(m.types.Command(resume="given"), cfg)
        seen[pkg] = ([t.name for t in paused.tasks if t.interrupts], paused.next, out)
    assert seen["asyncgraph"] == seen["langgraph"]
    assert seen["asyncgraph"][2]["foo"] == "given"


async def test_set_node_defaults_retry_and_timeout() -> None:
    import asyncio

    def build(m: Any) -> Any:
        tries = {"n": 0}

        async def flaky(state: State) -> dict[str, Any]:
            tries["n"] += 1
            if tries["n"] % 2:
                await asyncio.sleep(5)  # cut off by the default run timeout
            return {"log": [f"try{tries['n']}"]}

        g = m.graph.StateGraph(State)
        g.add_node("flaky", flaky)
        g.add_edge(m.graph.START, "flaky")
        g.set_node_defaults(
            retry_policy=m.types.RetryPolicy(max_attempts=2, initial_interval=0, jitter=False),
            timeout=m.types.TimeoutPolicy(run_timeout=0.05),
        )
        return g.compile()

    await assert_same(build, {"foo": "", "log": []})


def test_handler_names_in_the_graph() -> None:
    names = {}
    for pkg in PACKAGES:
        m = modules(pkg)
        g = m.graph.StateGraph(State)
        g.add_node("a", _failing(), error_handler=lambda s: {})
        g.add_edge(m.graph.START, "a")
        names[pkg] = sorted(g.nodes)
    assert names["asyncgraph"] == names["langgraph"] == ["__error_handler__a", "a"]


@pytest.mark.parametrize("pause_after", ["bad", "__error_handler__bad"])
def test_interrupt_after_the_failed_node_or_its_handler(pause_after: str) -> None:
    seen = {}
    for pkg in PACKAGES:
        m = modules(pkg)
        g = m.graph.StateGraph(State)
        g.add_node("bad", _failing(), error_handler=lambda s: {"log": ["h"]})
        g.add_node("next", _append("next"))
        g.add_edge(m.graph.START, "bad")
        g.add_edge("__error_handler__bad", "next")  # the handler's own edge is followed
        app = g.compile(checkpointer=_saver(m), interrupt_after=[pause_after])
        cfg = {"configurable": {"thread_id": "t"}}
        paused = app.invoke({"foo": "", "log": []}, cfg)
        nxt = app.get_state(cfg).next
        seen[pkg] = (paused, nxt, app.invoke(None, cfg))
    assert seen["asyncgraph"] == seen["langgraph"]
    assert seen["asyncgraph"][1] == ("next",)


def test_drawing_shows_handlers_on_their_own() -> None:
    drawn = {}
    for pkg in PACKAGES:
        m = modules(pkg)
        g = m.graph.StateGraph(State)
        g.add_node("bad", _failing(), error_handler=lambda s: {})
        g.set_node_defaults(error_handler=lambda s: {})
        g.add_edge(m.graph.START, "bad")
        drawing = g.compile().get_graph()
        drawn[pkg] = (sorted(drawing.nodes), sorted((e.source, e.target) for e in drawing.edges))
    assert drawn["asyncgraph"] == drawn["langgraph"]
    assert "__default_error_handler__" in drawn["asyncgraph"][0]
