"""``AsyncQueue`` under LangGraph's private path ``langgraph._internal._queue``."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["AsyncQueue"]


class AsyncQueue(asyncio.Queue[Any]):
    """An unbounded ``asyncio.Queue`` that can also be waited on without taking an item.

    :meth:`wait` returns once the queue holds at least one item (at once if it already
    does); the item stays in the queue for a later ``get``.
    """

    async def wait(self) -> None:
        """Wait until the queue is not empty, without removing anything."""
        while self.empty():
            waiter = asyncio.get_running_loop().create_future()
            # asyncio.Queue wakes its first getter on put(); register as one.
            getters = self._getters  # type: ignore[attr-defined]
            getters.append(waiter)
            try:
                await waiter
            except BaseException:
                waiter.cancel()
                try:
                    getters.remove(waiter)
                except ValueError:
                    pass  # put() already removed it when waking it
                if not self.empty() and not waiter.cancelled():
                    # Woken by a put() but leaving: pass the wake-up on.
                    self._wakeup_next(getters)  # type: ignore[attr-defined]
                raise
