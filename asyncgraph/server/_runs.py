"""Runs: creation with the double-texting rules, and the worker that carries them out.

A run record goes to :class:`Storage` as ``pending`` and its id to the :class:`RunQueue`.
A :class:`Worker` claims it, runs the graph (one run at a time per thread), appends each
stream chunk to the run's event log, and leaves the run ``success``, ``error``,
``interrupted`` (cancelled) or deleted (rolled back). Readers (SSE, ``wait``, ``join``)
follow the event log, never the worker, so they can come and go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from langchain_core.messages import BaseMessageChunk

from asyncgraph.server._errors import ApiError, not_found
from asyncgraph.server._queue import RunQueue
from asyncgraph.server._serialize import dumps, to_jsonable
from asyncgraph.server._services import Services, thread_state_fields
from asyncgraph.server._state import rollback_checkpoints
from asyncgraph.server._storage import RunEvent, Storage, now
from asyncgraph.types import Command

__all__ = ["RunService", "Worker"]

log = logging.getLogger("asyncgraph.server")

STREAM_MODES = {"values", "updates", "messages", "messages-tuple", "custom", "debug", "tasks", "checkpoints", "events"}
MULTITASK = ("reject", "interrupt", "rollback", "enqueue")
INFLIGHT = ("pending", "running")


def _modes(stream_mode: Any) -> list[str]:
    modes = [stream_mode] if isinstance(stream_mode, str) else list(stream_mode or ["values"])
    bad = [m for m in modes if m not in STREAM_MODES]
    if bad:
        raise ApiError(422, f"stream_mode {bad[0]!r} is not supported (supported: {', '.join(sorted(STREAM_MODES))})")
    return modes


class RunService:
    """Creates, reads, cancels and awaits runs."""

    def __init__(self, services: Services, queue: RunQueue) -> None:
        self.services = services
        self.queue = queue
        self._admission: dict[str, asyncio.Lock] = {}

    @property
    def storage(self) -> Storage:
        return self.services.storage

    async def recover(self) -> None:
        """After a restart: re-enqueue pending runs; runs cut off mid-way end as errors.

        (The in-process queue cannot resume a half-done run safely; the PostgreSQL back end
        re-delivers it to resume from its last checkpoint.)
        """
        for run in await self.storage.list_runs():
            if run["status"] == "pending":
                await self.queue.enqueue(run["run_id"])
            elif run["status"] == "running":
                err = {"error": "ServerRestarted", "message": "the server stopped while the run was running"}
                await self.storage.append_event(run["run_id"], "error", dumps(err))
                await self.storage.close_events(run["run_id"])
                run.update(status="error", error=err, updated_at=now())
                await self.storage.put_run(run)
                thread = await self.storage.get_thread(run["thread_id"])
                if thread is not None and thread["status"] == "busy":
                    thread["status"] = "error"
                    await self.storage.put_thread(thread)

    async def create(
        self, thread_id: str | None, body: dict[str, Any], *, thread_metadata: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Validate ``body``, apply the multitask strategy, store and enqueue the run.

        ``thread_metadata``: the metadata of a thread this run creates (stateless, or
        ``if_not_exists="create"``): what keeps it visible to the caller under auth.
        """
        if "assistant_id" not in body:
            raise ApiError(422, "'assistant_id' is required")
        stored: dict[str, Any] | None = None
        if thread_id is None:
            assistant = await self.services.get_assistant(str(body["assistant_id"]))
        else:  # (both in one round trip)
            assistant, stored = await self.services.get_assistant_and_thread(str(body["assistant_id"]), thread_id)
        modes = _modes(body.get("stream_mode"))
        strategy = body.get("multitask_strategy") or "enqueue"
        if strategy not in MULTITASK:
            raise ApiError(422, f"multitask_strategy {strategy!r} is not one of {', '.join(MULTITASK)}")
        if body.get("input") is not None and body.get("command") is not None:
            raise ApiError(422, "give 'input' or 'command', not both")
        webhook = body.get("webhook")
        if webhook is not None and not (isinstance(webhook, str) and webhook.startswith(("http://", "https://"))):
            raise ApiError(422, f"'webhook' must be an http(s) URL, got {webhook!r}")
        command = body.get("command")
        if command is not None and not isinstance(command, dict):
            raise ApiError(422, "'command' must be an object with resume / update / goto")
        temporary = thread_id is None
        thread: dict[str, Any] | None
        if thread_id is None:
            thread = await self.services.create_thread({"metadata": dict(thread_metadata or {})})
            thread_id = str(thread["thread_id"])
        else:
            thread = stored
            if thread is None:
                if body.get("if_not_exists") == "create":
                    thread = await self.services.create_thread(
                        {"metadata": dict(thread_metadata or {})}, thread_id=thread_id
                    )
                else:
                    raise not_found("thread", thread_id)
        # Checking for runs in flight and adding this one is one step per thread, so two
        # requests at once cannot both pass a 'reject': a lock in this process, and the
        # storage's own across processes (PostgreSQL: an advisory lock). 'enqueue' needs
        # neither check nor lock across processes.
        shared = self.storage.thread_admission(thread_id) if strategy != "enqueue" else contextlib.nullcontext()
        async with self._admission.setdefault(thread_id, asyncio.Lock()), shared:
            # ('enqueue' admits the run whatever is in flight: no need to look.)
            inflight = [] if strategy == "enqueue" else [
                r for r in await self.storage.list_runs(thread_id) if r["status"] in INFLIGHT
            ]
            if inflight and strategy == "reject":
                raise ApiError(409, f"thread {thread_id!r} is busy with run {inflight[0]['run_id']!r} (multitask_strategy='reject')")
            if inflight and strategy in ("interrupt", "rollback"):
                for r in inflight:
                    await self.cancel(thread_id, r["run_id"], action=strategy)
            metadata = body.get("metadata") or {}
            thread["metadata"].setdefault("graph_id", assistant["graph_id"])
            thread["metadata"].setdefault("assistant_id", assistant["assistant_id"])
            thread["updated_at"] = now()
            run_id = str(uuid.uuid4())
            ts = now()
            run = {
                "run_id": run_id,
                "thread_id": thread_id,
                "assistant_id": assistant["assistant_id"],
                "created_at": ts,
                "updated_at": ts,
                "status": "pending",
                "metadata": metadata,
                "multitask_strategy": strategy,
                "kwargs": {
                    "input": body.get("input"),
                    "command": command,
                    "config": body.get("config") or {},
                    "context": body.get("context") or {},
                    "stream_mode": modes,
                    "stream_subgraphs": bool(body.get("stream_subgraphs")),
                    "interrupt_before": body.get("interrupt_before"),
                    "interrupt_after": body.get("interrupt_after"),
                    "checkpoint": body.get("checkpoint") or ({"checkpoint_id": body["checkpoint_id"]} if body.get("checkpoint_id") else None),
                    "temporary": temporary,
                    "on_completion": body.get("on_completion") or ("delete" if temporary else "keep"),
                    "durability": body.get("durability"),
                    "webhook": webhook,
                },
            }
            # The thread, the run and the stream's first event together: the client learns
            # the run id before a worker picks the run up (a later attempt after a worker
            # died adds its own).
            await self.queue.add_and_enqueue(self.storage, thread, run, self.first_event(run))
        return run

    @staticmethod
    def first_event(run: dict[str, Any]) -> RunEvent:
        """The ``metadata`` event :meth:`create` writes first to the run's log: always
        ``seq`` 1, as nothing else writes there before the run is enqueued. A stream
        that creates the run sends it without reading it back."""
        return RunEvent(1, "metadata", dumps({"run_id": run["run_id"], "attempt": 1}))

    async def get(self, thread_id: str, run_id: str) -> dict[str, Any]:
        run = await self.storage.get_run(run_id)
        if run is None or run["thread_id"] != thread_id:
            raise not_found("run", run_id)
        return run

    async def list(self, thread_id: str, *, limit: int, offset: int, status: str | None) -> list[dict[str, Any]]:
        await self.services.get_thread(thread_id)
        runs = [r for r in await self.storage.list_runs(thread_id) if status is None or r["status"] == status]
        runs.sort(key=lambda r: r["created_at"], reverse=True)
        return runs[offset : offset + limit]

    async def cancel(self, thread_id: str, run_id: str, *, action: str = "interrupt") -> None:
        if action not in ("interrupt", "rollback"):
            raise ApiError(422, f"action {action!r} is not 'interrupt' or 'rollback'")
        run = await self.get(thread_id, run_id)
        if run["status"] not in INFLIGHT:
            return
        await self.queue.abort(run_id, action)  # type: ignore[arg-type]

    async def delete(self, thread_id: str, run_id: str) -> None:
        run = await self.get(thread_id, run_id)
        if run["status"] in INFLIGHT:
            raise ApiError(409, f"run {run_id!r} is {run['status']}: cancel it before deleting")
        await self.storage.delete_run(run_id)

    async def wait_done(self, run_id: str) -> dict[str, Any] | None:
        """Follow the event log to its end; return the final run record (None if deleted)."""
        async for _ in self.storage.read_events(run_id):
            pass
        return await self.storage.get_run(run_id)

    async def result(self, run_id: str) -> Any:
        """What ``wait`` / ``join`` answer: the final values, or ``{"__error__": ...}``.

        A stateless run's record is gone once its thread is deleted, so the answer is also
        taken from the event log (its last ``values`` event or its ``error``).
        """
        last_values: Any = None
        error: Any = None
        async for ev in self.storage.read_events(run_id):
            if ev.event == "values":
                last_values = ev
            elif ev.event == "error":
                error = ev.value()
        run = await self.storage.get_run(run_id)
        if run is None:
            if error is not None:
                return {"__error__": error}
            return last_values.value() if last_values is not None else None
        if run["status"] == "error":
            return {"__error__": run.get("error")}
        return run.get("output")


