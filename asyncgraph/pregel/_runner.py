"""Runs one superstep's tasks: inline, in a worker thread, or concurrently in a TaskGroup.

Policy for failures (the one boundary where they are translated):

* A task that raises an ordinary exception fails the step: its still-running siblings
  are cancelled, siblings that already finished keep their writes (the loop saves them
  as pending writes), and the first exception is re-raised as itself, with a note naming
  the node and step. Errors of other siblings that failed too are attached as notes
  (never dropped), not wrapped in an ``ExceptionGroup``.
* A task that calls ``interrupt()`` does not cancel its siblings: they run to the end,
  and the loop then pauses the run with every interrupt collected.
* A single task is awaited directly in the run's own asyncio task (no task object per
  step); several tasks get one asyncio task each in a ``TaskGroup``.
* One way to finish a task: ``write_output`` when its node returned, ``settle`` when it
  raised. The runner decides whether the loop awaits a lone plain async node itself
  (``enter_inline``: the runner's coroutine frames fewer for every run in flight); that
  task ends through the same two functions (``complete_inline``, ``settle_inline``).
  ``tests/pregel/test_task_paths.py`` checks both ways behave the same.
* A sync node runs in a worker thread so it never blocks the event loop, except when the
  sync API drives the run and the step has only that task: nothing else can run on that
  private loop then, so the thread hop (~90 µs) is skipped and the node runs in the
  caller's thread with the loop marked as not running (``asyncio.run`` inside it works).
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import dataclasses
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tracers._streaming import _StreamingCallbackHandler
from langchain_core.tracers.base import BaseTracer
from langchain_core.runnables.config import (
    get_async_callback_manager_for_config,
    var_child_runnable_config,
)

from asyncgraph._context import TaskContext, current_task, stream_writer
from asyncgraph.constants import ERROR, ERROR_SOURCE, INTERRUPT
from asyncgraph.errors import (
    GraphBubbleUp,
    GraphInterrupt,
    NodeCancelledError,
    NodeTimeoutError,
    ParentCommand,
)
from asyncgraph.pregel._algo import PULL, RunState, Task, to_error_handler
from asyncgraph.pregel._context import RunContext
from asyncgraph.pregel._stream import StreamMessagesHandler, emit_task_result, wants
from asyncgraph.pregel._plan import BranchPlan, Plan
from asyncgraph.pregel._spec import CallSpec, is_sync_target, sync_timeout_unsupported
from asyncgraph.pregel._writes import branch_writes, fresh_values, input_writes, output_writes
from asyncgraph.runtime import task_runtime
from asyncgraph.types import Command, RetryPolicy

_PASSTHROUGH_TAPS = (StreamMessagesHandler,)

_events = asyncio.events


logger = logging.getLogger(__name__)


def _call_path(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a sync function on the loop's thread, the loop marked as not running (so
    a nested sync ``invoke`` inside it works), in the caller's context. Sync path
    functions of the state alone are called this way."""
    loop = _events._get_running_loop()
    _events._set_running_loop(None)
    try:
        return fn(*args, **kwargs)
    finally:
        _events._set_running_loop(loop)


