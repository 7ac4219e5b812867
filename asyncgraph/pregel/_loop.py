"""The superstep loop.

Invariant (bulk-synchronous parallel): in each step, every task reads the state as it
was at the end of the previous step; no write is visible to any task of the same step;
all writes are applied together at the barrier, in a fixed order. So a step's outcome
does not depend on which task finished first.

    load checkpoint (if any) -> apply input -> repeat:
        plan tasks -> (interrupt before?) -> run them concurrently -> apply writes
        -> stream values -> save checkpoint -> (interrupt after?)
    until no task is triggered (done) or the step limit is hit (GraphRecursionError).

Checkpointing, when a saver is configured: a checkpoint is saved after the input and
after every step; each task's writes are saved as it finishes, so a failed or
interrupted step resumes without re-running the tasks that completed.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from collections.abc import Collection, Sequence
from typing import Any

from asyncgraph.constants import CONF, START
from asyncgraph.errors import (
    EmptyInputError,
    GraphDrained,
    GraphRecursionError,
    GraphTimeoutError,
    InvalidInputError,
    TaskNotFound,
)
from asyncgraph.pregel._algo import (
    PULL,
    PUSH,
    RunState,
    Task,
    apply_writes,
    pending_sends,
    read_state,
    triggered_nodes,
    update_from_writes,
)
from asyncgraph.pregel._cache import store_results, take_cached
from asyncgraph.pregel._context import RunContext, TaskContext, current_task
from asyncgraph.pregel._plan import Plan
from asyncgraph.pregel._runner import (
    _command_writes,
    complete_inline,
    input_writes,
    run_step,
    run_task,
    settle_inline,
)
from asyncgraph.types import Command, Interrupt, Send

INTERRUPT = "__interrupt__"
RESUME = "__resume__"
ERROR = "__error__"
NO_WRITES = "__no_writes__"
SPECIAL = frozenset({INTERRUPT, RESUME, ERROR, NO_WRITES})


class RunOutcome:
    """What a finished (or paused) run leaves behind for the facade."""

    __slots__ = ("run", "interrupts", "config")

    def __init__(self, run: RunState, interrupts: Sequence[Interrupt], config: dict[str, Any] | None) -> None:
        self.run = run
        self.interrupts = interrupts
        self.config = config  # the saver config of the last checkpoint, if any


def output_values(plan: Plan, run: RunState) -> dict[str, Any]:
    return read_state(run.channels, plan.output_info.keys or plan.state_keys)


def state_values(rc: RunContext, run: RunState) -> Any:
    """The output or a ``values`` chunk: the output schema's keys, or under the call's
    ``output_keys`` a dict of those keys in that order (the bare value when one key
    was given as a str)."""
    if rc.out_select is None:
        return output_values(rc.plan, run)
    keys, single = rc.out_select
    values = read_state(run.channels, keys)
    return values.get(keys[0]) if single else values


def selected_update(rc: RunContext, update: Any) -> Any:
    """A node's ``updates`` chunk under the call's ``output_keys`` (None when the node
    wrote none of them)."""
    assert rc.out_select is not None
    keys, single = rc.out_select
    if not update:
        return None
    if single:
        return update.get(keys[0])
    picked = {k: v for k, v in update.items() if k in keys}
    return picked or None


def _task_id(checkpoint_id: str | None, ns: str, step: int, name: str, kind: int, index: int) -> str:
    raw = f"{checkpoint_id}|{ns}|{step}|{name}|{kind}|{index}".encode()
    h = hashlib.blake2b(raw, digest_size=16).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def prepare_tasks(rc: RunContext, run: RunState, step: int, with_ids: bool) -> list[Task]:
    """The tasks of the next step: Send packets first (in order), then triggered nodes."""
    plan = rc.plan
    tasks: list[Task] = []
    sends = pending_sends(run)
    for i, packet in enumerate(sends):
        node = plan.nodes.get(packet.node) if isinstance(packet, Send) else None
        if node is None or node.call is None:
            raise TaskNotFound(getattr(packet, "node", repr(packet)), known=[n for n in plan.nodes if n != START])
        tasks.append(Task(node, packet.arg, PUSH, i, ()))
    channels = run.channels
    for node in triggered_nodes(plan, run):
        if node.call is None:
            inp: Any = channels[START].value
        else:
            inp = read_state(channels, node.reads)
            for key, managed in node.managed:
                inp[key] = managed.compute(step, rc.stop)
        triggers = node.triggers
        if len(triggers) > 1:
            triggers = _available(channels, triggers)
        tasks.append(Task(node, inp, PULL, 0, triggers))
    if with_ids:
        for t in tasks:
            t.id = _task_id(rc.checkpoint_id, rc.ns, step, t.name, t.kind, t.index)
    return tasks


def _any_interrupted(tasks: list[Task]) -> bool:
    for t in tasks:
        if t.interrupts:
            return True
    return False


def _names_any(tasks: list[Task], names: frozenset[str]) -> bool:
    # Not a generator expression in run_graph: that would make ``names`` a cell, one
    # more object held by every run in flight.
    for t in tasks:
        if t.name in names:
            return True
    return False


def _available(channels: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for k in keys:
        ch = channels.get(k)
        if ch is not None and ch.is_available():
            out.append(k)
    return tuple(out)


class _Saver:
    """The loop's view of the checkpointer: what to save, in which config, when."""

    __slots__ = ("saver", "config", "thread_config", "parent_id", "deferred", "inflight", "durability")

    def __init__(self, saver: Any, config: dict[str, Any], durability: str) -> None:
        self.saver = saver
        conf = config.get(CONF) or {}
        self.thread_config = {
            CONF: {"thread_id": conf["thread_id"], "checkpoint_ns": conf.get("checkpoint_ns", "")}
        }
        self.config: dict[str, Any] | None = None  # config of the latest checkpoint
        self.parent_id: str | None = None
        # durability="exit": the writes of the step in progress, saved with the final
        # checkpoint (under task ids derived from it, so a resume matches them).
        self.deferred: list[tuple[Task, int, list[tuple[str, Any]]]] = []
        self.inflight: asyncio.Task[Any] | None = None
        self.durability = durability

    async def flush(self) -> None:
        """Wait for the checkpoint being saved in the background, if any.

        Every caller waits for the same put: sibling tasks finishing together must all
        see the new checkpoint's config before saving their writes against it.
        """
        t = self.inflight
        if t is not None:
            await t
            if self.inflight is t:
                self.inflight = None

    async def put(self, rc: RunContext, run: RunState, step: int, source: str, updated: Collection[str] | None) -> None:
        from asyncgraph.checkpoint.base import create_checkpoint

        await self.flush()
        versions = dict(run.versions)
        new_versions = versions if updated is None else {k: versions[k] for k in updated if k in versions}
        ckpt = create_checkpoint(
            run.values(), versions, {k: dict(v) for k, v in run.seen.items()},
            sorted(updated) if updated is not None else None,
        )
        metadata = {"source": source, "step": step, "parents": {}}
        run_id = rc.run_id
        if run_id is not None:
            metadata["run_id"] = str(run_id)
        cfg = self.config or {CONF: {**self.thread_config[CONF], **({"checkpoint_id": self.parent_id} if self.parent_id else {})}}
        rc.checkpoint_id = ckpt["id"]
        self.parent_id = ckpt["id"]
        coro = self.saver.aput(cfg, ckpt, metadata, new_versions)
        if self.durability == "async":
            self.inflight = asyncio.ensure_future(self._finish(coro))
        else:
            self.config = await coro

    async def _finish(self, coro: Any) -> None:
        self.config = await coro

    async def put_writes(self, task: Task, writes: list[tuple[str, Any]], step: int) -> None:
        if self.durability == "exit":
            self.deferred.append((task, step, writes))
            return
        await self.flush()
        if self.config is None:
            return
        await self.saver.aput_writes(self.config, writes, task.id, str(task.path))

    async def finish_exit(self, rc: RunContext, run: RunState, step: int) -> None:
        """durability="exit": save the one checkpoint of the run (the state after the
        last committed step) and the writes of the step that did not commit."""
        await self.put(rc, run, step - 1, "loop", None)
        await self.flush()
        if self.config is None:
            return
        for task, task_step, writes in self.deferred:
            task.id = _task_id(rc.checkpoint_id, rc.ns, task_step, task.name, task.kind, task.index)
            await self.saver.aput_writes(self.config, writes, task.id, str(task.path))
        self.deferred.clear()


