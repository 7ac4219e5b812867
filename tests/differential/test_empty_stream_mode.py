"""``stream_mode=[]``: LangGraph runs the graph and streams nothing (``invoke`` returns
``[]``); asyncgraph does the same and warns, since an empty list is almost always a bug."""

from __future__ import annotations

import warnings
from typing import Any, TypedDict

import pytest

from ._harness import PACKAGES, modules


class S(TypedDict):
    x: int


def _graph(pkg: str, ran: list[int]) -> Any:
    m = modules(pkg)

    def step(state: S) -> dict[str, Any]:
        ran.append(state["x"])
        return {"x": state["x"] + 1}

    g = m.graph.StateGraph(S)
    g.add_node("step", step)
    g.add_edge(m.graph.START, "step")
    saver = __import__(f"{pkg}.checkpoint.memory", fromlist=["InMemorySaver"]).InMemorySaver()
    return g.compile(checkpointer=saver)


@pytest.mark.parametrize("pkg", PACKAGES)
async def test_an_empty_stream_mode_runs_the_graph_and_streams_nothing(pkg: str) -> None:
    ran: list[int] = []
    app = _graph(pkg, ran)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfg = {"configurable": {"thread_id": "1"}}
        chunks = [c async for c in app.astream({"x": 1}, cfg, stream_mode=[])]
        v2 = [c async for c in app.astream({"x": 5}, {"configurable": {"thread_id": "2"}}, stream_mode=[], version="v2")]
        out = await app.ainvoke({"x": 10}, {"configurable": {"thread_id": "3"}}, stream_mode=[])
    assert chunks == [] and v2 == [] and out == []
    assert ran == [1, 5, 10]  # every run happened
    assert (await app.aget_state(cfg)).values == {"x": 2}  # and was saved
    empty = [w for w in caught if "stream_mode is an empty list" in str(w.message)]
    if pkg == "asyncgraph":
        assert len(empty) == 3 and all(w.category is UserWarning for w in empty)
