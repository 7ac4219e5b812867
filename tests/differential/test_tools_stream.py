"""``stream_mode="tools"``: a tool call's ``tool-started`` / ``tool-output-delta`` /
``tool-finished`` / ``tool-error`` events (``ToolRuntime.emit_output_delta`` makes
the deltas), on LangGraph and asyncgraph side by side."""

# No ``from __future__ import annotations``: the tools' ``ToolRuntime`` annotation is
# each library's own class, read when the tool is made.
import asyncio
import importlib
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool

PACKAGES = ("langgraph", "asyncgraph")


def _graph(pkg: str, calls: list[dict[str, Any]], *, nested: bool = False) -> Any:
    G = importlib.import_module(f"{pkg}.graph")
    P = importlib.import_module(f"{pkg}.prebuilt")
    msg = importlib.import_module(f"{pkg}.graph.message")

    class State(TypedDict):
        messages: Annotated[list, msg.add_messages]

    @tool
    def streamer(marker: str, runtime: P.ToolRuntime) -> str:
        """Emits two deltas."""
        runtime.emit_output_delta(f"{marker}-1")
        runtime.emit_output_delta(f"{marker}-2")
        if marker == "boom":
            raise ValueError("nope")
        return marker

    def caller(state: Any) -> dict[str, Any]:
        return {"messages": [AIMessage("", tool_calls=calls)]}

    g = G.StateGraph(State)
    g.add_node("caller", caller)
    g.add_node("tools", P.ToolNode([streamer], handle_tool_errors=False))
    g.add_edge(G.START, "caller")
    g.add_edge("caller", "tools")
    app = g.compile()
    if not nested:
        return app
    outer = G.StateGraph(State)
    outer.add_node("sub", app)
    outer.add_edge(G.START, "sub")
    return outer.compile()


def _plain(payload: dict[str, Any]) -> dict[str, Any]:
    out = dict(payload)
    if isinstance(out.get("output"), ToolMessage):
        out["output"] = ("ToolMessage", out["output"].content, out["output"].tool_call_id)
    return out


def _events(pkg: str, calls: list[dict[str, Any]], **kw: Any) -> list[Any]:
    app = _graph(pkg, calls, nested=kw.pop("nested", False))
    out = []
    try:
        for ns, mode, payload in app.stream({"messages": []}, stream_mode=["tools", "updates"], subgraphs=True, **kw):
            if mode == "tools":
                out.append((tuple(n.split(":")[0] for n in ns), _plain(payload)))
    except ValueError as exc:
        out.append(("raised", str(exc)))
    return out


def _by_call(events: list[Any]) -> dict[str, list[Any]]:
    """Each call's events in order (calls run concurrently: their events interleave)."""
    per: dict[str, list[Any]] = {}
    for ns, payload in events:
        if ns == "raised":
            per.setdefault("raised", []).append(payload)
        else:
            per.setdefault(payload["tool_call_id"], []).append((ns, payload))
    return per


CASES = {
    "one call": [{"name": "streamer", "args": {"marker": "A"}, "id": "a"}],
    "two calls": [{"name": "streamer", "args": {"marker": "A"}, "id": "a"},
                  {"name": "streamer", "args": {"marker": "B"}, "id": "b"}],
    "error": [{"name": "streamer", "args": {"marker": "boom"}, "id": "e"}],
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("nested", [False, True])
def test_tool_events_match_langgraph(case: str, nested: bool) -> None:
    got = {pkg: _by_call(_events(pkg, CASES[case], nested=nested)) for pkg in PACKAGES}
    assert got["asyncgraph"] == got["langgraph"]
    assert got["asyncgraph"]


def test_async_stream_v2_and_no_events_without_the_mode() -> None:
    async def run(pkg: str) -> Any:
        app = _graph(pkg, CASES["one call"])
        parts = [p async for p in app.astream({"messages": []}, stream_mode=["tools"], version="v2")]
        plain = [p async for p in app.astream({"messages": []}, stream_mode=["updates"], subgraphs=True)]
        return [(p["type"], p["ns"], p["data"]["event"]) for p in parts], [m for _, m, *_ in plain if m == "tools"]

    got = {pkg: asyncio.run(run(pkg)) for pkg in PACKAGES}
    assert got["asyncgraph"] == got["langgraph"]
    assert [e for *_, e in got["asyncgraph"][0]] == ["tool-started", "tool-output-delta", "tool-output-delta",
                                                     "tool-finished"]
