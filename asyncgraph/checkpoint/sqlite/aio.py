"""AsyncSqliteSaver: the SQLite saver on ``aiosqlite``, for async applications.

Usage mirrors LangGraph's::

    async with AsyncSqliteSaver.from_conn_string("checkpoints.db") as saver:
        graph = builder.compile(checkpointer=saver)

Same storage, pragmas and guarantees as :class:`~asyncgraph.checkpoint.sqlite.SqliteSaver`
(the two can share a database file). Operations are serialized on one connection; each
is one transaction. Sync methods work from other threads and refuse, with a clear
error, on the event loop's own thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from asyncgraph.checkpoint._bridge import SyncOverAsync
from asyncgraph.checkpoint._sql import SQLITE
from asyncgraph.checkpoint._sqlsaver import OpFn, SqlSaver, adrive
from asyncgraph.checkpoint._store import Stmt, Store
from asyncgraph.checkpoint.sqlite import Synchronous

if TYPE_CHECKING:
    import aiosqlite

__all__ = ["AsyncSqliteSaver"]


class AsyncSqliteSaver(SyncOverAsync, SqlSaver):
    """A checkpointer backed by a SQLite database through ``aiosqlite``.

    Args:
        conn: an open ``aiosqlite.Connection``; the saver manages transactions itself
            (explicit ``BEGIN`` / ``COMMIT``).
        serde: the serializer; defaults to the safe msgpack one.
        keep_last: keep only the newest N checkpoints per thread and namespace.
        synchronous: SQLite's ``PRAGMA synchronous``; ``"NORMAL"`` by default.
    """

    def __init__(
        self,
        conn: aiosqlite.Connection,
        *,
        serde: Any = None,
        keep_last: int | None = None,
        synchronous: Synchronous = "NORMAL",
    ) -> None:
        super().__init__(serde=serde)
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.conn = conn
        self.lock = asyncio.Lock()
        self._store = Store(SQLITE, self.serde, keep_last=keep_last)
        self._synchronous = synchronous
        self._is_setup = False

    @classmethod
    @asynccontextmanager
    async def from_conn_string(cls, conn_string: str, **kwargs: Any) -> AsyncIterator[AsyncSqliteSaver]:
        """Open (creating if needed) the database at ``conn_string``; close it on exit."""
        # Imported here: aiosqlite is an optional dependency.
        import aiosqlite

        async with aiosqlite.connect(conn_string, isolation_level=None) as conn:
            yield cls(conn, **kwargs)

    async def setup(self) -> None:
        """Create or migrate the tables. Runs automatically before the first operation.

        Raises:
            CheckpointError: the database was written by a newer asyncgraph.
        """
        self._bind_loop()
        async with self.lock:
            await self._setup_locked()

    async def _setup_locked(self) -> None:
        if self._is_setup:
            return
        conn = self.conn
        if conn.in_transaction:
            await conn.commit()
        # Every operation opens its transaction with an explicit BEGIN, so this works
        # whatever the connection's isolation_level (which aiosqlite cannot change).
        for pragma in ("journal_mode=WAL", f"synchronous={self._synchronous}", "busy_timeout=10000"):
            await (await conn.execute(f"PRAGMA {pragma}")).close()
        await self._transaction(self._store.op_setup, (), write=True)
        self._is_setup = True

    async def _arun(self, op: OpFn, *args: Any, write: bool = False) -> Any:
        self._bind_loop()
        async with self.lock:
            await self._setup_locked()
            return await self._transaction(op, args, write=write)

    async def _transaction(self, op: OpFn, args: tuple[Any, ...], *, write: bool) -> Any:
        after: list[Any] = []
        conn = self.conn
        await conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            value = await adrive(op(after, *args), self._execute)
            await conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise
        for callback in after:
            callback()
        return value

    async def _execute(self, batch: list[Stmt]) -> list[Any]:
        results: list[Any] = []
        for stmt in batch:
            if stmt.many:
                cur = await self.conn.executemany(stmt.sql, stmt.params)
            else:
                cur = await self.conn.execute(stmt.sql, stmt.params)
            try:
                results.append(await cur.fetchall() if stmt.fetch else cur.rowcount)
            finally:
                await cur.close()
        return results
