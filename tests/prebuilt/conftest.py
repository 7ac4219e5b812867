"""Fixtures for the prebuilt tests: a typed message state and a one-node tools graph."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage

from asyncgraph.constants import START
from asyncgraph.graph import StateGraph
from asyncgraph.graph.message import add_messages


class ToolState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    user: str
    visits: int


def _ai_calls(*calls: tuple[str, dict[str, Any]]) -> AIMessage:
    return AIMessage(
        "",
        tool_calls=[{"name": n, "args": a, "id": f"c{i}", "type": "tool_call"} for i, (n, a) in enumerate(calls)],
    )


@pytest.fixture
def ai_calls() -> Callable[..., AIMessage]:
    """``ai_calls(("name", {args}), ...)``: an AIMessage calling those tools, ids c0, c1..."""
    return _ai_calls


@pytest.fixture
def tools_graph() -> Callable[..., Any]:
    """``tools_graph(node, schema=ToolState, extra_nodes=...)``: START -> tools (compiled)."""

    def build(node: Any, schema: Any = ToolState, extra_nodes: dict[str, Any] | None = None) -> Any:
        builder = StateGraph(schema)
        builder.add_node("tools", node)
        for name, fn in (extra_nodes or {}).items():
            builder.add_node(name, fn)
        builder.add_edge(START, "tools")
        return builder.compile()

    return build
