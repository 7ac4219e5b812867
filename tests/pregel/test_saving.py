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


# -- one saver call per step ---------------------------------------------------------


class CallLog(InMemorySaver):
    """Records which async methods the engine calls (all three overridden here, so the
    engine may use ``aput_step``)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        self.calls.append(("aput", metadata["step"]))
        return await super().aput(config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        self.calls.append(("aput_writes", [ch for ch, _ in writes]))
        await super().aput_writes(config, writes, task_id, task_path)

    async def aput_step(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any, *,
                        parent_writes: Any = (), writes: Any = ()) -> Any:
        self.calls.append(("aput_step", metadata["step"], [(w[1], w[3]) for w in parent_writes]))
        return await super().aput_step(config, checkpoint, metadata, new_versions,
                                       parent_writes=parent_writes, writes=writes)


async def test_a_lone_task_s_writes_go_with_the_step_s_checkpoint_in_one_call() -> None:
    saver = CallLog()
    cfg = {"configurable": {"thread_id": "t"}}
    assert await _chain(saver, 2).ainvoke({"x": 0}, cfg) == {"x": 2}
    assert saver.calls == [
        ("aput", -1),
        ("aput_step", 0, [("x", "('__pregel_pull', '__start__')"),
                          ("branch:to:n0", "('__pregel_pull', '__start__')")]),
        ("aput_step", 1, [("x", "('__pregel_pull', 'n0')"), ("branch:to:n1", "('__pregel_pull', 'n0')")]),
        ("aput_step", 2, [("x", "('__pregel_pull', 'n1')")]),
    ]
    # Stored as if saved on their own: against the parent, with their task paths.
    history = [t async for t in saver.alist(cfg)]
    assert [t.metadata["step"] for t in history] == [2, 1, 0, -1]
    assert [ch for _, ch, _ in history[1].pending_writes] == ["x"]  # n1's write, under step 1
    inner = saver.writes[("t", "", history[1].config["configurable"]["checkpoint_id"])]
    assert {row[3] for row in inner.values()} == {"('__pregel_pull', 'n1')"}


async def test_a_subclass_watching_aput_or_aput_writes_still_sees_every_write() -> None:
    class Watch(InMemorySaver):
        def __init__(self) -> None:
            super().__init__()
            self.writes_seen: list[str] = []

        async def aput_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
            self.writes_seen.extend(ch for ch, _ in writes)
            await super().aput_writes(config, writes, task_id, task_path)

    saver = Watch()
    await _chain(saver, 2).ainvoke({"x": 0}, {"configurable": {"thread_id": "t"}})
    assert saver.writes_seen.count("x") == 3  # the START task, n0, n1


class Both(TypedDict):
    x: int


async def test_writes_held_for_a_checkpoint_are_saved_when_the_barrier_fails() -> None:
    # Two nodes write the same plain key in one step: the barrier refuses it. The
    # writes of the task that finished the step (held for the checkpoint that now never
    # comes) are saved as pending writes, like its sibling's.
    from asyncgraph.errors import InvalidUpdateError

    async def a(state: Both) -> dict[str, int]:
        return {"x": 1}

    async def b(state: Both) -> dict[str, int]:
        await asyncio.sleep(0.01)  # finishes last
        return {"x": 2}

    g = StateGraph(Both)
    g.add_node("a", a)
    g.add_node("b", b)
    g.add_edge(START, "a")
    g.add_edge(START, "b")
    saver = InMemorySaver()
    cfg = {"configurable": {"thread_id": "t"}}
    with pytest.raises(InvalidUpdateError):
        await g.compile(checkpointer=saver).ainvoke({"x": 0}, cfg)
    tup = await saver.aget_tuple(cfg)
    assert sorted(v for _, ch, v in tup.pending_writes if ch == "x") == [1, 2]


async def test_a_failure_to_save_held_writes_is_noted_on_the_barrier_s_error() -> None:
    from asyncgraph.errors import InvalidUpdateError

    class Broken(CallLog):
        async def aput_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
            if "'b'" in task_path:  # b finishes the step: its writes are the held ones
                raise OSError("disk full")
            await super().aput_writes(config, writes, task_id, task_path)

        async def aput_step(self, *args: Any, **kwargs: Any) -> Any:
            return await super().aput_step(*args, **kwargs)

    async def a(state: Both) -> dict[str, int]:
        return {"x": 1}

    async def b(state: Both) -> dict[str, int]:
        await asyncio.sleep(0.01)
        return {"x": 2}

    g = StateGraph(Both)
    g.add_node("a", a)
    g.add_node("b", b)
    g.add_edge(START, "a")
    g.add_edge(START, "b")
    with pytest.raises(InvalidUpdateError) as info:  # the barrier's error, not the saver's
        await g.compile(checkpointer=Broken()).ainvoke({"x": 0}, {"configurable": {"thread_id": "t"}})
    assert any("disk full" in note for note in info.value.__notes__)