def _apply_input(rc: RunContext, run: RunState, input: Any) -> None:
    ch = run.channel(START)
    ch.update([input])
    run.versions[START] = run.next_version()
    run.live = (*run.live, START)
    run.updated = (START,)


def _input_unobserved(rc: RunContext, saver: _Saver | None) -> bool:
    """Whether the START task can be folded into applying the input: nothing saves,
    traces or streams it, and it has no conditional edges to evaluate."""
    start = rc.plan.nodes.get(START)
    if saver is not None or rc.callbacks is not None or start is None or start.branches:
        return False
    sink = rc.sink
    return sink is None or sink.modes.isdisjoint(("values", "debug", "tasks", "checkpoints"))


def _apply_input_as_start(rc: RunContext, run: RunState, input: Any) -> None:
    """Apply what the START task would write for ``input`` (its state keys, then its
    static out-edges) as the barrier of step 0. Raises as that task would."""
    plan = rc.plan
    node = plan.nodes[START]
    start = Task(node, input, PULL, 0, ())
    input_writes(plan, start)
    start.writes.extend(node.after)
    apply_writes(plan, run, (start,))


def _apply_command_goto(rc: RunContext, run: RunState, cmd: Command[Any]) -> None:
    """``Command(update=..., goto=...)`` given as the run's input (no resume)."""
    plan = rc.plan
    start = Task(plan.nodes[START], None, PULL, 0, ())
    _command_writes(plan, start, Command(update=cmd.update, goto=cmd.goto))
    apply_writes(plan, run, [start])


