"""A step's writes stored as references to the value rows that hold the same bytes.

The message a node returns is both its pending write and (appended) part of the next
checkpoint's state; the SQL savers keep the bytes once. What a user sees must not change:
every checkpoint's values and pending writes, history, forks, retention.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from typing_extensions import TypedDict

from asyncgraph.checkpoint.base import create_checkpoint
from asyncgraph.checkpoint.memory import InMemorySaver
from asyncgraph.checkpoint.sqlite import SqliteSaver
from asyncgraph.graph import START, StateGraph
from asyncgraph.graph.message import add_messages

SQL_KINDS = [
    "sqlite",
    "sqlite_aio",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("postgres_aio", marks=pytest.mark.postgres),
]


class Chat(TypedDict):
    messages: Annotated[list[Any], add_messages]


def _chat(saver: Any) -> Any:
    async def bot(state: Chat) -> dict[str, Any]:
        n = len(state["messages"])
        return {"messages": [AIMessage(f"answer {n} " * 20, id=f"a{n}")]}

    builder = StateGraph(Chat)
    builder.add_node("bot", bot)
    builder.add_edge(START, "bot")
    return builder.compile(checkpointer=saver)


async def _history(saver: Any, turns: int) -> list[Any]:
    graph = _chat(saver)
    config = {"configurable": {"thread_id": "conv"}}
    for i in range(turns):
        await graph.ainvoke({"messages": [HumanMessage(f"question {i} " * 20, id=f"h{i}")]}, config)
    out = []
    async for snap in graph.aget_state_history(config):
        tup = await saver.aget_tuple(snap.config)
        out.append((snap.values, snap.next, [t.result for t in snap.tasks],
                    sorted((w[1], repr(w[2])) for w in tup.pending_writes)))
    return out


@pytest.mark.parametrize("saver_kind", SQL_KINDS, indirect=True)
async def test_history_and_pending_writes_read_back_as_the_in_memory_saver_gives_them(
    make_saver: Any,
) -> None:
    expected = await _history(InMemorySaver(), 4)
    async with make_saver() as saver:
        got = await _history(saver, 4)
    assert got == expected
    assert any(writes for *_, writes in got)  # the writes were there to compare


def test_each_message_is_stored_once_as_a_value_and_its_write_refers_to_it(tmp_path: Any) -> None:
    db = str(tmp_path / "c.db")
    with SqliteSaver.from_conn_string(db) as saver:
        graph = _chat(saver)
        config = {"configurable": {"thread_id": "conv"}}
        for i in range(3):
            graph.invoke({"messages": [HumanMessage(f"question {i} " * 20)]}, config)
        msgs = graph.get_state(config).values["messages"]
    conn = sqlite3.connect(db)
    # A write's channel is stored as its name, or as the big-endian bytes of its id.
    names = dict(conn.execute("SELECT id, name FROM asyncgraph_names"))
    sizes = [len(data) for ch, data in conn.execute("SELECT channel, data FROM asyncgraph_writes")
             if (names[int.from_bytes(ch, "big")] if type(ch) is bytes else ch) == "messages"]
    conn.close()
    assert len(msgs) == 6 and len(sizes) == 6  # one write per message
    assert max(sizes) < 40  # each a reference, not the ~250-byte message


def _long(text: str) -> list[Any]:
    return [AIMessage(text * 100, id=text)]


@pytest.mark.parametrize("saver_kind", SQL_KINDS, indirect=True)
async def test_a_fork_whose_value_row_is_not_stored_keeps_its_writes_as_they_are(
    make_saver: Any,
) -> None:
    """Two children of one checkpoint append at the same lineage position: the second
    one's delta cannot be stored (it becomes a snapshot), so its writes, which referred
    to that delta, must be stored with their own bytes."""
    base = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    async with make_saver() as saver:
        a = _long("a")
        parent = await saver.aput(base, create_checkpoint({"m": a}, {"m": 1}, {}, None), {}, {"m": 1})
        for task, extra in (("task-b", _long("b")), ("task-c", _long("c"))):
            c = create_checkpoint({"m": a + extra}, {"m": 2}, {}, ["m"])
            await saver.aput_step(parent, c, {}, {"m": 2}, parent_writes=[(task, "m", extra)])
        tup = await saver.aget_tuple(parent)
        assert sorted(tup.pending_writes) == [
            ("task-b", "m", _long("b")), ("task-c", "m", _long("c"))]
        latest = await saver.aget_tuple(base)
        assert latest.checkpoint["channel_values"]["m"] == a + _long("c")


@pytest.mark.parametrize("saver_kind", SQL_KINDS, indirect=True)
async def test_collecting_unused_values_keeps_the_rows_writes_refer_to(make_saver: Any) -> None:
    """A checkpoint stored again under its own id no longer reads the delta its parent's
    writes refer to; pruning (which deletes values no checkpoint reads) must keep it."""
    base = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    async with make_saver() as saver:
        a, b = _long("a"), _long("b")
        parent = await saver.aput(base, create_checkpoint({"m": a}, {"m": 1}, {}, None), {}, {"m": 1})
        child = create_checkpoint({"m": a + b}, {"m": 2}, {}, ["m"])
        await saver.aput_step(parent, child, {}, {"m": 2}, parent_writes=[("task-b", "m", b)])
        again = {**child, "channel_values": {"m": a + _long("z")}}
        await saver.aput(parent, again, {}, {"m": 2})
        await saver.aprune("t", keep_last=2)
        tup = await saver.aget_tuple(parent)
        assert tup.pending_writes == [("task-b", "m", b)]


def test_a_write_whose_referred_row_is_gone_is_a_checkpoint_error(tmp_path: Any) -> None:
    from asyncgraph.errors import CheckpointError

    db = str(tmp_path / "c.db")
    base = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    with SqliteSaver.from_conn_string(db) as saver:
        a, b = _long("a"), _long("b")
        parent = saver.put(base, create_checkpoint({"m": a}, {"m": 1}, {}, None), {}, {"m": 1})
        child = create_checkpoint({"m": a + b}, {"m": 2}, {}, ["m"])
        saver.put_step(parent, child, {}, {"m": 2}, parent_writes=[("task-b", "m", b)])
        saver.conn.execute("DELETE FROM asyncgraph_blobs WHERE seq = 1")
        before = saver.conn.execute("SELECT * FROM asyncgraph_writes").fetchall()
        with pytest.raises(CheckpointError, match="write to m.*gone.*untouched"):
            saver.get_tuple(parent)
        assert saver.conn.execute("SELECT * FROM asyncgraph_writes").fetchall() == before


async def _final_messages(saver: Any, turns: int) -> list[Any]:
    graph = _chat(saver)
    config = {"configurable": {"thread_id": "conv"}}
    for i in range(turns):
        await graph.ainvoke({"messages": [HumanMessage(f"question {i} " * 20, id=f"h{i}")]}, config)
    return (await graph.aget_state(config)).values["messages"]


@pytest.mark.parametrize("saver_kind", SQL_KINDS, indirect=True)
async def test_retention_keeps_the_input_rows_later_values_refer_to(make_saver: Any) -> None:
    """Each human message is stored once, in its input checkpoint's ``__start__`` row,
    and the state's list refers to it; pruning those input checkpoints (keep_last) and
    collecting their rows must keep what the kept state refers to."""
    async with make_saver(keep_last=2) as saver:
        got = await _final_messages(saver, 12)  # 36 checkpoints: rows are collected
        await saver.aprune("conv", keep_last=2)
        again = (await saver.aget_tuple({"configurable": {"thread_id": "conv"}}))
    expected = await _final_messages(InMemorySaver(), 12)
    assert got == expected
    assert again.checkpoint["channel_values"]["messages"] == expected


def _execute(saver_kind: str, request: Any, tmp_path: Any, sql: str) -> list[Any]:
    """``sql`` on the test's database, through a connection of its own."""
    if saver_kind.startswith("sqlite"):
        conn = sqlite3.connect(str(tmp_path / "checkpoints.db"), isolation_level=None)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(request.getfixturevalue("pg_dsn"), autocommit=True) as pg:
        cur = pg.execute(sql)
        return cur.fetchall() if cur.description else []


