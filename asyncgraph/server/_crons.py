"""Crons: scheduled runs on a thread, or stateless, and the scheduler that fires them.

A cron is a record with a schedule (cron syntax, 5 fields, or 6 with seconds last, read
by croniter), a timezone (UTC by default), the run payload, and ``next_run_date``. Every
API process runs a :class:`CronScheduler`; each tick it asks the storage to *claim* the
crons that are due, which moves their ``next_run_date`` forward in the same step (on
PostgreSQL under ``FOR UPDATE SKIP LOCKED``), so a firing goes to exactly one process
however many run. A firing the process then fails to start is logged, not retried
(at most once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from asyncgraph.server._auth import Filter, matches
from asyncgraph.server._errors import ApiError, not_found
from asyncgraph.server._runs import MULTITASK, RunService
from asyncgraph.server._storage import now

__all__ = ["CronScheduler", "CronService", "next_run_after"]

log = logging.getLogger("asyncgraph.server")

_PAYLOAD_KEYS = (
    "input", "metadata", "config", "context", "interrupt_before", "interrupt_after", "webhook",
    "multitask_strategy", "stream_mode", "stream_subgraphs", "durability", "checkpoint_during",
)


def _tz(name: str | None) -> Any:
    if not name:
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ApiError(422, f"timezone {name!r} is not an IANA time zone") from exc


def next_run_after(cron: dict[str, Any], after: datetime) -> str | None:
    """The ISO time of ``cron``'s first firing strictly after ``after``, or None past its end."""
    # Imported here: croniter comes with the server extra (procrastinate needs it too).
    # It ships no type stubs.
    from croniter import croniter  # type: ignore[import-untyped,unused-ignore]

    start = after.astimezone(_tz(cron.get("timezone")))
    nxt: datetime = croniter(cron["schedule"], start).get_next(datetime)
    end = cron.get("end_time")
    if end and nxt > datetime.fromisoformat(end):
        return None
    return nxt.astimezone(timezone.utc).isoformat()


def _check_schedule(schedule: Any) -> str:
    from croniter import croniter  # type: ignore[import-untyped,unused-ignore]  # no stubs

    if not isinstance(schedule, str) or not croniter.is_valid(schedule):
        raise ApiError(422, f"schedule {schedule!r} is not a valid cron expression")
    return schedule


