"""Subgraph checkpoints under time travel, on LangGraph and asyncgraph side by side.

Each scenario drives a parent graph with a subgraph through interrupts, resumes,
replays of earlier checkpoints and forks (``update_state``), on each library's
in-memory saver, and compares what a user sees: outputs, which nodes ran with which
state, the parent's history (source, step, next), the subgraph's snapshot, and the
layout of the saved checkpoints (namespace without task ids, source, step).
Interrupt and task ids differ by design and are not compared.
"""

from __future__ import annotations

import importlib
import operator
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

from tests.differential.test_persistence_flows import _clean, _mods

PACKAGES = ("langgraph", "asyncgraph")


class Sub(TypedDict):
    value: Annotated[list[str], operator.add]


class Parent(TypedDict):
    results: Annotated[list[str], operator.add]


def _ns(ns: str) -> str:
    """A namespace without its task ids (they are hashes of different inputs)."""
    return "|".join(part.split(":", 1)[0] for part in ns.split("|")) if ns else ns


def _history(app: Any, config: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(h.metadata["source"], h.metadata["step"], h.next, h.values) for h in app.get_state_history(config)]


def _layout(app: Any) -> list[tuple[Any, ...]]:
    """Every saved checkpoint: (namespace, source, step, values), in a fixed order."""
    rows = [
        (_ns(t.config["configurable"]["checkpoint_ns"]), t.metadata["source"], t.metadata["step"],
         repr(t.checkpoint["channel_values"].get("value")))
        for t in app.checkpointer.list(None)
    ]
    return sorted(rows)


def _both(scenario: Callable[[Any, Any, Any], list[Any]]) -> None:
    lg, ag = (scenario(*_mods(pkg)) for pkg in PACKAGES)
    assert _clean(ag) == _clean(lg)


def _asking_subgraph(G: Any, T: Any, log: list[Any], checkpointer: Any) -> Any:
    """START -> step_a (asks) -> step_b (asks) -> END; ``log`` gets what each saw."""

    def step_a(s: Sub) -> dict[str, Any]:
        log.append(("step_a", dict(s)))
        return {"value": [f"a:{T.interrupt('question_a')}"]}

    def step_b(s: Sub) -> dict[str, Any]:
        log.append(("step_b", dict(s)))
        return {"value": [f"b:{T.interrupt('question_b')}"]}

    return (
        G.StateGraph(Sub)
        .add_node("step_a", step_a)
        .add_node("step_b", step_b)
        .add_edge(G.START, "step_a")
        .add_edge("step_a", "step_b")
        .compile(checkpointer=checkpointer)
    )


def _parent(G: Any, M: Any, sub: Any) -> Any:
    return (
        G.StateGraph(Parent)
        .add_node("parent_node", lambda s: {"results": ["p"]})
        .add_node("sub_node", sub)
        .add_edge(G.START, "parent_node")
        .add_edge("parent_node", "sub_node")
        .compile(checkpointer=M.InMemorySaver())
    )


def test_stateful_subgraph_replay_and_fork_see_the_state_of_that_time() -> None:
    """checkpointer=True: the subgraph's state accumulates over runs; replaying (and
    forking) the parent's checkpoint before the 2nd run's subgraph shows the subgraph
    its state as it was then (after the 1st run), not its latest."""

    def scenario(G: Any, T: Any, M: Any) -> list[Any]:
        log: list[Any] = []
        app = _parent(G, M, _asking_subgraph(G, T, log, True))
        config = {"configurable": {"thread_id": "t"}}
        out: list[Any] = []
        for run in ("1", "2"):
            out.append(app.invoke({"results": []}, config))
            out.append(app.invoke(T.Command(resume=f"a{run}"), config))
            out.append(app.invoke(T.Command(resume=f"b{run}"), config))
        out.append(list(log))
        before_sub = [s for s in app.get_state_history(config) if s.next == ("sub_node",)][0]
        log.clear()
        out.append(app.invoke(None, before_sub.config))
        out.append(app.invoke(T.Command(resume="a3"), config))
        out.append(app.invoke(T.Command(resume="b3"), config))
        out.append(list(log))
        log.clear()
        fork = app.update_state(before_sub.config, {"results": ["forked"]})
        out.append(app.invoke(None, fork))
        out.append(list(log))
        out.append(_history(app, config))
        out.append(_layout(app))
        return out

    _both(scenario)


