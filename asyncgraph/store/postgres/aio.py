"""AsyncPostgresStore: the Postgres store on psycopg's async connection.

Usage mirrors LangGraph's::

    async with AsyncPostgresStore.from_conn_string("postgresql://...") as store:
        graph = builder.compile(store=store)

Same tables, round trips and pgvector detection as
:class:`~asyncgraph.store.postgres.PostgresStore`. Sync methods work from other threads
and raise ``asyncio.InvalidStateError`` on the loop's own thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from asyncgraph.checkpoint.postgres._driver import left_in_pipeline
from asyncgraph.store._sql import POSTGRES, Stmt
from asyncgraph.store._sqlstore import AsyncBridge, SqlStore, adrive
from asyncgraph.store._ttl import AsyncSweeper, interval_seconds
from asyncgraph.store.base._types import IndexConfig, Op, Result, TTLConfig
from asyncgraph.store.postgres.base import (
    PGVECTOR_PROBE,
    PGVECTOR_SCORE,
    PoolConfig,
    choose_vectors,
    pgvector_setup,
    report_vectors,
    vector_literal,
)

__all__ = ["AsyncPostgresStore"]


async def aexecute_pg(conn: Any, batch: list[Stmt]) -> list[Any]:
    """Run one batch on an async psycopg connection: one autocommit statement, or one
    pipelined transaction."""
    from psycopg.rows import tuple_row

    if len(batch) == 1 and not batch[0].many and conn.autocommit:
        stmt = batch[0]
        cur = conn.cursor(row_factory=tuple_row)
        await cur.execute(stmt.sql, stmt.params)
        rows = await cur.fetchall() if stmt.fetch else None
        return [stmt.consume(rows) if stmt.consume is not None and rows is not None else rows]
    try:
        async with conn.pipeline() as pipeline, conn.transaction():
            cursors = []
            for stmt in batch:
                cur = conn.cursor(row_factory=tuple_row)
                if stmt.many:
                    await cur.executemany(stmt.sql, stmt.params)
                else:
                    await cur.execute(stmt.sql, stmt.params)
                cursors.append(cur)
            await pipeline.sync()
            out = [await c.fetchall() if s.fetch else None for c, s in zip(cursors, batch, strict=True)]
    except BaseException:
        if left_in_pipeline(conn):  # cancelled mid-pipeline: never hand it back to a pool
            await conn.close()
        raise
    return [s.consume(r) if s.consume is not None and r is not None else r for s, r in zip(batch, out, strict=True)]


class AsyncPostgresStore(AsyncBridge, SqlStore):
    """A store backed by PostgreSQL through psycopg's ``AsyncConnection``.

    Args:
        conn: an ``AsyncConnection`` (autocommit recommended) or an ``AsyncConnectionPool``.
        index: semantic search config (``embed``, ``dims``, ``fields``).
        ttl: TTL config (``default_ttl``, ``refresh_on_read``, ``sweep_interval_minutes``).
    """

    def __init__(
        self,
        conn: Any,
        *,
        pipe: Any = None,
        deserializer: Any = None,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
    ) -> None:
        if deserializer is not None:
            raise NotImplementedError("AsyncPostgresStore(deserializer=...) is not supported")
        self.conn = conn
        self.lock = asyncio.Lock()
        self.is_setup = False
        self.pgvector = False
        self._configure(POSTGRES, index, ttl)
        self._sweeper = AsyncSweeper()
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    @classmethod
    @asynccontextmanager
    async def from_conn_string(
        cls,
        conn_string: str,
        *,
        pipeline: bool = False,
        pool_config: PoolConfig | None = None,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
    ) -> AsyncIterator[AsyncPostgresStore]:
        """Connect (or open a pool, with ``pool_config``); close on exit."""
        # Imported here: psycopg is an optional dependency.
        from psycopg import AsyncConnection

        if pool_config is not None:
            from psycopg_pool import AsyncConnectionPool

            kwargs = {"autocommit": True, **(pool_config.get("kwargs") or {})}
            async with AsyncConnectionPool(
                conn_string,
                min_size=pool_config.get("min_size", 1),
                max_size=pool_config.get("max_size"),
                kwargs=kwargs,
                open=False,
            ) as pool:
                yield cls(pool, index=index, ttl=ttl)
            return
        async with await AsyncConnection.connect(conn_string, autocommit=True) as conn:
            yield cls(conn, index=index, ttl=ttl)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        if hasattr(self.conn, "connection") and not hasattr(self.conn, "cursor"):
            async with self.conn.connection() as conn:  # a pool
                yield conn
        else:
            async with self.lock:
                yield self.conn

    async def setup(self) -> None:
        """Create the tables if needed (and use pgvector when the server has it)."""
        self._bind_loop()
        async with self._connection() as conn:
            await self._setup_on(conn)

    async def _setup_on(self, conn: Any) -> None:
        if self.is_setup:
            return
        async with conn.transaction():
            cur = conn.cursor()
            await cur.execute("SELECT pg_advisory_xact_lock(726373)")
            for sql in POSTGRES.schema:
                await cur.execute(sql)
        if self._indexer is not None:
            await self._use_pgvector(conn)
        self.is_setup = True

    async def _use_pgvector(self, conn: Any) -> None:
        """Choose where vectors go (:func:`~asyncgraph.store.postgres.base.choose_vectors`)
        and say so in the log."""
        import psycopg  # for import time: psycopg is an optional dependency

        assert self._indexer is not None
        cur = conn.cursor()
        await cur.execute(PGVECTOR_PROBE)
        probe = await cur.fetchone()
        mode, why = choose_vectors(*probe)
        if mode == "create":
            try:
                async with conn.transaction():
                    for sql in pgvector_setup(self._indexer.dims):
                        await cur.execute(sql)
                mode = "pgvector"
            except psycopg.Error as exc:
                mode, why = "portable", f"creating the pgvector extension failed ({exc})".strip()
        report_vectors(mode, why, probe[0])
        if mode == "pgvector":
            self.pgvector = True
            self._core.use_db_vectors("ag_store_pgvectors", PGVECTOR_SCORE, vector_literal, "%s::vector")

    async def _aexecute(self, batch: list[Stmt]) -> list[Any]:
        self._bind_loop()
        async with self._connection() as conn:
            if not self.is_setup:
                await self._setup_on(conn)
            return await aexecute_pg(conn, batch)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        prep = await self._aprepare(ops)
        self._bind_loop()
        async with self._connection() as conn:
            if not self.is_setup:
                await self._setup_on(conn)
            return await adrive(self._core.run(prep), lambda batch: aexecute_pg(conn, batch))

    # -- TTL -------------------------------------------------------------------------------

    async def sweep_ttl(self) -> int:
        """Delete the expired items now; returns how many were deleted."""
        async with self._connection() as conn:
            if not self.is_setup:
                await self._setup_on(conn)
            return await adrive(self._core.sweep(), lambda batch: aexecute_pg(conn, batch))

    async def start_ttl_sweeper(self, sweep_interval_minutes: int | None = None) -> asyncio.Task[None]:
        """Sweep in a background task every ``sweep_interval_minutes`` (default: the ttl
        config's, else 5)."""
        return self._sweeper.start(self.sweep_ttl, interval_seconds(self.ttl_config, sweep_interval_minutes))

    async def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper task; True once it has ended."""
        return await self._sweeper.stop(timeout)
