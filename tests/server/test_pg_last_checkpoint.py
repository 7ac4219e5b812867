"""A worker's run ends without reading its last checkpoint back: the fenced saver answers
the final state from the checkpoint the run just stored, and the answer is the one a read
gives (values, next, tasks, interrupts, configs), falling back to the read when writes were
stored against that checkpoint (an interrupt) or the thread was rewritten (a rollback)."""

from __future__ import annotations

import operator
import uuid
from unittest import mock
from typing import Annotated, Any

import pytest
from typing_extensions import TypedDict

from asyncgraph.graph import END, START, StateGraph
from asyncgraph.types import Command, interrupt

pytestmark = pytest.mark.postgres


class State(TypedDict):
    items: Annotated[list[str], operator.add]


def _graph(saver: Any, *, ask: bool = False) -> Any:
    def first(state: State) -> dict[str, Any]:
        return {"items": ["a"]}

    def second(state: State) -> dict[str, Any]:
        if ask:
            return {"items": [interrupt("more?")]}
        return {"items": ["b"]}

    g = StateGraph(State)
    g.add_node("first", first)
    g.add_node("second", second)
    g.add_edge(START, "first")
    g.add_edge("first", "second")
    g.add_edge("second", END)
    return g.compile(checkpointer=saver)


@pytest.fixture
def dsn(pg_cluster: Any) -> str:
    # (A sync fixture: the cluster starts, and psycopg_pool is first imported, outside the
    # test's event loop.)
    import psycopg_pool  # noqa: F401

    return str(pg_cluster.dsn)


def _same(a: Any, b: Any) -> None:
    assert a.values == b.values
    assert a.next == b.next
    assert a.config == b.config
    assert a.parent_config == b.parent_config
    assert [(t.id, t.name, t.interrupts) for t in a.tasks] == [(t.id, t.name, t.interrupts) for t in b.tasks]


@pytest.mark.parametrize("ask", [False, True])
async def test_final_state_from_the_last_checkpoint_equals_the_read(dsn: str, ask: bool) -> None:
    from asyncgraph.server._pg_queue import LAST_CHECKPOINT, FencedPostgresSaver, LastCheckpoint
    from asyncgraph.server._pg_storage import open_pool

    async with open_pool(dsn, max_size=2) as pool:
        saver = FencedPostgresSaver(pool)
        graph = _graph(saver, ask=ask)
        thread = {"configurable": {"thread_id": str(uuid.uuid4())}}
        token = LAST_CHECKPOINT.set(LastCheckpoint(thread["configurable"]["thread_id"]))
        try:
            await graph.ainvoke({"items": []}, thread)
            remembered = LAST_CHECKPOINT.get()
            assert remembered is not None
            # An interrupt stores writes against the last checkpoint: nothing to answer from.
            assert (remembered.tuple is None) == ask
            from_run = await graph.aget_state(thread)
        finally:
            LAST_CHECKPOINT.reset(token)
        _same(from_run, await graph.aget_state(thread))  # (the read, outside the attempt)
        if ask:
            assert from_run.next == ("second",) and from_run.tasks[0].interrupts
            token = LAST_CHECKPOINT.set(LastCheckpoint(thread["configurable"]["thread_id"]))
            try:
                await graph.ainvoke(Command(resume="c"), thread)
                resumed = await graph.aget_state(thread)
            finally:
                LAST_CHECKPOINT.reset(token)
            _same(resumed, await graph.aget_state(thread))
            assert resumed.values == {"items": ["a", "c"]}
        else:
            assert from_run.values == {"items": ["a", "b"]} and from_run.next == ()
        # The run's own read is answered without the database; a rewritten thread is read.
        token = LAST_CHECKPOINT.set(last := LastCheckpoint(thread["configurable"]["thread_id"]))
        try:
            await graph.ainvoke(None if ask else {"items": ["x"]}, thread)
            if not ask:
                assert last.tuple is not None
                assert await saver.aget_tuple(thread) is last.tuple  # (no read)
            await saver.adelete_thread(thread["configurable"]["thread_id"])
            assert last.tuple is None
            assert await saver.aget_tuple(thread) is None
        finally:
            LAST_CHECKPOINT.reset(token)


async def test_a_run_on_a_thread_without_checkpoints_starts_without_a_read(dsn: str) -> None:
    """The worker learns with the attempt's claim whether the thread has checkpoints: on
    one that has none, the run's first read of the thread (its latest checkpoint) is
    answered without the database, and the run's result is the one a read gives. A
    thread that has checkpoints is claimed as such."""
    from asyncgraph.server._pg_queue import LAST_CHECKPOINT, FencedPostgresSaver, LastCheckpoint
    from asyncgraph.server._pg_storage import PostgresStorage, open_pool

    async with open_pool(dsn, max_size=2) as pool:
        saver = FencedPostgresSaver(pool)
        graph = _graph(saver)
        thread_id = str(uuid.uuid4())
        thread = {"configurable": {"thread_id": thread_id}}
        async with PostgresStorage.open(dsn, pool=pool, listen=False) as storage:
            run_ids = [str(uuid.uuid4()), str(uuid.uuid4())]
            for run_id in run_ids:
                await storage.put_run({"run_id": run_id, "thread_id": thread_id, "status": "pending"})
            first = await storage.start_attempt(run_ids[0])
            assert first is not None and first.checkpointed is False

            reads = 0  # (of the database, by the saver)
            plain = super(FencedPostgresSaver, saver).aget_tuple

            async def counted(_saver: Any, config: Any) -> Any:
                nonlocal reads
                reads += 1
                return await plain(config)

            token = LAST_CHECKPOINT.set(LastCheckpoint(thread_id, empty=not first.checkpointed))
            try:
                with mock.patch("asyncgraph.checkpoint.postgres.aio.AsyncPostgresSaver.aget_tuple", counted):
                    assert await saver.aget_tuple(thread) is None  # (known: none)
                    await graph.ainvoke({"items": []}, thread)
                    state = await graph.aget_state(thread)
            finally:
                LAST_CHECKPOINT.reset(token)
            assert reads == 0
            _same(state, await graph.aget_state(thread))
            assert state.values == {"items": ["a", "b"]}

            second = await storage.start_attempt(run_ids[1])
            assert second is not None and second.checkpointed is True
            # Once the attempt writes to the thread, "empty" no longer answers.
            last = LastCheckpoint(thread_id, empty=True)
            await saver.aput_writes(state.config, [("items", ["z"])], "t")  # (outside an attempt)
            token = LAST_CHECKPOINT.set(last)
            try:
                await saver.aput_writes(state.config, [("items", ["w"])], "t2")
                assert last.empty is False
                tup = await saver.aget_tuple(thread)
                assert tup is not None and tup.checkpoint["id"] == state.config["configurable"]["checkpoint_id"]
            finally:
                LAST_CHECKPOINT.reset(token)
            await saver.adelete_thread(thread_id)
            for run_id in run_ids:
                await storage.delete_run(run_id)