def test_stateless_subgraph_starts_fresh_on_replay() -> None:
    """The default subgraph (checkpointer=None) keeps no state between runs, and a
    replay of the parent starts it fresh too."""

    def scenario(G: Any, T: Any, M: Any) -> list[Any]:
        log: list[Any] = []
        app = _parent(G, M, _asking_subgraph(G, T, log, None))
        config = {"configurable": {"thread_id": "t"}}
        out: list[Any] = []
        for run in ("1", "2"):
            out.append(app.invoke({"results": []}, config))
            out.append(app.invoke(T.Command(resume=f"a{run}"), config))
            out.append(app.invoke(T.Command(resume=f"b{run}"), config))
        before_sub = [s for s in app.get_state_history(config) if s.next == ("sub_node",)][0]
        out.append(app.invoke(None, before_sub.config))
        out.append(list(log))
        out.append(_history(app, config))
        return out

    _both(scenario)


def _executor_scenario(checkpointer: Any) -> Callable[[Any, Any, Any], list[Any]]:
    def scenario(G: Any, T: Any, M: Any) -> list[Any]:
        called: list[str] = []

        def step_a(s: Sub) -> dict[str, Any]:
            called.append("step_a")
            return {"value": ["a"]}

        def ask(name: str) -> Callable[[Sub], dict[str, Any]]:
            def node(s: Sub) -> dict[str, Any]:
                called.append(name)
                return {"value": [f"{name}:{T.interrupt(name + '?')}"]}

            return node

        executor = (
            G.StateGraph(Sub)
            .add_node("step_a", step_a)
            .add_node("ask_1", ask("ask_1"))
            .add_node("ask_2", ask("ask_2"))
            .add_edge(G.START, "step_a")
            .add_edge("step_a", "ask_1")
            .add_edge("ask_1", "ask_2")
            .compile(checkpointer=checkpointer)
        )
        app = G.StateGraph(Sub).add_node("executor", executor).add_edge(G.START, "executor").compile(
            checkpointer=M.InMemorySaver()
        )
        config = {"configurable": {"thread_id": "t"}}
        out: list[Any] = [app.invoke({"value": []}, config)]
        snap = app.get_state(config, subgraphs=True)
        sub = snap.tasks[0].state
        out.append((sub.values, sub.next, _ns(sub.config["configurable"]["checkpoint_ns"]),
                    sorted(_ns(k) for k in sub.config["configurable"]["checkpoint_map"])))
        out.append(app.invoke(T.Command(resume="r1"), config))
        out.append(app.invoke(T.Command(resume="r2"), config))
        # Time travel to the subgraph's checkpoint at its first interrupt.
        called.clear()
        out.append(app.invoke(None, sub.config))
        out.append(list(called))
        # ... and answer its questions anew.
        out.append(app.invoke(T.Command(resume="n1"), config))
        out.append(app.invoke(T.Command(resume="n2"), config))
        out.append(list(called))
        # A fork of the subgraph's checkpoint.
        called.clear()
        fork = app.update_state(sub.config, {"value": ["forked"]})
        out.append(app.invoke(None, fork))
        out.append(app.invoke(T.Command(resume="f1"), config))
        out.append(list(called))
        out.append(_history(app, config))
        return out

    return scenario


def test_time_travel_to_a_stateful_subgraph_checkpoint_then_resume() -> None:
    _both(_executor_scenario(True))


def test_time_travel_to_a_stateless_subgraph_checkpoint_then_resume() -> None:
    _both(_executor_scenario(None))


