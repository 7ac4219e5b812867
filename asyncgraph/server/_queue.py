"""The run queue interface and its in-process implementation.

API processes :meth:`RunQueue.enqueue` a run id; workers :meth:`RunQueue.claim` one, send
:meth:`RunQueue.heartbeat` while running it, and learn about cancellation through
:meth:`RunQueue.abort_requested` / :meth:`RunQueue.wait_abort`. The production back end
(next step) is procrastinate on PostgreSQL: jobs, LISTEN/NOTIFY dispatch, heartbeats that
re-deliver a dead worker's run, and abort via NOTIFY. :class:`InProcessQueue` keeps the
same contract in one event loop.
"""

from __future__ import annotations

import abc
import asyncio
from typing import Any, Literal

__all__ = ["AbortAction", "InProcessQueue", "RunQueue"]

AbortAction = Literal["interrupt", "rollback"]


class RunQueue(abc.ABC):
    @abc.abstractmethod
    async def enqueue(self, run_id: str, thread_id: str | None = None) -> None:
        """Make ``run_id`` available to a worker (``thread_id``: its thread, if known)."""

    async def add_and_enqueue(self, storage: Any, thread: dict[str, Any], run: dict[str, Any], first: Any) -> None:
        """Store a new run (``storage.add_run``: the thread's record, the run's, its first
        event), then :meth:`enqueue` it. A back end on the storage's database does both in
        one statement."""
        await storage.add_run(thread, run, first)
        await self.enqueue(run["run_id"], run["thread_id"])

    @abc.abstractmethod
    async def claim(self) -> str:
        """Wait for and take the next run id. Each id is delivered to one worker."""

    @abc.abstractmethod
    async def heartbeat(self, run_id: str) -> None:
        """The claiming worker is alive (re-delivery after missed heartbeats is the back end's)."""

    @abc.abstractmethod
    async def abort(self, run_id: str, action: AbortAction) -> None:
        """Ask whoever runs (or will run) ``run_id`` to stop."""

    @abc.abstractmethod
    def abort_requested(self, run_id: str) -> AbortAction | None:
        """The pending abort for ``run_id``, if any."""

    @abc.abstractmethod
    async def wait_abort(self, run_id: str) -> AbortAction:
        """Return once an abort for ``run_id`` is requested."""

    @abc.abstractmethod
    async def done(self, run_id: str) -> None:
        """The run finished (in any state): forget its bookkeeping."""


class InProcessQueue(RunQueue):
    """An asyncio queue shared by the workers of one process."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._aborts: dict[str, AbortAction] = {}
        self._abort_events: dict[str, asyncio.Event] = {}

    async def enqueue(self, run_id: str, thread_id: str | None = None) -> None:
        self._queue.put_nowait(run_id)

    async def claim(self) -> str:
        return await self._queue.get()

    async def heartbeat(self, run_id: str) -> None:
        return None

    def _event(self, run_id: str) -> asyncio.Event:
        ev = self._abort_events.get(run_id)
        if ev is None:
            ev = self._abort_events[run_id] = asyncio.Event()
        return ev

    async def abort(self, run_id: str, action: AbortAction) -> None:
        self._aborts[run_id] = action
        self._event(run_id).set()

    def abort_requested(self, run_id: str) -> AbortAction | None:
        return self._aborts.get(run_id)

    async def wait_abort(self, run_id: str) -> AbortAction:
        await self._event(run_id).wait()
        return self._aborts[run_id]

    async def done(self, run_id: str) -> None:
        self._aborts.pop(run_id, None)
        self._abort_events.pop(run_id, None)