async def run_graph(rc: RunContext, input: Any, *, interrupt_before: frozenset[str], interrupt_after: frozenset[str]) -> RunOutcome:
    """Run the graph to completion or until it pauses. See the module docstring."""
    plan = rc.plan
    config = rc.config
    rc.loop = asyncio.get_running_loop()  # for calls from worker threads (pregel/_call.py)
    saver: _Saver | None = None
    # Empty tuples, not lists, while nothing is pending: every run in flight holds
    # these, and a list is one more object for the collector to track.
    pending: Sequence[tuple[str, str, Any]] = ()
    resuming = False
    replay = False
    start_done = False  # the input was applied with the START task's writes
    drained: str | None = None  # why the run stopped early, when its RunControl asked
    step = -1
    if rc.saver is not None:
        conf = config.get(CONF) or {}
        if "thread_id" not in conf:
            raise InvalidInputError(
                "This graph has a checkpointer, so a run needs a thread: pass "
                "config={'configurable': {'thread_id': ...}}"
            )
        saver = rc.ckpt = _Saver(rc.saver, config, rc.durability)
        tup = await rc.saver.aget_tuple(config)
    else:
        tup = None
    if tup is not None:
        ckpt = tup.checkpoint
        run = RunState(plan, ckpt["channel_values"], ckpt["channel_versions"], ckpt["versions_seen"])
        step = int(tup.metadata.get("step", -1)) + 1
        # Replaying an explicitly chosen checkpoint re-executes its next step; only a
        # resume of the thread's latest checkpoint reuses the writes saved there.
        replay = False
        if conf.get("checkpoint_id"):
            assert saver is not None
            latest = await rc.saver.aget_tuple(saver.thread_config)
            replay = latest is not None and latest.checkpoint["id"] != ckpt["id"]
        pending = [] if replay else list(tup.pending_writes or ())
        rc.pending_writes = tup.pending_writes or ()  # for calls (pregel/_call.py)
        if replay:
            rc.pending_origin = (ckpt["id"], step)
        assert saver is not None
        saver.config = tup.config
        saver.parent_id = ckpt["id"]
        rc.checkpoint_id = ckpt["id"]
        run.updated = None
        if ckpt.get("updated_channels") is not None:
            run.updated = set(ckpt["updated_channels"])
    else:
        run = RunState(plan)

    if (
        rc.parent is not None
        and rc.parent.task.resume_raw is not None
        and tup is not None
        and not isinstance(input, Command)
    ):
        # A subgraph whose parent task is being resumed: continue the subgraph's own
        # interrupted run (same namespace) with the parent's answer, not its input.
        input = Command(resume=rc.parent.task.resume_raw)
    if isinstance(input, Command):
        if input.resume is not None:
            if tup is None:
                raise EmptyInputError("Command(resume=...) given but the thread has no checkpoint to resume")
            resuming = True
            rc.resume = input.resume
        if input.update is not None or input.goto:
            _apply_command_goto(rc, run, input)
            if saver is not None and saver.durability != "exit":
                await saver.put(rc, run, step, "input", run.updated)
            step += 1
            pending = ()
    elif input is None:
        if tup is None:
            raise EmptyInputError("Received no input for the graph and the thread has nothing to resume")
        resuming = True
        if replay and saver is not None and saver.durability != "exit":
            # Replaying a chosen checkpoint starts a new branch of the thread's history
            # with a copy of it (source "fork"), as LangGraph does.
            await saver.put(rc, run, step, "fork", run.updated)
            step += 1
    else:
        pending = ()
        if _input_unobserved(rc, saver):
            # Nobody can observe the START task (no saver, no callbacks, no stream
            # that shows it): apply its writes right away instead of running it as a
            # step of its own. The first node still runs at step 1.
            _apply_input_as_start(rc, run, input)
            start_done = True
        else:
            _apply_input(rc, run, input)
            if saver is not None and saver.durability != "exit":
                await saver.put(rc, run, step, "input", {START})
        step += 1

    # Recursion limit: the run may take ``limit`` steps after its input.
    limit = config.get("recursion_limit", 10007)
    if not isinstance(limit, int) or limit < 1:
        raise InvalidInputError(f"recursion_limit must be a positive int, got {limit!r}")
    rc.stop = step + limit
    if start_done:
        step += 1
    # Task ids cost a hash per task: made when something shows them (checkpoints, the
    # debug / tasks streams, and subgraph namespaces "node:<task id>" in a stream).
    sink = rc.sink
    with_ids = saver is not None or sink is not None and (sink.subgraphs or bool({"debug", "tasks"} & sink.modes))
    interrupts: Sequence[Interrupt] = ()
    shown: RunState | None = None  # what the caller sees when the run pauses mid-step
    skip_before = resuming

    # What this run streams, decided once rather than at every step.
    stream_checkpoints = saver is not None and saver.durability != "exit" and _wants(rc, "checkpoints", "debug")
    stream_tasks = _wants(rc, "tasks", "debug")
    stream_values = _wants(rc, "values")
    output_keys = plan.output_keys if rc.out_select is None else frozenset(rc.out_select[0])
    track = saver is not None or rc.sink is not None

    while True:
        run.step = step
        tasks = prepare_tasks(rc, run, step, with_ids)
        if stream_checkpoints:
            assert saver is not None
            await _emit_checkpoint(rc, saver, run, tasks, step - 1)
        if not tasks:
            break
        if step >= rc.stop:
            raise GraphRecursionError(limit)
        if interrupt_before and not skip_before and _names_any(tasks, interrupt_before):
            interrupts = ()
            break
        skip_before = False
        control = rc.control
        if control is not None and control.drain_requested:
            # Stop before the next step (after the breakpoint check: a resume passes
            # the step's breakpoints, so draining here does not skip one).
            drained = control.drain_reason or "shutdown"
            break

        # Tasks that finished before a previous failure / interrupt keep their writes.
        to_run = tasks
        if pending:
            to_run = _restore_pending(rc, tasks, pending)
            pending = ()
        if resuming and rc.resume is not None:
            _assign_resume(rc, tasks)
            rc.resume = None
        resuming = False

        on_done = _make_on_done(rc, saver, step) if track else None
        if plan.cached and rc.cache is not None and to_run:
            # Tasks whose node result is cached take their writes from the cache.
            ran = to_run
            to_run = await take_cached(rc, plan, ran)
            if on_done is not None and len(to_run) < len(ran):
                for t in ran:
                    if t.cached:
                        await on_done(t)
        if stream_tasks:
            _emit_task_starts(rc, to_run, step)
        if to_run:
            try:
                rc.current = to_run
                rc.step = step
                if rc.step_timeout is not None:
                    await _run_step_with_timeout(rc, run, to_run, step, on_done)
                elif on_done is None and len(to_run) == 1:
                    task = to_run[0]
                    if task.node.inline and task.kind == PULL and rc.run_manager is None and not rc.propagate:
                        # The node is awaited in this frame: no run_task coroutine held
                        # by every run in flight, one frame fewer on every resume.
                        tc: TaskContext | None = TaskContext(rc, task, step)
                        tc.resume_values = task.resume  # type: ignore[union-attr]
                        token = current_task.set(tc)
                        try:
                            complete_inline(tc, run, await task.node.call.func(task.input))  # type: ignore[arg-type, union-attr]
                        except BaseException as exc:
                            settle_inline(rc, task, step, exc)
                        finally:
                            current_task.reset(token)
                            tc = None  # not a stale task for the blocking watchdog to find
                    else:
                        await run_task(rc, run, task, step, rc.inline_sync)
                else:
                    await run_step(rc, run, to_run, step, on_done)
            except BaseException as exc:
                if stream_tasks:
                    for t in to_run:
                        if not t.done and not t.interrupts:
                            _emit_task_result(rc, t, step, exc)
                if saver is not None:
                    # The failed tasks' errors are kept with the step, so get_state()
                    # shows what failed; a resume runs those tasks again.
                    for t in to_run:
                        if t.error is not None:
                            await saver.put_writes(t, [(ERROR, t.error)], step)
                    if saver.durability == "exit":
                        await saver.finish_exit(rc, run, step)
                    await saver.flush()
                raise
        if _any_interrupted(tasks):
            interrupts = [i for t in tasks for i in t.interrupts]
            if saver is not None:
                for t in tasks:
                    if t.interrupts:
                        writes: list[tuple[str, Any]] = [(INTERRUPT, list(t.interrupts))]
                        if t.resume:
                            writes.append((RESUME, list(t.resume)))
                        await saver.put_writes(t, writes, step)
            # The step is not committed; the caller sees the writes of the tasks that
            # finished (as LangGraph shows them), applied to a copy.
            shown = with_pending_applied(plan, run, [t for t in tasks if t.done])
            break
        if plan.cached and rc.cache is not None:
            await store_results(rc, to_run)
        updated = apply_writes(plan, run, tasks)
        if saver is not None and saver.deferred:
            saver.deferred.clear()  # the step committed: its writes are in the state
        if stream_values and not output_keys.isdisjoint(updated):
            rc.emit("values", state_values(rc, run))
        if saver is not None and saver.durability != "exit":
            await saver.put(rc, run, step, "loop", updated)
        if rc.sink is not None:
            await rc.sink.wait_drained()
        step += 1
        if interrupt_after and _names_any(tasks, interrupt_after):
            break
    else:  # pragma: no cover
        pass
    if saver is not None:
        if saver.durability == "exit":
            await saver.finish_exit(rc, run, step)
        await saver.flush()
    if drained is not None:
        raise GraphDrained(drained)
    return RunOutcome(shown if shown is not None else run, interrupts, saver.config if saver is not None else None)


