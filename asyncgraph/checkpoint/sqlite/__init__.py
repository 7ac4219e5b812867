"""SqliteSaver: checkpoints in a SQLite file through the standard ``sqlite3`` module.

Usage mirrors LangGraph's::

    with SqliteSaver.from_conn_string("checkpoints.db") as saver:
        graph = builder.compile(checkpointer=saver)

The database runs in WAL mode with ``synchronous=NORMAL`` by default (a committed
checkpoint survives a process crash; an OS crash may lose the last few transactions —
pass ``synchronous="FULL"`` to rule that out). One connection does all the work, under a
lock; every operation is one transaction. The tables are created on first use. See
:mod:`asyncgraph.checkpoint._sql` for the layout.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from asyncgraph.checkpoint._sql import SQLITE
from asyncgraph.checkpoint._sqlsaver import OpFn, SqlSaver, drive
from asyncgraph.checkpoint._store import Stmt, Store

__all__ = ["SqliteSaver"]

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]


class SqliteSaver(SqlSaver):
    """A checkpointer backed by a SQLite database (sync; async methods use a thread).

    Args:
        conn: an open ``sqlite3.Connection``. It must be usable from other threads
            (``check_same_thread=False``) if the async methods are used. The saver puts
            it in autocommit mode (``isolation_level=None``) and manages transactions.
        serde: the serializer; defaults to the safe msgpack one.
        keep_last: keep only the newest N checkpoints per thread and namespace, pruning
            older ones (and their writes) after each put. None keeps everything.
        synchronous: SQLite's ``PRAGMA synchronous``; ``"NORMAL"`` by default.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        serde: Any = None,
        keep_last: int | None = None,
        synchronous: Synchronous = "NORMAL",
    ) -> None:
        super().__init__(serde=serde)
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.conn = conn
        self.lock = threading.RLock()
        self._store = Store(SQLITE, self.serde, keep_last=keep_last)
        self._synchronous = synchronous
        self._is_setup = False

    @classmethod
    @contextmanager
    def from_conn_string(cls, conn_string: str, **kwargs: Any) -> Iterator[SqliteSaver]:
        """Open (creating if needed) the database at ``conn_string``; close it on exit.

        ``":memory:"`` gives a private in-memory database. Keyword arguments go to the
        constructor.
        """
        conn = sqlite3.connect(conn_string, check_same_thread=False, isolation_level=None)
        try:
            saver = cls(conn, **kwargs)
        except BaseException:
            conn.close()
            raise
        try:
            yield saver
        finally:
            # Under the lock: an operation still running in a worker thread (a run the
            # caller abandoned) must not find its connection closed under it (a crash).
            with saver.lock:
                conn.close()

    def setup(self) -> None:
        """Create or migrate the tables. Runs automatically before the first operation.

        Raises:
            CheckpointError: the database was written by a newer asyncgraph.
        """
        with self.lock:
            if self._is_setup:
                return
            conn = self.conn
            if conn.in_transaction:
                conn.commit()
            conn.isolation_level = None
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA busy_timeout=10000")
            self._transaction(self._store.op_setup, (), write=True)
            self._is_setup = True

    def _run(self, op: OpFn, *args: Any, write: bool = False) -> Any:
        with self.lock:
            if not self._is_setup:
                self.setup()
            return self._transaction(op, args, write=write)

    def _transaction(self, op: OpFn, args: tuple[Any, ...], *, write: bool) -> Any:
        return transaction(self.conn, op, args, write=write)


def transaction(conn: sqlite3.Connection, op: OpFn, args: tuple[Any, ...], *, write: bool) -> Any:
    """Run one store operation as one transaction on ``conn``, in the calling thread.

    Everything happens here: ``BEGIN``, every batch, ``COMMIT`` (or ``ROLLBACK`` on any
    error), then the operation's ``after`` callbacks. The async saver runs this whole
    function in aiosqlite's thread in one hop, so cancelling the caller can never leave
    a transaction half done: the function finishes regardless, as one unit.
    """
    after: list[Any] = []
    cur = conn.cursor()
    # IMMEDIATE takes the write lock up front, so a busy database fails fast at
    # BEGIN (after busy_timeout) instead of deadlocking halfway through.
    cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        value = drive(op(after, *args), lambda batch: _execute(cur, batch))
        cur.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    finally:
        cur.close()
    for callback in after:
        callback()
    return value


def _execute(cur: sqlite3.Cursor, batch: list[Stmt]) -> list[Any]:
    results: list[Any] = []
    for stmt in batch:
        if stmt.many:
            cur.executemany(stmt.sql, stmt.params)
            results.append(cur.rowcount)
        else:
            cur.execute(stmt.sql, stmt.params)
            results.append(cur.fetchall() if stmt.fetch else cur.rowcount)
    return results
