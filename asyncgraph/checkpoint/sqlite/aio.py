"""AsyncSqliteSaver: the SQLite saver on ``aiosqlite``, for async applications.

Usage mirrors LangGraph's::

    async with AsyncSqliteSaver.from_conn_string("checkpoints.db") as saver:
        graph = builder.compile(checkpointer=saver)

Same storage, pragmas and guarantees as :class:`~asyncgraph.checkpoint.sqlite.SqliteSaver`
(the two can share a database file). Each operation is one transaction, run as one
unit in aiosqlite's thread (one thread hop per operation, whatever its statements). Sync
methods work from other threads and refuse, with a clear error, on the event loop's own
thread.

Group commit across callers (the same as ``AsyncPostgresSaver``'s, see
:mod:`asyncgraph.checkpoint._group`), with one lane: while one write transaction
is in aiosqlite's thread, further puts of any thread queue, and the next transaction
stores everything queued (up to 64 checkpoints) in one hop; reads of the latest
checkpoint likewise share one snapshot. Under many concurrent runs this replaces a hop,
a ``BEGIN``/``COMMIT`` and the WAL pages of a commit per put with one per group (and,
SQLite taking one writer at a time anyway, serializes nothing that was not serialized).
A lone caller's operations go as before: nothing queues.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from asyncgraph.checkpoint._bridge import SyncOverAsync
from asyncgraph.checkpoint._sql import SQLITE
from asyncgraph.checkpoint._sqlsaver import OpFn, SqlSaver, own_steps
from asyncgraph.checkpoint._store import Store
from asyncgraph.checkpoint._group import GroupCommit
from asyncgraph.checkpoint.sqlite import Synchronous, transaction

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
        self.lock = asyncio.Lock()  # LangGraph's saver has one; this one does not need it
        self._store = Store(SQLITE, self.serde, keep_last=keep_last)
        self._synchronous = synchronous
        self._is_setup = False
        self._group: _Group | None = None  # made on the loop it serves (see _grouped)

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
        await self.conn._execute(self._setup_in_thread)

    def _setup_in_thread(self) -> None:
        if self._is_setup:
            return
        conn = self.conn._conn
        if conn.in_transaction:
            conn.commit()
        # Every operation opens its transaction with an explicit BEGIN.
        conn.isolation_level = None
        for pragma in ("journal_mode=WAL", f"synchronous={self._synchronous}", "busy_timeout=10000"):
            conn.execute(f"PRAGMA {pragma}").close()
        transaction(conn, self._store.op_setup, (), write=True)
        self._is_setup = True

    async def _arun(self, op: OpFn, *args: Any, write: bool = False) -> Any:
        store = self._store
        if op == store.op_put or op == store.op_put_steps:
            if write and own_steps(type(self)):
                return await self._grouped().run(op, args)
        elif op == store.op_get_tuple and not write and own_steps(type(self)):
            return await self._grouped().read(op, args)
        return await self._arun_one(op, args, write)

    def _grouped(self) -> _Group:
        """The group commit of the running loop: a saver used from a new loop (a loop
        that ended with a put in flight never gives its lane back) starts afresh."""
        self._bind_loop()
        loop = asyncio.get_running_loop()
        group = self._group
        if group is None or group.loop is not loop:
            group = self._group = _Group(self, loop)
        return group

    async def _arun_one(self, op: OpFn, args: tuple[Any, ...], write: bool) -> Any:
        """One operation in one transaction of its own (``_group`` may run the puts or
        the reads of several callers as one)."""
        # One hop to aiosqlite's thread runs the whole transaction there (BEGIN, every
        # statement, COMMIT or ROLLBACK): its queue serializes operations, and a
        # cancelled caller cannot split a transaction (the unit runs to its end).
        self._bind_loop()
        if op == self._store.op_many and args[1] is not None:
            # The shared read hands each caller its tuple as soon as it is read, from
            # aiosqlite's thread: through the loop (futures are not thread-safe).
            loop, done = asyncio.get_running_loop(), args[1]
            args = (args[0], lambda i, error, value: loop.call_soon_threadsafe(done, i, error, value))
        return await self.conn._execute(self._unit, op, args, write)

    def _unit(self, op: OpFn, args: tuple[Any, ...], write: bool) -> Any:
        if not self._is_setup:
            self._setup_in_thread()
        return transaction(self.conn._conn, op, args, write=write)


class _Group(GroupCommit):
    """Group commit with one write lane and one read lane: aiosqlite runs one
    transaction at a time, so a second lane would only queue in its thread."""

    __slots__ = ("loop",)

    def __init__(self, saver: AsyncSqliteSaver, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(saver, 2)  # (a pool of 2: one lane each)
        self.loop = loop
