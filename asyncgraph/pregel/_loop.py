"""The superstep loop.

Invariant (bulk-synchronous parallel): in each step, every task reads the state as it
was at the end of the previous step; no write is visible to any task of the same step;
all writes are applied together at the barrier, in a fixed order. So a step's outcome
does not depend on which task finished first.

    load checkpoint (if any) -> apply input -> repeat:
        plan tasks -> (stop? done, breakpoint, drain, step limit) -> run them
        concurrently -> (paused by interrupt()?) -> apply writes at the barrier
        -> tell the observers (stream sink, saver) -> (breakpoint after?)

:func:`run_graph` is that loop. The decisions are pure functions in ``_algo`` (what runs,
what the barrier does) and ``_writes`` (what a task writes); running tasks is
``_runner``'s; :class:`_Loop` holds what changes from step to step and talks to the
observers. Checkpointing, when a saver is configured: a checkpoint after the input and
after every step, and each task's writes as it finishes, so a failed or interrupted step
resumes without re-running the tasks that completed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any

from asyncgraph._context import TaskContext
from asyncgraph.callbacks import GraphInterruptEvent, GraphResumeEvent, dispatch, graph_handlers
from asyncgraph.constants import CONF, ERROR, INTERRUPT, METADATA, NO_WRITES, NULL_TASK_ID, RESUME, START
from asyncgraph.errors import (
    EmptyInputError,
    GraphDrained,
    GraphRecursionError,
    GraphTimeoutError,
    InvalidInputError,
)
from asyncgraph.pregel._algo import (
    PULL,
    RunState,
    Task,
    apply_input,
    apply_null_writes,
    apply_writes,
    assign_resume,
    is_resume_map,
    prepare_tasks,
    restore_pending,
    unanswered_interrupts,
    with_pending_applied,
)
from asyncgraph.pregel._cache import store_results, take_cached
from asyncgraph.pregel._context import RunContext, RunProgress
from asyncgraph.pregel._nested import load, replay_bound
from asyncgraph.pregel._runner import complete_inline, enter_inline, run_step, run_task, settle_inline
from asyncgraph.pregel._saving import Saver, saver_config
from asyncgraph.pregel._stream import (
    emit_checkpoint,
    emit_task_result,
    emit_task_starts,
    selected_update,
    state_values,
    wants,
)
from asyncgraph.pregel._writes import command_writes, input_writes
from asyncgraph.types import Command, Interrupt


class RunOutcome:
    """What a finished (or paused) run leaves behind for the facade."""

    __slots__ = ("run", "interrupts", "config", "paused")

    def __init__(self, run: RunState, interrupts: Sequence[Interrupt], config: dict[str, Any] | None,
                 paused: bool = False) -> None:
        self.run = run
        self.interrupts = interrupts
        self.config = config  # the saver config of the last checkpoint, if any
        # Paused: on interrupts, at a breakpoint, or in a task whose subgraph did. A
        # subgraph's pause is its parent task's (main.Pregel raises GraphInterrupt).
        self.paused = paused


async def run_graph(rc: RunContext, input: Any, *, interrupt_before: frozenset[str], interrupt_after: frozenset[str]) -> RunOutcome:
    """Run the graph to completion or until it pauses. See the module docstring.

    ``rc.progress`` must come from :func:`loop_progress` (``main.Pregel`` makes it so)."""
    loop = _Loop.opened(rc, interrupt_before)
    try:
        await loop.start(input)
        del input  # applied: not something every run in flight keeps for the collector
        while True:
            tasks = loop.next_tasks()
            if loop.stream_checkpoints:
                await loop.emit_checkpoint(tasks)
            if loop.stops_before(tasks):  # done, a breakpoint, a drain request
                break
            to_run = loop.ready(tasks)  # finished earlier, resumed, ...
            if loop.cached and to_run:
                to_run = await loop.take_cached(to_run)  # ... or cached: no need to run
            if to_run:
                on_done = loop.begin(to_run)  # what observes each task as it finishes
                try:
                    tc = enter_inline(rc, to_run, loop.step) if loop.inline else None
                    if tc is None:
                        await loop.run_tasks(to_run, on_done)
                    else:  # a lone plain node, awaited in this frame (see _runner.enter_inline)
                        lone = tasks is to_run  # (not when tasks that finished before are restored)
                        if lone:  # the step's list is not held across the node's await: the task is tc
                            tasks = to_run = loop.current = ()  # type: ignore[assignment]
                        try:
                            complete_inline(tc, loop, await tc.node.call.entry(tc.input))  # type: ignore[union-attr]
                        except BaseException as exc:
                            settle_inline(tc, loop, exc)  # the general way's settle
                        finally:
                            if lone:
                                tasks = to_run = loop.current = [tc]
                        tc = None  # left (both set back the current task); not held on
                        if on_done is not None:  # finished or interrupted: stream it, hold its writes
                            await on_done(to_run[0])
                except BaseException as exc:
                    await loop.failed(to_run, exc)
                    raise
            if _paused(tasks):  # interrupt() or a subgraph's breakpoint: the step does not commit
                await loop.save_interrupts(tasks)
                break
            if loop.observed:  # apply every write of the step, then tell the observers
                await loop.commit(tasks, to_run)
            else:
                apply_writes(loop.plan, loop, tasks)  # no saver: the barrier alone
            loop.step += 1
            if interrupt_after and _names_any(tasks, interrupt_after):
                loop.at_breakpoint("interrupt_after")
                break
        return await loop.finish()
    finally:
        loop.close()


def _paused(tasks: list[Task]) -> bool:
    """Whether a task of the finished step paused: it called ``interrupt()``, or (not
    done, no interrupts, no error raised) a subgraph it ran stopped at a breakpoint."""
    for t in tasks:
        if t.interrupts or not t.done:
            return True
    return False


def _running_names(tasks: list[Task]) -> tuple[str, ...]:
    return tuple([t.name for t in tasks if not t.done and not t.interrupts])


def _names_any(tasks: list[Task], names: frozenset[str]) -> bool:
    # Not a generator expression in run_graph: that would make ``names`` a cell, one
    # more object held by every run in flight.
    for t in tasks:
        if t.name in names or t.handles in names:  # an error handler ran for a node named
            return True
    return False


def loop_progress() -> RunProgress:
    """The ``progress`` of a run's RunContext when ``run_graph`` will drive the run: the
    loop itself (see :class:`_Loop`)."""
    return _Loop()


class _Loop(RunProgress):
    """What the loop owns while a run goes: the run state, the step, what is pending
    from a previous run of the thread, and the observers (saver, stream sink). The part
    tasks may read is the :class:`~asyncgraph.pregel._context.RunProgress` part, written
    here only; the run's configuration (``rc``) is frozen.

    The loop *is* its run's ``rc.progress`` (and so its RunState): one object per run,
    not three, for every run in flight. It is made with the RunContext
    (:func:`loop_progress`); :meth:`open` starts it, with a reference to ``rc`` that
    makes a cycle (rc -> progress -> rc) until :meth:`close` (``run_graph``'s
    ``finally``) drops it, so a finished run is freed without the collector.
    """

    __slots__ = ("rc", "saver", "stop", "resume", "pending", "resuming",
                 "skip_before", "drained", "interrupts", "shown", "with_ids", "track", "cached",
                 "stream_checkpoints", "stream_tasks", "stream_values", "output_keys", "before", "limit",
                 "observed", "inline", "lifecycle", "paused_at", "sub_paused", "done_hook")

    @staticmethod
    def opened(rc: RunContext, interrupt_before: frozenset[str]) -> _Loop:
        """``rc.progress``, opened for a run (see :meth:`open`)."""
        loop = rc.progress
        if type(loop) is not _Loop:
            raise TypeError("run_graph() needs a RunContext made with progress=loop_progress()")
        loop.open(rc, interrupt_before)
        return loop

    def open(self, rc: RunContext, interrupt_before: frozenset[str]) -> None:
        self.rc = rc
        self.saver: Saver | None = None
        self.step = -1
        self.stop = 0  # the first step the run may not take (recursion limit)
        self.resume: Any = None  # Command(resume=...) value(s) for this run
        # Empty tuples, not lists, while nothing is pending: every run in flight holds
        # these, and a list is one more object for the collector to track.
        self.pending: Sequence[tuple[str, str, Any]] = ()
        self.resuming = False
        self.skip_before = False
        self.drained: str | None = None  # why the run stopped early, when asked to drain
        self.interrupts: Sequence[Interrupt] = ()
        self.shown: RunState | None = None  # what the caller sees when the run pauses mid-step
        self.before = interrupt_before
        self.cached = rc.plan.cached and rc.cache is not None
        self.lifecycle: Sequence[Any] = ()  # graph lifecycle handlers (asyncgraph.callbacks)
        self.paused_at: str | None = None  # the breakpoint the run stopped at
        self.sub_paused = False  # a task's subgraph stopped at a breakpoint of its own

    def close(self) -> None:
        """The run is over (finished, paused, failed or cancelled): drop what leads back
        to ``rc`` (the rc itself, the saver, the task hook, the last step's tasks), so
        that rc -> progress is no cycle. What the caller reads afterwards (the state,
        ``step``, ``left_running``) stays."""
        self.rc = None  # type: ignore[assignment]
        self.saver = self.ckpt = None
        self.done_hook = None
        # The last step's tasks refer to rc (the run they ran in): not kept (rc ->
        # progress -> current -> task -> rc); a run deadline's report reads their names.
        current = self.current
        if current:
            self.current = ()
            for t in current:
                if not t.done and not t.interrupts:
                    self.left_running = _running_names(current)
                    break

    # -- the start: checkpoint, input -----------------------------------------------

    async def start(self, input: Any) -> None:
        """Load the thread's checkpoint (if any) and apply the input: a new input, a
        ``Command``, or None to resume."""
        rc = self.rc
        progress = self
        plan = rc.plan
        config = rc.config
        conf = config.get(CONF) or {}
        tup = None
        replay = False
        fresh = False  # a subgraph's state from before a replayed checkpoint
        progress.loop = asyncio.get_running_loop()  # for calls from worker threads (_call.py)
        if rc.saver is not None:
            if "thread_id" not in conf:
                raise InvalidInputError(
                    "This graph has a checkpointer, so a run needs a thread: pass "
                    "config={'configurable': {'thread_id': ...}}"
                )
            if not isinstance(conf["thread_id"], str):  # a UUID, an int: saved as text, as in LangGraph
                conf = {**conf, "thread_id": str(conf["thread_id"])}
                config = {**config, CONF: conf}
            self.saver = progress.ckpt = Saver(rc.saver, config, rc.durability, rc)
            tup, fresh = await load(rc, rc.saver, saver_config(config))
        saver = self.saver
        if tup is not None:
            assert saver is not None
            ckpt = tup.checkpoint
            run = self  # the run's RunState is the loop (see the class docstring)
            run.setup(plan, ckpt["channel_values"], ckpt["channel_versions"], ckpt["versions_seen"])
            self.step = int(tup.metadata.get("step", -1)) + 1
            # Replaying an explicitly chosen checkpoint re-executes its next step; only a
            # resume of the thread's latest checkpoint reuses the writes saved there.
            if conf.get("checkpoint_id"):
                latest = await rc.saver.aget_tuple(saver.thread_config)
                replay = latest is not None and latest.checkpoint["id"] != ckpt["id"]
            self.pending = () if replay else list(tup.pending_writes or ())
            progress.pending_writes = tup.pending_writes or ()  # calls find their results here
            if replay:
                progress.pending_origin = (ckpt["id"], self.step)
            if rc.parent is None and conf.get("checkpoint_id") and not (isinstance(input, Command) and input.resume is not None):
                progress.replay = replay_bound(tup)  # time travel: what its subgraphs start from
            saver.config = tup.config
            saver.loaded = tup
            saver.parent_id = ckpt["id"]
            progress.checkpoint_id = ckpt["id"]
            run.updated = None if ckpt.get("updated_channels") is None else set(ckpt["updated_channels"])
            if self.pending:
                null = [(c, v) for tid, c, v in self.pending if tid == NULL_TASK_ID]
                if null:  # a Command that continued this checkpoint, applied again
                    apply_null_writes(plan, run, null)
        else:
            run = self
            run.setup(plan)
        saves_input = saver is not None and saver.durability != "exit"
        parent = rc.parent
        if parent is not None and tup is not None and not fresh and not isinstance(input, Command) and (
            parent.task.resume_raw is not None or parent.run.progress.resumed_step == parent.step
        ):
            # A subgraph whose parent task is being resumed: continue the subgraph's own
            # paused run (same namespace), with the parent's answer if it has one, not
            # with its input.
            raw = parent.task.resume_raw
            input = None if raw is None else Command(resume=raw)
        elif rc.parent is not None and tup is not None and conf.get("checkpoint_id") and not isinstance(input, Command):
            # A subgraph checkpoint that the root's config addressed (checkpoint_map):
            # the subgraph goes on from it, as a replay of the root goes on from its own.
            input = None
        start_done = False  # the input was applied with the START task's writes
        if isinstance(input, Command):
            if input.resume is not None:
                if tup is None:
                    raise EmptyInputError("Command(resume=...) given but the thread has no checkpoint to resume")
                if rc.parent is None and not is_resume_map(input.resume) and unanswered_interrupts(self.pending) > 1:
                    raise RuntimeError(
                        "When there are multiple pending interrupts, you must specify the interrupt id when "
                        "resuming: pass Command(resume={interrupt.id: value, ...}) (get_state(config).interrupts "
                        "lists them)"
                    )
                self.resuming = True
                self.resume = input.resume
            if (input.update is not None or input.goto) and tup is not None and tup.checkpoint["channel_versions"]:
                # Continuing the thread: the update and goto are applied before the step
                # the checkpoint stopped at, which then runs (its interrupted tasks, its
                # tasks behind a breakpoint) with what they trigger; no checkpoint of
                # their own, as in LangGraph.
                start = Task(plan.nodes[START], None, PULL, 0, ())
                command_writes(plan, start, Command(update=input.update, goto=input.goto))
                apply_null_writes(plan, run, start.writes)
                await saver.put_null_writes(start.writes)  # type: ignore[union-attr]
                self.resuming = True
            elif input.update is not None or input.goto:
                start = Task(plan.nodes[START], None, PULL, 0, ())
                command_writes(plan, start, Command(update=input.update, goto=input.goto))
                apply_writes(plan, run, [start])
                if saves_input:
                    await saver.put(rc, run, self.step, "input", run.updated)  # type: ignore[union-attr]
                elif saver is not None:
                    saver.skip(rc)
                self.step += 1
                self.pending = ()
        elif input is None:
            if tup is None:
                raise EmptyInputError("Received no input for the graph and the thread has nothing to resume")
            self.resuming = True
            if replay and saver is not None:
                # Replaying a chosen checkpoint starts a new branch of the thread's history
                # with a copy of it (source "fork"), as LangGraph does; under
                # durability="exit" the copy is the one saved at the end if no step commits.
                if saves_input:
                    await saver.put(rc, run, self.step, "fork", run.updated)
                else:
                    saver.skip(rc, "fork")
                self.step += 1
        else:
            self.pending = ()
            if self._input_unobserved():
                # Nobody can observe the START task (no saver, no callbacks, no stream
                # that shows it): apply its writes right away instead of running it as a
                # step of its own. The first node still runs at step 1.
                node = plan.nodes[START]
                start = Task(node, input, PULL, 0, ())
                input_writes(plan, start)
                start.writes.extend(node.after)
                apply_writes(plan, run, (start,))
                start_done = True
            else:
                apply_input(run, input)
                if saves_input:
                    await saver.put(rc, run, self.step, "input", run.updated)  # type: ignore[union-attr]
                elif saver is not None:
                    saver.skip(rc)
            self.step += 1
        # Recursion limit: the run may take ``limit`` steps after its input.
        limit = config.get("recursion_limit", 10007)
        if not isinstance(limit, int) or limit < 1:
            raise InvalidInputError(f"recursion_limit must be a positive int, got {limit!r}")
        self.stop = self.step + limit
        self.limit = limit
        if start_done:
            self.step += 1
        self.skip_before = self.resuming
        # Task ids cost a hash per task: made when something shows them (checkpoints, the
        # debug / tasks streams, and subgraph namespaces "node:<task id>" in a stream).
        sink = rc.sink
        self.with_ids = saver is not None or sink is not None and (sink.subgraphs or bool({"debug", "tasks"} & sink.modes))
        # What this run streams, decided once rather than at every step.
        self.stream_checkpoints = saver is not None and wants(rc, "checkpoints", "debug")
        self.stream_tasks = wants(rc, "tasks", "debug")
        self.stream_values = wants(rc, "values")
        self.output_keys = plan.output_keys if rc.out_select is None else frozenset(rc.out_select[0])
        self.track = saver is not None or sink is not None
        self.observed = self.track or self.cached  # someone to tell after each step
        # Made once per run: it reads the step from ``progress.step``, set by begin().
        self.done_hook = _make_on_done(rc, saver) if self.track else None
        # A lone plain node may be awaited by the loop itself (_runner.enter_inline):
        # nobody traces the run and no step deadline applies.
        self.inline = rc.run_manager is None and rc.step_timeout is None
        if self.stream_values and tup is not None and tup.checkpoint["channel_versions"] and (
            input is None or isinstance(input, Command)
        ):
            # A run that continues the thread (resume, Command, replay) first shows the
            # state it continues from, as LangGraph does.
            rc.emit("values", state_values(rc, run))
        callbacks = config.get("callbacks")
        if callbacks:
            self.lifecycle = graph_handlers(callbacks)
            if self.lifecycle and tup is not None and (input is None or isinstance(input, Command)):
                await dispatch(self.lifecycle, GraphResumeEvent(
                    rc.run_id, "pending", rc.progress.checkpoint_id or "", rc.ns_tuple))

    def _input_unobserved(self) -> bool:
        """Whether the START task can be folded into applying the input: nothing saves,
        traces or streams it, and it has no conditional edges to evaluate."""
        rc = self.rc
        start = self.plan.nodes.get(START)  # an entrypoint's plan has no START node
        if self.saver is not None or rc.callbacks is not None or start is None or start.branches:
            return False
        sink = rc.sink
        return sink is None or sink.modes.isdisjoint(("values", "debug", "tasks", "checkpoints"))

    # -- one step ---------------------------------------------------------------------

    def next_tasks(self) -> list[Task]:
        if not self.with_ids:
            return prepare_tasks(self.plan, self, self.step, stop=self.stop)
        return prepare_tasks(self.plan, self, self.step, stop=self.stop,
                             checkpoint_id=self.checkpoint_id, ns=self.rc.ns, with_ids=True)

    async def emit_checkpoint(self, tasks: list[Task]) -> None:
        assert self.saver is not None
        await emit_checkpoint(self.rc, self.saver, self, tasks, self.step - 1, self.pending)

    def stops_before(self, tasks: list[Task]) -> bool:
        """Whether the run ends before this step: nothing to run, a breakpoint before one
        of its nodes, or a drain request. Raises at the step limit."""
        if not tasks:
            return True
        if self.step >= self.stop:
            raise GraphRecursionError(self.limit)
        if self.before and not self.skip_before and _names_any(tasks, self.before):
            self.at_breakpoint("interrupt_before")
            return True
        self.skip_before = False
        control = self.rc.control
        if control is not None and control.drain_requested:
            # Stop before the next step (after the breakpoint check: a resume passes
            # the step's breakpoints, so draining here does not skip one).
            self.drained = control.drain_reason or "shutdown"
            return True
        return False

    def at_breakpoint(self, kind: str) -> None:
        """The run pauses at an ``interrupt_before`` / ``interrupt_after`` node: the
        top graph's ``updates`` stream says so with an empty ``__interrupt__``."""
        rc = self.rc
        self.paused_at = kind
        if rc.parent is None and wants(rc, "updates"):
            rc.emit("updates", {INTERRUPT: ()})

    def ready(self, tasks: list[Task]) -> list[Task]:
        """The tasks left to run: those that finished before a failure or pause keep
        their saved writes; interrupted tasks get the run's resume value."""
        if not (self.pending or self.resuming or self.stream_tasks):
            return tasks
        to_run = tasks
        rc = self.rc
        if self.pending:
            to_run = restore_pending(self.plan, tasks, self.pending)
            self.pending = ()
            if len(to_run) < len(tasks) and wants(rc, "updates"):
                # Tasks that finished before the pause or failure keep their saved
                # writes; the stream shows them again, marked as such.
                for t in tasks:
                    if t.done and t.name != START:
                        update = t.update if rc.out_select is None else selected_update(rc, t.update)
                        rc.emit("updates", {t.name: update, METADATA: {"cached": True}})
        if self.resuming:
            self.resumed_step = self.step
            if self.resume is not None:
                assign_resume(tasks, self.resume)
                self.resume = None
        self.resuming = False
        if self.stream_tasks and not self.cached:
            emit_task_starts(self.rc, to_run, self.step)
        return to_run

    async def take_cached(self, to_run: list[Task]) -> list[Task]:
        """Tasks whose node result is cached take their writes from the cache."""
        rc = self.rc
        left = await take_cached(rc, self.plan, to_run)
        on_done = self.on_done()
        if on_done is not None and len(left) < len(to_run):
            for t in to_run:
                if t.cached:
                    await on_done(t)
        if self.stream_tasks:
            emit_task_starts(rc, left, self.step)
        return left

    def on_done(self) -> Any:
        """What runs as each task finishes (stream its update, save its writes), or
        None when nobody observes tasks."""
        self.step = self.step  # on_done saves and streams the task as of this step
        return self.done_hook

    def begin(self, to_run: list[Task]) -> Any:
        """The step starts running ``to_run``; returns :meth:`on_done`."""
        progress = self
        progress.current = to_run  # for a run deadline's report
        progress.step = self.step
        return self.done_hook

    def run_tasks(self, to_run: list[Task], on_done: Any) -> Awaitable[None]:
        """Run the step's tasks (``_runner``); returns the runner's awaitable itself,
        not a coroutine of its own: one frame fewer for every run in flight."""
        rc = self.rc
        if rc.step_timeout is not None:
            aw = _run_step_with_timeout(rc, self, to_run, self.step, on_done)
        elif on_done is None and len(to_run) == 1:
            aw = run_task(rc, self, to_run[0], self.step, rc.inline_sync)
        else:
            aw = run_step(rc, self, to_run, self.step, on_done)
        saver = self.saver
        if saver is not None and saver.inflight is not None and _blocks_loop(rc, to_run):
            # durability="async": the previous checkpoint is saved in the background,
            # but a sync node run inline holds the loop until it returns. Save it first,
            # so a crash inside the node still shows the node as next.
            return _after(saver.flush(), aw)
        return aw

    async def failed(self, to_run: list[Task], exc: BaseException) -> None:
        """The step failed: report the tasks that did not finish, keep the errors with
        the step (``get_state()`` shows them; a resume runs those tasks again)."""
        if self.stream_tasks:
            for t in to_run:
                if not t.done and not t.interrupts:
                    emit_task_result(self.rc, t, self.step, exc)
        saver = self.saver
        if saver is not None:
            for t in to_run:
                if t.error is not None:
                    # Saved as its repr, the form LangGraph's checkpoints hold (and
                    # get_state().tasks[i].error shows): a string any saver can keep.
                    await saver.put_writes(t, [(ERROR, repr(t.error))], self.step)
            if saver.durability == "exit":
                await saver.finish_exit(self.rc, self, self.step)
            await saver.flush()

    async def save_interrupts(self, tasks: list[Task]) -> None:
        """The step paused: save each interrupt with the task that raised it. The
        caller sees the writes of the tasks that finished (as LangGraph shows them),
        applied to a copy: the step is not committed."""
        self.interrupts = [i for t in tasks for i in t.interrupts]
        if not all(t.done or t.interrupts for t in tasks):
            # A subgraph stopped at its breakpoint: nothing is saved for its task (a
            # resume runs it again, and the subgraph goes on from its checkpoint).
            self.sub_paused = True
            if not self.interrupts and self.rc.parent is None and wants(self.rc, "updates"):
                self.rc.emit("updates", {INTERRUPT: ()})
        saver = self.saver
        if saver is not None:
            for t in tasks:
                if t.interrupts:
                    writes: list[tuple[str, Any]] = [(INTERRUPT, list(t.interrupts))]
                    if t.resume:
                        writes.append((RESUME, list(t.resume)))
                    await saver.put_writes(t, writes, self.step)
        done = [t for t in tasks if t.done]
        shown = with_pending_applied(self.plan, self, done)
        # The loop itself when no task finished: not kept as ``shown`` (a cycle).
        self.shown = shown if shown is not self else None
        if self.stream_values and done and not self.output_keys.isdisjoint(c for t in done for c, _ in t.writes):
            # The state with the finished tasks' writes, as get_state() shows it.
            self.rc.emit("values", state_values(self.rc, shown))

    def barrier(self, tasks: list[Task]) -> dict[str, None]:
        """Apply every write of the step; returns the channels that changed."""
        updated = apply_writes(self.plan, self, tasks)
        saver = self.saver
        if saver is not None:
            saver.stepped = tasks  # whose versions_seen changed
            if saver.deferred:
                saver.deferred.clear()  # the step committed: its writes are in the state
        return updated

    async def commit(self, tasks: list[Task], to_run: list[Task]) -> None:
        """Apply every write of the step (:meth:`barrier`), then tell the observers: the
        node cache stores results, the stream gets the new values, the saver the
        checkpoint; then wait for the stream's reader (a run stays at most one step
        ahead of it)."""
        try:
            updated = self.barrier(tasks)
        except BaseException as exc:
            if self.saver is not None:
                await self.saver.spill(exc)  # the writes held for the checkpoint
            raise
        rc = self.rc
        if self.cached:
            await store_results(rc, to_run)
        if self.stream_values and not self.output_keys.isdisjoint(updated):
            rc.emit("values", state_values(rc, self))
        saver = self.saver
        if saver is not None:
            if saver.durability != "exit":
                saving = saver.save(rc, self, self.step, "loop", updated)
                if saving is not None:  # (None: saved, or saving in the background)
                    await saving
            else:
                saver.skip(rc)
        if rc.sink is not None:
            await rc.sink.wait_drained()

    async def finish(self) -> RunOutcome:
        saver = self.saver
        if saver is not None:
            if saver.durability == "exit" and self._keeps_exit_checkpoint():
                await saver.finish_exit(self.rc, self, self.step)
            await saver.flush()
        if self.drained is not None:
            raise GraphDrained(self.drained)
        if self.lifecycle and self.rc.parent is None and (self.interrupts or self.paused_at or self.sub_paused):
            rc = self.rc
            await dispatch(self.lifecycle, GraphInterruptEvent(
                rc.run_id, self.paused_at or "pending", rc.progress.checkpoint_id or "", rc.ns_tuple,  # type: ignore[arg-type]
                tuple(self.interrupts)))
        run = self.shown if self.shown is not None else self
        paused = bool(self.interrupts) or self.paused_at is not None or self.sub_paused
        return RunOutcome(run, self.interrupts, saver.config if saver is not None else None, paused)


    def _keeps_exit_checkpoint(self) -> bool:
        """durability="exit": whether the run's one checkpoint is worth saving. A
        subgraph that finished keeps nothing unless it keeps its state from run to run
        (``checkpointer=True``), as in LangGraph; one that paused must resume."""
        rc = self.rc
        return (rc.parent is None or bool(self.interrupts) or self.paused_at is not None or self.sub_paused
                or self.drained is not None or rc.graph.checkpointer is True)


async def _after(first: Awaitable[None], then: Awaitable[None]) -> None:
    await first
    await then


def _blocks_loop(rc: RunContext, tasks: list[Task]) -> bool:
    """Whether running ``tasks`` holds the event loop: a lone sync node under the
    sync API runs inline on the loop's thread (see ``_runner``)."""
    if not rc.inline_sync or len(tasks) != 1:
        return False
    call = tasks[0].node.call
    return call is not None and call.kind == "sync"


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


def _make_on_done(rc: RunContext, saver: Saver | None) -> Any:
    sink = rc.sink
    stream_updates = sink is not None and "updates" in sink.modes
    stream_values = sink is not None and "values" in sink.modes
    stream_tasks = wants(rc, "tasks", "debug")

    progress = rc.progress

    async def on_done(task: Task) -> None:
        step = progress.step  # the step the task ran in (see _Loop.begin)
        # The task's update is streamed before its task result, as in LangGraph.
        if not task.done and not task.interrupts:
            return  # its subgraph stopped at a breakpoint: nothing to show or save
        if task.interrupts:
            if stream_updates:
                rc.emit("updates", {INTERRUPT: tuple(task.interrupts)})
            if stream_values:
                # The state as the step found it, with the interrupt (a bare
                # ``output_keys`` selection shows the interrupt alone).
                run = rc.progress.run_state
                values = state_values(rc, run) if run is not None else None
                interrupts = tuple(task.interrupts)
                rc.emit("values", {**values, INTERRUPT: interrupts} if isinstance(values, dict)
                        else {INTERRUPT: interrupts})
            if stream_tasks:
                emit_task_result(rc, task, step)
            return  # saved with the step's other interrupts when the step ends
        if stream_updates and task.name != START:
            update = task.update if rc.out_select is None else selected_update(rc, task.update)
            if task.cached:
                rc.emit("updates", {task.name: update, METADATA: {"cached": True}})
            else:
                rc.emit("updates", {task.name: update})
        if stream_tasks:
            emit_task_result(rc, task, step)
        if saver is not None:
            writes = task.writes  # final: the task is done
            if not writes:
                writes = [(NO_WRITES, None)]
            if task.resume:
                writes = [*writes, (RESUME, list(task.resume))]
            # Held for the step's checkpoint without a coroutine (the usual case), or saved.
            if saver.untracked or not saver.hold(task, writes):
                await saver.put_writes(task, writes, step)

    return on_done


__all__ = ["AsyncPregelLoop", "PregelLoop", "RunOutcome", "SyncPregelLoop", "loop_progress", "run_graph"]


# LangGraph's names for its loop classes (one per sync/async API there; one loop here),
# for code that refers to them, e.g. a check that no loop outlives its run.
PregelLoop = SyncPregelLoop = AsyncPregelLoop = _Loop