class CronService:
    """Create, read, update and delete crons."""

    def __init__(self, runs: RunService) -> None:
        self.runs = runs

    @property
    def storage(self) -> Any:
        return self.runs.storage

    async def create(self, thread_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
        if "assistant_id" not in body:
            raise ApiError(422, "'assistant_id' is required")
        assistant = await self.runs.services.get_assistant(str(body["assistant_id"]))
        if thread_id is not None:
            await self.runs.services.get_thread(thread_id)
        strategy = body.get("multitask_strategy")
        if strategy is not None and strategy not in MULTITASK:
            raise ApiError(422, f"multitask_strategy {strategy!r} is not one of {', '.join(MULTITASK)}")
        ts = now()
        cron = {
            "cron_id": str(uuid.uuid4()),
            "assistant_id": assistant["assistant_id"],
            "thread_id": thread_id,
            "on_run_completed": body.get("on_run_completed") if thread_id is None else None,
            "end_time": body.get("end_time"),
            "schedule": _check_schedule(body.get("schedule")),
            "timezone": body.get("timezone"),
            "created_at": ts,
            "updated_at": ts,
            "payload": {k: body[k] for k in _PAYLOAD_KEYS if body.get(k) is not None},
            "user_id": None,
            "metadata": body.get("metadata") or {},
            "enabled": body.get("enabled", True) is not False,
            "next_run_date": None,
        }
        _tz(cron["timezone"])
        cron["next_run_date"] = next_run_after(cron, datetime.now(timezone.utc))
        await self.storage.put_cron(cron)
        return cron

    async def get(self, cron_id: str) -> dict[str, Any]:
        cron = await self.storage.get_cron(cron_id)
        if cron is None:
            raise not_found("cron", cron_id)
        return cron  # type: ignore[no-any-return]

    async def update(self, cron_id: str, body: dict[str, Any]) -> dict[str, Any]:
        cron = await self.get(cron_id)
        if "schedule" in body:
            cron["schedule"] = _check_schedule(body["schedule"])
        for key in ("end_time", "timezone", "on_run_completed"):
            if key in body:
                cron[key] = body[key]
        if "enabled" in body:
            cron["enabled"] = body["enabled"] is not False
        if "metadata" in body:
            cron["metadata"] = {**cron["metadata"], **(body["metadata"] or {})}
        for key in _PAYLOAD_KEYS:
            if key in body and key != "metadata":
                cron["payload"][key] = body[key]
        _tz(cron.get("timezone"))
        cron["next_run_date"] = next_run_after(cron, datetime.now(timezone.utc))
        cron["updated_at"] = now()
        await self.storage.put_cron(cron)
        return cron

    async def delete(self, cron_id: str) -> None:
        if not await self.storage.delete_cron(cron_id):
            raise not_found("cron", cron_id)

    async def search(self, body: dict[str, Any], *, where: Filter | None = None) -> list[dict[str, Any]]:
        """``where``: the caller's auth filter; what it hides is not found."""
        items = [
            c
            for c in await self.storage.list_crons()
            if (not body.get("assistant_id") or c["assistant_id"] == body["assistant_id"])
            and (not body.get("thread_id") or c["thread_id"] == body["thread_id"])
            and (body.get("enabled") is None or c["enabled"] == body["enabled"])
            and all(c["metadata"].get(k) == v for k, v in (body.get("metadata") or {}).items())
            and matches(where, c["metadata"])
        ]
        sort_by = body.get("sort_by") or "created_at"
        items.sort(key=lambda c: str(c.get(sort_by, "")), reverse=(body.get("sort_order") or "desc") == "desc")
        offset = int(body.get("offset") or 0)
        out = items[offset : offset + int(body.get("limit") or 10)]
        if select := body.get("select"):
            out = [{k: v for k, v in c.items() if k in select} for c in out]
        return out

    async def count(self, body: dict[str, Any], *, where: Filter | None = None) -> int:
        return len(await self.search({**body, "limit": 1 << 30, "offset": 0, "select": None}, where=where))


class CronScheduler:
    """Fires due crons; run one per API process (claims make each firing happen once)."""

    def __init__(self, runs: RunService, *, interval: float = 1.0) -> None:
        self.runs = runs
        self.interval = interval
        self.ttl = runs.services.graphs.config.thread_ttl()
        self._next_sweep = 0.0
        self._pruned: dict[str, str] = {}
        """Threads this process pruned (``keep_latest``), with the ``updated_at`` they had:
        pruned again only once something updated them."""

    async def serve(self) -> None:
        """Every ``interval`` s: fire the due crons, and sweep expired threads when due."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self.tick()
                if loop.time() >= self._next_sweep:
                    self._next_sweep = loop.time() + self.ttl.sweep_minutes * 60
                    await self.sweep_threads()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the cron scheduler failed a tick; going on")
            await asyncio.sleep(min(self.interval, self.ttl.sweep_minutes * 60))

    async def sweep_threads(self, at: datetime | None = None) -> list[str]:
        """Sweep the threads idle for longer than their ``ttl`` minutes (the config's
        ``checkpointer.ttl.default_ttl`` for a thread without one): idle meaning not
        updated, and no run in flight. By the ttl's strategy (the thread's own, else the
        config's): ``delete`` deletes the thread with its runs and checkpoints;
        ``keep_latest`` keeps the thread, its runs and its latest checkpoint (of each
        namespace) and drops the older checkpoints, once per idle period. Returns the
        ids of the threads deleted or pruned.

        Several API processes may sweep at once: a thread deleted or pruned twice is
        harmless.
        """
        at = at or datetime.now(timezone.utc)
        services = self.runs.services
        swept: list[str] = []
        pruned = 0
        for thread in await services.storage.list_threads():
            own = thread.get("ttl") or {}
            minutes = own.get("ttl") or self.ttl.default_minutes
            if minutes is None or thread.get("status") == "busy":
                continue
            strategy = own.get("strategy", "delete") if own.get("ttl") else self.ttl.strategy
            tid, updated = thread["thread_id"], thread["updated_at"]
            if strategy == "keep_latest" and self._pruned.get(tid) == updated:
                continue  # (pruned already, and nothing happened since)
            if datetime.fromisoformat(updated) + timedelta(minutes=minutes) > at:
                continue
            if any(r["status"] in ("pending", "running") for r in await services.storage.list_runs(tid)):
                continue
            if strategy == "keep_latest":
                await services.checkpointer.aprune(tid, keep_last=1)
                self._pruned[tid] = updated
                pruned += 1
                swept.append(tid)
                continue
            with contextlib.suppress(ApiError):  # (deleted meanwhile)
                await services.delete_thread(tid)
                self._pruned.pop(tid, None)
                swept.append(tid)
        if swept:
            log.info("ttl: deleted %d thread(s), pruned %d to their latest checkpoint", len(swept) - pruned, pruned)
        return swept

    async def tick(self) -> int:
        """Fire every cron due now; return how many runs were started."""
        due = await self.runs.storage.claim_due_crons(datetime.now(timezone.utc), next_run_after)
        started = 0
        for cron in due:
            body = {**cron["payload"], "assistant_id": cron["assistant_id"]}
            if cron["thread_id"] is None:
                body["on_completion"] = cron.get("on_run_completed") or "delete"
            try:
                await self.runs.create(cron["thread_id"], body)
                started += 1
            except ApiError as exc:
                log.warning("cron %s could not start its run: %s", cron["cron_id"], exc.detail)
        return started
