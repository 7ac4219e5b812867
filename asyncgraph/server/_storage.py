"""The server's storage interface (assistants, threads, runs, run events) and its memory back end.

Services talk only to :class:`Storage`; the dev server uses :class:`MemoryStorage`. The
PostgreSQL back end (next step, see docs/server.md) implements the same methods on tables,
with run events in an events table and NOTIFY carrying the sequence number.

Records are plain dicts in the wire shape of the LangGraph Server API (``Assistant``,
``Thread``, ``Run``), so the HTTP layer serializes them as they are.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import ormsgpack

__all__ = ["MemoryStorage", "RunEvent", "Storage", "Watchers", "now"]

EVENT_GRACE_SECONDS = 60.0
"""How long a deleted run's events stay readable by clients already following them."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass(frozen=True, slots=True)
class RunEvent:
    """One stream event of a run; ``seq`` counts from 1 per run and is the SSE event id.

    ``data`` is the payload as JSON text, encoded once by the worker and sent as it is.
    """

    seq: int
    event: str
    data: str

    def value(self) -> Any:
        """The payload, decoded."""
        return json.loads(self.data)


class Watchers:
    """In-process wake-ups by key: readers hold an event, writers set every event of a key."""

    def __init__(self) -> None:
        self._by_key: dict[str, set[asyncio.Event]] = {}

    @contextlib.contextmanager
    def watch(self, key: str) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._by_key.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            events = self._by_key.get(key)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._by_key[key]

    def wake(self, key: str | None) -> None:
        """Set the events of ``key`` (None: of every key)."""
        groups = self._by_key.values() if key is None else [self._by_key.get(key, ())]
        for events in groups:
            for event in events:
                event.set()


def _copy(record: dict[str, Any]) -> dict[str, Any]:
    # Records hold JSON data only; a msgpack round trip copies them several times faster
    # than copy.deepcopy.
    return ormsgpack.unpackb(ormsgpack.packb(record))  # type: ignore[no-any-return]


