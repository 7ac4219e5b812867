"""``GET /threads/{thread_id}/stream``: the events of every run of a thread, one run after
the other, for as long as the client stays (``client.threads.join_stream``).

Each run's events are its event log's (see :class:`~asyncgraph.server._storage.Storage`),
followed by ``metadata`` ``{"status": "run_done", "run_id": ...}`` when the log ends. A
thread-stream event id is ``"<run_id>:<seq>"`` (``seq`` of the run's event; the run_done
event's is ``"<run_id>:done"``), so ``Last-Event-ID`` resumes anywhere: the rest of that run, then
every run created after it. ``-`` replays every run the thread still has; without it the
stream starts with the runs still pending or running (each from its first event) and goes on
with every run created later. Runs are taken in the order they were created, which is the
order they run in (one at a time per thread).

``stream_mode`` (any of): ``run_modes`` (default: every event of the runs, and run_done),
``lifecycle`` (a run's start and end: its ``metadata`` events, ``error``, run_done),
``state_update`` (``values`` and ``updates`` events).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from asyncgraph.server._errors import ApiError
from asyncgraph.server._serialize import dumps
from asyncgraph.server._storage import Storage

__all__ = ["THREAD_STREAM_MODES", "ThreadCursor", "follow_thread", "parse_cursor", "thread_event_filter"]

THREAD_STREAM_MODES = ("run_modes", "lifecycle", "state_update")
DONE = "done"
"""The ``seq`` part of a run_done event's id."""
RELIST_SECONDS = 2.0
"""How often a reader waiting for a thread's next run lists its runs even without a wake-up
(a run created by another process whose notification was lost)."""

_KEEP = {
    "lifecycle": {"metadata", "error"},
    "state_update": {"values", "updates"},
}


@dataclass(frozen=True, slots=True)
class ThreadCursor:
    """Where a thread stream resumes: after event ``seq`` of run ``run_id`` (after its
    run_done: ``seq`` None); ``everything`` replays every run of the thread."""

    run_id: str | None = None
    seq: int | None = 0
    everything: bool = False


def parse_cursor(last_event_id: str | None) -> ThreadCursor | None:
    """The ``Last-Event-ID`` of a thread stream (None: no header, start with the runs in flight).

    Raises:
        ApiError: 422 for an id this endpoint never sent.
    """
    if not last_event_id:
        return None
    if last_event_id.strip() in ("-", "-1"):
        return ThreadCursor(everything=True)
    run_id, sep, seq = last_event_id.rpartition(":")
    if not sep or not run_id or not (seq.isdigit() or seq == DONE):
        raise ApiError(422, f"Last-Event-ID {last_event_id!r} is not an event id of this thread's stream "
                            "('<run_id>:<seq>', or '-' for every run)")
    return ThreadCursor(run_id, None if seq == DONE else int(seq))


def thread_event_filter(modes: Iterable[str]) -> set[str] | None:
    """The event names (before any ``/`` or ``|``) the thread stream ``modes`` keep; None: all.

    Raises:
        ApiError: 422 for a mode that is not a thread stream mode.
    """
    wanted = [m for m in modes if m] or ["run_modes"]
    bad = [m for m in wanted if m not in THREAD_STREAM_MODES]
    if bad:
        raise ApiError(422, f"stream_mode {bad[0]!r} is not a thread stream mode ({', '.join(THREAD_STREAM_MODES)})")
    if "run_modes" in wanted:
        return None
    return set().union(*(_KEEP[m] for m in wanted))


def _ordered(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(runs, key=lambda r: (r["created_at"], r["run_id"]))


@dataclass(frozen=True, slots=True)
class ThreadEvent:
    """One event of a thread stream; ``seq`` is its SSE id, ``"<run_id>:<seq>"`` (named as
    :class:`RunEvent`'s, so one SSE encoder writes both)."""

    seq: str
    event: str
    data: str


async def follow_thread(storage: Storage, thread_id: str, cursor: ThreadCursor | None) -> AsyncIterator[list[ThreadEvent]]:
    """The thread's runs' events (in batches, as the logs give them) and each run's run_done,
    from ``cursor`` on, until the thread is deleted (or the caller stops)."""
    runs = _ordered(await storage.list_runs(thread_id))
    done: set[str] = set()
    start: dict[str, int] = {}
    if cursor is None or (cursor.run_id is not None and cursor.run_id not in {r["run_id"] for r in runs}):
        # (A resume from a run the thread no longer has: the runs still to finish.)
        done = {r["run_id"] for r in runs if r["status"] not in ("pending", "running")}
    elif cursor.run_id is not None:
        ids = [r["run_id"] for r in runs]
        done = set(ids[: ids.index(cursor.run_id) + (cursor.seq is None)])
        start[cursor.run_id] = cursor.seq or 0
    with storage.watch_thread(thread_id) as changed:
        while True:
            changed.clear()
            runs = [r for r in _ordered(await storage.list_runs(thread_id)) if r["run_id"] not in done]
            if not runs:
                if await storage.get_thread(thread_id) is None:
                    return
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(RELIST_SECONDS):
                        await changed.wait()
                continue
            run_id = runs[0]["run_id"]
            done.add(run_id)
            async for batch in storage.read_event_batches(run_id, start.get(run_id, 0)):
                yield [ThreadEvent(f"{run_id}:{ev.seq}", ev.event, ev.data) for ev in batch]
            yield [ThreadEvent(f"{run_id}:{DONE}", "metadata", dumps({"status": "run_done", "run_id": run_id}))]
