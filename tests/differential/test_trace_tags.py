"""What callback handlers see of a node's run, against LangGraph:

* ``add_node(trace_policy=...)`` changes what tracers (``BaseTracer``s that record runs)
  record of the node's run; every other handler, ``astream_events`` included, sees the
  node's real input and output;
* a Runnable invoked inside a node is tagged ``seq:step:1`` (the node's callable is the
  first step of LangGraph's node sequence), a conditional edge's run ``seq:step:N`` (N
  counts the node's state write and static out-edges before it), and a ``config``
  parameter of a path function hands its Runnables the node's run as parent.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tracers.base import BaseTracer

from ._harness import PACKAGES, modules


class S(TypedDict):
    x: Annotated[int, operator.add]


class Plain(BaseCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.names: dict[Any, str] = {}

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: Any, parent_run_id: Any = None, **kw: Any) -> None:
        self.names[run_id] = kw.get("name") or ""
        self.seen.append(("start", self.names[run_id], self.names.get(parent_run_id), inputs, sorted(kw.get("tags") or [])))

    def on_chain_end(self, outputs: Any, *, run_id: Any, **kw: Any) -> None:
        self.seen.append(("end", self.names.get(run_id), outputs))


class Tracer(BaseTracer):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []

    def _persist_run(self, run: Any) -> None:
        pass

    def _on_chain_start(self, run: Any) -> None:
        self.seen.append(("start", run.name, run.inputs, sorted(run.tags or [])))

    def _on_chain_end(self, run: Any) -> None:
        self.seen.append(("end", run.name, run.outputs))


def _policy_graph(pkg: str) -> Any:
    m = modules(pkg)
    g = m.graph.StateGraph(S)
    policy = m.types.TracePolicy(process_inputs=lambda v: {"summary": v["x"]}, process_outputs=lambda v: "hidden")
    g.add_node("a", lambda s: {"x": 1}, trace_policy=policy)
    g.add_node("b", lambda s: {"x": 2})
    g.add_edge(m.graph.START, "a")
    g.add_edge("a", "b")
    return g.compile()


@pytest.mark.parametrize("sync", [False, True])
async def test_trace_policy_applies_to_tracers_only(sync: bool) -> None:
    seen = {}
    for pkg in PACKAGES:
        app = _policy_graph(pkg)
        plain, tracer = Plain(), Tracer()
        cfg = {"callbacks": [plain, tracer]}
        app.invoke({"x": 0}, cfg) if sync else await app.ainvoke({"x": 0}, cfg)
        seen[pkg] = (sorted(map(repr, plain.seen)), sorted(map(repr, tracer.seen)))
    assert seen["asyncgraph"] == seen["langgraph"]
    assert "'hidden'" in " ".join(seen["asyncgraph"][1]) and "'hidden'" not in " ".join(seen["asyncgraph"][0])


async def test_astream_events_sees_the_raw_payload() -> None:
    seen = {}
    for pkg in PACKAGES:
        app = _policy_graph(pkg)
        seen[pkg] = [(e["event"], e["data"]) async for e in app.astream_events({"x": 0}, version="v2") if e["name"] == "a"]
    assert seen["asyncgraph"] == seen["langgraph"]


def _tag_graph(pkg: str) -> Any:
    m = modules(pkg)
    inner = RunnableLambda(lambda v: v + 1, name="inner")

    def a(s: S, config: RunnableConfig) -> dict:
        return {"x": inner.invoke(s["x"], config)}

    def route(s: S, config: RunnableConfig) -> str:
        inner.invoke(1, config)
        return "b"

    def route2(s: S) -> str:
        inner.invoke(1)
        return "c"

    sub = m.graph.StateGraph(S)
    sub.add_node("sx", lambda s: {"x": 5})
    sub.add_edge(m.graph.START, "sx")
    g = m.graph.StateGraph(S)
    g.add_node("a", a)
    g.add_node("b", RunnableLambda(lambda s: {"x": 3}, name="rl"))
    g.add_node("c", sub.compile())
    g.add_node("d", lambda s: {"x": inner.invoke(1)})
    g.add_node("e", lambda s: {"x": 1})
    g.add_node("f", lambda s: {"x": 1})
    g.add_edge(m.graph.START, "a")
    g.add_edge(m.graph.START, "f")
    g.add_conditional_edges("a", route, ["b"])
    g.add_conditional_edges("a", route2, ["c"])
    g.add_edge("a", "e")
    g.add_edge(["a", "f"], "d")
    g.add_conditional_edges("f", route2, ["c"])
    return g.compile()


@pytest.mark.parametrize("sync", [False, True])
async def test_runs_inside_a_node_are_tagged_seq_step(sync: bool) -> None:
    seen = {}
    for pkg in PACKAGES:
        app = _tag_graph(pkg)
        h = Plain()
        cfg = {"callbacks": [h]}
        app.invoke({"x": 0}, cfg) if sync else await app.ainvoke({"x": 0}, cfg)
        seen[pkg] = sorted(repr((n, parent, tags)) for kind, n, parent, *rest, tags in (
            (e[0], e[1], e[2], e[4]) for e in h.seen if e[0] == "start"))
    assert seen["asyncgraph"] == seen["langgraph"]
    assert any("seq:step:5" in r for r in seen["asyncgraph"])
