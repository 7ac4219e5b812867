"""``output_keys=`` of invoke / stream, on LangGraph and asyncgraph: a bare key gives
bare values, a list gives dicts of those keys; ``updates`` are filtered the same way."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

from ._harness import PACKAGES, modules


class S(TypedDict):
    x: int
    y: Annotated[list[str], operator.add]


def _graph(pkg: str) -> Any:
    m = modules(pkg)
    g = m.graph.StateGraph(S)
    g.add_node("a", lambda s: {"x": s["x"] + 1, "y": ["a"]})
    g.add_node("b", lambda s: {"y": ["b"]})
    g.add_edge(m.graph.START, "a")
    g.add_edge("a", "b")
    return g.compile()


def _seen(pkg: str, keys: Any) -> list[Any]:
    graph = _graph(pkg)
    inp = {"x": 1, "y": []}
    return [
        graph.invoke(inp, output_keys=keys),
        list(graph.stream(inp, output_keys=keys, stream_mode="values")),
        list(graph.stream(inp, output_keys=keys, stream_mode="updates")),
    ]


@pytest.mark.parametrize("keys", ["x", ["x"], ["y", "x"], "y"], ids=repr)
def test_output_keys_match_langgraph(keys: Any) -> None:
    oracle, ours = (_seen(pkg, keys) for pkg in PACKAGES)
    assert ours == oracle


async def test_output_keys_in_ainvoke_and_astream() -> None:
    graph = _graph("asyncgraph")
    assert await graph.ainvoke({"x": 1, "y": []}, output_keys="x") == 2
    chunks = [c async for c in graph.astream({"x": 1, "y": []}, output_keys=["y"], stream_mode="updates")]
    assert chunks == [{"a": {"y": ["a"]}}, {"b": {"y": ["b"]}}]


def test_an_unknown_output_key_is_an_error_naming_it_before_anything_runs() -> None:
    ran: list[str] = []
    m = modules("asyncgraph")
    g = m.graph.StateGraph(S)
    g.add_node("a", lambda s: ran.append("a") or {})
    g.add_edge(m.graph.START, "a")
    with pytest.raises(ValueError, match="output_keys names 'nope'.*its keys are: x, y"):
        g.compile().invoke({"x": 1, "y": []}, output_keys=["x", "nope"])
    assert ran == []