def _call_inline(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a sync node on the loop's thread as if no loop were running, in a copy of
    the context (as a worker thread would run it)."""
    return _call_path(contextvars.copy_context().run, fn, *args, **kwargs)


def _injected(tc: TaskContext, names: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        if name == "config":
            out["config"] = tc.config()
        elif name == "error":
            out["error"] = tc.failure  # None unless the task is an error handler's
        elif name == "writer":
            out["writer"] = stream_writer()
        elif name == "store":
            out["store"] = tc.run.store
        elif name == "runtime":
            out["runtime"] = task_runtime(tc, stream_writer())
    return out


async def call_user(tc: TaskContext, call: CallSpec, arg: Any, *, inline_ok: bool, config: Any = None) -> Any:
    """Call a node action or path function with what it asks for."""
    kind = call.kind
    fn = call.func
    if kind == "subgraph":
        # The subgraph sees the parent state's keys it declares as input; its output
        # is filtered to the parent's keys where the node's writes are made.
        if isinstance(arg, dict):
            sub_keys = fn.plan.input_info.keys or fn.plan.state_keys
            arg = {k: v for k, v in arg.items() if k in sub_keys}
        return await fn.ainvoke(arg, config if config is not None else tc.config())
    if kind == "runnable":
        cfg = config if config is not None else tc.config()
        if tc.run.sync_api and not getattr(fn, "async_native", False):
            # Started by sync invoke / stream: the Runnable's sync path, as in LangGraph
            # (a Runnable may implement the two differently, or only one of them). In a
            # worker thread, where nothing holds the loop and the code sees no running
            # loop, as under LangGraph's sync API.
            ctx = contextvars.copy_context()
            return await asyncio.get_running_loop().run_in_executor(None, ctx.run, fn.invoke, arg, cfg)
        return await fn.ainvoke(arg, cfg)
    args: tuple[Any, ...] = (arg,)
    if call.config_positional:
        args = (arg, config if config is not None else tc.config())
    kwargs = _injected(tc, call.inject) if call.inject else None
    if kind == "async":
        return await (fn(*args, **kwargs) if kwargs else fn(*args))
    if inline_ok:
        return _call_inline(fn, *args, **(kwargs or {}))
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    if kwargs:
        return await loop.run_in_executor(None, functools.partial(ctx.run, fn, *args, **kwargs))
    return await loop.run_in_executor(None, ctx.run, fn, *args)


def _first_step(traced: dict[str, Any]) -> dict[str, Any]:
    """The config the node's own callable sees: the node run's children, tagged
    ``seq:step:1`` (not inherited further) as LangGraph tags the first step of a node."""
    cb = traced["callbacks"].copy()
    cb.add_tags(["seq:step:1"], inherit=False)
    return {**traced, "callbacks": cb}


async def call_traced(
    tc: TaskContext, call: CallSpec, arg: Any, *, inline_ok: bool, name: str, seq: int = 1
) -> Any:
    """``call_user`` with the config that code inside the task should see.

    Nobody listening and no config to propagate: a bare call. When callbacks listen,
    the task's node run is already open (``tc.traced``): the node's own callable runs
    directly inside it, and a conditional edge's path function (``name`` differs from
    the node's) gets a child run of its own, as in LangGraph's run tree.
    """
    rc = tc.run
    traced = tc.traced
    if traced is None:
        if not rc.propagate:
            return await call_user(tc, call, arg, inline_ok=inline_ok)
        cfg = tc.config()
        token = var_child_runnable_config.set(cfg)  # type: ignore[arg-type]
        try:
            return await call_user(tc, call, arg, inline_ok=inline_ok, config=cfg)
        finally:
            var_child_runnable_config.reset(token)
    if name == tc.name:
        traced = _first_step(traced)
        token = var_child_runnable_config.set(traced)  # type: ignore[arg-type]
        try:
            return await call_user(tc, call, arg, inline_ok=inline_ok, config=traced)
        finally:
            var_child_runnable_config.reset(token)
    cm = get_async_callback_manager_for_config(traced)  # type: ignore[arg-type]
    cm.add_tags([f"seq:step:{seq}"], inherit=False)
    run_manager = await cm.on_chain_start(None, arg, name=name)
    child = {**traced, "callbacks": run_manager.get_child()}
    token = var_child_runnable_config.set(child)  # type: ignore[arg-type]
    try:
        # As on LangGraph, a ``config`` parameter gets the config the edge's run was
        # started from (its children are the node's, tagged like the edge); only code
        # reading the ambient config runs inside the edge's own run.
        out = await call_user(tc, call, arg, inline_ok=inline_ok, config={**traced, "callbacks": cm})
    except BaseException as exc:
        await run_manager.on_chain_error(exc)
        raise
    finally:
        var_child_runnable_config.reset(token)
    await run_manager.on_chain_end(out)
    return out


async def _stream_node_output(node_run: Any, result: Any) -> None:
    """Report the node's output as its run's streamed output, so astream_events emits
    ``on_chain_stream`` for the node and astream_log records it (as LangGraph does)."""
    if result is None:
        return
    for handler in node_run.handlers:
        tap = getattr(handler, "tap_output_aiter", None)
        if tap is None or isinstance(handler, _PASSTHROUGH_TAPS):
            continue

        async def one() -> Any:
            yield result

        async for _ in tap(node_run.run_id, one()):
            pass


def _trace_payload(process: Callable[[Any], Any] | None, value: Any, node: str) -> Any:
    """What a node's trace run records for ``value`` under its ``TracePolicy``. A
    processor that raises is logged and the value recorded as it is: tracing never
    changes how the run goes."""
    if process is None:
        return value
    try:
        return process(value)
    except Exception:  # noqa: BLE001  (a tracing aid must not fail the run)
        logger.exception("trace_policy processor of node %r raised; recording the payload unchanged", node)
        return value


async def _open_node_run(tc: TaskContext) -> Any:
    """Start the callbacks run of a task's node: one run named after the node that
    contains the node's callable and its conditional edges."""
    rc = tc.run
    cfg = tc.config(callbacks=rc.run_manager.get_child(tag=f"graph:step:{tc.step}"))
    cm = get_async_callback_manager_for_config(cfg)  # type: ignore[arg-type]
    policy = tc.node.trace_policy
    value = tc.input
    recorded = value if policy is None else _trace_payload(policy.process_inputs, value, tc.name)
    if recorded is value:
        run_manager = await cm.on_chain_start(None, value, name=tc.name)
    else:
        # The policy is for tracers only (LangSmith's and other BaseTracers); every other
        # handler, astream_events included, sees the real input. Tracers start last.
        others, tracers = _split_tracers(cm)
        run_manager = await others.on_chain_start(None, value, name=tc.name)
        await tracers.on_chain_start(None, recorded, name=tc.name, run_id=run_manager.run_id)
        run_manager.handlers = cm.handlers
    tc.traced = {**cfg, "callbacks": run_manager.get_child()}
    return run_manager


def _is_tracer(handler: Any) -> bool:
    """A handler a ``TracePolicy`` applies to: a ``BaseTracer`` that records runs, not
    one that streams events (``astream_events``, ``astream_log``)."""
    return isinstance(handler, BaseTracer) and not isinstance(handler, _StreamingCallbackHandler)


def _split_tracers(manager: Any) -> tuple[Any, Any]:
    """Two shallow copies of a callback manager (or run manager): one with the handlers
    that are not tracers, one with the tracers."""
    others, tracers = copy.copy(manager), copy.copy(manager)
    others.handlers = [h for h in manager.handlers if not _is_tracer(h)]
    tracers.handlers = [h for h in manager.handlers if _is_tracer(h)]
    return others, tracers


async def _end_node_run(node_run: Any, policy: Any, result: Any, node: str) -> None:
    recorded = result if policy is None else _trace_payload(policy.process_outputs, result, node)
    if recorded is result:
        await node_run.on_chain_end(result)
        return
    others, tracers = _split_tracers(node_run)
    await tracers.on_chain_end(recorded)  # first: a cancellation cannot leave a tracer run open
    await others.on_chain_end(result)


# -- branches ---------------------------------------------------------------------




def _as_schema(info: Any, values: dict[str, Any], tc: TaskContext) -> Any:
    """``info.coerce`` for a conditional edge's state (a dict state: the dict itself,
    with no message made for an error that cannot happen)."""
    if info.kind == "dict":
        return values
    return info.coerce(values, f"the conditional edge out of '{tc.name}'")


def branch_arg(tc: TaskContext, run: RunState, branch: BranchPlan, output: Any) -> Any:
    """What a conditional edge's path function receives: the state with only this
    task's writes applied, as the state schema's type (or as the schema annotated on
    the function, with that schema's keys; or the source node's input schema's keys).

    ``output``: what the node returned (the START task: the graph's input). With no
    schema annotated, a dict state gets that dict's other keys too, under the state's
    (as LangGraph: a node can hand its edge data it does not save)."""
    plan = tc.run.plan
    info = branch.input_info
    if info is not None:
        keys = None if info is plan.state_info else info.keys
        return _as_schema(info, fresh_values(plan, run, tc, keys), tc)
    info = branch.node_info
    if info is None:
        value = _as_schema(plan.state_info, fresh_values(plan, run, tc), tc)
    else:
        value = _as_schema(info, fresh_values(plan, run, tc, info.keys), tc)
    if isinstance(output, dict) and isinstance(value, dict):
        value = {**output, **value}
    return value


def bare_path(tc: TaskContext, call: CallSpec) -> bool:
    """A sync path function of the state alone, nobody tracing: call it directly."""
    return call.bare and call.kind == "sync" and tc.traced is None and not tc.run.propagate


async def run_branch(tc: TaskContext, run: RunState, branch: BranchPlan, output: Any) -> None:
    """Evaluate one conditional edge of a finished task (``output``: what its node
    returned, see ``branch_arg``) and add its writes."""
    arg = branch_arg(tc, run, branch, output)
    call = branch.call
    if bare_path(tc, call):
        result = _call_path(call.func, arg)
    else:
        result = await call_traced(tc, call, arg, inline_ok=True, name=branch.name, seq=branch.seq_step)
    branch_writes(tc.run.plan, tc, branch, result)


# -- one task ---------------------------------------------------------------------


def _subgraph_output(plan: Plan, result: dict[str, Any]) -> dict[str, Any]:
    keys = plan.state_keys
    return {k: v for k, v in result.items() if k in keys and k != INTERRUPT}


def _retry_policy(policies: tuple[RetryPolicy, ...], exc: Exception) -> RetryPolicy | None:
    # Helpers rather than comprehensions inside run_task, whose frame every run in
    # flight holds: a comprehension would turn ``exc`` and ``keys`` into cell objects.
    for p in policies:
        if _should_retry(p, exc):
            return p
    return None


def _should_retry(policy: RetryPolicy, exc: Exception) -> bool:
    on = policy.retry_on
    if isinstance(on, type):
        return isinstance(exc, on)
    if isinstance(on, (tuple, list)):
        return isinstance(exc, tuple(on))
    return bool(on(exc))  # type: ignore[operator]


async def _run_node(tc: TaskContext, run: RunState, inline_ok: bool) -> Any:
    task = tc
    node = task.node
    call = node.call
    assert call is not None
    timeout = node.timeout
    arg = task.input
    if task.kind == PULL:
        arg = node.input_info.coerce(arg, f"node '{task.name}'")
    if (
        timeout is None
        and node.idle_timeout is None
        and task.timeout is None
        and node.limit is None
        and call.kind == "async"
        and tc.traced is None
        and not tc.run.propagate
        and not call.inject
        and not call.config_positional
    ):
        # The common case, kept to one await: every suspension of the node passes
        # through each coroutine frame between it and the event loop.
        return await call.func(arg)
    if node.limit is not None:
        async with tc.run.limits.get(node.limit):
            return await _run_node_timed(tc, call, arg, inline_ok)
    return await _run_node_timed(tc, call, arg, inline_ok)


async def _run_node_timed(tc: TaskContext, call: CallSpec, arg: Any, inline_ok: bool) -> Any:
    """One attempt of the node under its timeouts (a ``Send``'s override them)."""
    task = tc
    node = task.node
    policy = task.timeout  # Send(..., timeout=...) overrides the node's
    if policy is None:
        run_timeout, idle, auto = node.timeout, node.idle_timeout, node.progress_auto
    else:
        run_timeout, idle, auto = policy.run_timeout, policy.idle_timeout, policy.refresh_on == "auto"
    if run_timeout is None and idle is None:
        return await call_traced(tc, call, arg, inline_ok=inline_ok, name=task.name)
    if policy is not None and is_sync_target(call.func):
        # compile() refuses node timeouts on sync nodes; a Send's is seen only now.
        raise sync_timeout_unsupported(task.name)

    def attempt(progress: _Progress | None) -> Awaitable[Any]:
        if progress is not None and progress.auto:
            return _call_watched(tc, call, arg, progress)
        return call_traced(tc, call, arg, inline_ok=False, name=task.name)

    return await with_timeouts(tc, task.name, run_timeout, idle, auto, attempt)


async def with_timeouts(
    tc: TaskContext,
    name: str,
    run_timeout: float | None,
    idle: float | None,
    auto: bool,
    attempt: Callable[[_Progress | None], Awaitable[Any]],
    *,
    attempts: int = 1,
) -> Any:
    """Await ``attempt(progress)`` under a deadline ``run_timeout`` seconds after the
    start and one ``idle`` seconds after the last progress reported through ``tc``
    (``runtime.heartbeat()``; with ``auto`` also streamed chunks and, when ``attempt``
    wires ``progress`` into callbacks, callback events). A deadline cancels the attempt
    and raises :class:`NodeTimeoutError` naming ``name``; a ``TimeoutError`` of the
    code's own passes through unchanged."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    run_deadline = start + run_timeout if run_timeout is not None else float("inf")
    first = min(start + idle, run_deadline) if idle is not None else run_deadline
    scope = asyncio.timeout_at(first)
    progress = None
    if idle is not None:
        progress = tc.on_progress = _Progress(loop, scope, idle, run_deadline, auto)
    try:
        async with scope:
            return await attempt(progress)
    except TimeoutError as exc:
        if not scope.expired():
            raise  # the code's own TimeoutError, not its deadline
        now = loop.time()
        kind: Literal["run", "idle"] = "run" if now >= run_deadline else "idle"
        raise NodeTimeoutError(
            name, now - start, kind=kind, run_timeout=run_timeout, idle_timeout=idle, attempts=attempts
        ) from exc
    finally:
        if progress is not None:
            tc.on_progress = None


async def _call_watched(tc: TaskContext, call: CallSpec, arg: Any, progress: _Progress) -> Any:
    """Call the node with a callback handler in its config that counts every callback
    event inside it (a chat model's tokens, a tool's start...) as progress."""
    cfg = _first_step(tc.traced) if tc.traced is not None else tc.config()
    cfg = {**cfg, "callbacks": _plus_handler(cfg.get("callbacks"), _ProgressHandler(progress))}
    token = var_child_runnable_config.set(cfg)  # type: ignore[arg-type]
    try:
        return await call_user(tc, call, arg, inline_ok=False, config=cfg)
    finally:
        var_child_runnable_config.reset(token)


def _plus_handler(callbacks: Any, handler: Any) -> Any:
    if callbacks is None:
        return [handler]
    if isinstance(callbacks, list):
        return [*callbacks, handler]
    manager = callbacks.copy()
    manager.add_handler(handler, inherit=True)
    return manager


class _ProgressHandler(BaseCallbackHandler):
    """Any callback event of a node's run is progress for its idle timeout."""

    run_inline = True  # called on the caller's thread, never queued

    def __init__(self, progress: _Progress) -> None:
        self.progress = progress

    def _seen(self, *args: Any, **kwargs: Any) -> None:
        self.progress(False)

    on_llm_start = on_chat_model_start = on_llm_new_token = on_llm_end = on_llm_error = _seen
    on_chain_start = on_chain_end = on_chain_error = _seen
    on_tool_start = on_tool_end = on_tool_error = _seen
    on_retriever_start = on_retriever_end = on_retriever_error = _seen
    on_text = on_retry = on_custom_event = _seen


class _Progress:
    """Moves an attempt's idle deadline on when the node shows progress; callable from
    the node's worker thread too."""

    __slots__ = ("loop", "scope", "idle", "run_deadline", "auto")

    def __init__(self, loop: asyncio.AbstractEventLoop, scope: asyncio.Timeout, idle: float, run_deadline: float, auto: bool) -> None:
        self.loop = loop
        self.scope = scope
        self.idle = idle
        self.run_deadline = run_deadline
        self.auto = auto  # streamed output counts, not only heartbeats

    def __call__(self, heartbeat: bool = True) -> None:
        if not heartbeat and not self.auto:
            return
        if _events._get_running_loop() is self.loop:
            self._refresh()
        else:
            self.loop.call_soon_threadsafe(self._refresh)

    def _refresh(self) -> None:
        scope = self.scope
        if scope.expired():
            return
        try:
            scope.reschedule(min(self.loop.time() + self.idle, self.run_deadline))
        except RuntimeError:
            pass  # the attempt's scope has closed already




async def _backoff(rc: RunContext, interval: float) -> None:
    """Wait ``interval`` seconds before a retry. Under the sync API the wait is a
    ``time.sleep`` in a worker thread (what LangGraph's sync API does, so code that
    patches ``time.sleep`` in tests sees it), which leaves the loop free."""
    if rc.sync_api:
        await asyncio.get_running_loop().run_in_executor(None, time.sleep, interval)
    else:
        await asyncio.sleep(interval)


async def run_task(rc: RunContext, run: RunState, task: Task, step: int, inline_ok: bool) -> None:
    """Run one task to completion: node (with retries), output writes, branches.

    On success ``task.writes`` holds its writes and ``task.done`` is True. Raises the
    node's exception (with a note naming node and step), or records interrupts.
    """
    tc = task.enter(rc, step, task.resume)
    token = current_task.set(tc)
    node_run = None
    try:
        if rc.run_manager is not None and task.node.call is not None:
            node_run = await _open_node_run(tc)
        result: Any = None
        if task.node.call is None:  # the START task maps the input
            task.update = input_writes(rc.plan, task)
            task.writes.extend(task.node.after)
            for branch in task.node.branches:
                await run_branch(tc, run, branch, task.input)
        else:
            # One attempt is the node, its output's validation and its conditional
            # edges: a failure in any of them retries the whole (as LangGraph does).
            attempt = 0
            while True:
                attempt += 1
                tc.attempt = attempt
                try:
                    node = task.node
                    call = node.call
                    assert call is not None  # only the START task has none
                    try:
                        if node.fast and task.kind == PULL and tc.traced is None and not rc.propagate:
                            # The common case, awaited right here: every suspension of
                            # the node passes through each coroutine frame above it.
                            result = await call.entry(task.input)
                        else:
                            result = await _run_node(tc, run, inline_ok)
                    except asyncio.CancelledError as cancel:
                        own = own_cancel(task, cancel)
                        if own is cancel:
                            raise
                        raise own from cancel
                    if call.kind == "subgraph" and type(result) is dict:
                        result = _subgraph_output(rc.plan, result)
                    write_output(rc.plan, task, result)
                    for branch in node.branches:
                        await run_branch(tc, run, branch, result)
                    break
                except ParentCommand as pc:
                    # A subgraph run inside this task sent a Command to this graph:
                    # it is this task's output (LangGraph's multi-agent handoff).
                    cmd = _command_for(tc, pc)
                    if cmd is None:
                        raise
                    result = cmd
                    write_output(rc.plan, task, cmd)
                    for branch in task.node.branches:
                        await run_branch(tc, run, branch, cmd)
                    break
                except GraphBubbleUp:
                    raise
                except Exception as exc:
                    policies = task.node.retry
                    # A node's own CancelledError is not retried (as in LangGraph).
                    policy = _retry_policy(policies, exc) if policies and type(exc) is not NodeCancelledError else None
                    if policy is None or attempt >= policy.max_attempts:
                        if policies and attempt > 1:
                            exc.add_note(f"Node '{task.name}' failed after {attempt} attempts")
                        if task.node.error_handler is None:
                            raise
                        # The node's error handler takes the task over, in this step.
                        node_run = await _hand_over(tc, task, exc, node_run)
                        tc = task.enter(rc, step)  # the handler's run of the task: a clean slate
                        current_task.set(tc)
                        if node_run is not None:
                            node_run = await _open_node_run(tc)
                        attempt = 0
                        continue
                    task.writes.clear()
                    task.update = None
                    task.fresh = None
                    tc.interrupt_idx = 0
                    interval = min(
                        policy.max_interval,
                        policy.initial_interval * policy.backoff_factor ** (attempt - 1),
                    )
                    if policy.jitter:
                        interval += random.uniform(0, 1)
                    await _backoff(rc, interval)
        task.done = True
        if node_run is not None:
            await _stream_node_output(node_run, result)
            await _end_node_run(node_run, task.node.trace_policy, result, task.name)
    except GeneratorExit:
        raise  # closed unfinished (its loop is gone): nothing can be awaited any more
    except BaseException as exc:
        try:
            settle(rc, task, step, exc)  # an interrupt is recorded, anything else raised
        finally:
            if node_run is not None:
                await node_run.on_chain_error(exc)
    finally:
        current_task.reset(token)


async def _hand_over(tc: TaskContext, task: Task, exc: Exception, node_run: Any) -> Any:
    """The node of ``task`` failed for good and has an error handler: report the
    failure (``tasks`` stream, the node's trace run), save it with the marker that a
    handler took it over (so a resume runs the handler, not the node), then turn the
    task into the handler's (``_algo.to_error_handler``). Returns ``node_run``, now
    closed (the caller opens the handler's own run when it is not None)."""
    rc = tc.run
    step = tc.step
    if wants(rc, "tasks", "debug"):
        emit_task_result(rc, task, step, exc)
    saver = rc.progress.ckpt
    if saver is not None:
        failed = Task(task.node, task.input, task.kind, task.index, task.triggers)
        failed.id = task.id
        await saver.put_writes(failed, [(ERROR, repr(exc)), (ERROR_SOURCE, task.name)], step)
    if node_run is not None:
        await node_run.on_chain_error(exc)
    to_error_handler(rc.plan, task, exc)
    return node_run


def write_output(plan: Plan, task: Task, result: Any) -> None:
    """A node returned ``result``: the task's writes, then its static out-edges (its
    conditional edges come next). Both ways of running a task end with this."""
    task.update = output_writes(plan, task, result)
    task.writes.extend(task.node.after)


def enter_inline(rc: RunContext, to_run: list[Task], step: int) -> TaskContext | None:
    """The context of a step's lone task when the loop may await its node itself
    (``run_graph``), entered; else None (the step goes to :func:`run_step`).

    Such a task: a plain async node (``NodePlan.inline``: no retry, no error handler,
    sync conditional edges of the state alone), pulled by a trigger or sent by a
    ``Send`` without a timeout of its own (as ``create_agent`` sends each tool call to
    its ``ToolNode``), in a run nobody traces and with no step deadline (the loop's
    ``inline``). Every run in flight then holds the runner's coroutine frames fewer.
    :func:`complete_inline` / :func:`settle_inline` finish it with the general way's
    code, :func:`leave_inline` sets back the current task, and the config the node's
    children see when the run propagates it (as ``call_traced`` does), by value: a
    ``Token`` held across the node's await would be one more object per run in flight.
    """
    if len(to_run) != 1:
        return None
    task = to_run[0]
    if not task.node.inline or (task.kind != PULL and task.timeout is not None):
        return None
    tc = task.enter(rc, step, task.resume)
    tc.outer = current_task.get()
    current_task.set(tc)
    if rc.propagate:
        tc.outer_config = var_child_runnable_config.get()
        var_child_runnable_config.set(tc.config())  # type: ignore[arg-type]
    return tc


def leave_inline(tc: TaskContext) -> None:
    """Set back what :func:`enter_inline` replaced, by value. :func:`complete_inline`
    and :func:`settle_inline` end with it, so the task's context is left on every way
    out of the task."""
    if tc.run.propagate:
        var_child_runnable_config.set(tc.outer_config)
    current_task.set(tc.outer)


def complete_inline(tc: TaskContext, run: RunState, result: Any) -> None:
    """The rest of an ``inline`` node's task once the node returned (the loop awaited
    the node itself): what ``run_task`` does after a node returns, for a node whose
    conditional edges are all sync functions of the state (called directly). Leaves
    the task's context (if this raises, ``settle_inline`` follows)."""
    plan = tc.run.plan
    task = tc
    try:
        write_output(plan, task, result)
        for branch in task.node.branches:
            branch_writes(plan, task, branch, _call_path(branch.call.func, branch_arg(tc, run, branch, result)))
        task.done = True
    finally:
        # leave_inline, written out: this runs at every step of a chain of such nodes.
        if tc.run.propagate:
            var_child_runnable_config.set(tc.outer_config)
        current_task.set(tc.outer)


def _command_for(tc: TaskContext, exc: ParentCommand) -> Command[Any] | None:
    """The command of ``exc`` when a graph run inside task ``tc`` addressed it to the
    graph ``tc`` runs in (``settle`` named the task when it bubbled out), as a command
    for this graph; else None (it is for a graph further up)."""
    cmd = exc.args[0]
    if cmd.graph != tc.task_ns:
        return None
    return Command(update=cmd.update, goto=cmd.goto, resume=cmd.resume)


def own_cancel(task: Task, cancel: asyncio.CancelledError) -> BaseException:
    """What a ``CancelledError`` out of a node's call becomes: itself when this asyncio
    task is being cancelled (a caller, deadline or failed sibling: real cancellation),
    else a :class:`NodeCancelledError`, the node's own failure."""
    current = asyncio.current_task()
    if current is None or current.cancelling():
        return cancel
    return NodeCancelledError(task.name)


def settle_inline(tc: TaskContext, run: RunState, exc: BaseException) -> None:
    """``settle`` for a task the loop awaited itself (see ``complete_inline``); a
    ``Command`` a subgraph inside it sent to this graph completes the task. Leaves the
    task's context."""
    if isinstance(exc, asyncio.CancelledError):
        own = own_cancel(tc, exc)
        if own is not exc:
            own.__cause__ = exc
            exc = own
    try:
        if isinstance(exc, ParentCommand):
            cmd = _command_for(tc, exc)
            if cmd is not None:
                complete_inline(tc, run, cmd)
                return
        settle(tc.run, tc, tc.step, exc)
    finally:
        leave_inline(tc)


def settle(rc: RunContext, task: Task, step: int, exc: BaseException) -> None:
    """What becomes of a task that raised ``exc``, however it ran: an ``interrupt()`` is
    recorded on the task (its writes dropped); anything else is raised, an error with a
    note naming the node and step, a parent ``Command`` in a graph with no parent as
    itself, with a note."""
    if isinstance(exc, GraphInterrupt):
        task.interrupts = list(exc.interrupts)
        task.writes.clear()
        return
    if isinstance(exc, ParentCommand) and exc.args[0].graph == Command.PARENT:
        parent = rc.parent
        if parent is None:
            # Out of the root run as itself (as LangGraph does): a caller that runs
            # this graph by hand may handle the command.
            exc.add_note(
                f"Node '{task.name}' at step {step} returned Command(graph=Command.PARENT) "
                "but the graph has no parent graph"
            )
            raise exc
        # Address it to the parent's task this graph runs in: that task takes it as
        # its own output, whatever code (a node function, a tool) lies in between.
        raise ParentCommand(dataclasses.replace(exc.args[0], graph=parent.task_ns)) from None
    if isinstance(exc, Exception) and not isinstance(exc, GraphBubbleUp):
        task.error = exc
        exc.add_note(f"During task with name '{task.name}' at step {step}")
    raise exc


# -- one step ---------------------------------------------------------------------


async def run_step(
    rc: RunContext,
    run: RunState,
    tasks: Sequence[Task],
    step: int,
    on_done: Callable[[Task], Any] | None,
) -> None:
    """Run a step's tasks concurrently; see the module docstring for failure policy.

    ``on_done(task)`` is called as each task finishes (successfully or interrupted),
    in completion order: the loop streams its update and saves its writes.
    """
    if len(tasks) == 1:
        task = tasks[0]
        await run_task(rc, run, task, step, rc.inline_sync)
        if on_done is not None:
            r = on_done(task)
            if r is not None:
                await r
        return
    failures: list[tuple[Task, BaseException]] = []
    # config["max_concurrency"]: at most that many of this step's tasks run at once
    # (a 1,000-way Send fan-out need not open 1,000 model calls together).
    limit = rc.config.get("max_concurrency")
    gate = asyncio.Semaphore(limit) if isinstance(limit, int) and 0 < limit < len(tasks) else None

    async def one(task: Task) -> None:
        try:
            if gate is None:
                await run_task(rc, run, task, step, False)
            else:
                async with gate:
                    await run_task(rc, run, task, step, False)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            failures.append((task, exc))
            raise
        if on_done is not None:
            r = on_done(task)
            if r is not None:
                await r

    group: BaseExceptionGroup[BaseException] | None = None
    try:
        async with asyncio.TaskGroup() as tg:
            for task in tasks:
                tg.create_task(one(task))
    except BaseExceptionGroup as eg:
        group = eg
    if group is None:
        return
    if not failures:  # only cancellations: let the group propagate as it is
        raise group
    # Raised outside the except block so the group does not become its __context__.
    first_task, first = failures[0]
    for other_task, other in failures[1:]:
        first.add_note(
            f"Node '{other_task.name}' also failed in step {step}: {type(other).__name__}: {other}"
        )
    raise first


class PregelRunner:
    """LangGraph's name for what runs a step's tasks. Here that is :func:`run_step`;
    a ``PregelRunner`` runs steps of one run with it (the engine calls the function)."""

    __slots__ = ("rc", "run")

    def __init__(self, rc: RunContext, run: RunState) -> None:
        self.rc = rc
        self.run = run

    async def tick(self, tasks: Sequence[Task], step: int, on_done: Callable[[Task], Any] | None = None) -> None:
        """Run ``tasks`` as step ``step`` (see :func:`run_step`)."""
        await run_step(self.rc, self.run, tasks, step, on_done)
