"""Running store operations on psycopg connections (sync and async)."""

from __future__ import annotations

from typing import Any

from asyncgraph.checkpoint._store import Stmt
from asyncgraph.errors import CheckpointError


def execute(conn: Any, batch: list[Stmt]) -> list[Any]:
    """Run a batch; several statements go in one pipeline round trip."""
    from psycopg.rows import tuple_row

    if len(batch) == 1:
        return [_one(conn.cursor(row_factory=tuple_row), batch[0])]
    with conn.pipeline():
        cursors = []
        for stmt in batch:
            cur = conn.cursor(row_factory=tuple_row)
            if stmt.many:
                cur.executemany(stmt.sql, stmt.params)
            else:
                cur.execute(stmt.sql, stmt.params)
            cursors.append(cur)
    return [cur.fetchall() if stmt.fetch else cur.rowcount for cur, stmt in zip(cursors, batch)]


def _one(cur: Any, stmt: Stmt) -> Any:
    if stmt.many:
        cur.executemany(stmt.sql, stmt.params)
        return cur.rowcount
    cur.execute(stmt.sql, stmt.params)
    return cur.fetchall() if stmt.fetch else cur.rowcount


async def aexecute(conn: Any, batch: list[Stmt]) -> list[Any]:
    from psycopg.rows import tuple_row

    if len(batch) == 1:
        stmt = batch[0]
        cur = conn.cursor(row_factory=tuple_row)
        if stmt.many:
            await cur.executemany(stmt.sql, stmt.params)
            return [cur.rowcount]
        await cur.execute(stmt.sql, stmt.params)
        return [await cur.fetchall() if stmt.fetch else cur.rowcount]
    async with conn.pipeline():
        cursors = []
        for stmt in batch:
            cur = conn.cursor(row_factory=tuple_row)
            if stmt.many:
                await cur.executemany(stmt.sql, stmt.params)
            else:
                await cur.execute(stmt.sql, stmt.params)
            cursors.append(cur)
    return [
        await cur.fetchall() if stmt.fetch else cur.rowcount for cur, stmt in zip(cursors, batch)
    ]


def translate(exc: BaseException) -> BaseException:
    """A clearer error for a database that was never set up."""
    import psycopg.errors

    if isinstance(exc, psycopg.errors.UndefinedTable):
        return CheckpointError(
            "the asyncgraph checkpoint tables do not exist in this database: call "
            f"saver.setup() (or `await saver.setup()`) once before using it ({exc})"
        )
    return exc
