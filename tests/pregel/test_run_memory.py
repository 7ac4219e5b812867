"""What a run in flight keeps alive: not the caller's input once it is applied.

Thousands of runs wait on a model at once; whatever each keeps is memory the caller
does not expect to be held, and objects the garbage collector walks again and again.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any, TypedDict

import pytest

from asyncgraph.checkpoint.memory import InMemorySaver
from asyncgraph.graph import END, START, StateGraph


class S(TypedDict):
    x: int


class Input(dict):  # type: ignore[type-arg]  # a dict the test can hold a weak reference to
    pass


_probe: dict[str, Any] = {}


async def _node(state: S) -> dict[str, Any]:
    gc.collect()
    _probe["alive"] = _probe["ref"]() is not None
    return {"x": state["x"] + 1}


def _graph(saver: bool) -> Any:
    g = StateGraph(S)
    g.add_node("n", _node)
    g.add_edge(START, "n")
    g.add_edge("n", END)
    return g.compile(checkpointer=InMemorySaver() if saver else None)


_GRAPHS = {False: _graph(False), True: _graph(True)}  # built at import, not on the test's loop


@pytest.mark.parametrize("saver", [False, True])
async def test_the_input_is_not_held_while_the_first_node_runs(saver: bool) -> None:
    _probe.clear()
    config = {"configurable": {"thread_id": "t"}} if saver else None
    inp = Input(x=1)
    _probe["ref"] = weakref.ref(inp)
    run = asyncio.ensure_future(_GRAPHS[saver].ainvoke(inp, config))
    del inp
    assert await run == {"x": 2}
    assert _probe["alive"] is False


async def _plain(state: S) -> dict[str, Any]:
    return {"x": state["x"] + 1}


async def _asks(state: S) -> dict[str, Any]:
    from asyncgraph.types import interrupt

    return {"x": state["x"] + interrupt("how many?")}


def _one_node(node: Any, saver: bool) -> Any:
    g = StateGraph(S)
    g.add_node("n", node)
    g.add_edge(START, "n")
    g.add_edge("n", END)
    return g.compile(checkpointer=InMemorySaver() if saver else None)


def _cyclic_garbage() -> int:
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        found = [o for o in gc.garbage if type(o).__module__.startswith("asyncgraph")]
        gc.garbage.clear()
        return len(found)
    finally:
        gc.set_debug(0)


@pytest.mark.parametrize("saver", [False, True])
async def test_a_finished_run_is_freed_without_the_collector(saver: bool) -> None:
    """Runs that finish, stream or pause leave no reference cycle (run context ->
    progress -> loop / saver -> run context) behind: refcounting frees them at once,
    not the next full collection, with thousands of runs a second. (A failed run's
    error holds its traceback's frames: not covered.)"""
    graphs = {k: _one_node(f, saver) for k, f in (("plain", _plain), ("asks", _asks))}
    gc.collect()
    gc.disable()
    try:
        for i in range(3):
            config = {"configurable": {"thread_id": f"t{i}"}} if saver else None
            assert await graphs["plain"].ainvoke({"x": 1}, config) == {"x": 2}
            assert [c async for c in graphs["plain"].astream({"x": 1}, config)] == [{"n": {"x": 2}}]
            out = await graphs["asks"].ainvoke({"x": 1}, config)
            assert "__interrupt__" in out
        assert _cyclic_garbage() == 0
    finally:
        gc.enable()
