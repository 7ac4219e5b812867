"""PostgreSQL: a write transaction that repeats one of the store's statements prepares it
for that query string (``PREPARE``, then ``EXECUTE`` per row, ``DEALLOCATE``; see
``postgres/_driver._script``). What a user must see: exactly the rows the literal
statements store, and nothing prepared left on a pooled connection, also after a
transaction that failed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asyncgraph.checkpoint.postgres import _driver
from asyncgraph.checkpoint._sql import Last, Stmt

from .test_group_commit import _call, _dump, _reset, _steps

pytestmark = pytest.mark.postgres

PG_KINDS = ["postgres", "postgres_aio"]


def _spy_scripts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    sent: list[str] = []
    real = _driver._script

    def spy(cur: Any, stmts: Any, prepared: Any = None, **kwargs: Any) -> str:
        query = real(cur, stmts, prepared, **kwargs)
        sent.append(query)
        return query

    monkeypatch.setattr(_driver, "_script", spy)
    return sent


async def _ours_on_pool(saver: Any) -> list[str]:
    """The saver's prepared statements left on every idle connection of its pool."""
    names: list[str] = []
    pool = saver.conn
    if type(saver).__name__.startswith("Async"):
        conns = [await pool.getconn() for _ in range(pool.get_stats().get("pool_size", 1) or 1)]
        try:
            for conn in conns:
                cur = await conn.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE '\\_asyncgraph%'")
                names += [r[0] for r in await cur.fetchall()]
        finally:
            for conn in conns:
                await pool.putconn(conn)
        return names

    def sync() -> list[str]:
        conns = [pool.getconn() for _ in range(pool.get_stats().get("pool_size", 1) or 1)]
        try:
            return [r[0] for conn in conns for r in conn.execute(
                "SELECT name FROM pg_prepared_statements WHERE name LIKE '\\_asyncgraph%'").fetchall()]
        finally:
            for conn in conns:
                pool.putconn(conn)

    return await asyncio.to_thread(sync)


@pytest.mark.parametrize("saver_kind", PG_KINDS, indirect=True)
@pytest.mark.parametrize("keep_last", [None, 2])
async def test_prepared_writes_store_exactly_the_rows_of_literal_ones(
    saver_kind: str, make_saver: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, keep_last: int | None
) -> None:
    steps = [*_steps("a", 7), *_steps("b", 7)]
    steps.sort(key=lambda s: s.config["configurable"]["thread_id"])  # (threads ascending, as group commit does)
    writes = [("messages", f"w{i}") for i in range(5)]

    async def workload(saver: Any) -> list[Any]:
        first = await _call(saver, "put_step", steps[0].config, steps[0].checkpoint, steps[0].metadata,
                            steps[0].new_versions)
        rest = await _call(saver, "put_steps", [s for s in steps[1:] if s.config["configurable"]["thread_id"] == "a"])
        b = await _call(saver, "put_steps", [s for s in steps if s.config["configurable"]["thread_id"] == "b"])
        await _call(saver, "put_writes", rest[-1], writes, "task-x", "")
        await _call(saver, "put_writes", rest[-1], writes[:4], "task-x", "")  # (the same again: upserts)
        return [first, *rest, *b]

    monkeypatch.setattr(_driver, "PREPARE_MIN", 10**9)  # literal statements only
    async with make_saver(keep_last=keep_last) as saver:
        _reset(saver_kind, saver, tmp_path)
        literal = await workload(saver)
        expected = _dump(saver_kind, saver, tmp_path)
        _reset(saver_kind, saver, tmp_path)
    monkeypatch.setattr(_driver, "PREPARE_MIN", 3)
    sent = _spy_scripts(monkeypatch)
    async with make_saver(keep_last=keep_last) as saver:
        assert await workload(saver) == literal
        assert _dump(saver_kind, saver, tmp_path) == expected
        assert await _ours_on_pool(saver) == []
    assert any("PREPARE _asyncgraph_s" in q and "EXECUTE _asyncgraph_s" in q for q in sent)


def _names_op(names: list[str]) -> Any:
    """An operation inserting ``names`` into the names table (no ON CONFLICT: a name
    already there fails it), in one last batch."""
    results = yield Last([Stmt("INSERT INTO asyncgraph_names (name) VALUES (%s)", [(n,) for n in names], many=True)])
    return results


@pytest.mark.parametrize("saver_kind", ["postgres"], indirect=True)
async def test_a_failed_transaction_leaves_nothing_prepared_and_the_connection_works(
    saver_kind: str, make_saver: Any, pg_dsn: str
) -> None:
    import psycopg

    async with make_saver():  # (the tables)
        pass
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM asyncgraph_names WHERE name LIKE 'prep-%'")
        assert _driver.run(conn, _names_op(["prep-1", "prep-2", "prep-3"])) == [3]
        with pytest.raises(psycopg.errors.UniqueViolation):
            _driver.run(conn, _names_op(["prep-4", "prep-5", "prep-1"]))
        assert conn.execute("SELECT name FROM pg_prepared_statements").fetchall() == []
        assert _driver.run(conn, _names_op(["prep-4", "prep-5", "prep-6"])) == [3]
        assert conn.execute("SELECT name FROM pg_prepared_statements").fetchall() == []

    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as aconn:
        with pytest.raises(psycopg.errors.UniqueViolation):
            await _driver.arun(aconn, _names_op(["prep-7", "prep-8", "prep-2"]))
        assert await (await aconn.execute("SELECT name FROM pg_prepared_statements")).fetchall() == []
        assert await _driver.arun(aconn, _names_op(["prep-7", "prep-8", "prep-9"])) == [3]
        rows = await (await aconn.execute("SELECT name FROM asyncgraph_names WHERE name LIKE 'prep-%' ORDER BY name")).fetchall()
        assert [r[0] for r in rows] == [f"prep-{i}" for i in range(1, 10)]


@pytest.mark.parametrize("saver_kind", ["postgres"], indirect=True)
async def test_values_of_mixed_types_at_one_position_are_sent_as_literals(
    saver_kind: str, make_saver: Any, pg_dsn: str
) -> None:
    import psycopg

    async with make_saver():
        pass
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM asyncgraph_names WHERE name LIKE 'mix-%' OR name = '12345'")
        assert _driver.run(conn, _names_op(["mix-1", "mix-2", "mix-3"])) == [3]
        # an int where the first rows had strings: the statement is not prepared, and the
        # server converts the literal as it always did
        gen = _names_op(["mix-4", "mix-5", 12345])  # type: ignore[list-item]
        assert _driver.run(conn, gen) == [3]
        rows = conn.execute("SELECT name FROM asyncgraph_names WHERE name LIKE 'mix-%' OR name = '12345' ORDER BY name")
        assert [r[0] for r in rows] == ["12345", "mix-1", "mix-2", "mix-3", "mix-4", "mix-5"]
        assert conn.execute("SELECT name FROM pg_prepared_statements").fetchall() == []
