"""Calls made from inside a running task: what a ``@task`` function does when called.

The functional API (:mod:`asyncgraph.func`) is built on this. A call made by a running
task (an entrypoint, a graph node, or another call) becomes a *call task*: it starts
right away, concurrently with its caller, and its result arrives through a future.

Resume semantics (the point of it all): the N-th call made by a task has an id derived
from that task's place in the run (never from timing), so the same code calling again
after a pause or a crash finds what the earlier attempt saved under that id:

* a result (``__return__``) is handed back without calling the function again;
* an interrupt is run again, with the answers it already had plus the new one;
* an error, or nothing at all, is run again.

A call's result is saved as a pending write of the step as soon as the call finishes,
so a process killed right after it loses nothing that finished.

Engine hook (what the loop provides): ``RunContext.progress.loop`` (the run's event loop, for
calls made from worker threads), ``progress.ckpt`` (the loop's checkpoint writer,
whose ``put_writes(task, writes, step)`` saves a pending write), ``progress.pending_writes``
(the writes saved against the checkpoint the run loaded) and, when the run replays an
older checkpoint, ``progress.pending_origin`` (that checkpoint's id and next step).
``TaskContext.calls`` holds a task's :class:`Calls` once it makes its first call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from asyncgraph._context import TaskContext, current_task
from asyncgraph.constants import PUSH as PUSH_PATH
from asyncgraph.errors import GraphBubbleUp, GraphInterrupt
from asyncgraph.pregel._algo import PUSH, Task, task_id
from asyncgraph.pregel._context import RunContext
from asyncgraph.pregel._plan import NodePlan
from asyncgraph.pregel._runner import _retry_policy, _stream_node_output, with_timeouts
from asyncgraph.pregel._schema import SchemaInfo
from asyncgraph.pregel._stream import emit_debug, task_start_payload
from asyncgraph.pregel._spec import sync_timeout_unsupported
from asyncgraph.types import CachePolicy, RetryPolicy, TimeoutPolicy

RETURN = "__return__"
INTERRUPT = "__interrupt__"
RESUME = "__resume__"
ERROR = "__error__"
CALL_TRIGGERS = ("__pregel_push",)


class TaskSpec:
    """A function that runs as a call task (what ``@task`` makes)."""

    __slots__ = ("func", "name", "is_async", "retry", "cache", "timeout", "node")

    def __init__(
        self,
        func: Callable[..., Any],
        name: str,
        is_async: bool,
        retry: Sequence[RetryPolicy],
        cache: CachePolicy | None,
        timeout: TimeoutPolicy | None = None,
    ) -> None:
        self.timeout = timeout  # one attempt's (async functions only), coerced
        self.func = func
        self.name = name
        self.is_async = is_async
        self.retry = tuple(retry)
        self.cache = cache
        # The engine's view of it (a Task needs a node): no channels, no edges.
        self.node = NodePlan(
            name=name, call=None, triggers=(), reads=(),
            input_info=SchemaInfo(None, "dict", {}, {}), managed=(), after=(), branches=(),
            retry=self.retry or None, timeout=None, metadata=None, limit=None, defer=False, ends=(),
        )


class Calls:
    """The calls one running task has made: how many, and those still running.

    ``loop`` is the run's event loop: a sync caller running in a worker thread hands its
    calls to it.
    """

    __slots__ = ("tc", "loop", "count", "running", "answered", "interrupts", "prefix")

    def __init__(self, tc: TaskContext, loop: asyncio.AbstractEventLoop) -> None:
        self.tc = tc
        self.loop = loop
        self.count = 0
        # The caller's place in the run, the stem of its calls' paths (and so ids).
        parent = tc
        self.prefix = f"{parent.name}~{parent.kind}~{parent.index}/"
        self.running: set[asyncio.Future[Any]] = set()
        self.answered = False  # the caller's plain resume answer went to its calls
        self.interrupts: list[Any] = []  # raised by calls that ended with an interrupt

    async def join(self, cancel: bool = False) -> None:
        """Wait for (or cancel) the calls still running. Their errors stay with their
        futures (the caller saw them, or chose not to look); interrupts are collected."""
        while self.running:
            pending = list(self.running)
            if cancel:
                for f in pending:
                    f.cancel()
            await asyncio.wait(pending)
            self.running.difference_update(pending)


def call(spec: TaskSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Start ``spec.func(*args, **kwargs)`` as a call task of the running task.

    Returns an ``asyncio.Future`` when called on the run's loop (``await`` it, or pass it
    to ``asyncio.gather``), else, for a sync caller in a worker thread, a
    ``concurrent.futures.Future`` (``.result()`` waits).

    Raises:
        RuntimeError: not called from inside a running entrypoint, node or task.
    """
    tc = current_task.get()
    if tc is None:
        raise RuntimeError(
            f"Task '{spec.name}' was called outside of a running entrypoint or graph node; "
            "call @task functions from inside an @entrypoint (or a StateGraph node)"
        )
    calls = tc.calls
    if calls is None:
        loop = tc.run.progress.loop
        assert loop is not None  # set by the loop before any task runs
        calls = tc.calls = Calls(tc, loop)
    idx = calls.count
    calls.count += 1
    running = asyncio.events._get_running_loop()
    if running is calls.loop:
        sub, saved = _prepare(calls, spec, idx, args, kwargs)
        return start(calls, spec, sub, saved, args, kwargs)
    if calls.loop._thread_id == threading.get_ident():  # type: ignore[attr-defined]
        # A sync node the sync API runs inline, on the loop's own thread: the loop
        # waits for it, so the call runs right here.
        return _run_inline(calls, spec, idx, args, kwargs)
    # A sync caller in a worker thread: the call starts on the loop; its outcome comes
    # back through a thread-safe future. Its id and saved result are found here, in the
    # caller's thread, in the order of its calls (the caller's own resume answers,
    # which its interrupt() calls also take, stay with this thread).
    sub, saved = _prepare(calls, spec, idx, args, kwargs)
    job = None
    if saved is _NO_ANSWER and not spec.is_async and _runs_unobserved(sub.run, spec):
        # Nothing has to happen on the loop before the function runs (no start event,
        # tracer or cache lookup), so its first attempt can start before the loop sees
        # the call: in a worker, or here, if the caller asks for the result first.
        ctx = contextvars.copy_context()
        ctx.run(current_task.set, sub)
        job = Offload(calls.loop, ctx, spec.func, args, kwargs)
    out = CallFuture(job)
    calls.loop.call_soon_threadsafe(_start_for_thread, out, calls, spec, sub, saved, args, kwargs, job)
    return out


