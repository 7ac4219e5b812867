"""Running store operations on psycopg connections (sync and async).

A whole operation runs in pipeline mode: ``BEGIN`` travels with the first batch and
``COMMIT`` with the end of the pipeline, so a typical put is two round trips however
many statements it has. Each batch is synced once, when its results are needed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asyncgraph.checkpoint._sqlsaver import Op, adrive, drive
from asyncgraph.checkpoint._store import Stmt
from asyncgraph.errors import CheckpointError


def run(conn: Any, gen: Op) -> Any:
    from psycopg.rows import tuple_row

    with conn.pipeline() as pipeline, conn.transaction():

        def execute(batch: list[Stmt]) -> list[Any]:
            cursors = []
            for stmt in batch:
                cur = conn.cursor(row_factory=tuple_row)
                if stmt.many:
                    cur.executemany(stmt.sql, stmt.params)
                else:
                    cur.execute(stmt.sql, stmt.params)
                cursors.append(cur)
            pipeline.sync()
            return [c.fetchall() if s.fetch else c.rowcount for c, s in zip(cursors, batch)]

        return drive(gen, execute)


async def arun(conn: Any, gen: Op) -> Any:
    from psycopg.rows import tuple_row

    async with conn.pipeline() as pipeline, conn.transaction():

        async def execute(batch: list[Stmt]) -> list[Any]:
            cursors = []
            for stmt in batch:
                cur = conn.cursor(row_factory=tuple_row)
                if stmt.many:
                    await cur.executemany(stmt.sql, stmt.params)
                else:
                    await cur.execute(stmt.sql, stmt.params)
                cursors.append(cur)
            await pipeline.sync()
            return [
                await c.fetchall() if s.fetch else c.rowcount for c, s in zip(cursors, batch)
            ]

        return await adrive(gen, execute)


def translated(exc: BaseException) -> BaseException:
    """A clearer error for a database that was never set up."""
    import psycopg.errors

    if isinstance(exc, psycopg.errors.UndefinedTable):
        return CheckpointError(
            "the asyncgraph checkpoint tables do not exist in this database: call "
            f"saver.setup() (or `await saver.setup()`) once before using it ({exc})"
        )
    return exc


Runner = Callable[[Any, Op], Any]