class Storage(abc.ABC):
    """Where the server keeps its records. Every method is safe to call concurrently."""

    # assistants
    @abc.abstractmethod
    async def put_assistant(self, assistant: dict[str, Any]) -> None: ...
    @abc.abstractmethod
    async def get_assistant(self, assistant_id: str) -> dict[str, Any] | None: ...
    @abc.abstractmethod
    async def delete_assistant(self, assistant_id: str) -> bool: ...
    @abc.abstractmethod
    async def list_assistants(self) -> list[dict[str, Any]]: ...

    async def get_first_assistant(self, assistant_ids: Sequence[str]) -> dict[str, Any] | None:
        """The first of ``assistant_ids`` that is stored (None: none is). Back ends
        override this to look them all up in one round trip."""
        for assistant_id in assistant_ids:
            a = await self.get_assistant(assistant_id)
            if a is not None:
                return a
        return None

    async def get_first_assistant_and_thread(
        self, assistant_ids: Sequence[str], thread_id: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """:meth:`get_first_assistant` and :meth:`get_thread` (what creating a run on a
        thread reads first). Back ends override this to read both in one round trip."""
        return await self.get_first_assistant(assistant_ids), await self.get_thread(thread_id)

    # threads
    @abc.abstractmethod
    async def put_thread(self, thread: dict[str, Any]) -> None: ...
    @abc.abstractmethod
    async def get_thread(self, thread_id: str) -> dict[str, Any] | None: ...
    @abc.abstractmethod
    async def delete_thread(self, thread_id: str) -> bool: ...
    @abc.abstractmethod
    async def list_threads(self) -> list[dict[str, Any]]: ...

    async def insert_thread(self, thread: dict[str, Any]) -> dict[str, Any] | None:
        """Store ``thread`` unless its id is taken: None if stored, else the stored record
        (left as it is). Back ends override this to do it in one round trip."""
        existing = await self.get_thread(thread["thread_id"])
        if existing is None:
            await self.put_thread(thread)
        return existing

    async def patch_thread(self, thread_id: str, fields: dict[str, Any]) -> None:
        """Set top-level ``fields`` of the thread's record, if it exists. Back ends
        override this to do it in one round trip (without reading the record)."""
        thread = await self.get_thread(thread_id)
        if thread is not None:
            thread.update(fields)
            await self.put_thread(thread)

    # runs
    @abc.abstractmethod
    async def put_run(self, run: dict[str, Any]) -> None: ...
    @abc.abstractmethod
    async def get_run(self, run_id: str) -> dict[str, Any] | None: ...
    @abc.abstractmethod
    async def delete_run(self, run_id: str) -> bool: ...
    @abc.abstractmethod
    async def list_runs(self, thread_id: str | None = None) -> list[dict[str, Any]]: ...

    async def update_run(self, run_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        """Set top-level ``fields`` of the run's record; the new record (None: no such run).
        Back ends override this to do it in one round trip."""
        run = await self.get_run(run_id)
        if run is None:
            return None
        run.update(fields)
        await self.put_run(run)
        return run

    async def add_run(self, thread: dict[str, Any], run: dict[str, Any], first: RunEvent) -> None:
        """Admit a new run: store ``thread`` (its updated record) and ``run``, then
        ``first`` as the run's first event (``seq`` 1). Back ends override this to do it
        in one round trip."""
        await self.put_thread(thread)
        await self.put_run(run)
        await self.append_event(run["run_id"], first.event, first.data)

    async def finish_run(self, run_id: str, fields: dict[str, Any], thread_id: str,
                         thread_fields: dict[str, Any], events: Sequence[tuple[str, str]] = ()) -> None:
        """End a run: append its last ``events`` (``(event, data)`` pairs) to its log, set
        ``fields`` of its record and ``thread_fields`` of its thread's, then close its event
        log (readers see the final records when the log ends). Back ends override this to
        do it in one round trip."""
        if events:
            await self.append_events(run_id, list(events))
        await self.update_run(run_id, fields)
        await self.patch_thread(thread_id, thread_fields)
        await self.close_events(run_id)

    # crons
    @abc.abstractmethod
    async def put_cron(self, cron: dict[str, Any]) -> None: ...
    @abc.abstractmethod
    async def get_cron(self, cron_id: str) -> dict[str, Any] | None: ...
    @abc.abstractmethod
    async def delete_cron(self, cron_id: str) -> bool: ...
    @abc.abstractmethod
    async def list_crons(self) -> list[dict[str, Any]]: ...

    async def claim_due_crons(
        self, at: datetime, next_after: Callable[[dict[str, Any], datetime], str | None]
    ) -> list[dict[str, Any]]:
        """The enabled crons due at ``at``, each moved on to ``next_after(cron, at)``.

        A cron is returned to one caller only. This default is for back ends used by one
        process (no two callers at once); shared back ends claim atomically.
        """
        due = []
        for cron in await self.list_crons():
            when = cron.get("next_run_date")
            if cron.get("enabled") and when and datetime.fromisoformat(when) <= at:
                cron["next_run_date"] = next_after(cron, at)
                await self.put_cron(cron)
                due.append(cron)
        return due

    def thread_admission(self, thread_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Held while a run is admitted to ``thread_id`` (in-flight check + insert).

        The caller already serializes admissions within its process; back ends shared by
        several processes override this with a lock they all see.
        """
        return contextlib.nullcontext()

    @property
    def thread_watchers(self) -> Watchers:
        """Woken (by thread id) when a run of that thread is stored: see :meth:`watch_thread`."""
        watchers = self.__dict__.get("_thread_watchers")
        if watchers is None:
            watchers = self.__dict__["_thread_watchers"] = Watchers()
        return watchers

    def watch_thread(self, thread_id: str) -> contextlib.AbstractContextManager[asyncio.Event]:
        """An event set when a run of ``thread_id`` is created or changes (``put_run``).

        Set for runs stored through this object; a back end shared by several processes
        also sets it for runs created elsewhere (PostgreSQL: a NOTIFY), and readers re-list
        the thread's runs every few seconds anyway. Clear it before reading the runs.
        """
        return self.thread_watchers.watch(thread_id)

    # run events
    @abc.abstractmethod
    async def append_event(self, run_id: str, event: str, data: str) -> int:
        """Store one event (``data`` is JSON text) and wake its readers; return its ``seq``."""

    async def append_events(self, run_id: str, events: list[tuple[str, str]]) -> int:
        """Store ``(event, data)`` pairs in order and wake the readers once; return the last
        ``seq``. Back ends override this to write them in one round trip."""
        seq = 0
        for event, data in events:
            seq = await self.append_event(run_id, event, data)
        return seq

    @abc.abstractmethod
    async def close_events(self, run_id: str) -> None:
        """Mark the run's event log complete: readers stop after the last event."""

    @abc.abstractmethod
    def read_event_batches(self, run_id: str, after: int = 0) -> AsyncIterator[list[RunEvent]]:
        """Events with ``seq > after``, then the ones still to come, until the log closes;
        in batches (never empty) of what was there at once, so a reader (SSE) sends them in
        one write."""

    async def read_events(self, run_id: str, after: int = 0) -> AsyncIterator[RunEvent]:
        """:meth:`read_event_batches`, one event at a time."""
        async for batch in self.read_event_batches(run_id, after):
            for ev in batch:
                yield ev


class MemoryStorage(Storage):
    """Everything in dicts: for ``asyncgraph dev`` and tests. Lost when the process exits."""

    def __init__(self) -> None:
        self._assistants: dict[str, dict[str, Any]] = {}
        self._threads: dict[str, dict[str, Any]] = {}
        self._runs: dict[str, dict[str, Any]] = {}
        self._thread_runs: dict[str, dict[str, None]] = {}  # thread id -> its run ids, in order
        self._crons: dict[str, dict[str, Any]] = {}
        self._events: dict[str, list[RunEvent]] = {}
        self._closed: set[str] = set()
        self._cond: dict[str, asyncio.Condition] = {}

    # Copies in and out, as a database would: a caller mutating a record changes nothing stored.
    async def put_assistant(self, assistant: dict[str, Any]) -> None:
        self._assistants[assistant["assistant_id"]] = _copy(assistant)

    async def get_assistant(self, assistant_id: str) -> dict[str, Any] | None:
        a = self._assistants.get(assistant_id)
        return _copy(a) if a is not None else None

    async def delete_assistant(self, assistant_id: str) -> bool:
        return self._assistants.pop(assistant_id, None) is not None

    async def list_assistants(self) -> list[dict[str, Any]]:
        return [_copy(a) for a in self._assistants.values()]

    async def put_thread(self, thread: dict[str, Any]) -> None:
        self._threads[thread["thread_id"]] = _copy(thread)

    async def get_thread(self, thread_id: str) -> dict[str, Any] | None:
        t = self._threads.get(thread_id)
        return _copy(t) if t is not None else None

    async def insert_thread(self, thread: dict[str, Any]) -> dict[str, Any] | None:
        existing = self._threads.get(thread["thread_id"])
        if existing is not None:
            return _copy(existing)
        self._threads[thread["thread_id"]] = _copy(thread)
        return None

    async def patch_thread(self, thread_id: str, fields: dict[str, Any]) -> None:
        # In place: only the new fields are copied (not the whole record, twice).
        thread = self._threads.get(thread_id)
        if thread is not None:
            thread.update(_copy(fields))

    async def delete_thread(self, thread_id: str) -> bool:
        for run_id in list(self._thread_runs.get(thread_id, ())):
            await self.delete_run(run_id)
        return self._threads.pop(thread_id, None) is not None

    async def list_threads(self) -> list[dict[str, Any]]:
        return [_copy(t) for t in self._threads.values()]

    async def put_cron(self, cron: dict[str, Any]) -> None:
        self._crons[cron["cron_id"]] = _copy(cron)

    async def get_cron(self, cron_id: str) -> dict[str, Any] | None:
        c = self._crons.get(cron_id)
        return _copy(c) if c is not None else None

    async def delete_cron(self, cron_id: str) -> bool:
        return self._crons.pop(cron_id, None) is not None

    async def list_crons(self) -> list[dict[str, Any]]:
        return [_copy(c) for c in self._crons.values()]

    async def put_run(self, run: dict[str, Any]) -> None:
        self._runs[run["run_id"]] = _copy(run)
        self._thread_runs.setdefault(run["thread_id"], {})[run["run_id"]] = None
        self.thread_watchers.wake(run["thread_id"])

    async def get_run(self, run_id: str) -> dict[str, Any] | None:
        r = self._runs.get(run_id)
        return _copy(r) if r is not None else None

    async def update_run(self, run_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        run = self._runs.get(run_id)
        if run is None:
            return None
        run.update(_copy(fields))
        self.thread_watchers.wake(run["thread_id"])  # (as put_run does)
        return _copy(run)

    async def delete_run(self, run_id: str) -> bool:
        # Readers may still be draining the log (a stateless run deletes itself when it
        # ends): close it now, drop it a little later.
        self._closed.add(run_id)
        cond = self._condition(run_id)
        async with cond:
            cond.notify_all()
        asyncio.get_running_loop().call_later(EVENT_GRACE_SECONDS, self._drop_events, run_id)
        run = self._runs.pop(run_id, None)
        if run is None:
            return False
        siblings = self._thread_runs.get(run["thread_id"], {})
        siblings.pop(run_id, None)
        if not siblings:
            self._thread_runs.pop(run["thread_id"], None)
        return True

    def _drop_events(self, run_id: str) -> None:
        if run_id not in self._runs:
            self._events.pop(run_id, None)
            self._closed.discard(run_id)
            self._cond.pop(run_id, None)

    async def list_runs(self, thread_id: str | None = None) -> list[dict[str, Any]]:
        if thread_id is None:
            return [_copy(r) for r in self._runs.values()]
        return [_copy(self._runs[r]) for r in self._thread_runs.get(thread_id, ())]

    def _condition(self, run_id: str) -> asyncio.Condition:
        cond = self._cond.get(run_id)
        if cond is None:
            cond = self._cond[run_id] = asyncio.Condition()
        return cond

    async def append_event(self, run_id: str, event: str, data: str) -> int:
        return await self.append_events(run_id, [(event, data)])

    async def append_events(self, run_id: str, events: list[tuple[str, str]]) -> int:
        log = self._events.setdefault(run_id, [])
        seq = len(log)
        for event, data in events:
            seq += 1
            log.append(RunEvent(seq, event, data))
        cond = self._condition(run_id)
        async with cond:
            cond.notify_all()
        return seq

    async def close_events(self, run_id: str) -> None:
        self._closed.add(run_id)
        cond = self._condition(run_id)
        async with cond:
            cond.notify_all()

    async def read_event_batches(self, run_id: str, after: int = 0) -> AsyncIterator[list[RunEvent]]:
        cond = self._condition(run_id)
        pos = max(after, 0)
        while True:
            log = self._events.get(run_id, [])
            if pos < len(log):
                batch = log[pos:]
                pos = len(log)
                yield batch
                continue
            if run_id in self._closed or (run_id not in self._runs and run_id not in self._events):
                return
            async with cond:
                log = self._events.get(run_id, [])
                if pos >= len(log) and run_id not in self._closed:
                    await cond.wait()