@pytest.mark.parametrize("saver_kind", SQL_KINDS, indirect=True)
async def test_a_value_whose_input_row_is_gone_is_stored_as_it_is(
    make_saver: Any, saver_kind: str, request: Any, tmp_path: Any,
) -> None:
    """The input checkpoint's ``__start__`` row was deleted (say by another process
    pruning the thread) after this process cached it: the next put must not refer to
    it, and stores its value itself, and so its write."""
    base = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    async with make_saver() as saver:
        msg = _long("q")
        first = create_checkpoint({"__start__": {"m": msg}}, {"__start__": 1}, {}, None)
        parent = await saver.aput(base, first, {}, {"__start__": 1})
        _execute(saver_kind, request, tmp_path, "DELETE FROM asyncgraph_blobs")
        child = create_checkpoint({"m": msg}, {"__start__": 2, "m": 2}, {}, ["m"])
        await saver.aput_step(parent, child, {}, {"__start__": 2, "m": 2},
                              parent_writes=[("task", "m", msg)])
        assert (await saver.aget_tuple(base)).checkpoint["channel_values"] == {"m": msg}
    sizes = _execute(saver_kind, request, tmp_path, "SELECT length(data) FROM asyncgraph_writes")
    assert sizes[0][0] > 100  # not a reference