def test_each_graph_a_node_runs_keeps_its_own_state() -> None:
    """Two checkpointer=True graphs run by one node: each keeps (and accumulates) its
    own state; the second run of a task saves under its own namespace."""

    def scenario(G: Any, T: Any, M: Any) -> list[Any]:
        def wrapper(tag: str) -> Any:
            inner = (
                G.StateGraph(Sub)
                .add_node("echo", lambda s: {"value": [f"{tag}{len(s['value'])}"]})
                .add_edge(G.START, "echo")
                .compile()
            )
            return (
                G.StateGraph(Sub).add_node(f"{tag}_agent", inner).add_edge(G.START, f"{tag}_agent").compile(
                    checkpointer=True
                )
            )

        fruit, veggie = wrapper("f"), wrapper("v")
        seen: list[Any] = []

        def both(s: Parent) -> dict[str, Any]:
            seen.append(fruit.invoke({"value": ["x"]}))
            seen.append(veggie.invoke({"value": ["y"]}))
            return {"results": ["ok"]}

        app = G.StateGraph(Parent).add_node("both", both).add_edge(G.START, "both").compile(
            checkpointer=M.InMemorySaver()
        )
        config = {"configurable": {"thread_id": "t"}}
        app.invoke({"results": []}, config)
        app.invoke({"results": []}, config)
        return [seen, _layout(app)]

    _both(scenario)


def test_stateful_subgraph_streams_and_runs_under_its_own_namespace() -> None:
    """A checkpointer=True subgraph's namespace has no task ids anywhere: its stream
    chunks, its tasks' checkpoint_ns, and a stateless subgraph nested in it."""

    def scenario(G: Any, T: Any, M: Any) -> list[Any]:
        C = importlib.import_module(G.__name__.split(".")[0] + ".config")
        seen: list[Any] = []

        def node(s: Sub) -> dict[str, Any]:
            seen.append(_ns(C.get_config()["configurable"]["checkpoint_ns"]))
            return {"value": ["x"]}

        deep = G.StateGraph(Sub).add_node("deep", node).add_edge(G.START, "deep").compile()
        inner = (
            G.StateGraph(Sub)
            .add_node("n", node)
            .add_node("deep_sub", deep)
            .add_edge(G.START, "n")
            .add_edge("n", "deep_sub")
            .compile(checkpointer=True)
        )
        app = G.StateGraph(Sub).add_node("inner", inner).add_edge(G.START, "inner").compile(
            checkpointer=M.InMemorySaver()
        )
        config = {"configurable": {"thread_id": "t"}}
        chunks = [(tuple(p if ":" not in p else p.split(":")[0] + ":<id>" for p in ns), c)
                  for ns, c in app.stream({"value": []}, config, subgraphs=True)]
        return [chunks, seen, _layout(app)]

    _both(scenario)


def _graph_in_a_function_scenario(checkpointer: Any) -> Callable[[Any, Any, Any], list[Any]]:
    def scenario(G: Any, T: Any, M: Any) -> list[Any]:
        class Inner(TypedDict):
            bar: str
            baz: str

        class Outer(TypedDict):
            foo: str

        inner = (
            G.StateGraph(Inner)
            .add_node("ask", lambda s: {"baz": T.interrupt("baz?")})
            .add_node("join", lambda s: {"bar": s["bar"] + s["baz"]})
            .add_edge(G.START, "ask")
            .add_edge("ask", "join")
            .compile(checkpointer=checkpointer)
        )

        def call_inner(s: Outer) -> dict[str, Any]:
            return {"foo": inner.invoke({"bar": s["foo"]})["bar"]}

        app = (
            G.StateGraph(Outer)
            .add_node("first", lambda s: {"foo": "hi " + s["foo"]})
            .add_node("call_inner", call_inner)
            .add_edge(G.START, "first")
            .add_edge("first", "call_inner")
            .compile(checkpointer=M.InMemorySaver())
        )
        config = {"configurable": {"thread_id": "t"}}
        out: list[Any] = [[name for name, _ in app.get_subgraphs()], app.invoke({"foo": "foo"}, config)]
        sub = app.get_state(config, subgraphs=True).tasks[0].state
        out.append((sub.values, sub.next, _ns(sub.config["configurable"]["checkpoint_ns"])))
        out.append(app.invoke(T.Command(resume="baz"), config))
        return out

    return scenario