def _runs_unobserved(rc: RunContext, spec: TaskSpec) -> bool:
    """Whether ``_run`` does nothing before calling the function: nobody traces the run,
    no stream shows task starts, and no cache policy applies."""
    if rc.callbacks is not None:
        return False
    sink = rc.sink
    if sink is not None and not sink.modes.isdisjoint(("tasks", "debug")):
        return False
    return rc.cache is None or (spec.cache is None and getattr(rc.graph, "call_cache", None) is None)


def _start_for_thread(out: CallFuture, calls: Calls, spec: TaskSpec, sub: TaskContext, saved: Any,
                      args: Any, kwargs: Any, job: Offload | None) -> None:
    try:
        fut = start(calls, spec, sub, saved, args, kwargs, job)
    except BaseException as exc:  # handed to the waiting thread
        if job is not None:
            job.drop()
        out.set_exception(exc)
        return
    fut.add_done_callback(functools.partial(_pass_outcome, out, job))


_PENDING, _CLAIMED, _DONE, _DROPPED = "pending", "claimed", "done", "dropped"


class Offload:
    """One attempt of a sync function, run off the loop by whichever thread claims it
    first: a worker of the loop's default executor, or the caller's thread if it asks
    for the result before any worker started the attempt (:class:`CallFuture`). The
    second saves the two thread switches of a trip through the executor.

    The outcome (value or exception) goes back to the loop; :meth:`outcome` is where
    the loop waits for it, and hands the attempt to a worker if no thread claimed it.
    """

    __slots__ = ("loop", "ctx", "fn", "args", "kwargs", "lock", "state", "ok", "value", "waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop, ctx: contextvars.Context, fn: Callable[..., Any],
                 args: Any, kwargs: Any) -> None:
        self.loop = loop
        self.ctx = ctx
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.lock = threading.Lock()
        self.state = _PENDING
        self.ok = False
        self.value: Any = None
        self.waiter: asyncio.Future[Any] | None = None

    def claim(self) -> bool:
        """Take the attempt (from any thread); False if another thread has it."""
        with self.lock:
            if self.state is not _PENDING:
                return False
            self.state = _CLAIMED
            return True

    def run(self) -> None:
        """Run the claimed attempt in this thread and hand its outcome to the loop."""
        try:
            value, ok = self.ctx.run(self.fn, *self.args, **self.kwargs), True
        except BaseException as exc:  # the loop raises it where it waits
            value, ok = exc, False
        with self.lock:
            self.state, self.ok, self.value = _DONE, ok, value
            waiter = self.waiter
        if waiter is not None:
            self.loop.call_soon_threadsafe(_deliver, waiter)

    def run_if_unclaimed(self) -> None:
        if self.claim():
            self.run()

    def drop(self) -> None:
        """Make sure the attempt never runs if no thread has claimed it yet."""
        with self.lock:
            if self.state is _PENDING:
                self.state = _DROPPED

    async def outcome(self) -> Any:
        """The attempt's return value (or its exception, raised), on the loop. If no
        thread has claimed it yet, a worker of the default executor is asked to.

        Cancelled while no thread has claimed it, the attempt never runs.
        """
        loop = self.loop
        with self.lock:
            done = self.state is _DONE
            if not done:
                waiter = self.waiter = loop.create_future()
                pending = self.state is _PENDING
        if not done:
            if pending:
                loop.run_in_executor(None, self.run_if_unclaimed)
            try:
                await waiter
            except asyncio.CancelledError:
                self.drop()
                raise
        if self.ok:
            return self.value
        raise self.value


