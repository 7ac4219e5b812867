"""The PostgreSQL driver's one-query-string path (``postgres/_driver.py``): parameters
bound on the client must read back exactly, whatever characters they hold, a
speculative put that cannot store its values must fall back without losing anything, and
a cancelled read must not hand its pool a connection left in pipeline mode."""

from __future__ import annotations

from typing import Any

import pytest

from asyncgraph.checkpoint.postgres._driver import _bind, _script
from asyncgraph.checkpoint._sql import Stmt

pytestmark = pytest.mark.postgres

VALUES: list[Any] = [
    "plain", "", "it's", "back\\slash\\'", "ünïcödé ✓ 🎉", "line\nbreak\ttab", "%s %% ?",
    "$$dollar$$", "--comment", "/* c */", b"", b"\x00\x01'\\\xff", bytes(range(256)),
    0, 1, -1, -(2**63), 2**63 - 1, None,
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_bound_literal_reads_back_exactly(pg_dsn: str, value: Any) -> None:
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        (got,) = conn.execute(_bind("SELECT %s", (value,))).fetchone()  # type: ignore[misc]
    assert got == value and type(got) is type(value)


def test_a_script_keeps_each_statement_s_results(pg_dsn: str) -> None:
    import psycopg

    from asyncgraph.checkpoint.postgres._driver import _script_results

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE t (a int PRIMARY KEY, b text)")
        cur = psycopg.ClientCursor(conn)
        stmts = [
            Stmt("BEGIN"),
            Stmt("INSERT INTO t VALUES (%s, %s)", [(1, "a'"), (2, None), (3, "c")], many=True),
            Stmt("INSERT INTO t VALUES (%s, %s) ON CONFLICT DO NOTHING", (1, "x")),
            Stmt("SELECT a, b FROM t ORDER BY a", (), fetch=True),
            Stmt("COMMIT"),
        ]
        cur.execute(_script(cur, stmts))
        assert _script_results(cur, stmts) == [0, 3, 0, [(1, "a'"), (2, None), (3, "c")], 0]


async def test_a_fork_reusing_a_version_falls_back_and_keeps_both_branches(pg_dsn: str) -> None:
    # The speculative one-round-trip put hits the version the first branch stored: the
    # database refuses it, and the careful put stores the fork under a variant.
    from asyncgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    async with AsyncPostgresSaver.from_conn_string(pg_dsn) as saver:
        await saver.setup()
        cfg = {"configurable": {"thread_id": "fork-fallback", "checkpoint_ns": ""}}

        def ckpt(cid: str, value: list[str], version: int) -> dict[str, Any]:
            return {"v": 1, "id": cid, "ts": "2026-01-01T00:00:00+00:00",
                    "channel_values": {"log": value}, "channel_versions": {"log": version},
                    "versions_seen": {}, "updated_channels": ["log"]}

        root = await saver.aput(cfg, ckpt("1f000000-0000-6000-8000-000000000001", ["a"], 1), {}, {"log": 1})
        one = await saver.aput(root, ckpt("1f000000-0000-6000-8000-000000000002", ["a", "b"], 2), {}, {"log": 2})
        two = await saver.aput(root, ckpt("1f000000-0000-6000-8000-000000000003", ["a", "c"], 2), {}, {"log": 2})
        assert (await saver.aget_tuple(one)).checkpoint["channel_values"]["log"] == ["a", "b"]
        assert (await saver.aget_tuple(two)).checkpoint["channel_values"]["log"] == ["a", "c"]


async def test_a_read_cancelled_at_any_await_leaves_its_connection_usable_or_closed(pg_dsn: str) -> None:
    # psycopg's pipeline block, cancelled while it runs or exits, can leave libpq in
    # pipeline mode on an idle connection; a pool that got it back sent every later
    # query by the extended protocol, and each multi-statement write then failed
    # ("cannot insert multiple commands into a prepared statement").
    import asyncio

    import psycopg
    from psycopg.pq import PipelineStatus

    from asyncgraph.checkpoint._sql import Last
    from asyncgraph.checkpoint.postgres._driver import arun

    def read() -> Any:
        return (yield Last([Stmt("SELECT pg_sleep(0.001)", (), fetch=True)]))

    for ticks in range(40):
        conn = await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True)
        try:
            task = asyncio.ensure_future(arun(conn, read(), snapshot=True))
            for _ in range(ticks):
                await asyncio.sleep(0)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            if not conn.closed:
                assert conn.pgconn.pipeline_status == PipelineStatus.OFF, ticks
                await conn.execute("SELECT 1; SELECT 2")  # the simple protocol works
        finally:
            await conn.close()

