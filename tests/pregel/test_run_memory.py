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
