"""What is on disk: deltas, corrupt rows, schema versions, retention, concurrency."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import weakref
from typing import Annotated, Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from typing_extensions import TypedDict

from asyncgraph.checkpoint.base import create_checkpoint
from asyncgraph.checkpoint.sqlite import SqliteSaver
from asyncgraph.errors import CheckpointError
from asyncgraph.graph import START, StateGraph
from asyncgraph.graph.message import add_messages


def cfg(thread_id: str = "t1", checkpoint_id: str | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


def turn(i: int) -> list[Any]:
    return [HumanMessage(f"q{i} " * 50, id=f"h{i}"), AIMessage(f"a{i} " * 50, id=f"a{i}")]


def grow(saver: SqliteSaver, turns: int, thread_id: str = "t1") -> list[Any]:
    config, msgs = cfg(thread_id), []
    for i in range(turns):
        msgs = msgs + turn(i)
        c = create_checkpoint({"messages": msgs}, {"messages": i + 1}, {}, ["messages"])
        config = saver.put(config, c, {"step": i}, {"messages": i + 1})
    return msgs


def blob_kinds(conn: sqlite3.Connection) -> list[int]:
    return [k for (k,) in conn.execute("SELECT kind FROM asyncgraph_blobs ORDER BY seq")]


@pytest.fixture
def db(tmp_path: Any) -> str:
    return str(tmp_path / "c.db")


def test_a_growing_list_is_stored_as_one_snapshot_and_deltas(db: str) -> None:
    with SqliteSaver.from_conn_string(db) as saver:
        msgs = grow(saver, 50)
        kinds = blob_kinds(saver.conn)
        assert kinds == [0] + [1] * 49
        sizes = [n for (n,) in saver.conn.execute("SELECT length(data) FROM asyncgraph_blobs")]
        assert max(sizes) < 2 * min(sizes) + 100  # every row holds one turn, not the history
        assert saver.get_tuple(cfg()).checkpoint["channel_values"]["messages"] == msgs


def test_an_edited_list_starts_a_new_snapshot(db: str) -> None:
    with SqliteSaver.from_conn_string(db) as saver:
        msgs = grow(saver, 3)
        edited = [HumanMessage("changed", id="h0")] + msgs[1:]
        parent = saver.get_tuple(cfg()).config
        c = create_checkpoint({"messages": edited}, {"messages": 4}, {}, ["messages"])
        saver.put(parent, c, {"step": 3}, {"messages": 4})
        kind = saver.conn.execute("SELECT kind FROM asyncgraph_blobs WHERE lin_version = 4")
        assert kind.fetchall() == [(0,)]  # a full snapshot, not a delta
        assert saver.get_tuple(cfg()).checkpoint["channel_values"]["messages"] == edited


class _Chat(TypedDict):
    messages: Annotated[list[Any], add_messages]


def _chat_graph(saver: Any) -> Any:
    def reply(state: _Chat) -> dict[str, Any]:
        return {"messages": [AIMessage("a " * 50)]}

    def again(state: _Chat) -> dict[str, Any]:
        return {"messages": [AIMessage("b " * 50)]}

    g = StateGraph(_Chat)
    g.add_node("reply", reply)
    g.add_node("again", again)
    g.add_edge(START, "reply")
    g.add_edge("reply", "again")
    return g.compile(checkpointer=saver)


def test_a_finished_run_leaves_no_message_alive_in_the_saver(db: str) -> None:
    # The saver remembers the last checkpoints of each thread (for deltas), but not the
    # messages themselves: once the caller lets go of a run's result, they are freed.
    with SqliteSaver.from_conn_string(db) as saver:
        graph = _chat_graph(saver)
        out = graph.invoke({"messages": [HumanMessage("q " * 50)]}, cfg())
        refs = [weakref.ref(m) for m in out["messages"]]
        assert len(refs) == 3
        del out
        gc.collect()
        assert [r() for r in refs] == [None, None, None]


def test_a_threads_next_run_still_stores_its_messages_as_deltas(db: str) -> None:
    with SqliteSaver.from_conn_string(db) as saver:
        graph = _chat_graph(saver)
        for i in range(3):
            graph.invoke({"messages": [HumanMessage(f"q{i} " * 50)]}, cfg())
            gc.collect()  # the previous run's messages are gone: the read gives new ones
        # The messages: one snapshot, then a delta for each later put (8); each run's
        # input: a snapshot.
        assert blob_kinds(saver.conn) == [0] * 4 + [1] * 8
        assert len(saver.get_tuple(cfg()).checkpoint["channel_values"]["messages"]) == 9


def test_a_list_whose_items_were_dropped_and_rebuilt_equal_is_stored_right(db: str) -> None:
    # The saver's memory of a list holds its items weakly: when they died since (the
    # caller rebuilt equal ones), the next put stores a snapshot; what is read is the same.
    with SqliteSaver.from_conn_string(db) as saver:
        grow(saver, 3)  # (its messages are dropped here)
        parent_id = saver.get_tuple(cfg()).checkpoint["id"]  # (and the read's)
        gc.collect()
        msgs = [m for i in range(4) for m in turn(i)]
        c = create_checkpoint({"messages": msgs}, {"messages": 4}, {}, ["messages"])
        saver.put(cfg(checkpoint_id=parent_id), c, {"step": 3}, {"messages": 4})
        kind = saver.conn.execute("SELECT kind FROM asyncgraph_blobs WHERE lin_version = 4")
        assert kind.fetchall() == [(0,)]  # a snapshot
        assert saver.get_tuple(cfg()).checkpoint["channel_values"]["messages"] == msgs


def test_a_list_of_messages_extended_by_plain_items_is_stored_as_deltas(db: str) -> None:
    with SqliteSaver.from_conn_string(db) as saver:
        grow(saver, 2)
        tup = saver.get_tuple(cfg())  # as a run does: it goes on from what it read
        config, items = tup.config, tup.checkpoint["channel_values"]["messages"]
        for i, extra in enumerate([{"role": "user", "content": "x " * 40}, "y " * 40]):
            items = items + [extra]
            c = create_checkpoint({"messages": items}, {"messages": 3 + i}, {}, ["messages"])
            config = saver.put(config, c, {"step": 2 + i}, {"messages": 3 + i})
        assert blob_kinds(saver.conn) == [0, 1, 1, 1]
        assert saver.get_tuple(cfg()).checkpoint["channel_values"]["messages"] == items


def test_a_state_read_during_a_run_does_not_turn_its_next_delta_into_a_snapshot(db: str) -> None:
    # A client reading the thread's state while a run goes on (and dropping what it
    # read) leaves the saver's memory of the run's messages as it was.
    with SqliteSaver.from_conn_string(db) as saver:
        msgs = grow(saver, 2)  # the "run", holding its messages
        config = saver.get_tuple(cfg()).config  # the client's read, dropped
        gc.collect()
        msgs = msgs + turn(2)
        c = create_checkpoint({"messages": msgs}, {"messages": 3}, {}, ["messages"])
        saver.put(config, c, {"step": 2}, {"messages": 3})
        assert blob_kinds(saver.conn) == [0, 1, 1]
        assert saver.get_tuple(cfg()).checkpoint["channel_values"]["messages"] == msgs


def _row_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM asyncgraph_blobs").fetchone()[0]


def test_truncated_blob_is_a_checkpoint_error_and_data_is_untouched(db: str) -> None:
    with SqliteSaver.from_conn_string(db) as saver:
        grow(saver, 3)
        conn = saver.conn
        conn.execute("UPDATE asyncgraph_blobs SET data = substr(data, 1, 20) WHERE seq = 1")
        before = conn.execute("SELECT * FROM asyncgraph_blobs ORDER BY seq").fetchall()
        with pytest.raises(CheckpointError) as info:
            saver.get_tuple(cfg())
        message = str(info.value)
        assert "'t1'" in message and "'messages'" in message and "untouched" in message
        assert conn.execute("SELECT * FROM asyncgraph_blobs ORDER BY seq").fetchall() == before


def test_unknown_type_tag_is_a_checkpoint_error_naming_the_channel(db: str) -> None:
    with SqliteSaver.from_conn_string(db) as saver:
        c = create_checkpoint({"x": 1, "y": "y" * 40}, {"x": 1, "y": 1}, {}, None)
        saver.put(cfg(), c, {}, {"x": 1, "y": 1})  # "y" is long enough for a blob row
        saver.conn.execute("UPDATE asyncgraph_blobs SET data = X'd46300' WHERE channel = "
            "(SELECT id FROM asyncgraph_names WHERE name = 'y')")
        with pytest.raises(CheckpointError, match=rf"{c['id']}.*'y'.*unknown type code 99"):
            saver.get_tuple(cfg())


def test_a_gap_in_a_delta_chain_is_detected(db: str) -> None:
    with SqliteSaver.from_conn_string(db) as saver:
        grow(saver, 4)
        saver.conn.execute("DELETE FROM asyncgraph_blobs WHERE seq = 2")
        with pytest.raises(CheckpointError, match="incomplete"):
            saver.get_tuple(cfg())


def test_a_newer_schema_is_refused_and_left_untouched(db: str) -> None:
    with SqliteSaver.from_conn_string(db) as saver:
        grow(saver, 2)
        saver.conn.execute("INSERT INTO asyncgraph_schema (version) VALUES (99)")
    dump_before = list(sqlite3.connect(db).iterdump())
    with SqliteSaver.from_conn_string(db) as saver:
        with pytest.raises(CheckpointError, match="version 99.*upgrade asyncgraph"):
            saver.get_tuple(cfg())
    assert list(sqlite3.connect(db).iterdump()) == dump_before


def test_a_version_1_database_is_migrated_and_reads_back_the_same(tmp_path: Any) -> None:
    # v1.db was written by the schema version 1 code (see data/make_v1_db.py), and
    # v1_expected.json holds what that code read back from it.
    import importlib.util
    import os
    import shutil

    data = os.path.join(os.path.dirname(__file__), "data")
    db = str(tmp_path / "v1.db")
    shutil.copy(os.path.join(data, "v1.db"), db)
    spec = importlib.util.spec_from_file_location("expected_json", os.path.join(data, "expected_json.py"))
    assert spec is not None and spec.loader is not None
    codec = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(codec)
    with open(os.path.join(data, "v1_expected.json"), encoding="utf-8") as f:
        expected = codec.load_expected(f)
    assert expected["t1"] and expected["t2"]
    with SqliteSaver.from_conn_string(db) as saver:
        for thread_id, tuples in expected.items():
            got = [tuple(t) for t in saver.list({"configurable": {"thread_id": thread_id}})]
            assert got == tuples
        version = saver.conn.execute("SELECT max(version) FROM asyncgraph_schema").fetchone()
        assert version == (4,)
        # The migrated lineage still takes deltas.
        latest = saver.get_tuple(cfg())
        msgs = latest.checkpoint["channel_values"]["messages"] + turn(9)
        c = create_checkpoint({"messages": msgs}, {"messages": 9}, {}, ["messages"])
        saver.put(latest.config, c, {"step": 9}, {"messages": 9})
        assert saver.get_tuple(cfg()).checkpoint["channel_values"]["messages"] == msgs
    with SqliteSaver.from_conn_string(db) as saver:  # reopening runs no migration again
        got = [tuple(t) for t in saver.list({"configurable": {"thread_id": "t2"}})]
        assert got == expected["t2"]


def _expected(name: str) -> Any:
    import importlib.util
    import os

    data = os.path.join(os.path.dirname(__file__), "data")
    spec = importlib.util.spec_from_file_location("expected_json", os.path.join(data, "expected_json.py"))
    assert spec is not None and spec.loader is not None
    codec = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(codec)
    with open(os.path.join(data, name), encoding="utf-8") as f:
        return codec.load_expected(f)


def test_a_version_3_database_opens_and_reads_back_the_same(tmp_path: Any) -> None:
    # v3.db was written by the schema version 3 code (see data/make_v3_db.py): every
    # write's channel and task path are text there; version 4 may store names ids.
    import os
    import shutil

    from asyncgraph.graph import END, START, StateGraph
    from asyncgraph.graph.message import MessagesState

    db = str(tmp_path / "v3.db")
    shutil.copy(os.path.join(os.path.dirname(__file__), "data", "v3.db"), db)
    expected = _expected("v3_expected.json")
    assert expected["chat"] and expected["fan"]
    fan_writes = expected["fan"][0][4]
    # By task path, task id and index (a special channel's index is negative).
    assert [w[1] for w in fan_writes] == ["items", "__error__", "items"]
    with SqliteSaver.from_conn_string(db) as saver:
        for thread_id, tuples in expected.items():
            assert [tuple(t) for t in saver.list(cfg(thread_id))] == tuples
        assert saver.conn.execute("SELECT max(version) FROM asyncgraph_schema").fetchone() == (4,)
        # The thread goes on, its new writes stored the version 4 way.
        builder = StateGraph(MessagesState)
        builder.add_node("bot", lambda s: {"messages": [AIMessage("more " * 20, id="more")]})
        builder.add_edge(START, "bot")
        builder.add_edge("bot", END)
        graph = builder.compile(checkpointer=saver)
        out = graph.invoke({"messages": [HumanMessage("again " * 20, id="again")]}, cfg("chat"))
        assert [m.id for m in out["messages"]] == ["h0", "a1", "h1", "a3", "h2", "a5", "again", "more"]
        kinds = saver.conn.execute("SELECT DISTINCT typeof(channel) FROM asyncgraph_writes").fetchall()
        assert sorted(kinds) == [("blob",), ("text",)]
        # Old and new writes of one checkpoint, ordered by task path as before.
        older = list(saver.list(cfg("chat")))[1]
        assert graph.get_state(older.config).values["messages"][-1].id == "again"
    with SqliteSaver.from_conn_string(db) as saver:
        tuples = [tuple(t) for t in saver.list(cfg("fan"))]
        assert tuples == expected["fan"]


def test_write_channels_and_node_paths_are_stored_as_names_ids_and_read_back(db: str) -> None:
    with SqliteSaver.from_conn_string(db) as saver:
        grow(saver, 1)
        first = saver.get_tuple(cfg())
        assert first is not None
        writes = [("messages", ["a"]), ("other channel", 1), ("__error__", "boom")]
        saver.put_writes(first.config, writes[:2], "task-b", "('__pregel_pull', 'node b')")
        saver.put_writes(first.config, writes[2:], "task-a", "('__pregel_pull', 'zz')")
        saver.put_writes(first.config, [("messages", ["c"])], "task-c", "custom")
        # Only names the database holds become ids: the channel 'messages' (no node
        # is named 'node b' or 'zz' yet, nor a channel 'other channel' or '__error__').
        rows = saver.conn.execute(
            "SELECT typeof(channel), typeof(task_path) FROM asyncgraph_writes ORDER BY task_id"
        ).fetchall()
        assert rows == [("text", "text"), ("blob", "text"), ("text", "text"), ("blob", "text")]
        # A checkpoint naming the node 'node b': its path is stored as an id from now on.
        c = create_checkpoint({}, {"messages": 1}, {"node b": {"messages": 1}}, None)
        saver.put(cfg("t3"), c, {}, {})
        saver.put_writes(first.config, [("other channel", 2)], "task-d", "('__pregel_pull', 'node b')")
        assert saver.conn.execute(
            "SELECT typeof(task_path) FROM asyncgraph_writes WHERE channel = 'other channel' "
            "OR typeof(channel) = 'blob' ORDER BY task_path"
        ).fetchall()[-1] == ("blob",)
        got = saver.get_tuple(first.config).pending_writes
    # As LangGraph orders them: by task path, task id, index.
    assert got == [
        ("task-b", "messages", ["a"]), ("task-b", "other channel", 1),
        ("task-d", "other channel", 2), ("task-a", "__error__", "boom"),
        ("task-c", "messages", ["c"]),
    ]


def test_retention_collects_unneeded_blobs_but_keeps_lineages_in_use(db: str) -> None:
    with SqliteSaver.from_conn_string(db, keep_last=2) as saver:
        config, msgs, history = cfg(), [], []
        for i in range(60):
            msgs = (msgs + turn(i))[-6:]  # a trimmed history: every put is a snapshot
            c = create_checkpoint({"messages": msgs}, {"messages": i + 1}, {}, ["messages"])
            config = saver.put(config, c, {"step": i}, {"messages": i + 1})
            history.append((config, msgs))
        assert _row_count(saver.conn) <= 2 + max(16, 2)  # garbage is bounded
        for config, msgs in history[-2:]:
            assert saver.get_tuple(config).checkpoint["channel_values"]["messages"] == msgs

    with SqliteSaver.from_conn_string(db.replace("c.db", "d.db"), keep_last=2) as saver:
        msgs = grow(saver, 60)  # one long lineage: every row is still needed
        assert _row_count(saver.conn) == 60
        assert saver.get_tuple(cfg()).checkpoint["channel_values"]["messages"] == msgs


def test_wal_and_synchronous_normal_by_default(db: str) -> None:
    with SqliteSaver.from_conn_string(db) as saver:
        saver.setup()
        assert saver.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert saver.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


# -- PostgreSQL ---------------------------------------------------------------------


@pytest.mark.postgres
async def test_postgres_newer_schema_is_refused_and_untouched(pg_dsn: str) -> None:
    import psycopg

    from asyncgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    async with AsyncPostgresSaver.from_conn_string(pg_dsn) as saver:
        await saver.setup()
        async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
            await conn.execute("INSERT INTO asyncgraph_schema (version) VALUES (99)")
            try:
                with pytest.raises(CheckpointError, match="version 99"):
                    await saver.setup()
                rows = await (await conn.execute("SELECT max(version) FROM asyncgraph_schema")).fetchall()
                assert rows == [(99,)]
            finally:
                await conn.execute("DELETE FROM asyncgraph_schema WHERE version = 99")


@pytest.mark.postgres
async def test_postgres_serves_concurrent_threads_in_parallel_without_a_global_lock(
    pg_dsn: str,
) -> None:
    from asyncgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    async with AsyncPostgresSaver.from_conn_string(pg_dsn, pool_size=8) as saver:
        await saver.setup()

        async def run(n: int) -> list[Any]:
            config, msgs = cfg(f"pt{n}"), []
            for i in range(5):
                msgs = msgs + turn(i)
                c = create_checkpoint({"messages": msgs, "n": n}, {"messages": i + 1, "n": 1}, {}, None)
                config = await saver.aput(config, c, {"step": i}, {"messages": i + 1, "n": 1})
                await saver.aput_writes(config, [("n", n)], f"task{i}")
            return msgs

        expected = await asyncio.gather(*(run(n) for n in range(40)))
        for n, msgs in enumerate(expected):
            got = await saver.aget_tuple(cfg(f"pt{n}"))
            assert got.checkpoint["channel_values"] == {"messages": msgs, "n": n}

        # Parallel, not serialized: an operation stuck on the server (here a sleep run
        # through the saver's own dispatch) does not hold up other threads' operations.
        from asyncgraph.checkpoint._store import Stmt

        def stuck(after: Any) -> Any:
            yield [Stmt("SELECT pg_sleep(0.8)", fetch=True)]

        async def quick() -> float:
            await asyncio.sleep(0.1)
            started = asyncio.get_running_loop().time()
            await saver.aget_tuple(cfg("pt1"))
            return asyncio.get_running_loop().time() - started

        async with asyncio.TaskGroup() as tg:
            tg.create_task(saver._arun(stuck))
            elapsed = tg.create_task(quick())
        assert elapsed.result() < 0.5


def test_checkpoints_listed_together_share_no_list_or_mutable_value(db: str) -> None:
    """A history page decodes each stored delta once and builds every checkpoint's list
    over the same items: the lists (and non-list values) must still be separate."""
    with SqliteSaver.from_conn_string(db) as saver:
        config, msgs = cfg(), []
        for i in range(5):
            msgs = msgs + turn(i)
            c = create_checkpoint({"messages": msgs, "meta": {"turn": i}},
                                  {"messages": i + 1, "meta": 1}, {}, ["messages"])
            new = {"messages": i + 1, "meta": 1} if i == 0 else {"messages": i + 1}
            config = saver.put(config, c, {"step": i}, new)
        listed = list(saver.list(cfg()))
        assert [len(t.checkpoint["channel_values"]["messages"]) for t in listed] == [10, 8, 6, 4, 2]
        newest, older = (t.checkpoint["channel_values"] for t in listed[:2])
        newest["messages"].append("extra")
        newest["meta"]["turn"] = 99
        assert len(older["messages"]) == 8 and older["meta"] == {"turn": 0}
        assert older["messages"] == msgs[:8]


def test_timestamps_read_back_exactly_on_the_fast_path_and_off_it() -> None:
    from asyncgraph.checkpoint._body import _pack_ts, unpack_ts
    from asyncgraph.checkpoint._ids import id_and_ts

    for _ in range(2000):
        cid, ts = id_and_ts()
        for t in (ts, ts[:26] + "+01:00", ts[:19] + "+00:00", ts[:19] + ".000000+00:00",
                  ts[:19] + ".12345٣+00:00", "2026-12-07T06:30:15.123456+00:00", "not a time"):
            assert unpack_ts(_pack_ts(t, cid), cid) == t