def test_a_connection_left_in_pipeline_mode_is_closed_not_reused(pg_dsn: str) -> None:
    import psycopg

    from asyncgraph.checkpoint.postgres._driver import _rollback

    conn = psycopg.connect(pg_dsn, autocommit=True)
    try:
        conn.pgconn.enter_pipeline_mode()
        _rollback(conn)
        assert conn.closed
    finally:
        conn.close()


async def test_a_long_message_list_reads_back_exactly_and_a_damaged_row_is_still_reported(
    pg_dsn: str,
) -> None:
    # A list grown over many checkpoints is stored as a snapshot and one delta row per
    # checkpoint; reading it decodes the delta rows in one pass. Every message comes back
    # equal (ids included) in order, and a delta row cut short is an error naming the
    # channel, never a list made of the wrong bytes.
    import uuid

    import psycopg
    from langchain_core.messages import AIMessage, HumanMessage

    from asyncgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from asyncgraph.errors import CheckpointError

    cfg = {"configurable": {"thread_id": "long-lineage", "checkpoint_ns": ""}}
    messages: list[Any] = []
    async with AsyncPostgresSaver.from_conn_string(pg_dsn) as saver:
        await saver.setup()
        parent = cfg
        for i in range(40):
            new = [HumanMessage(f"q{i}", id=str(uuid.uuid4()))]
            if i % 3:  # deltas of one and of two messages
                new.append(AIMessage(f"a{i}" * (i + 1), id=f"not-a-uuid-{i}"))
            messages = messages + new
            ckpt = {"v": 1, "id": f"1f000000-0000-6000-8000-{i + 1:012d}",
                    "ts": "2026-01-01T00:00:00+00:00",
                    "channel_values": {"messages": messages},
                    "channel_versions": {"messages": i + 1},
                    "versions_seen": {}, "updated_channels": ["messages"]}
            parent = await saver.aput(parent, ckpt, {}, {"messages": i + 1})
    async with AsyncPostgresSaver.from_conn_string(pg_dsn) as fresh:  # nothing cached
        got = (await fresh.aget_tuple(cfg)).checkpoint["channel_values"]["messages"]
        assert got == messages
        assert [m.id for m in got] == [m.id for m in messages]

        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            cur = conn.execute(
                "SELECT channel, lin_version, lin_variant, seq, data FROM asyncgraph_blobs "
                "WHERE seq = 20")
            ch, lin_v, lin_var, seq, data = cur.fetchone()  # type: ignore[misc]
            assert data[0] == 0x92  # a delta of two messages: cut its second one short
            first = bytes(data[:-3])
            conn.execute(
                "UPDATE asyncgraph_blobs SET data = %s WHERE channel = %s AND lin_version = %s "
                "AND lin_variant = %s AND seq = %s", (first, ch, lin_v, lin_var, seq))
        with pytest.raises(CheckpointError, match="channel 'messages'"):
            await fresh.aget_tuple(cfg)


_ROWS: list[tuple[Any, ...]] = [
    ("a", b"\x00'", 1), ("it's", b"", -(2**63)), ("", bytes(range(256)), 2**63 - 1),
    ("x", None, 3), (None, b"", 0), ("nul\x00", b"", 0), ("a", b"", 2**63), ("a", b"", True),
    ("a", "b", 1), (1, b"", 1), ("a", b""), ("a", b"", 1, 2), ("%s %% ?", b"%", -5),
]


@pytest.mark.parametrize("row", _ROWS, ids=repr)
def test_a_prepared_row_binds_as_the_general_binder_does(row: tuple[Any, ...]) -> None:
    # The binder written out per type tuple (_binder) gives what the general loop
    # gives, or raises what it raises, for every row: plain, None, NUL, out of range,
    # a bool, another type, another length.
    from asyncgraph.checkpoint.postgres._driver import _Prepared

    prepared = _Prepared("_asyncgraph_s_test", "INSERT INTO t VALUES (%s, %s, %s)", (str, bytes, int))

    def outcome(bind: Any) -> Any:
        try:
            return bind(row)
        except Exception as exc:  # noqa: BLE001  (compared below)
            return type(exc)

    assert outcome(prepared.bind) == outcome(prepared._bind)
