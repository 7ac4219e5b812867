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


@pytest.mark.parametrize("saver", [False, True])
async def test_the_input_is_not_held_while_the_first_node_runs(saver: bool) -> None:
    seen: dict[str, Any] = {}
    gone = asyncio.Event()

    async def node(state: S) -> dict[str, Any]:
        gc.collect()
        seen["alive"] = ref() is not None
        gone.set()
        return {"x": state["x"] + 1}

    g = StateGraph(S)
    g.add_node("n", node)
    g.add_edge(START, "n")
    g.add_edge("n", END)
    graph = g.compile(checkpointer=InMemorySaver() if saver else None)
    config = {"configurable": {"thread_id": "t"}} if saver else None
    inp = Input(x=1)
    ref = weakref.ref(inp)
    run = asyncio.ensure_future(graph.ainvoke(inp, config))
    del inp
    out = await run
    assert gone.is_set()
    assert out == {"x": 2}
    assert seen["alive"] is False
