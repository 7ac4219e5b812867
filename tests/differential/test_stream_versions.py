"""What a paused run streams, in LangGraph 1.2's v1 shapes and in ``version="v2"``
(dict items with ``type`` / ``ns`` / ``data``; ``invoke`` returns ``GraphOutput``),
compared with LangGraph on a subgraph that writes custom chunks and interrupts."""

from __future__ import annotations

import re
from typing import Any, TypedDict

import pytest

from ._harness import PACKAGES, modules


class S(TypedDict):
    x: int


def _graph(pkg: str) -> Any:
    m = modules(pkg)

    def ask(state: S) -> dict[str, Any]:
        m.config.get_stream_writer()({"hi": 1})
        return {"x": m.types.interrupt("ask")}

    sub = m.graph.StateGraph(S)
    sub.add_node("ask", ask)
    sub.add_edge(m.graph.START, "ask")
    g = m.graph.StateGraph(S)
    g.add_node("pre", lambda s: {"x": s["x"] + 1})
    g.add_node("sub", sub.compile())
    g.add_edge(m.graph.START, "pre")
    g.add_edge("pre", "sub")
    saver = __import__(f"{pkg}.checkpoint.memory", fromlist=["InMemorySaver"]).InMemorySaver()
    return g.compile(checkpointer=saver)


def _plain(x: Any) -> str:
    """repr with task ids and interrupt ids (random per run) taken out."""
    text = re.sub(r"sub:[0-9a-f-]+", "sub", repr(x))
    return re.sub(r"Interrupt\(value='ask', id='[0-9a-f]+'(, response_schema=None)?\)", "Interrupt(ask)", text)


CASES = [
    ("values", False),
    (["values", "updates", "custom"], True),
    ("updates", False),
]


def _run(pkg: str, version: str) -> list[str]:
    m = modules(pkg)
    graph = _graph(pkg)
    out = []
    for i, (mode, subgraphs) in enumerate(CASES):
        cfg = {"configurable": {"thread_id": str(i)}}
        out.append(_plain(list(graph.stream({"x": 1}, cfg, stream_mode=mode, subgraphs=subgraphs, version=version))))
        out.append(_plain(graph.invoke(m.types.Command(resume=7), cfg, version=version)))
    cfg = {"configurable": {"thread_id": "invoke"}}
    out.append(_plain(graph.invoke({"x": 1}, cfg, version=version)))
    return out


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_paused_run_streams_what_langgraph_streams(version: str) -> None:
    oracle, ours = (_run(pkg, version) for pkg in PACKAGES)
    assert ours == oracle


def test_v2_items_and_graph_output() -> None:
    from asyncgraph.types import Command, GraphOutput

    graph = _graph("asyncgraph")
    cfg = {"configurable": {"thread_id": "t"}}
    items = list(graph.stream({"x": 1}, cfg, stream_mode="values", version="v2"))
    assert [i["data"] for i in items] == [{"x": 1}, {"x": 2}, {"x": 2}]
    assert items[0] == {"type": "values", "ns": (), "data": {"x": 1}, "interrupts": ()}
    assert [i.value for i in items[-1]["interrupts"]] == ["ask"]
    done = graph.invoke(Command(resume=7), cfg, version="v2")
    assert done == GraphOutput(value={"x": 7}, interrupts=())
    with pytest.warns(DeprecationWarning, match="result.value"):
        assert done["x"] == 7


def test_an_unknown_version_is_an_error() -> None:
    with pytest.raises(ValueError, match="version must be 'v1' or 'v2', got 'v3'"):
        _graph("asyncgraph").invoke({"x": 1}, {"configurable": {"thread_id": "x"}}, version="v3")
