"""TTL bookkeeping shared by the back ends: expiry times and the background sweeper.

An item put with ``ttl=m`` (minutes) expires ``m`` minutes after its last write, or
after its last read when the read refreshes (``refresh_ttl``, on by default). Expired
items are deleted by ``sweep_ttl()``, which the sweeper calls every
``sweep_interval_minutes`` once started. Until swept, an expired item is still returned
unless the store's ``ttl`` config sets ``omit_expired``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from asyncgraph.store.base._types import TTLConfig

__all__ = ["AsyncSweeper", "Sweeper", "interval_seconds"]

logger = logging.getLogger("asyncgraph.store")


def interval_seconds(ttl_config: TTLConfig | None, minutes: float | None) -> float:
    if minutes is None:
        minutes = (ttl_config or {}).get("sweep_interval_minutes") or 5
    if minutes <= 0:
        raise ValueError(f"sweep_interval_minutes must be positive, got {minutes}")
    return float(minutes) * 60.0


class Sweeper:
    """A daemon thread calling ``sweep()`` every ``interval`` seconds until stopped."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._future: concurrent.futures.Future[None] | None = None

    def start(self, sweep: Callable[[], int], interval: float) -> concurrent.futures.Future[None]:
        """Start the thread (a no-op if it runs); the future completes when it stops."""
        if self._thread is not None and self._thread.is_alive() and self._future is not None:
            return self._future
        self._stop.clear()
        future: concurrent.futures.Future[None] = concurrent.futures.Future()

        def loop() -> None:
            try:
                while not self._stop.wait(interval):
                    try:
                        removed = sweep()
                        if removed:
                            logger.info("TTL sweep removed %d expired store items", removed)
                    except Exception:
                        logger.exception("TTL sweep failed; retrying at the next interval")
            finally:
                future.set_result(None)

        self._future = future
        self._thread = threading.Thread(target=loop, name="asyncgraph-store-ttl", daemon=True)
        self._thread.start()
        return future

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the thread; True once it has ended (or was not running)."""
        if self._thread is None:
            return True
        self._stop.set()
        self._thread.join(timeout)
        done = not self._thread.is_alive()
        if done:
            self._thread = None
        return done


class AsyncSweeper:
    """An asyncio task awaiting ``sweep()`` every ``interval`` seconds until stopped."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None

    def start(self, sweep: Callable[[], Awaitable[Any]], interval: float) -> asyncio.Task[None]:
        if self._task is not None and not self._task.done():
            return self._task
        stop = self._stop = asyncio.Event()

        async def loop() -> None:
            while True:
                try:
                    await asyncio.wait_for(stop.wait(), interval)
                    return
                except TimeoutError:
                    pass
                try:
                    removed = await sweep()
                    if removed:
                        logger.info("TTL sweep removed %d expired store items", removed)
                except Exception:
                    logger.exception("TTL sweep failed; retrying at the next interval")

        self._task = asyncio.get_running_loop().create_task(loop(), name="asyncgraph-store-ttl")
        return self._task

    async def stop(self, timeout: float | None = None) -> bool:
        if self._task is None:
            return True
        assert self._stop is not None
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            return False
        self._task = None
        return True
