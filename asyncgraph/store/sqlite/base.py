"""SqliteStore: the store in a SQLite file through the standard ``sqlite3`` module.

Usage mirrors LangGraph's::

    with SqliteStore.from_conn_string("memory.db", index={"embed": emb, "dims": 256}) as store:
        graph = builder.compile(store=store)

The tables (see :mod:`asyncgraph.store._sql`) are created on first use; ``setup()`` may
also be called explicitly. The database runs in WAL mode with ``synchronous=NORMAL``
(a committed write survives a process crash). One connection does all the work, under a
lock; a batch that writes more than one statement is one transaction. Semantic search
ranks in SQL with sqlite-vec when it is installed and the interpreter's sqlite3 can load
extensions, else in Python.
"""

from __future__ import annotations

import concurrent.futures
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from asyncgraph._async import in_thread
from asyncgraph.store._sql import SQLITE, Stmt
from asyncgraph.store._sqlstore import SqlStore, drive
from asyncgraph.store._ttl import Sweeper, interval_seconds
from asyncgraph.store._vectors import to_blob
from asyncgraph.store.base._types import IndexConfig, Op, Result, TTLConfig

__all__ = ["SqliteStore"]


def setup_sqlite(conn: sqlite3.Connection) -> None:
    """Pragmas and tables; shared with the async store (run through its thread)."""
    if conn.in_transaction:
        conn.commit()
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql in SQLITE.schema:
            conn.execute(sql)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


SQLITE_VEC_SCORE = "1.0 - vec_distance_cosine(v.embedding, ?)"


def load_sqlite_vec(conn: sqlite3.Connection) -> bool:
    """Load the sqlite-vec extension if it is installed and this interpreter's sqlite3
    can load extensions; whether it is now available."""
    try:
        import sqlite_vec  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        return False
    try:
        conn.enable_load_extension(True)
        try:
            sqlite_vec.load(conn)
        finally:
            conn.enable_load_extension(False)
    except (AttributeError, sqlite3.Error):  # a build without extension loading
        return False
    return True


def execute_sqlite(conn: sqlite3.Connection, batch: list[Stmt]) -> list[Any]:
    """Run one batch; several statements (or a write of many rows) in one transaction."""
    atomic = len(batch) > 1 or batch[0].many
    cur = conn.cursor()
    if atomic:
        cur.execute("BEGIN IMMEDIATE")
    try:
        out: list[Any] = []
        for stmt in batch:
            if stmt.many:
                cur.executemany(stmt.sql, stmt.params)
                out.append(None)
            else:
                cur.execute(stmt.sql, stmt.params)
                if stmt.consume is not None:
                    out.append(stmt.consume(cur))
                else:
                    out.append(cur.fetchall() if stmt.fetch else None)
        if atomic:
            cur.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        cur.close()
    return out


class SqliteStore(SqlStore):
    """A store backed by a SQLite database (sync; the async methods use a thread).

    Args:
        conn: an open ``sqlite3.Connection``, opened with ``check_same_thread=False`` if
            the store is used from several threads (sync nodes) or through its async
            methods. The store switches it to autocommit and manages transactions.
        index: semantic search config (``embed``, ``dims``, ``fields``).
        ttl: TTL config (``default_ttl``, ``refresh_on_read``, ``sweep_interval_minutes``).
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        deserializer: Any = None,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
    ) -> None:
        if deserializer is not None:
            raise NotImplementedError("SqliteStore(deserializer=...) is not supported")
        self.conn = conn
        self.lock = threading.Lock()
        self.is_setup = False
        self._configure(SQLITE, index, ttl)
        self._sweeper = Sweeper()

    @classmethod
    @contextmanager
    def from_conn_string(
        cls, conn_string: str, *, index: IndexConfig | None = None, ttl: TTLConfig | None = None
    ) -> Iterator[SqliteStore]:
        """Open (creating if needed) the database at ``conn_string``; close it on exit."""
        conn = sqlite3.connect(conn_string, check_same_thread=False, isolation_level=None)
        try:
            yield cls(conn, index=index, ttl=ttl)
        finally:
            conn.close()

    def setup(self) -> None:
        """Create the tables if needed. Runs automatically before the first operation."""
        with self.lock:
            self._setup_locked()

    def _setup_locked(self) -> None:
        if not self.is_setup:
            self.conn.isolation_level = None
            setup_sqlite(self.conn)
            if self._indexer is not None and load_sqlite_vec(self.conn):
                self._core.use_db_vectors("ag_store_vectors", SQLITE_VEC_SCORE, to_blob)
            self.is_setup = True

    _sync_native = True

    def _execute(self, batch: list[Stmt]) -> list[Any]:
        with self.lock:
            if not self.is_setup:
                self._setup_locked()
            return execute_sqlite(self.conn, batch)

    def _fetch_row(self, sql: str, params: tuple[Any, ...]) -> Any:
        lock = self.lock
        lock.acquire()  # not ``with``: its __exit__ call is a tenth of a get's own time
        try:
            if not self.is_setup:
                self._setup_locked()
            return self.conn.execute(sql, params).fetchone()
        finally:
            lock.release()

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        prep = self._prepare(ops)
        conn = self.conn
        with self.lock:
            if not self.is_setup:
                self._setup_locked()
            return drive(self._core.run(prep), lambda batch: execute_sqlite(conn, batch))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        prep = await self._aprepare(ops)

        def run() -> list[Result]:
            with self.lock:
                if not self.is_setup:
                    self._setup_locked()
                return drive(self._core.run(prep), lambda batch: execute_sqlite(self.conn, batch))

        return await in_thread(run)

    # -- TTL -------------------------------------------------------------------------------

    def sweep_ttl(self) -> int:
        """Delete the expired items now; returns how many were deleted."""
        with self.lock:
            if not self.is_setup:
                self._setup_locked()
            return drive(self._core.sweep(), lambda batch: execute_sqlite(self.conn, batch))

    def start_ttl_sweeper(
        self, sweep_interval_minutes: int | None = None
    ) -> concurrent.futures.Future[None]:
        """Sweep in a background thread every ``sweep_interval_minutes`` (default: the
        ttl config's, else 5); the returned future completes when the sweeper stops."""
        return self._sweeper.start(self.sweep_ttl, interval_seconds(self.ttl_config, sweep_interval_minutes))

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper thread; True once it has ended."""
        return self._sweeper.stop(timeout)
