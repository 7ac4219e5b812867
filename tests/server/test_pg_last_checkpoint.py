"""A worker's run ends without reading its last checkpoint back: the fenced saver answers
the final state from the checkpoint the run just stored, and the answer is the one a read
gives (values, next, tasks, interrupts, configs), falling back to the read when writes were
stored against that checkpoint (an interrupt) or the thread was rewritten (a rollback)."""

from __future__ import annotations

import operator
import uuid
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
