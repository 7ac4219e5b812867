"""``saver.thread_lock(thread_id)`` on PostgreSQL: excludes holders in every process.

A holder first takes the in-process lock (:mod:`asyncgraph.checkpoint._locks`), then a
session advisory lock keyed by the thread id, on ONE connection the saver keeps for all
the thread locks it holds (taken from the pool while any is held, given back after the
last release). So holding locks on 200 threads pins one pooled connection, not 200, and
the runs inside the locks still find connections for their writes. Waiting polls
``pg_try_advisory_lock`` (1 ms growing to 50 ms), so a waiter pins nothing either.

If the process dies, its session ends and PostgreSQL releases its locks. If the lock
connection breaks while locks are held, those locks are lost; the next release notices
and the connection is replaced.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING, Any

from asyncgraph._async import in_thread
from asyncgraph._sync import run_on_loop
from asyncgraph.checkpoint._locks import LocalThreadLocks, ThreadLock, lock_timeout_error
from asyncgraph.checkpoint._sql import THREAD_TRY_LOCK, THREAD_UNLOCK

if TYPE_CHECKING:
    from asyncgraph.checkpoint.postgres import PostgresSaver
    from asyncgraph.checkpoint.postgres.aio import AsyncPostgresSaver


class _LockConn:
    """The connection holding a saver's session advisory locks, and its users."""

    def __init__(self) -> None:
        self.conn: Any = None
        self.users = 0
        self.alock = asyncio.Lock()
        self.tlock = threading.Lock()


def _state(saver: Any) -> _LockConn:
    state = saver.__dict__.get("_pg_lock_conn")
    if state is None:
        state = saver.__dict__.setdefault("_pg_lock_conn", _LockConn())
    return state  # type: ignore[no-any-return]


class PgThreadLock(ThreadLock):
    def __init__(
        self,
        saver: PostgresSaver | AsyncPostgresSaver,
        local: LocalThreadLocks,
        thread_id: str,
        timeout: float | None,
    ) -> None:
        super().__init__(local, thread_id, timeout)
        self._saver = saver

    # -- async ---------------------------------------------------------------------------

    async def _aenter(self) -> None:
        saver = self._saver
        if not hasattr(saver, "_bind_loop"):  # the sync saver, used from async code
            await in_thread(self._enter)  # short: polls, never blocks long
            return
        state = _state(saver)
        started = time.monotonic()
        delay = 0.001
        while True:
            async with state.alock:
                conn = await self._aconn(state)
                try:
                    got = await self._aexec(conn, THREAD_TRY_LOCK)
                except BaseException:
                    await self._arelease_conn(state, broken=True)
                    raise
                if got:
                    return
                await self._arelease_conn(state)
            left = self.remaining(started)
            if left is not None and left <= 0:
                raise lock_timeout_error(self.thread_id, self.timeout)
            await asyncio.sleep(delay if left is None else min(delay, left))
            delay = min(delay * 2, 0.05)

    async def _aexit(self) -> None:
        saver = self._saver
        if not hasattr(saver, "_bind_loop"):
            await in_thread(self._exit)
            return
        state = _state(saver)
        async with state.alock:
            broken = False
            try:
                await self._aexec(state.conn, THREAD_UNLOCK)
            except Exception:
                broken = True  # the session is gone, and its locks with it
            await self._arelease_conn(state, broken=broken)

    async def _aexec(self, conn: Any, sql: str) -> Any:
        saver: Any = self._saver
        if saver._pooled:
            return await _aselect(conn, sql, self.thread_id)
        async with saver.lock:  # a single connection: take turns with the saver's work
            return await _aselect(conn, sql, self.thread_id)

    async def _aconn(self, state: _LockConn) -> Any:
        state.users += 1
        if state.conn is None:
            saver: Any = self._saver
            try:
                if saver._pooled:
                    state.conn = await saver.conn.getconn(timeout=saver.timeout)
                else:
                    state.conn = saver.conn
            except BaseException:
                state.users -= 1
                raise
        return state.conn

    async def _arelease_conn(self, state: _LockConn, *, broken: bool = False) -> None:
        state.users -= 1
        saver: Any = self._saver
        conn = state.conn
        if conn is None or not saver._pooled:
            if state.users == 0:
                state.conn = None
            return
        if broken:
            # Locks still held by others on it are lost with it (see the docstring).
            state.conn = None
            state.users = 0
            await conn.close()
            await saver.conn.putconn(conn)
        elif state.users == 0:
            state.conn = None
            await saver.conn.putconn(conn)

    # -- sync ----------------------------------------------------------------------------

    def _enter(self) -> None:
        saver: Any = self._saver
        if hasattr(saver, "_bind_loop"):  # the async saver, used from a worker thread
            run_on_loop(saver._loop, self._aenter(), f"{type(saver).__name__}.thread_lock()", _ASYNC_INSTEAD)
            return
        state = _state(saver)
        started = time.monotonic()
        delay = 0.001
        while True:
            with state.tlock:
                conn = self._conn(state)
                try:
                    got = self._exec(conn, THREAD_TRY_LOCK)
                except BaseException:
                    self._release_conn(state, broken=True)
                    raise
                if got:
                    return
                self._release_conn(state)
            left = self.remaining(started)
            if left is not None and left <= 0:
                raise lock_timeout_error(self.thread_id, self.timeout)
            time.sleep(delay if left is None else min(delay, left))
            delay = min(delay * 2, 0.05)

    def _exit(self) -> None:
        saver: Any = self._saver
        if hasattr(saver, "_bind_loop"):
            run_on_loop(saver._loop, self._aexit(), f"{type(saver).__name__}.thread_lock()", _ASYNC_INSTEAD)
            return
        state = _state(saver)
        with state.tlock:
            broken = False
            try:
                self._exec(state.conn, THREAD_UNLOCK)
            except Exception:
                broken = True
            self._release_conn(state, broken=broken)

    def _exec(self, conn: Any, sql: str) -> Any:
        saver: Any = self._saver
        if saver._pooled:
            return _select(conn, sql, self.thread_id)
        with saver.lock:
            return _select(conn, sql, self.thread_id)

    def _conn(self, state: _LockConn) -> Any:
        state.users += 1
        if state.conn is None:
            saver: Any = self._saver
            try:
                state.conn = saver.conn.getconn(timeout=saver.timeout) if saver._pooled else saver.conn
            except BaseException:
                state.users -= 1
                raise
        return state.conn

    def _release_conn(self, state: _LockConn, *, broken: bool = False) -> None:
        state.users -= 1
        saver: Any = self._saver
        conn = state.conn
        if conn is None or not saver._pooled:
            if state.users == 0:
                state.conn = None
            return
        if broken:
            state.conn = None
            state.users = 0
            conn.close()
            saver.conn.putconn(conn)
        elif state.users == 0:
            state.conn = None
            saver.conn.putconn(conn)


async def _aselect(conn: Any, sql: str, thread_id: str) -> Any:
    cur = await conn.execute(sql, (thread_id,))
    (value,) = await cur.fetchone()
    if not conn.autocommit:
        await conn.commit()
    return value


def _select(conn: Any, sql: str, thread_id: str) -> Any:
    (value,) = conn.execute(sql, (thread_id,)).fetchone()
    if not conn.autocommit:
        conn.commit()
    return value


_ASYNC_INSTEAD = "`async with saver.thread_lock(...)`"