class Worker:
    """Claims runs from the queue and executes them, one at a time per thread."""

    def __init__(self, runs: RunService) -> None:
        self.runs = runs
        self.services = runs.services
        self.queue = runs.queue
        self._thread_locks: dict[str, asyncio.Lock] = {}
        self.webhooks = WebhookSender()

    @property
    def storage(self) -> Storage:
        return self.services.storage

    async def serve(self) -> None:
        """Claim and execute runs until cancelled; each run in its own task."""
        async with asyncio.TaskGroup() as tg:
            while True:
                run_id = await self.queue.claim()
                tg.create_task(self._execute_logged(run_id))

    async def _execute_logged(self, run_id: str) -> None:
        try:
            await self.execute(run_id)
        except Exception:
            log.exception("run %s failed in the worker", run_id)

    async def execute(self, run_id: str) -> None:
        run = await self.storage.get_run(run_id)
        if run is None:
            return
        lock = self._thread_locks.setdefault(run["thread_id"], asyncio.Lock())
        # A free lock is taken without yielding to the loop: the record just read is still
        # current. After waiting for the thread's earlier run it is read again.
        fresh = run if not lock.locked() else None
        async with lock:
            closed = False
            try:
                closed = await self._execute(run_id, fresh)
            finally:
                if not closed:
                    await self.storage.close_events(run_id)
                await self.queue.done(run_id)

    async def _set_run(self, run_id: str, **fields: Any) -> dict[str, Any] | None:
        return await self.storage.update_run(run_id, {**fields, "updated_at": now()})

    async def _execute(self, run_id: str, run: dict[str, Any] | None = None) -> bool:
        """Carry the run out; True if its event log was closed on the way."""
        if run is None:
            run = await self.storage.get_run(run_id)
        if run is None or run["status"] != "pending":
            return False
        thread_id = run["thread_id"]
        if (action := self.queue.abort_requested(run_id)) is not None:
            await self._finish_cancelled(run, action)
            return False
        run.update(status="running", updated_at=now())  # (no await since it was read)
        await self.storage.put_run(run)
        await self.storage.patch_thread(thread_id, {"status": "busy"})
        kw = run["kwargs"]
        assistant = await self.services.get_assistant(run["assistant_id"])
        config = self._config(run, assistant)
        try:
            graph = await self.services.graphs.get(assistant["graph_id"], config)
        except Exception as exc:
            await self._finish_error(run, exc, None)
            return False
        graph_input: Any = kw["input"]
        if kw.get("command"):
            graph_input = Command(**kw["command"])
        stream_task = asyncio.create_task(self._stream(run, graph, graph_input, config, assistant))
        abort_task = asyncio.create_task(self.queue.wait_abort(run_id))
        try:
            await asyncio.wait({stream_task, abort_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            abort_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await abort_task
        if not stream_task.done():
            stream_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await stream_task
            await self._finish_cancelled(run, self.queue.abort_requested(run_id) or "interrupt", graph)
            return False
        if (failure := stream_task.exception()) is not None:
            await self._finish_error(run, failure, graph)
            return False
        return await self._finish_success(run, graph, stream_task.result())

    async def _finish_success(self, run: dict[str, Any], graph: Any, tail: list[tuple[str, str]]) -> bool:
        """Record the run's success, after ``tail`` (its last events, not written yet);
        True if that also closed its event log."""
        state = await graph.aget_state({"configurable": {"thread_id": run["thread_id"]}})
        output = to_jsonable(state.values)
        if state.interrupts and isinstance(output, dict):
            output["__interrupt__"] = to_jsonable(list(state.interrupts))
        kw = run["kwargs"]
        if kw.get("on_completion") != "delete" and not kw.get("webhook"):
            # The common case in one storage call (PostgreSQL: one statement): the last
            # events, the run's outcome, the thread idle with the run's values, the log closed.
            await self.storage.finish_run(run["run_id"], {"status": "success", "output": output, "updated_at": now()},
                                          run["thread_id"], thread_state_fields(state, None), tail)
            return True
        if tail:
            await self.storage.append_events(run["run_id"], tail)
        await self._set_run(run["run_id"], status="success", output=output)
        await self._complete_thread(run, graph, None, state)
        return False

    def _config(self, run: dict[str, Any], assistant: dict[str, Any]) -> dict[str, Any]:
        kw = run["kwargs"]
        base = assistant.get("config") or {}
        user = kw.get("config") or {}
        configurable = {**base.get("configurable", {}), **user.get("configurable", {})}
        configurable.update(
            thread_id=run["thread_id"],
            run_id=run["run_id"],
            assistant_id=assistant["assistant_id"],
            graph_id=assistant["graph_id"],
        )
        for k, v in (kw.get("checkpoint") or {}).items():
            if k in ("checkpoint_id", "checkpoint_ns", "checkpoint_map") and v is not None:
                configurable[k] = v
        config = {**base, **user, "configurable": configurable}
        config["metadata"] = {
            **base.get("metadata", {}),
            **user.get("metadata", {}),
            **run["metadata"],
            "run_id": run["run_id"],
            "thread_id": run["thread_id"],
            "assistant_id": assistant["assistant_id"],
            "graph_id": assistant["graph_id"],
        }
        return config

    async def _stream(self, run: dict[str, Any], graph: Any, graph_input: Any, config: dict[str, Any],
                      assistant: dict[str, Any] | None = None) -> list[tuple[str, str]]:
        """Run the graph, its stream's chunks appended to the run's log as events; returns
        the last events, not written yet: the caller writes them with the run's end."""
        kw = run["kwargs"]
        run_id = run["run_id"]
        requested = kw["stream_mode"]
        engine_modes = sorted({"messages" if m == "messages-tuple" else m for m in requested} - {"events"})
        subgraphs = kw["stream_subgraphs"]
        if assistant is None:
            assistant = await self.services.get_assistant(run["assistant_id"])
        context = {**(assistant.get("context") or {}), **(kw.get("context") or {})} or None
        extra: dict[str, Any] = {}
        if kw.get("durability"):
            extra["durability"] = kw["durability"]
        tuples = "messages-tuple" in requested
        protocol = _MessagesProtocol() if "messages" in requested else None
        events = self._event_writer(run)
        options = dict(context=context, subgraphs=True, interrupt_before=kw.get("interrupt_before"),
                       interrupt_after=kw.get("interrupt_after"), **extra)
        if "events" in requested:
            stream = _events_mode(graph, graph_input, config, options, events, run_id,
                                  assistant["graph_id"], engine_modes)
        else:
            stream = graph.astream(graph_input, config, stream_mode=engine_modes, **options)
        try:
            await self._relay(stream, events, run_id, subgraphs, tuples, protocol)
        except BaseException:
            # What the graph streamed before it failed (or was cancelled) is in the log
            # before the run's end is.
            await events.drain()
            raise
        # The last events go with the run's end (see _finish_success).
        return await events.settle()

    def _event_writer(self, run: dict[str, Any]) -> _EventWriter:
        """The writer of an attempt's events (see :class:`PgWorker`, which keeps it)."""
        return _EventWriter(self.storage, run["run_id"])

    async def _relay(self, stream: Any, events: _EventWriter, run_id: str, subgraphs: bool, tuples: bool,
                     protocol: _MessagesProtocol | None) -> None:
        async for item in stream:
            ns, mode, chunk = item
            if ns and not subgraphs:
                continue
            suffix = f"|{'|'.join(ns)}" if ns else ""
            if mode == "messages":
                message, meta = chunk
                if protocol is not None:
                    for event, data in protocol.events(message, meta):
                        events.add(event + suffix, dumps(data))
                if tuples:
                    events.add("messages" + suffix, dumps([message, meta]))
            else:
                events.add(mode + suffix, dumps(chunk))
            await self.queue.heartbeat(run_id)

    async def _finish_error(self, run: dict[str, Any], exc: BaseException, graph: Any) -> None:
        err = {"error": type(exc).__name__, "message": str(exc)}
        await self.storage.append_event(run["run_id"], "error", dumps(err))
        await self._set_run(run["run_id"], status="error", error=err)
        await self._complete_thread(run, graph, "error")

    async def _finish_cancelled(self, run: dict[str, Any], action: str, graph: Any = None) -> None:
        run_id, thread_id = run["run_id"], run["thread_id"]
        if action == "rollback":
            # (The run's cancelled task is over; a write it started can still be on its
            # way only on a saver that does I/O outside the caller's task: the PostgreSQL
            # worker fences those out first, see PgWorker._finish_cancelled. The memory
            # saver writes inline, and SQLite's queues every operation in order.)
            # The run's record goes last: on PostgreSQL, deleting it ends this attempt's
            # fence, and the checkpoint rewrite and thread update are fenced writes.
            await rollback_checkpoints(self.services.checkpointer, thread_id, run_id)
            await self._complete_thread(run, graph, None)
            await self.storage.delete_run(run_id)
            return
        await self._set_run(run_id, status="interrupted")
        await self._complete_thread(run, graph, None)

    async def _complete_thread(self, run: dict[str, Any], graph: Any, status: str | None, state: Any = None) -> None:
        """``state``: the graph's latest state, if the caller has it already."""
        await self._update_thread(run, graph, status, state)
        if run["kwargs"].get("webhook"):
            final = await self.storage.get_run(run["run_id"]) or run
            thread = await self.storage.get_thread(run["thread_id"])
            self.webhooks.send(run["kwargs"]["webhook"], {
                **final, "values": final.get("output") if thread is None else thread.get("values"),
            })

    async def _update_thread(self, run: dict[str, Any], graph: Any, status: str | None, state: Any = None) -> None:
        thread_id = run["thread_id"]
        thread = await self.storage.get_thread(thread_id)
        if thread is None:
            return
        if run["kwargs"].get("on_completion") == "delete":
            await self.storage.delete_thread(thread_id)
            await self.services.checkpointer.adelete_thread(thread_id)
            return
        thread["status"] = "idle"
        if graph is not None:
            # One write: the thread idle, with the run's values and interrupts.
            await self.services.refresh_thread(thread_id, graph, status=status, thread=thread, state=state)
            return
        await self.storage.put_thread(thread)
        if status is not None:
            thread["status"] = status
            await self.storage.put_thread(thread)


async def _events_mode(graph: Any, graph_input: Any, config: dict[str, Any], options: dict[str, Any],
                       events: _EventWriter, run_id: str, graph_id: str, modes: list[str]) -> Any:
    """``stream_mode="events"``: the run's ``astream_events(version="v2")``, each event
    written to the log as an ``events`` event, as LangGraph's server sends them: the root
    run carries the server's run id and the graph id as its name, and the event name has no
    ``|namespace`` (a subgraph's events name it in ``metadata.langgraph_checkpoint_ns``).
    The root's ``on_chain_stream`` events are the other modes' chunks: yielded as
    ``(ns, mode, chunk)`` items for :meth:`Worker._relay`, not written as events."""
    config = {"run_name": graph_id, **config}
    with contextlib.suppress(ValueError):
        config["run_id"] = uuid.UUID(run_id)
    wanted = set(modes)
    # (The engine needs at least one mode; a mode nobody asked for is dropped here.)
    source = graph.astream_events(graph_input, config, version="v2", stream_mode=modes or ["values"], **options)
    # Closed on the way out: astream_events runs the graph in a task of its own, which a
    # cancelled run must not leave running.
    async with contextlib.aclosing(source):
        async for ev in source:
            if ev["event"] == "on_chain_stream" and not ev.get("parent_ids"):
                item = ev["data"].get("chunk")
                if isinstance(item, tuple) and len(item) == 3 and item[1] in wanted:
                    yield item
                continue
            events.add("events", dumps(ev))


class _EventWriter:
    """Appends a run's events to its log in order, in as few storage calls as the back end
    allows: while one write is under way the next events gather and leave together in the
    next (on PostgreSQL one round trip per batch, not per event)."""

    def __init__(self, storage: Storage, run_id: str, written: int | None = None) -> None:
        self._storage = storage
        self._run_id = run_id
        self._pending: list[tuple[str, str]] = []
        self._task: asyncio.Task[None] | None = None
        self._held = False
        self.written = written
        """The ``seq`` of the last event known to be in the log (None: not known)."""

    def add(self, event: str, data: str) -> None:
        """Queue one event; raises what made an earlier write fail (``FencedOut``, ...)."""
        task = self._task
        if task is not None and task.done():
            self._task = None
            task.result()
        self._pending.append((event, data))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        while self._pending and not self._held:
            batch, self._pending = self._pending, []
            try:
                self.written = await self._storage.append_events(self._run_id, batch)
            except BaseException:
                # Refused, or its outcome unknown (the connection dropped around the
                # commit): kept for :meth:`unwritten`; the log after ``written`` tells.
                self._pending[:0] = batch
                raise

    def unwritten(self) -> list[tuple[str, str]]:
        """The events added whose write was not confirmed, in order (after a failed
        :meth:`drain` or :meth:`settle`: the first of them may be in the log after all)."""
        return list(self._pending)

    async def drain(self) -> None:
        """Wait until every event added is written (raises a write's failure)."""
        task, self._task = self._task, None
        if task is not None:
            await task

    async def settle(self) -> list[tuple[str, str]]:
        """Wait for the write under way (raises its failure), and return the events not
        written yet instead of writing them: the run's end writes them with its records
        (``Storage.finish_run``), in the same round trip."""
        self._held = True
        task, self._task = self._task, None
        if task is not None:
            await task
        rest, self._pending = self._pending, []
        return rest


class WebhookSender:
    """POSTs a finished run (its record and the thread's values) to the run's ``webhook``.

    Sent in the background, so a slow receiver delays neither the run's stream nor the next
    run; a refused or failed delivery is retried three times (after 1, 2 and 4 s), then
    logged. What is still being delivered when the worker stops is logged as lost.
    """

    ATTEMPTS = 4
    TIMEOUT = 10.0

    def __init__(self) -> None:
        self._pending: set[asyncio.Task[None]] = set()

    def send(self, url: str, payload: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(url, dumps(payload)))
        self._pending.add(task)  # held until done: a task nobody references may be collected
        task.add_done_callback(self._pending.discard)

    async def _deliver(self, url: str, body: str) -> None:
        import httpx  # (import time: only workers that send webhooks pay for it)

        delay = 1.0
        try:
            async with httpx.AsyncClient(timeout=self.TIMEOUT) as http:
                for attempt in range(1, self.ATTEMPTS + 1):
                    try:
                        r = await http.post(url, content=body, headers={"content-type": "application/json"})
                        if r.status_code < 400:
                            return
                        problem = f"HTTP {r.status_code}"
                    except httpx.HTTPError as exc:
                        problem = f"{type(exc).__name__}: {exc}"
                    if attempt < self.ATTEMPTS:
                        await asyncio.sleep(delay)
                        delay *= 2
            log.warning("webhook %s: not delivered after %d attempts (%s)", url, self.ATTEMPTS, problem)
        except asyncio.CancelledError:
            log.warning("webhook %s: the worker stopped before it was delivered", url)
            raise

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait (at most ``timeout`` s) for the deliveries under way."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout)


class _MessagesProtocol:
    """``stream_mode="messages"`` as LangGraph's server sends it (``messages-tuple`` is the
    engine's pairs as they are): ``messages/metadata`` once per message id, then each token
    as ``messages/partial`` holding the message accumulated so far, and a message that
    arrives whole as ``messages/complete``."""

    def __init__(self) -> None:
        self._acc: dict[str, Any] = {}

    def events(self, message: Any, meta: dict[str, Any]) -> list[tuple[str, Any]]:
        mid = getattr(message, "id", None) or f"run-{id(message)}"
        out: list[tuple[str, Any]] = []
        if mid not in self._acc:
            out.append(("messages/metadata", {mid: {"metadata": meta}}))
            self._acc[mid] = None
        if isinstance(message, BaseMessageChunk):
            acc = self._acc[mid]
            acc = message if acc is None else acc + message
            self._acc[mid] = acc
            out.append(("messages/partial", [acc]))
        else:
            out.append(("messages/complete", [message]))
        return out
