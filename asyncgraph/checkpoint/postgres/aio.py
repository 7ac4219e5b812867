"""AsyncPostgresSaver: checkpoints in PostgreSQL through psycopg 3's async API.

Usage mirrors LangGraph's::

    async with AsyncPostgresSaver.from_conn_string("postgresql://user@host/db") as saver:
        await saver.setup()
        graph = builder.compile(checkpointer=saver)

There is no saver-wide lock: with a pool (what ``from_conn_string`` makes, or pass your
own ``psycopg_pool.AsyncConnectionPool``) every operation takes its own connection, so
concurrent threads are served in parallel, up to the pool size. Under load, puts and
reads of concurrent callers share transactions (group commit, see
:mod:`asyncgraph.checkpoint._group`): once 4 are in flight (at most half the
pool), the next ones are stored, or read, together. With a single
``psycopg.AsyncConnection`` operations take turns on it. Sync methods work from other
threads and refuse, with a clear error, on the event loop's own thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

from asyncgraph.checkpoint._bridge import SyncOverAsync
from asyncgraph.checkpoint._locks import ThreadLock, local_locks
from asyncgraph.checkpoint._sql import POSTGRES
from asyncgraph.checkpoint._sqlsaver import OpFn, SqlSaver, own_steps
from asyncgraph.checkpoint._store import Store
from asyncgraph.checkpoint.base import check_thread_id
from asyncgraph.checkpoint.postgres._driver import (
    BACKSTOP,
    DEFAULT_TIMEOUT,
    connection_kwargs,
    arun,
    timeout_error,
    speculation_failed,
    translated,
)
from asyncgraph.checkpoint._group import GroupCommit
from asyncgraph.checkpoint.postgres._lock import PgThreadLock

_FAST = {"fast": True}
_SPECULATE = {"fast": True, "speculate": True}  # op_put_steps

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

__all__ = ["AsyncPostgresSaver"]


class AsyncPostgresSaver(SyncOverAsync, SqlSaver):
    """A checkpointer backed by PostgreSQL, natively async.

    Args:
        conn: a ``psycopg_pool.AsyncConnectionPool`` or a ``psycopg.AsyncConnection``.
        serde: the serializer; defaults to the safe msgpack one.
        keep_last: keep only the newest N checkpoints per thread and namespace.
        timeout: seconds after which an operation is abandoned with ``TimeoutError``
            (its connection is closed, nothing is stored); None waits forever.
    """

    def __init__(
        self,
        conn: psycopg.AsyncConnection[Any] | psycopg_pool.AsyncConnectionPool[Any],
        *,
        serde: Any = None,
        keep_last: int | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(serde=serde)
        self.conn = conn
        self.timeout = timeout
        self.lock = asyncio.Lock()  # only for a single connection
        self._store = Store(POSTGRES, self.serde, keep_last=keep_last)
        self._pooled = hasattr(conn, "getconn")
        # Group commit across callers (checkpoint._group): puts queue once enough are in
        # flight, and are stored together. Only for a pool (one connection: one at a time).
        self._group = GroupCommit(self, getattr(conn, "max_size", 0)) if self._pooled else None

    @classmethod
    @asynccontextmanager
    async def from_conn_string(
        cls, conn_string: str, *, pool_size: int = 10, **kwargs: Any
    ) -> AsyncIterator[AsyncPostgresSaver]:
        """A saver over a pool of up to ``pool_size`` connections, closed on exit."""
        # Imported here: psycopg is an optional dependency.
        from psycopg_pool import AsyncConnectionPool

        async with AsyncConnectionPool(
            conn_string, min_size=1, max_size=pool_size, kwargs=connection_kwargs(kwargs.get("timeout", DEFAULT_TIMEOUT)), open=False
        ) as pool:
            yield cls(pool, **kwargs)

    async def setup(self) -> None:
        """Create or migrate the tables; safe to call from several processes at once.

        Raises:
            CheckpointError: the database was written by a newer asyncgraph (it is left
                untouched).
        """
        await self._arun(self._store.op_setup, write=True)

    async def _arun(self, op: OpFn, *args: Any, write: bool = False) -> Any:
        group = self._group
        if group is not None and write and (op == self._store.op_put or op == self._store.op_put_steps) \
                and own_steps(type(self)):
            self._bind_loop()
            return await group.run(op, args)
        if group is not None and not write and op == self._store.op_get_tuple and own_steps(type(self)):
            self._bind_loop()
            return await group.read(op, args)
        return await self._arun_one(op, args, write)

    async def _arun_one(self, op: OpFn, args: tuple[Any, ...], write: bool) -> Any:
        """One operation in one transaction of its own (``_group`` may run puts of several
        callers as one)."""
        self._bind_loop()
        try:
            async with asyncio.timeout(None if self.timeout is None else self.timeout + BACKSTOP):
                if self._pooled:
                    pool = cast("psycopg_pool.AsyncConnectionPool[Any]", self.conn)  # _pooled: it has getconn()
                    async with pool.connection() as conn:
                        return await self._transaction(conn, op, args, write)
                async with self.lock:
                    return await self._transaction(self.conn, op, args, write)
        except TimeoutError as exc:
            raise TimeoutError(
                f"a checkpoint operation took longer than {self.timeout} s (the saver's "
                "timeout=) and the server did not end it: it was abandoned and its "
                "connection closed (a COMMIT already sent may still take effect)"
            ) from exc

    def thread_lock(self, thread_id: str, *, timeout: float | None = None) -> ThreadLock:
        """An opt-in lock on one thread, held across processes (a session advisory lock
        on a connection kept for as long as it is held); see
        :meth:`BaseCheckpointSaver.thread_lock`."""
        return PgThreadLock(self, local_locks(self), check_thread_id(thread_id), timeout)

    async def _transaction(self, conn: Any, op: OpFn, args: tuple[Any, ...], write: bool) -> Any:
        after: list[Any] = []
        try:
            store = self._store
            if op == store.op_put or op == store.op_put_steps:
                # One round trip, COMMIT included; the careful way if it cannot be.
                fast = _FAST if op == store.op_put else _SPECULATE
                try:
                    value = await arun(conn, op(after, *args, **fast))
                except Exception as exc:
                    if not speculation_failed(exc):
                        raise
                    after = []
                    value = await arun(conn, op(after, *args))
            else:
                value = await arun(conn, op(after, *args), snapshot=not write)
        except Exception as exc:
            clearer = translated(timeout_error(self.timeout, exc))
            if clearer is exc:
                raise
            raise clearer from exc
        for callback in after:
            callback()
        return value
