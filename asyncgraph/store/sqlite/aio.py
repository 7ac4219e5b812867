"""AsyncSqliteStore: the SQLite store on ``aiosqlite``, for async applications.

Usage mirrors LangGraph's::

    async with AsyncSqliteStore.from_conn_string("memory.db") as store:
        graph = builder.compile(store=store)

Same tables and guarantees as :class:`~asyncgraph.store.sqlite.SqliteStore` (the two
can share a file). A whole batch runs in one hop to aiosqlite's thread, including the
Python ranking of a semantic search, so the event loop never waits on SQLite. Sync
methods work from other threads and raise ``asyncio.InvalidStateError`` on the loop's
own thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from asyncgraph.store._sql import SQLITE, Stmt
from asyncgraph.store._sqlstore import AsyncBridge, SqlStore, drive
from asyncgraph.store._ttl import AsyncSweeper, interval_seconds
from asyncgraph.store.base._types import IndexConfig, Op, Result, TTLConfig
from asyncgraph.store._vectors import to_blob
from asyncgraph.store.sqlite.base import SQLITE_VEC_SCORE, execute_sqlite, load_sqlite_vec, setup_sqlite

if TYPE_CHECKING:
    import aiosqlite

__all__ = ["AsyncSqliteStore"]


class AsyncSqliteStore(AsyncBridge, SqlStore):
    """A store backed by a SQLite database through ``aiosqlite``.

    Args:
        conn: an open ``aiosqlite.Connection``.
        index: semantic search config (``embed``, ``dims``, ``fields``).
        ttl: TTL config (``default_ttl``, ``refresh_on_read``, ``sweep_interval_minutes``).
    """

    def __init__(
        self,
        conn: aiosqlite.Connection,
        *,
        deserializer: Any = None,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
    ) -> None:
        if deserializer is not None:
            raise NotImplementedError("AsyncSqliteStore(deserializer=...) is not supported")
        self.conn = conn
        self.lock = asyncio.Lock()
        self.is_setup = False
        self._configure(SQLITE, index, ttl)
        self._sweeper = AsyncSweeper()
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    @classmethod
    @asynccontextmanager
    async def from_conn_string(
        cls, conn_string: str, *, index: IndexConfig | None = None, ttl: TTLConfig | None = None
    ) -> AsyncIterator[AsyncSqliteStore]:
        """Open (creating if needed) the database at ``conn_string``; close it on exit."""
        # Imported here: aiosqlite is an optional dependency.
        import aiosqlite

        async with aiosqlite.connect(conn_string, isolation_level=None) as conn:
            yield cls(conn, index=index, ttl=ttl)

    async def _in_thread(self, fn: Any) -> Any:
        """Run ``fn(sqlite3_connection)`` on aiosqlite's thread, in one hop."""
        conn = self.conn
        return await conn._execute(lambda: fn(conn._conn))  # one hop for the whole batch

    async def setup(self) -> None:
        """Create the tables if needed. Runs automatically before the first operation."""
        self._bind_loop()
        async with self.lock:
            if not self.is_setup:

                def run(raw: Any) -> bool:
                    raw.isolation_level = None
                    setup_sqlite(raw)
                    return self._indexer is not None and load_sqlite_vec(raw)

                if await self._in_thread(run):
                    self._core.use_db_vectors("ag_store_vectors", SQLITE_VEC_SCORE, to_blob)
                self.is_setup = True

    async def _aexecute(self, batch: list[Stmt]) -> list[Any]:
        if not self.is_setup:
            await self.setup()
        return await self._in_thread(lambda raw: execute_sqlite(raw, batch))  # type: ignore[no-any-return]

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        prep = await self._aprepare(ops)
        if not self.is_setup:
            await self.setup()
        self._bind_loop()
        run = self._core.run(prep)
        return await self._in_thread(lambda raw: drive(run, lambda b: execute_sqlite(raw, b)))  # type: ignore[no-any-return]

    # -- TTL -------------------------------------------------------------------------------

    async def sweep_ttl(self) -> int:
        """Delete the expired items now; returns how many were deleted."""
        if not self.is_setup:
            await self.setup()
        gen = self._core.sweep()
        return await self._in_thread(lambda raw: drive(gen, lambda b: execute_sqlite(raw, b)))  # type: ignore[no-any-return]

    async def start_ttl_sweeper(self, sweep_interval_minutes: int | None = None) -> asyncio.Task[None]:
        """Sweep in a background task every ``sweep_interval_minutes`` (default: the ttl
        config's, else 5)."""
        return self._sweeper.start(self.sweep_ttl, interval_seconds(self.ttl_config, sweep_interval_minutes))

    async def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper task; True once it has ended."""
        return await self._sweeper.stop(timeout)
