"""Per-thread locks: ``saver.thread_lock(thread_id)``, an opt-in mutual exclusion.

Savers never lock a thread on their own across a run: two runs on one thread both run,
and each put is atomic (the last checkpoint written is the thread's latest). A caller
that wants one run at a time per thread (a server handling a "double text") holds this
lock around the run::

    async with saver.thread_lock(thread_id, timeout=30):
        await graph.ainvoke(inputs, {"configurable": {"thread_id": thread_id}})

The lock is usable with ``async with`` and with ``with`` (from a thread that is not the
saver's event loop for async savers). It is not reentrant. What it excludes depends on
the back end: this module's :class:`LocalThreadLocks` excludes holders in the same
process using the same saver object (in-memory and SQLite savers); the PostgreSQL
savers add a session advisory lock, so they exclude holders in every process using the
database.
"""

from __future__ import annotations

import asyncio
import threading
import time
from types import TracebackType
from typing import Any

__all__ = ["LocalThreadLocks", "ThreadLock", "lock_timeout_error"]


def lock_timeout_error(thread_id: str, timeout: float | None) -> TimeoutError:
    return TimeoutError(
        f"could not lock thread {thread_id!r} within {timeout} s: another run holds "
        "saver.thread_lock() for it"
    )


class LocalThreadLocks:
    """A registry of in-process locks, one per thread id while anyone uses it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    def _ref(self, thread_id: str) -> threading.Lock:
        with self._guard:
            lock, users = self._locks.get(thread_id) or (threading.Lock(), 0)
            self._locks[thread_id] = (lock, users + 1)
            return lock

    def _unref(self, thread_id: str) -> None:
        with self._guard:
            lock, users = self._locks[thread_id]
            if users == 1:
                del self._locks[thread_id]
            else:
                self._locks[thread_id] = (lock, users - 1)

    def acquire(self, thread_id: str, timeout: float | None) -> None:
        lock = self._ref(thread_id)
        if not lock.acquire(timeout=-1 if timeout is None else timeout):
            self._unref(thread_id)
            raise lock_timeout_error(thread_id, timeout)

    async def aacquire(self, thread_id: str, timeout: float | None) -> None:
        lock = self._ref(thread_id)
        # Polled, never a blocking acquire in a worker thread: a cancelled waiter must
        # not leave an acquisition behind. Waits start at 1 ms and grow to 50 ms.
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.001
        try:
            while not lock.acquire(blocking=False):
                if deadline is not None and time.monotonic() >= deadline:
                    raise lock_timeout_error(thread_id, timeout)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)
        except BaseException:
            self._unref(thread_id)
            raise

    def release(self, thread_id: str) -> None:
        with self._guard:
            lock, _ = self._locks[thread_id]
        lock.release()
        self._unref(thread_id)


class ThreadLock:
    """What ``saver.thread_lock(...)`` returns; see the module docstring.

    Subclasses (the PostgreSQL savers) extend ``_aenter``/``_aexit``/``_enter``/``_exit``.
    """

    def __init__(self, local: LocalThreadLocks, thread_id: str, timeout: float | None) -> None:
        self.thread_id = thread_id
        self.timeout = timeout
        self._local = local

    async def __aenter__(self) -> ThreadLock:
        await self._local.aacquire(self.thread_id, self.timeout)
        try:
            await self._aenter()
        except BaseException:
            self._local.release(self.thread_id)
            raise
        return self

    async def __aexit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self._aexit()
        finally:
            self._local.release(self.thread_id)

    def __enter__(self) -> ThreadLock:
        self._local.acquire(self.thread_id, self.timeout)
        try:
            self._enter()
        except BaseException:
            self._local.release(self.thread_id)
            raise
        return self

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._exit()
        finally:
            self._local.release(self.thread_id)

    async def _aenter(self) -> None:
        return None

    async def _aexit(self) -> None:
        return None

    def _enter(self) -> None:
        return None

    def _exit(self) -> None:
        return None

    def remaining(self, started: float) -> float | None:
        """What is left of the timeout, ``started`` being a ``time.monotonic()``."""
        if self.timeout is None:
            return None
        return max(0.0, self.timeout - (time.monotonic() - started))


def local_locks(saver: Any) -> LocalThreadLocks:
    """The saver's registry, made on first use."""
    locks = saver.__dict__.get("_thread_locks")
    if locks is None:
        locks = saver.__dict__.setdefault("_thread_locks", LocalThreadLocks())
    return locks  # type: ignore[no-any-return]
