"""The loop's view of the checkpointer (``pregel/_saving.py``) under the default
durability ("async"): the checkpoint of a step is saved in the background while the
next step runs, but a saver whose put needs no I/O finishes it before that step starts,
and a saver whose put suspends still has every checkpoint saved, in order, and its
errors reach the caller."""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

import pytest

from asyncgraph.checkpoint.memory import InMemorySaver
from asyncgraph.graph import END, START, StateGraph


class S(TypedDict):
    x: int


def _chain(saver: Any, n: int = 3, seen: list[Any] | None = None) -> Any:
    g = StateGraph(S)

    def make(i: int) -> Any:
        async def node(state: S) -> dict[str, int]:
            if seen is not None:
                # What the saver holds for this thread while the node runs.
                tup = saver.get_tuple({"configurable": {"thread_id": "t"}})
                seen.append(None if tup is None else tup.metadata["step"])
            return {"x": state["x"] + 1}

        return node

    names = [f"n{i}" for i in range(n)]
    for i, name in enumerate(names):
        g.add_node(name, make(i))
    g.add_edge(START, names[0])
    for a, b in zip(names, names[1:]):
        g.add_edge(a, b)
    g.add_edge(names[-1], END)
    return g.compile(checkpointer=saver)


async def test_an_io_free_saver_has_the_previous_checkpoint_before_a_node_runs() -> None:
    saver = InMemorySaver()
    seen: list[Any] = []
    out = await _chain(saver, 3, seen).ainvoke({"x": 0}, {"configurable": {"thread_id": "t"}})
    assert out == {"x": 3}
    # Node i runs at step i + 1; the checkpoint of step i (the input's is step -1,
    # the START task's step 0) is already stored when it starts.
    assert seen == [0, 1, 2]


class SlowSaver(InMemorySaver):
    """A saver whose async methods suspend, as one doing I/O does."""

    def __init__(self, fail_at_step: int | None = None) -> None:
        super().__init__()
        self.fail_at_step = fail_at_step
        self.order: list[int] = []

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        await asyncio.sleep(0)
        fut = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(fut.set_result, None)
        await fut
        if metadata["step"] == self.fail_at_step:
            raise OSError("disk full")
        self.order.append(metadata["step"])
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        await asyncio.sleep(0)
        self.put_writes(config, writes, task_id, task_path)


async def test_a_saver_that_suspends_still_saves_every_checkpoint_in_order() -> None:
    saver = SlowSaver()
    graph = _chain(saver, 4)
    config = {"configurable": {"thread_id": "t"}}
    assert await graph.ainvoke({"x": 0}, config) == {"x": 4}
    assert saver.order == [-1, 0, 1, 2, 3, 4]
    state = await graph.aget_state(config)
    assert state.values == {"x": 4} and state.next == ()
    history = [s.metadata["step"] async for s in graph.aget_state_history(config)]
    assert history == [4, 3, 2, 1, 0, -1]


async def test_a_failing_background_put_fails_the_run() -> None:
    saver = SlowSaver(fail_at_step=2)
    with pytest.raises(OSError, match="disk full"):
        await _chain(saver, 4).ainvoke({"x": 0}, {"configurable": {"thread_id": "t"}})
    assert saver.order == [-1, 0, 1]


async def test_cancelling_a_run_during_a_background_put_leaves_no_task_behind() -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    class Stuck(InMemorySaver):
        async def aput(self, *args: Any) -> Any:
            if args[2]["step"] == 1:
                started.set()
                await release.wait()
            return self.put(*args)

    before = asyncio.all_tasks()
    run = asyncio.ensure_future(_chain(Stuck(), 3).ainvoke({"x": 0}, {"configurable": {"thread_id": "t"}}))
    await asyncio.wait_for(started.wait(), 5)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    await asyncio.sleep(0)
    left = [t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()]
    assert left == []