async def _run_step_with_timeout(rc: RunContext, run: RunState, tasks: list[Task], step: int, on_done: Any) -> None:
    timeout = rc.step_timeout
    assert timeout is not None
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            await run_step(rc, run, tasks, step, on_done)
    except TimeoutError:
        if not deadline.expired():
            raise  # a node's own timeout (NodeTimeoutError), not the step's
        running = tuple(t.name for t in tasks if not t.done and not t.interrupts)
        raise GraphTimeoutError(timeout, step=step, nodes=running, scope="step") from None


def _wants(rc: RunContext, *modes: str) -> bool:
    sink = rc.sink
    return sink is not None and any(m in sink.modes for m in modes)


def _emit_debug(rc: RunContext, mode: str, kind: str, step: int, payload: dict[str, Any]) -> None:
    """Emit a ``tasks`` / ``checkpoints`` chunk and its ``debug`` wrapper."""
    rc.emit(mode, payload)
    sink = rc.sink
    if sink is not None and "debug" in sink.modes:
        rc.emit("debug", {"type": kind, "timestamp": datetime.now(UTC).isoformat(),
                          "step": step, "payload": payload})


def _emit_task_starts(rc: RunContext, tasks: list[Task], step: int) -> None:
    for t in tasks:
        if t.name != START:
            _emit_debug(rc, "tasks", "task", step,
                        {"id": t.id, "name": t.name, "input": t.input, "triggers": t.triggers})


