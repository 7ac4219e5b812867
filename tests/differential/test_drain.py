"""Cooperative drain (``invoke(..., control=RunControl())``, LangGraph 1.2): the run
stops at the next step boundary with its checkpoint saved, raises ``GraphDrained``,
and resumes with ``invoke(None, config)``. Compared with LangGraph."""

from __future__ import annotations

import importlib
import operator
from typing import Annotated, Any, TypedDict

from ._harness import PACKAGES, modules


class S(TypedDict):
    log: Annotated[list[str], operator.add]


def _graph(pkg: str, control: Any) -> Any:
    m = modules(pkg)

    def a(state: S) -> dict[str, Any]:
        control.request_drain("deploy")  # e.g. a SIGTERM handler, here from inside a node
        return {"log": ["a"]}

    g = m.graph.StateGraph(S)
    g.add_node("a", a)
    g.add_node("b", lambda s: {"log": ["b"]})
    g.add_node("c", lambda s: {"log": ["c"]})
    g.add_edge(m.graph.START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    saver = importlib.import_module(f"{pkg}.checkpoint.memory").InMemorySaver()
    return g.compile(checkpointer=saver)


def _drained_then_resumed(pkg: str) -> list[Any]:
    runtime = importlib.import_module(f"{pkg}.runtime")
    errors = importlib.import_module(f"{pkg}.errors")
    control = runtime.RunControl()
    graph = _graph(pkg, control)
    cfg = {"configurable": {"thread_id": "t"}}
    seen: list[Any] = []
    try:
        graph.invoke({"log": []}, cfg, control=control)
    except errors.GraphDrained as exc:
        seen.append((exc.reason, str(exc)))
    state = graph.get_state(cfg)
    seen.append((state.next, state.values, state.metadata["step"]))
    seen.append(graph.invoke(None, cfg))
    seen.append(len(list(graph.get_state_history(cfg))))
    return seen


def test_a_drained_run_stops_saves_and_resumes_as_in_langgraph() -> None:
    oracle, ours = (_drained_then_resumed(pkg) for pkg in PACKAGES)
    assert ours == oracle
    assert ours[0] == ("deploy", "Graph drained: deploy")
    assert ours[1][0] == ("b",)


def test_a_node_sees_the_drain_request_through_its_runtime() -> None:
    from asyncgraph.graph import StateGraph
    from asyncgraph.runtime import RunControl, Runtime

    seen: list[Any] = []

    def node(state: S, runtime: Runtime) -> dict[str, Any]:
        seen.append((runtime.drain_requested, runtime.drain_reason))
        return {}

    g = StateGraph(S)
    g.add_node("n", node)
    g.add_edge("__start__", "n")
    control = RunControl()
    g.compile().invoke({"log": []}, control=control)
    control.request_drain("sigterm")
    g.compile().invoke({"log": []}, control=RunControl())
    assert seen == [(False, None), (False, None)]
    # Asked before the run starts: it stops before its first node.
    from asyncgraph.errors import GraphDrained

    try:
        g.compile().invoke({"log": []}, control=control)
    except GraphDrained as exc:
        assert exc.reason == "sigterm"
    else:  # pragma: no cover - the assertion below reports it
        raise AssertionError("the run was not drained")
    assert len(seen) == 2
