"""A conditional edge whose path function returns a value its ``path_map`` lacks:
LangGraph raises a plain ``KeyError`` with the value as its only argument; asyncgraph's
error is a ``KeyError`` too (with the same ``args``), and an ``InvalidUpdateError``
whose message names the edge, the node and the value."""

from __future__ import annotations

import pickle
from typing import Any, TypedDict

import pytest

from ._harness import PACKAGES, modules


class S(TypedDict):
    x: int


def _app(pkg: str, *, retry: bool = False) -> Any:
    m = modules(pkg)
    calls = []
    g = m.graph.StateGraph(S)
    kw = {"retry_policy": m.types.RetryPolicy(max_attempts=3, initial_interval=0.0)} if retry else {}

    def a(s: S) -> dict:
        calls.append(1)
        return {"x": s["x"] + 1}

    g.add_node("a", a, **kw)
    g.add_node("b", lambda s: {"x": 0})
    g.add_edge(m.graph.START, "a")
    g.add_conditional_edges("a", lambda s: "zzz", {"go": "b"})
    app = g.compile()
    app.calls = calls  # type: ignore[attr-defined]
    return app


@pytest.mark.parametrize("sync", [False, True])
async def test_a_value_missing_from_the_path_map_is_a_key_error(sync: bool) -> None:
    caught = {}
    for pkg in PACKAGES:
        app = _app(pkg)
        with pytest.raises(KeyError) as info:
            app.invoke({"x": 1}) if sync else await app.ainvoke({"x": 1})
        caught[pkg] = info.value
    assert caught["asyncgraph"].args == caught["langgraph"].args == ("zzz",)
    from asyncgraph.errors import InvalidUpdateError

    ours = caught["asyncgraph"]
    assert isinstance(ours, InvalidUpdateError)
    assert "'zzz'" in str(ours) and "'a'" in str(ours) and "'go'" in str(ours)
    back = pickle.loads(pickle.dumps(ours))
    assert (type(back), back.args, str(back)) == (type(ours), ours.args, str(ours))


async def test_the_default_retry_policy_does_not_retry_it() -> None:
    calls = {}
    for pkg in PACKAGES:
        app = _app(pkg, retry=True)
        with pytest.raises(KeyError):
            await app.ainvoke({"x": 1})
        calls[pkg] = len(app.calls)
    assert calls["asyncgraph"] == calls["langgraph"] == 1


def _unhashable_app(pkg: str) -> Any:
    m = modules(pkg)
    calls = []
    g = m.graph.StateGraph(S)

    def a(s: S) -> dict:
        calls.append(1)
        return {"x": s["x"] + 1}

    g.add_node("a", a, retry_policy=m.types.RetryPolicy(max_attempts=3, initial_interval=0.0))
    g.add_node("b", lambda s: {"x": 0})
    g.add_edge(m.graph.START, "a")
    g.add_conditional_edges("a", lambda s: {"go": True}, {"go": "b"})
    app = g.compile()
    app.calls = calls  # type: ignore[attr-defined]
    return app


@pytest.mark.parametrize("sync", [False, True])
async def test_an_unhashable_value_is_a_type_error_not_retried(sync: bool) -> None:
    caught, calls = {}, {}
    for pkg in PACKAGES:
        app = _unhashable_app(pkg)
        with pytest.raises(TypeError) as info:
            app.invoke({"x": 1}) if sync else await app.ainvoke({"x": 1})
        caught[pkg], calls[pkg] = info.value, len(app.calls)
    assert caught["asyncgraph"].args == caught["langgraph"].args
    assert calls["asyncgraph"] == calls["langgraph"] == 1
    from asyncgraph.errors import InvalidUpdateError

    ours = caught["asyncgraph"]
    assert isinstance(ours, InvalidUpdateError)
    assert "{'go': True}" in str(ours) and "'a'" in str(ours)
    back = pickle.loads(pickle.dumps(ours))
    assert (type(back), back.args, str(back)) == (type(ours), ours.args, str(ours))