def _emit_task_result(rc: RunContext, t: Task, step: int, error: BaseException | None = None) -> None:
    if t.name != START:
        _emit_debug(rc, "tasks", "task_result", step, {
            "id": t.id, "name": t.name, "error": repr(error) if error is not None else None,
            "result": t.update, "interrupts": list(t.interrupts)})


async def _emit_checkpoint(rc: RunContext, saver: _Saver, run: RunState, tasks: list[Task], step: int) -> None:
    await saver.flush()
    cfg = saver.config
    _emit_debug(rc, "checkpoints", "checkpoint", step, {
        "config": cfg,
        "parent_config": None,
        "values": output_values(rc.plan, run),
        "metadata": {"source": "loop" if step >= 0 else "input", "step": step},
        "next": [t.name for t in tasks],
        "tasks": [{"id": t.id, "name": t.name, "interrupts": (), "state": None} for t in tasks],
    })


def with_pending_applied(plan: Plan, run: RunState, done: list[Task]) -> RunState:
    """A copy of ``run`` with the writes of ``done`` tasks applied (``run`` untouched)."""
    if not done:
        return run
    shadow = RunState(plan, run.values(), run.versions, run.seen)
    apply_writes(plan, shadow, done)
    return shadow


def _make_on_done(rc: RunContext, saver: _Saver | None, step: int) -> Any:
    sink = rc.sink
    stream_updates = sink is not None and "updates" in sink.modes
    stream_tasks = _wants(rc, "tasks", "debug")

    async def on_done(task: Task) -> None:
        if stream_tasks:
            _emit_task_result(rc, task, step)
        if task.interrupts:
            if stream_updates:
                rc.emit("updates", {INTERRUPT: tuple(task.interrupts)})
            return  # saved with the step's other interrupts when the step ends
        if stream_updates and task.name != START:
            update = task.update if rc.out_select is None else selected_update(rc, task.update)
            if task.cached:
                rc.emit("updates", {task.name: update, "__metadata__": {"cached": True}})
            else:
                rc.emit("updates", {task.name: update})
        if saver is not None:
            writes = list(task.writes) or [(NO_WRITES, None)]
            if task.resume:
                writes.append((RESUME, list(task.resume)))
            await saver.put_writes(task, writes, step)

    return on_done


