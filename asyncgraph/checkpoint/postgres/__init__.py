"""PostgresSaver: checkpoints in PostgreSQL through psycopg 3, sync API.

Usage mirrors LangGraph's::

    with PostgresSaver.from_conn_string("postgresql://user@host/db") as saver:
        saver.setup()  # once per database: creates or migrates the tables
        graph = builder.compile(checkpointer=saver)

Give it a ``psycopg_pool.ConnectionPool`` (operations from several threads then run in
parallel, each on its own pooled connection, with no lock) or a single
``psycopg.Connection`` (operations take turns on it). Each operation is one transaction,
its statements pipelined. Writes to one thread are serialized by a transaction advisory
lock; reads see one snapshot. No operation waits longer than ``timeout``. See :mod:`asyncgraph.checkpoint._sql` for the tables.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from asyncgraph.checkpoint._locks import ThreadLock, local_locks
from asyncgraph.checkpoint._sql import POSTGRES
from asyncgraph.checkpoint._sqlsaver import OpFn, SqlSaver
from asyncgraph.checkpoint._store import Store
from asyncgraph.checkpoint.base import check_thread_id
from asyncgraph.checkpoint.postgres._driver import (
    BACKSTOP,
    DEFAULT_TIMEOUT,
    connection_kwargs,
    run,
    timeout_error,
    speculation_failed,
    translated,
)
from asyncgraph.checkpoint.postgres._lock import PgThreadLock

_FAST = {"fast": True}
_SPECULATE = {"fast": True, "speculate": True}  # op_put_steps

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

__all__ = ["PostgresSaver"]


class PostgresSaver(SqlSaver):
    """A checkpointer backed by PostgreSQL (sync; async methods use a thread).

    Args:
        conn: a ``psycopg_pool.ConnectionPool`` or a ``psycopg.Connection``.
        serde: the serializer; defaults to the safe msgpack one.
        keep_last: keep only the newest N checkpoints per thread and namespace.
        timeout: seconds after which an operation is abandoned with ``TimeoutError``
            (its connection is shut down, nothing is stored); None waits forever.
    """

    def __init__(
        self,
        conn: psycopg.Connection[Any] | psycopg_pool.ConnectionPool[Any],
        *,
        serde: Any = None,
        keep_last: int | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(serde=serde)
        self.conn = conn
        self.timeout = timeout
        self.lock = threading.Lock()  # only for a single connection
        self._store = Store(POSTGRES, self.serde, keep_last=keep_last)
        self._pooled = hasattr(conn, "getconn")

    @classmethod
    @contextmanager
    def from_conn_string(
        cls, conn_string: str, *, pool_size: int = 10, **kwargs: Any
    ) -> Iterator[PostgresSaver]:
        """A saver over a pool of up to ``pool_size`` connections, closed on exit."""
        # Imported here: psycopg is an optional dependency.
        from psycopg_pool import ConnectionPool

        with ConnectionPool(
            conn_string, min_size=1, max_size=pool_size, kwargs=connection_kwargs(kwargs.get("timeout", DEFAULT_TIMEOUT))
        ) as pool:
            yield cls(pool, **kwargs)

    def setup(self) -> None:
        """Create or migrate the tables; safe to call from several processes at once.

        Raises:
            CheckpointError: the database was written by a newer asyncgraph (it is left
                untouched).
        """
        self._run(self._store.op_setup, write=True)

    def _run(self, op: OpFn, *args: Any, write: bool = False) -> Any:
        if self._pooled:
            pool = cast("psycopg_pool.ConnectionPool[Any]", self.conn)  # _pooled: it has getconn()
            with pool.connection(timeout=self.timeout) as conn:
                return self._transaction(conn, op, args, write)
        with self.lock:
            return self._transaction(self.conn, op, args, write)

    def thread_lock(self, thread_id: str, *, timeout: float | None = None) -> ThreadLock:
        """An opt-in lock on one thread, held across processes (a session advisory lock
        on a connection kept for as long as it is held); see
        :meth:`BaseCheckpointSaver.thread_lock`."""
        return PgThreadLock(self, local_locks(self), check_thread_id(thread_id), timeout)

    def _transaction(self, conn: Any, op: OpFn, args: tuple[Any, ...], write: bool) -> Any:
        after: list[Any] = []
        try:
            store = self._store
            if op == store.op_put or op == store.op_put_steps:
                # One round trip, COMMIT included; the careful way if it cannot be.
                fast = _FAST if op == store.op_put else _SPECULATE
                try:
                    value = run(conn, op(after, *args, **fast), timeout=self.timeout)
                except Exception as exc:
                    if not speculation_failed(exc):
                        raise
                    after = []
                    value = run(conn, op(after, *args), timeout=self.timeout)
            else:
                value = run(conn, op(after, *args), snapshot=not write, timeout=self.timeout)
        except Exception as exc:
            clearer = translated(timeout_error(self.timeout, exc))
            if clearer is exc:
                raise
            raise clearer from exc
        for callback in after:
            callback()
        return value
