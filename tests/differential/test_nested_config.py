"""The config a node of a subgraph invoked inside a node (no checkpointer) sees, against
LangGraph: its ``checkpoint_ns`` and the run metadata, where ``checkpoint_ns`` names the
calling task's namespace (LangGraph's ensure_config copies it from the caller's config)."""

from __future__ import annotations

import re
from typing import Any, TypedDict

import pytest

from ._harness import PACKAGES, modules

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class S(TypedDict):
    x: int


def _shape(v: Any) -> Any:
    return _ID.sub("<id>", v) if isinstance(v, str) else v


@pytest.mark.parametrize("sync", [False, True])
async def test_a_nested_subgraph_node_sees_the_callers_namespace(sync: bool) -> None:
    seen: dict[str, Any] = {}
    for pkg in PACKAGES:
        m = modules(pkg)
        got: list[Any] = []

        def sx(s: S) -> dict:
            c = m.config.get_config()
            got.append((
                _shape(c["configurable"]["checkpoint_ns"]),
                {k: _shape(v) for k, v in c["metadata"].items()},
            ))
            return {"x": 5}

        sub = m.graph.StateGraph(S)
        sub.add_node("sx", sx)
        sub.add_edge(m.graph.START, "sx")
        subapp = sub.compile()

        async def a_async(s: S) -> dict:
            return await subapp.ainvoke(s)

        def a_sync(s: S) -> dict:
            return subapp.invoke(s)

        g = m.graph.StateGraph(S)
        g.add_node("a", a_sync if sync else a_async)
        g.add_edge(m.graph.START, "a")
        app = g.compile()
        app.invoke({"x": 0}) if sync else await app.ainvoke({"x": 0})
        subapp.invoke({"x": 0})  # on its own: no caller, no such entry
        seen[pkg] = got
    assert seen["asyncgraph"] == seen["langgraph"]
    assert seen["asyncgraph"][0][1]["checkpoint_ns"] == "a:<id>"