def _restore_pending(rc: RunContext, tasks: list[Task], pending: Sequence[tuple[str, str, Any]]) -> list[Task]:
    """Give tasks that already finished their saved writes; return those left to run.

    A task whose saved writes are an interrupt (or an error) runs again, with the
    resume values it had already received.
    """
    by_task: dict[str, list[tuple[str, Any]]] = {}
    for task_id, channel, value in pending:
        by_task.setdefault(task_id, []).append((channel, value))
    to_run = []
    for t in tasks:
        saved = by_task.get(t.id)
        if saved is None:
            to_run.append(t)
            continue
        chans = {c for c, _ in saved}
        for c, v in saved:
            if c == RESUME:
                t.resume = list(v)
            elif c == INTERRUPT:
                t.prior_interrupts = list(v)
        if chans & {INTERRUPT, ERROR} or (not (chans - SPECIAL) and NO_WRITES not in chans):
            to_run.append(t)
            continue
        t.writes = [(c, v) for c, v in saved if c not in SPECIAL]
        t.done = True
        if t.name != START:
            t.update = update_from_writes(rc.plan, t.writes)
    return to_run


def _assign_resume(rc: RunContext, tasks: list[Task]) -> None:
    """Hand the ``Command(resume=...)`` value(s) to the interrupted tasks.

    A dict keyed by interrupt ids answers those interrupts; any other value answers
    the pending interrupt of every waiting task.
    """
    resume = rc.resume
    waiting = [t for t in tasks if t.prior_interrupts]
    for t in waiting:
        t.resume_raw = resume
    if isinstance(resume, dict) and resume and all(isinstance(k, str) for k in resume):
        by_id = {i.id: t for t in waiting for i in t.prior_interrupts}
        if any(k in by_id for k in resume):
            for iid, value in resume.items():
                answered = by_id.get(iid)
                if answered is not None:
                    answered.resume = [*(answered.resume or ()), value]
            return
    for t in waiting or tasks[:1]:
        t.resume = [*(t.resume or ()), resume]


__all__ = ["RunOutcome", "output_values", "prepare_tasks", "run_graph", "selected_update", "state_values", "with_pending_applied"]