def _deliver(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class CallFuture(concurrent.futures.Future):  # type: ignore[type-arg]
    """What a sync caller in a worker thread gets from a call. Asked for its result (or
    exception) without a timeout before any worker started the call's first attempt,
    it runs that attempt right here, in the caller's thread, which would otherwise
    only wait; the loop still saves, streams and retries it (``_run``)."""

    def __init__(self, job: Offload | None = None) -> None:
        super().__init__()
        self._job = job

    def _help(self, timeout: float | None) -> None:
        job = self._job
        if job is not None and timeout is None and not self.done():
            self._job = None
            job.run_if_unclaimed()

    def result(self, timeout: float | None = None) -> Any:
        self._help(timeout)
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._help(timeout)
        return super().exception(timeout)


def _pass_outcome(out: concurrent.futures.Future[Any], job: Offload | None, fut: asyncio.Future[Any]) -> None:
    if job is not None:
        job.drop()  # the call ended (cancelled before its first attempt, say): nobody runs it now
    if fut.cancelled():
        out.cancel()
        out.set_running_or_notify_cancel()
    elif (exc := fut.exception()) is not None:
        out.set_exception(exc)
    else:
        out.set_result(fut.result())


def _call_task(calls: Calls, spec: TaskSpec, idx: int, args: Any, kwargs: Any) -> Task:
    """The engine task of the ``idx``-th call of ``calls.tc``: its id depends only on the
    caller's place in the run and ``idx``, so a resumed caller finds it again."""
    # The index of a call task is a path of call numbers (a str): it is only ever
    # formatted into ids and paths, never sorted, since call tasks never reach a barrier.
    path = f"{calls.prefix}{idx}"
    t = Task(spec.node, (args, kwargs), PUSH, path, CALL_TRIGGERS)  # type: ignore[arg-type]
    tc = calls.tc
    t.call_path = (PUSH_PATH, tc.path, idx, True)
    rc = tc.run
    # Always an id, with or without a saver: it tells the interrupts of calls apart.
    t.id = task_id(rc.progress.checkpoint_id, rc.ns, tc.step, spec.name, PUSH, path)  # type: ignore[arg-type]
    return t


def _saved(rc: RunContext, task: Task) -> list[tuple[str, Any]] | None:
    """What an earlier attempt of this call saved: under its id, or (replaying an older
    checkpoint, which starts a fork with new ids) under the id it had there."""
    progress = rc.progress
    pending = progress.pending_writes
    if not pending:
        return None
    if not isinstance(pending, dict):  # indexed by task id once, on first use
        by_id: dict[str, list[tuple[str, Any]]] = {}
        for tid, c, v in pending:
            by_id.setdefault(tid, []).append((c, v))
        pending = progress.pending_writes = by_id
    found = pending.get(task.id)
    origin = progress.pending_origin
    if found is None and origin is not None:
        ckpt_id, step = origin
        found = pending.get(task_id(ckpt_id, rc.ns, step, task.name, PUSH, task.index))  # type: ignore[arg-type]
    return found


def _prepare(calls: Calls, spec: TaskSpec, idx: int, args: Any, kwargs: Any) -> tuple[TaskContext, Any]:
    """The call's task context, and its saved result (``_NO_ANSWER`` if none)."""
    tc = calls.tc
    rc = tc.run
    task = _call_task(calls, spec, idx, args, kwargs)
    saved = _saved(rc, task)
    resume: list[Any] | None = None
    if saved is not None:
        for c, v in saved:
            if c == RETURN:
                return task.enter(rc, tc.step), v
        prior = [i for c, v in saved if c == INTERRUPT for i in v]
        resume = [a for c, v in saved if c == RESUME for a in v] or None
        task.prior_interrupts = prior
        if prior:
            answer = _answer_for(calls, prior)
            if answer is not _NO_ANSWER:
                resume = [*(resume or ()), answer]
                task.resume_raw = tc.resume_raw
    task.resume = resume
    return task.enter(rc, tc.step, resume), _NO_ANSWER


def start(calls: Calls, spec: TaskSpec, sub: TaskContext, saved: Any, args: Any, kwargs: Any,
          job: Offload | None = None) -> asyncio.Future[Any]:
    """Start a call (or hand back its saved result) prepared by ``_prepare``; runs on the
    run's loop. ``job``: the call's first attempt, if it may already be running."""
    if saved is not _NO_ANSWER:
        rc = sub.run
        if rc.sink is not None:  # shown as started, as LangGraph does, not as run
            _emit_start(rc, sub)
        if rc.progress.pending_origin is not None and rc.progress.ckpt is not None:
            # Replaying an older checkpoint: the run is a fork with new task ids; the
            # result goes with it, so resuming the fork reuses it too.
            _background_save(calls, rc.progress.ckpt.put_writes(sub, [(RETURN, saved)], sub.step))
        fut = calls.loop.create_future()
        fut.set_result(saved)
        return fut
    # The new asyncio task runs in a copy of the caller's context; _run sets its own
    # task context inside that copy.
    fut = calls.loop.create_task(_run(sub, spec, args, kwargs, calls, job))
    calls.running.add(fut)
    fut.add_done_callback(calls.running.discard)
    return fut


def _run_inline(calls: Calls, spec: TaskSpec, idx: int, args: Any, kwargs: Any) -> concurrent.futures.Future[Any]:
    """Run a sync call in the caller's thread: the loop's own, blocked by the caller (a
    sync node the sync API runs inline), so nothing here may wait for the loop. The
    cache lookup (the cache's sync API) and retries (``_after_failure``, the rules of
    ``_execute``) happen here; the outcome is recorded and streamed at once and saved
    as soon as the loop runs again (``_settle_inline``)."""
    if spec.is_async:
        raise RuntimeError(
            f"Task '{spec.name}' is async: a sync node run by the sync API cannot call it; "
            "run the graph with ainvoke / astream, or make the task sync"
        )
    out: concurrent.futures.Future[Any] = concurrent.futures.Future()
    sub, saved = _prepare(calls, spec, idx, args, kwargs)
    if saved is not _NO_ANSWER:
        out.set_result(saved)
        return out
    rc = sub.run
    if rc.sink is not None:
        _emit_start(rc, sub)
    cache_key = _cache_key(rc, spec, args, kwargs)
    if cache_key is not None:
        hit = rc.cache.get([cache_key]).get(cache_key)
        if hit is not None:
            _settle_inline(calls, sub, spec, hit[0], None, None, cached=True)
            out.set_result(hit[0])
            return out
    policies = _policies_for(rc, spec)
    token = current_task.set(sub)
    try:
        attempt = 0
        while True:
            attempt += 1
            try:
                result = spec.func(*args, **kwargs)
                break
            except GraphBubbleUp:
                raise
            except Exception as exc:
                delay = _after_failure(spec, policies, exc, attempt)
                if delay is None:
                    raise
                sub.interrupt_idx = 0
                sub.calls = None  # its calls ran inline, to the end: the retry calls again
                time.sleep(delay)
    except BaseException as exc:  # handed to the future, as a running call would
        if isinstance(exc, GraphInterrupt):
            calls.interrupts.extend(exc.interrupts)
        _settle_inline(calls, sub, spec, None, exc, None)
        out.set_exception(exc)
        return out
    finally:
        current_task.reset(token)
    _settle_inline(calls, sub, spec, result, None, cache_key)
    out.set_result(result)
    return out


def _settle_inline(calls: Calls, sub: TaskContext, spec: TaskSpec, result: Any, exc: BaseException | None,
                   cache_key: Any, cached: bool = False) -> None:
    """``_settle`` for a call run inline: recorded and streamed now, in order with what
    its caller streams next; saved as soon as the loop runs again."""
    _record(sub, result, exc)
    _show(sub, spec, result, exc, cached)
    calls.loop.call_soon(_background_save, calls, _save(sub, spec, result, exc, cache_key, sub.run.progress.ckpt))


def _background_save(calls: Calls, coro: Any) -> None:
    fut = calls.loop.create_task(coro)
    calls.running.add(fut)  # a caller that joins its calls waits for the save too
    _background.add(fut)
    fut.add_done_callback(_background.discard)
    fut.add_done_callback(calls.running.discard)


# Saves of inline calls in flight (kept alive until done).
_background: set[asyncio.Future[Any]] = set()


_NO_ANSWER = object()


def _answer_for(calls: Calls, prior: list[Any]) -> Any:
    """The answer a resumed caller got for an interrupt raised inside one of its calls.

    The loop handed the ``Command(resume=...)`` value to the waiting task, the caller;
    it belongs to the call that raised the interrupt, so it moves there, out of the
    caller's own answers (those its own ``interrupt()`` calls take, in order).
    """
    tc = calls.tc
    raw = tc.resume_raw
    if raw is None:
        return _NO_ANSWER
    answers = tc.resume_values
    if isinstance(raw, dict) and raw and all(isinstance(k, str) for k in raw):
        ids = [i.id for i in prior]
        hit = [k for k in ids if k in raw]
        if hit:
            value = raw[hit[-1]]
            _remove(answers, value)
            return value
        if any(k in _interrupt_ids(tc) for k in raw):
            return _NO_ANSWER  # answers for other interrupts, not this call's
    if not calls.answered:
        calls.answered = True
        _remove(answers, raw)
    return raw


def _interrupt_ids(tc: TaskContext) -> set[str]:
    return {i.id for i in tc.prior_interrupts}


def _remove(answers: list[Any] | None, value: Any) -> None:
    if answers:
        for i in range(len(answers) - 1, -1, -1):
            if answers[i] is value:
                del answers[i]
                return


def _retry_delay(policy: RetryPolicy, attempt: int) -> float:
    interval = min(policy.max_interval, policy.initial_interval * policy.backoff_factor ** (attempt - 1))
    if policy.jitter:
        interval += random.uniform(0, 1)
    return float(interval)


async def _run(sub: TaskContext, spec: TaskSpec, args: Any, kwargs: Any, caller: Calls,
               job: Offload | None = None) -> Any:
    """Run one call task: the function (with retries), then save and stream its outcome."""
    current_task.set(sub)
    rc = sub.run
    run_manager = None
    if rc.callbacks is not None:
        # Someone listens: code inside the call (a chat model streaming tokens, a
        # tracer) sees the call's own config (its name, step and namespace in the
        # metadata), and with a traced caller the call is a run of its own inside the
        # caller's run. Otherwise the caller's config, inherited, is all it needs.
        from langchain_core.runnables.config import var_child_runnable_config

        traced = caller.tc.traced
        if traced is not None:
            from langchain_core.runnables.config import get_async_callback_manager_for_config

            # The call's run carries the call's own metadata (its name, path, triggers),
            # inside the caller's run.
            cm = get_async_callback_manager_for_config(sub.config(callbacks=traced["callbacks"]))  # type: ignore[arg-type]
            # LangGraph's tag for the call's run (its function is the first step of
            # the task's sequence); the call's children do not inherit it.
            cm.add_tags(["seq:step:1"], inherit=False)
            run_manager = await cm.on_chain_start(None, _inputs(spec, args, kwargs), name=spec.name)
            sub.traced = sub.config(callbacks=run_manager.get_child())
        var_child_runnable_config.set(sub.traced or sub.config())  # type: ignore[arg-type]
    if rc.sink is not None:
        _emit_start(rc, sub)
    cache_key = _cache_key(rc, spec, args, kwargs)
    if cache_key is not None:
        hit = (await rc.cache.aget([cache_key])).get(cache_key)
        if hit is not None:
            await _settle(sub, spec, hit[0], None, None, cached=True)
            if run_manager is not None:
                await run_manager.on_chain_end(hit[0])
            return hit[0]
    try:
        result = await _execute(sub, spec, args, kwargs, job)
    except GraphInterrupt as exc:
        if sub.calls is not None:
            await sub.calls.join()
            exc = merge_interrupts(exc, sub.calls.interrupts)
        caller.interrupts.extend(exc.interrupts)
        await _settle(sub, spec, None, exc, None)
        if run_manager is not None:
            await run_manager.on_chain_error(exc)
        raise exc from None
    except BaseException as exc:
        if sub.calls is not None:
            await sub.calls.join(cancel=True)
        await _settle(sub, spec, None, exc, None)
        if run_manager is not None:
            await run_manager.on_chain_error(exc)
        raise
    if run_manager is not None:
        await _stream_node_output(run_manager, result)
        await run_manager.on_chain_end(result)
    await _settle(sub, spec, result, None, cache_key)
    return result


def _inputs(spec: TaskSpec, args: Any, kwargs: Any) -> dict[str, Any]:
    """A call's arguments by parameter name, as its traced run shows them."""
    import inspect

    try:
        bound = inspect.signature(spec.func).bind_partial(*args, **kwargs)
    except (TypeError, ValueError):
        return {"args": list(args), **kwargs}
    bound.apply_defaults()
    out = dict(bound.arguments)
    out.pop("self", None)
    out.pop("cls", None)
    for name, p in bound.signature.parameters.items():
        if p.kind is p.VAR_KEYWORD and name in out:
            out.update(out.pop(name))
    return out


async def _execute(sub: TaskContext, spec: TaskSpec, args: Any, kwargs: Any, job: Offload | None = None) -> Any:
    """Call the function, retrying as its policy (or the entrypoint's) says. A sync
    function runs off the loop (``Offload``); ``job`` is its first attempt if the
    caller's thread prepared it (and may be running it already)."""
    policies = _policies_for(sub.run, spec)
    attempt = 0
    while True:
        attempt += 1
        try:
            if spec.timeout is not None:
                limits = spec.timeout
                result = await with_timeouts(
                    sub, spec.name, limits.run_timeout, limits.idle_timeout, limits.refresh_on == "auto",  # type: ignore[arg-type]  # coerced: floats
                    lambda _progress: spec.func(*args, **kwargs), attempts=attempt,
                )
            elif spec.is_async:
                result = await spec.func(*args, **kwargs)
            else:
                if job is None:
                    job = Offload(asyncio.get_running_loop(), contextvars.copy_context(), spec.func, args, kwargs)
                attempt_job, job = job, None
                result = await attempt_job.outcome()
            if sub.calls is not None:
                await sub.calls.join()
            return result
        except GraphBubbleUp:
            raise
        except Exception as exc:
            delay = _after_failure(spec, policies, exc, attempt)
            if delay is None:
                raise
            sub.interrupt_idx = 0
            if sub.calls is not None:
                await sub.calls.join(cancel=True)
                sub.calls = None
            await asyncio.sleep(delay)


def _policies_for(rc: RunContext, spec: TaskSpec) -> tuple[RetryPolicy, ...]:
    """The task's retry policies, else the entrypoint's."""
    return spec.retry or tuple(getattr(rc.graph, "call_retry", None) or ())


def _after_failure(spec: TaskSpec, policies: tuple[RetryPolicy, ...], exc: Exception, attempt: int) -> float | None:
    """Attempt ``attempt`` of a call failed with ``exc``: seconds to wait before the
    next one, or None when the policies say to give up (after more than one attempt,
    ``exc`` then gets a note saying how many ran)."""
    policy = _retry_policy(policies, exc) if policies else None
    if policy is None or attempt >= policy.max_attempts:
        if policies and attempt > 1:
            exc.add_note(f"Task '{spec.name}' failed after {attempt} attempts")
        return None
    return _retry_delay(policy, attempt)


async def _settle(sub: TaskContext, spec: TaskSpec, result: Any, exc: BaseException | None,
                  cache_key: Any, cached: bool = False) -> None:
    """Save a finished call's outcome as a pending write of its step, then stream it.

    Streamed on the loop's next turn, as LangGraph's loop streams a finished task's
    writes: queued before the call's asyncio task completes, so it still comes before
    anything its awaiting caller streams after its next suspension, but a caller that
    returns right after the call ends its own run first (its traced output, then the
    call's update)."""
    _record(sub, result, exc)
    await _save(sub, spec, result, exc, cache_key, sub.run.progress.ckpt)
    if sub.run.sink is not None:
        asyncio.get_running_loop().call_soon(_show, sub, spec, result, exc, cached)


def _record(sub: TaskContext, result: Any, exc: BaseException | None) -> None:
    """The call's outcome, on its engine task."""
    task = sub
    if exc is None:
        task.done = True
        task.update = result
    elif isinstance(exc, GraphInterrupt):
        task.interrupts = list(exc.interrupts)
    elif isinstance(exc, Exception) and not isinstance(exc, GraphBubbleUp):
        task.error = exc


async def _save(sub: TaskContext, spec: TaskSpec, result: Any, exc: BaseException | None, cache_key: Any,
                ckpt: Any) -> None:
    """The recorded outcome as a pending write of the call's step (and in the cache).
    ``ckpt``: the run's checkpoint writer (``progress.ckpt``) when the call settled: a
    save that starts after its run ended (the run drops its writer then) still lands."""
    rc = sub.run
    task = sub
    if exc is None:
        if ckpt is not None:
            await ckpt.put_writes(task, [(RETURN, result)], sub.step)
        if cache_key is not None:
            policy = spec.cache or rc.graph.call_cache
            await rc.cache.aset({cache_key: ([result], policy.ttl)})
    elif isinstance(exc, GraphInterrupt):
        if ckpt is not None:
            writes: list[tuple[str, Any]] = [(INTERRUPT, list(task.interrupts))]
            if task.resume:
                writes.append((RESUME, list(task.resume)))
            await ckpt.put_writes(task, writes, sub.step)
    elif task.error is not None and ckpt is not None:
        await ckpt.put_writes(task, [(ERROR, repr(exc))], sub.step)  # as LangGraph stores it


def _show(sub: TaskContext, spec: TaskSpec, result: Any, exc: BaseException | None, cached: bool) -> None:
    """Stream the recorded outcome: the ``updates`` chunk and the task's result (none
    for a result taken from the cache, as in LangGraph)."""
    rc = sub.run
    if rc.sink is None:
        return
    if exc is None:
        chunk = {spec.name: result}
        if cached:
            chunk["__metadata__"] = {"cached": True}
        rc.emit("updates", chunk)
        if not cached:
            _emit_result(rc, sub, None)
    elif sub.error is not None:
        _emit_result(rc, sub, exc)


def merge_interrupts(exc: GraphInterrupt, more: Sequence[Any]) -> GraphInterrupt:
    """``exc`` plus the interrupts of other calls that paused, each once."""
    seen = {i.id for i in exc.interrupts}
    extra = []
    for i in more:
        if i.id not in seen:
            seen.add(i.id)
            extra.append(i)
    return GraphInterrupt((*exc.interrupts, *extra)) if extra else exc


def cache_namespace(spec: TaskSpec) -> tuple[str, ...]:
    """Where a task's cached results live: its name and its function's qualified name."""
    fn = spec.func
    ident = f"{getattr(fn, '__module__', None) or '?'}.{getattr(fn, '__qualname__', type(fn).__name__)}"
    return ("asyncgraph:task", spec.name, ident)


def _cache_key(rc: RunContext, spec: TaskSpec, args: Any, kwargs: Any) -> Any:
    """The cache key of a call, or None when it is not cached.

    Raises:
        TypeError: the arguments cannot be serialized for the default key, or
            ``key_func`` returned something other than str / bytes.
    """
    policy = spec.cache or getattr(rc.graph, "call_cache", None)
    if policy is None or rc.cache is None:
        return None
    import hashlib

    if policy.key_func is not None:
        raw = policy.key_func(*args, **kwargs)
        if isinstance(raw, str):
            raw = raw.encode()
        if not isinstance(raw, bytes):
            raise TypeError(f"CachePolicy.key_func of task '{spec.name}' returned {type(raw).__name__}; "
                            "it must return str or bytes")
    else:
        from asyncgraph.pregel._cache import _KEY_SERDE

        try:
            _, raw = _KEY_SERDE.dumps_typed((list(args), kwargs))
        except Exception as exc:
            raise TypeError(
                f"Task '{spec.name}' has a cache policy, but its arguments cannot be serialized to "
                f"make a cache key ({type(exc).__name__}: {exc}); give the policy a key_func"
            ) from exc
    return (cache_namespace(spec), hashlib.blake2b(raw, digest_size=16).hexdigest())


def _emit_start(rc: RunContext, task: Task) -> None:
    sink = rc.sink
    if sink is not None and not sink.modes.isdisjoint(("tasks", "debug")):
        emit_debug(rc, "tasks", "task", rc.progress.step, task_start_payload(rc, task))


def _emit_result(rc: RunContext, task: Task, error: BaseException | None) -> None:
    sink = rc.sink
    if sink is not None and not sink.modes.isdisjoint(("tasks", "debug")):
        emit_debug(rc, "tasks", "task_result", rc.progress.step, {
            "id": task.id, "name": task.name, "error": repr(error) if error is not None else None,
            "result": {RETURN: task.update} if error is None and not task.interrupts else {},
            "interrupts": list(task.interrupts)})


async def join_calls(tc: TaskContext, *, cancel: bool = False) -> list[Any]:
    """Wait for (or cancel) the calls ``tc`` left running; returns the interrupts
    they raised (a caller that paused while other calls ran pauses for them too)."""
    calls = tc.calls
    if calls is None:
        return []
    await calls.join(cancel=cancel)
    return calls.interrupts


def timeout_policy(timeout: Any, name: str, kind: Literal["Node", "Task"], is_async: bool) -> TimeoutPolicy | None:
    """A ``timeout=`` argument (seconds, ``timedelta`` or ``TimeoutPolicy``) as a policy.

    Raises:
        ValueError: a timeout on a sync function (it cannot be cancelled), or a timeout
            that is not greater than 0.
    """
    policy = TimeoutPolicy.coerce(timeout)
    if policy is not None and not is_async:
        raise sync_timeout_unsupported(name, kind=kind)
    return policy


__all__ = ["TaskSpec", "Calls", "call", "join_calls", "timeout_policy"]