def test_graph_invoked_inside_a_node_function_is_its_subgraph() -> None:
    """A graph that a node's function invokes is one of its subgraphs: listed by
    get_subgraphs, its paused state shown by get_state(subgraphs=True)."""
    _both(_graph_in_a_function_scenario(None))
    _both(_graph_in_a_function_scenario(True))


def test_two_graphs_a_sync_node_runs_stream_before_its_update() -> None:
    """A sync node that runs a checkpointer=True graph and then a stateless one:
    streamed with subgraphs=True, their chunks come first, each under its own
    namespace (the second run of the task numbered ``|1``), then the node's update;
    the stateful one's counter accumulates over the parent's runs."""

    def scenario(G: Any, T: Any, M: Any) -> list[Any]:
        class Counted(TypedDict):
            n: Annotated[int, operator.add]

        class Top(TypedDict):
            total: int

        kept = G.StateGraph(Counted).add_node("add2", lambda s: {"n": 2}).add_edge(G.START, "add2").compile(
            checkpointer=True
        )
        fresh = G.StateGraph(Counted).add_node("add3", lambda s: {"n": 3}).add_edge(G.START, "add3").compile()

        def both(s: Top) -> dict[str, Any]:
            first = kept.invoke({"n": s["total"]})
            return {"total": fresh.invoke({"n": first["n"]})["n"]}

        app = G.StateGraph(Top).add_node("both", both).add_edge(G.START, "both").compile(
            checkpointer=M.InMemorySaver()
        )
        config = {"configurable": {"thread_id": "t"}}
        out: list[Any] = []
        for _ in range(2):
            out.append([
                (tuple(p if ":" not in p else p.split(":")[0] + ":<id>" for p in ns), c)
                for ns, c in app.stream({"total": 0}, config, subgraphs=True, stream_mode="updates")
            ])
        return out

    _both(scenario)


def _exit_durability_scenario(kind: str) -> Callable[[Any, Any, Any], list[Any]]:
    def scenario(G: Any, T: Any, M: Any) -> list[Any]:
        class Inner(TypedDict):
            value: Annotated[list[str], operator.add]

        def second(s: Inner) -> dict[str, Any]:
            if kind == "asks":
                return {"value": [f"b:{T.interrupt('b?')}"]}
            return {"value": ["b"]}

        inner = (
            G.StateGraph(Inner)
            .add_node("first", lambda s: {"value": ["a"]})
            .add_node("second", second)
            .add_edge(G.START, "first")
            .add_edge("first", "second")
            .compile(checkpointer=True if kind == "kept" else None)
        )
        app = (
            G.StateGraph(Inner)
            .add_node("inner", inner)
            .add_edge(G.START, "inner")
            .add_conditional_edges("inner", lambda s: "inner" if len(s["value"]) < 6 else G.END)
            .compile(checkpointer=M.InMemorySaver())
        )
        config = {"configurable": {"thread_id": "t"}}
        out: list[Any] = [app.invoke({"value": []}, config, durability="exit"), _layout(app)]
        if kind == "asks":
            out.append(app.invoke(T.Command(resume="x"), config, durability="exit"))
            out.append(_layout(app))
        return out

    return scenario


def test_exit_durability_is_inherited_by_subgraphs() -> None:
    """durability="exit" reaches subgraphs: one that finishes saves nothing (unless
    it keeps its state, checkpointer=True); one that pauses saves what it needs to
    resume."""
    for kind in ("fresh", "kept", "asks"):
        _both(_exit_durability_scenario(kind))
