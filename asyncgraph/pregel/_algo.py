"""The superstep algorithm's pure parts: plan a step's tasks, apply its writes.

No asyncio, no I/O. Values in, values out; unit-tested without an event loop.

The model (bulk-synchronous parallel, as in Pregel and LangGraph):

* Every piece of run state is a channel with a monotonically increasing version.
* A node runs in step ``s`` when one of its trigger channels is available and has a
  version newer than the one the node last saw (``RunState.seen``).
* All tasks of a step read the state as it was at the start of the step; their writes
  are applied together at the end of the step (the barrier), in a deterministic order
  (:func:`task_sort_key`) that does not depend on which task finished first.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from asyncgraph.channels.base import MISSING, BaseChannel
from asyncgraph.channels.ephemeral_value import EphemeralValue
from asyncgraph.channels.topic import Topic
from asyncgraph.constants import PULL as PULL_PATH
from asyncgraph.constants import PUSH as PUSH_PATH
from asyncgraph.constants import ERROR, ERROR_SOURCE, INTERRUPT, NO_WRITES, RESUME, START, TASKS
from asyncgraph.errors import InvalidUpdateError, NodeError, TaskNotFound
from asyncgraph.pregel._plan import NodePlan, Plan
from asyncgraph._ids import TaskId, task_id
from asyncgraph.types import Send
from asyncgraph._context import PULL, PUSH, Task

# PULL: a task started because a trigger channel changed; PUSH: by a Send packet.
# What a Send task shows as its triggers (its metadata, ``tasks`` chunks), as LangGraph.
_PUSH_TRIGGERS = (PUSH_PATH,)



def task_sort_key(task: Task) -> tuple[int, str, int]:
    """Order in which a step's writes are applied: pull tasks by node name, then push
    tasks by the order of their ``Send`` packets. Matches LangGraph's order. An error
    handler's writes take the failed task's place."""
    return (task.kind, (task.handles or task.name) if task.kind == PULL else "", task.index)


def handler_task_id(failed_id: str, handler: str) -> TaskId:
    """The id of the error handler task that takes over the failed task ``failed_id``
    (stable, so a resume finds the handler's saved writes)."""
    if not failed_id:
        return TaskId("")
    h = hashlib.blake2b(f"{failed_id}|{handler}".encode(), digest_size=16).hexdigest()
    return TaskId(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}")


def to_error_handler(plan: Plan, task: Task, error: Any) -> None:
    """Turn the failed ``task`` into the task of its node's error handler, in place:
    the handler gets the node's input and ``NodeError(node, error)``; what the failed
    attempts wrote is dropped. The task keeps its kind, index and triggers (the failed
    node's triggers count as seen at the barrier), and gets the handler's own id."""
    handler = task.node.error_handler
    assert handler is not None
    failed = task.name
    task.handles = failed
    task.failure = NodeError(failed, error)
    task.name = handler
    task.node = plan.nodes[handler]
    task.id = handler_task_id(task.id, handler)
    task.writes = []
    task.update = None
    task.fresh = None
    task.error = None
    task.interrupts = ()
    task.resume = None
    task.prior_interrupts = ()
    task.resume_raw = None
    task.cache_key = None
    task.cached = False


class RunState:
    """The mutable state of one run between steps: channels, versions, what was seen.

    Attributes:
        channels: this run's channel objects (copies of the plan's specs).
        versions: channel -> version (int), only for channels ever written.
        seen: node -> {channel: version it was triggered at}.
        live: ephemeral channels holding a value from the last step; they are emptied
            at the next barrier unless written again.
        updated: channels changed at the last barrier (None: unknown, check all nodes).
        floor: the highest version before this run's first step.
    """

    __slots__ = ("plan", "channels", "versions", "seen", "live", "updated", "step", "vmax", "floor")

    def __init__(self, plan: Plan, values: dict[str, Any] | None = None,
                 versions: dict[str, Any] | None = None,
                 seen: dict[str, dict[str, Any]] | None = None) -> None:
        self.step = 0
        self.setup(plan, values, versions, seen)

    def setup(self, plan: Plan, values: dict[str, Any] | None = None,
              versions: dict[str, Any] | None = None,
              seen: dict[str, dict[str, Any]] | None = None) -> None:
        """Fill in the state (``__init__``'s work but ``step``): the loop fills in its
        run's ``RunProgress``, which is a RunState (see ``pregel/_context.py``)."""
        self.plan = plan
        # Only channels that hold something exist; the rest are made on first write
        # (``channel``), so a run does not allocate one object per edge up front.
        channels: dict[str, BaseChannel[Any, Any]] = {key: spec.new_run() for key, spec in plan.initial}  # type: ignore[misc]
        live: list[str] = []
        if values:
            specs = plan.channels
            for key, value in values.items():
                spec = specs.get(key)
                if spec is not None:
                    ch = channels[key] = spec.from_checkpoint(value)
                    if isinstance(ch, (EphemeralValue, Topic)) and ch.is_available():
                        live.append(key)
        self.channels = channels
        self.live: tuple[str, ...] = tuple(live)
        self.versions: dict[str, Any] = dict(versions) if versions else {}
        self.seen: dict[str, dict[str, Any]] = {k: dict(v) for k, v in seen.items()} if seen else {}
        self.updated: Collection[str] | None = None
        # Versions are run-wide: every channel changed at a barrier gets the same new
        # version, greater than any before, so "which node ran last" is comparable.
        self.vmax: int = (
            max((v for v in self.versions.values() if isinstance(v, int)), default=0) if versions else 0
        )
        # Versions above this one were made by this run's steps (not by its input):
        # a low-level graph's output is what those steps wrote.
        self.floor = self.vmax

    def channel(self, key: str) -> BaseChannel[Any, Any]:
        """The run's channel ``key``, made (empty) if nothing has written it yet.

        Raises:
            KeyError: the graph has no channel ``key``.
        """
        ch = self.channels.get(key)
        if ch is None:
            ch = self.channels[key] = self.plan.channels[key].from_checkpoint(MISSING)
        elif ch is self.plan.fired.get(key):  # shared by every run: this one's own copy
            ch = self.channels[key] = ch.copy()
        return ch

    def next_version(self) -> int:
        self.vmax += 1
        return self.vmax

    def values(self) -> dict[str, Any]:
        """Checkpointable values of every channel that has one."""
        out = {}
        for key, ch in self.channels.items():
            v = ch.checkpoint()
            if v is not MISSING:
                out[key] = v
        return out


def read_state(channels: dict[str, BaseChannel[Any, Any]], keys: Iterable[str]) -> dict[str, Any]:
    """The values of ``keys`` that have one, as a new dict."""
    out = {}
    for k in keys:
        ch = channels.get(k)
        if ch is None:  # a managed value (RemainingSteps ...): not stored state
            continue
        v = ch.value
        if v is not MISSING and ch.is_available():
            out[k] = v
    return out


def triggered_nodes(plan: Plan, run: RunState) -> list[NodePlan]:
    """Nodes that must run in the next step, in node declaration order."""
    versions = run.versions
    channels = run.channels
    seen_all = run.seen
    updated = run.updated
    if updated is None:
        candidates: Iterable[str] = plan.nodes
    else:
        # Usually a single changed channel leads anywhere: take its nodes (already
        # in declaration order) without building and sorting a set.
        t2n = plan.trigger_to_nodes
        first: tuple[str, ...] | None = None
        merged: set[str] | None = None
        for key in updated:
            names = t2n.get(key)
            if not names:
                continue
            ch = channels.get(key)
            if ch is None or not ch.is_available():
                continue  # emptied at the barrier (its version moved): triggers nothing
            if first is None:
                first = names
            else:
                if merged is None:
                    merged = set(first)
                merged.update(names)
        if first is None:
            return []
        if merged is None:
            candidates = first
        else:
            order = plan.node_order
            candidates = sorted(merged, key=order.__getitem__)
    out = []
    for name in candidates:
        node = plan.nodes[name]
        seen = seen_all.get(name)
        for t in node.triggers:
            v = versions.get(t)
            if v is None:
                continue
            ch = channels.get(t)
            if ch is None or not ch.is_available():
                continue
            if seen is None or v > seen.get(t, 0):
                out.append(node)
                break
    return out


def pending_sends(run: RunState) -> Sequence[Any]:
    """The ``Send`` packets waiting in the tasks channel."""
    ch = run.channels.get(TASKS)
    if ch is None:
        return ()
    v = ch.value
    return v if v is not MISSING and v else ()


def _writers(tasks: Sequence[Task], key: str) -> list[str]:
    """The names of the tasks that wrote ``key`` (for error messages only)."""
    return [t.name for t in tasks for ch, _ in t.writes if ch == key]


def task_result(plan: Plan, writes: Sequence[tuple[str, Any]]) -> dict[str, Any] | None:
    """A finished task's ``PregelTask.result``: ``{key: value}`` of its state writes;
    a key written more than once shows ``{"$writes": [value, ...]}`` (LangGraph's form)."""
    result: dict[str, Any] = {}
    for c, v in writes:
        if c not in plan.state_keys:
            continue
        if c in result:
            prior = result[c]
            if isinstance(prior, _Repeated):
                prior["$writes"].append(v)
            else:
                result[c] = _Repeated({"$writes": [prior, v]})
        else:
            result[c] = v
    for c, v in result.items():
        if isinstance(v, _Repeated):
            result[c] = dict(v)
    return result or None


class _Repeated(dict):  # type: ignore[type-arg]
    """Marks a ``$writes`` entry being built (a written value may itself be such a dict)."""


def update_from_writes(plan: Plan, writes: Sequence[tuple[str, Any]]) -> dict[str, Any] | None:
    """The state update a task's writes make (its ``updates`` chunk), or None."""
    upd = {k: v for k, v in writes if k in plan.state_keys}
    return upd or None


def apply_writes(plan: Plan, run: RunState, tasks: Sequence[Task]) -> dict[str, None]:
    """Apply the writes of a finished step; returns the channels that changed (the
    keys of a dict, in the order they changed).

    Order: tasks sorted by :func:`task_sort_key`; within a task, write order. Records
    which trigger versions each pulled node has now seen, consumes join barriers, and
    empties ephemeral channels that were not written again.

    Raises:
        InvalidUpdateError: a channel rejected its writes; names the key and the nodes.
    """
    channels = run.channels
    versions = run.versions
    if len(tasks) > 1:
        tasks = sorted(tasks, key=task_sort_key)
    # An insertion-ordered set as a dict of str -> None: the collector does not track
    # such a dict, and every run in flight holds its last one.
    updated: dict[str, None] = {}
    nv = run.vmax + 1
    # 1. Mark triggers as seen, consume barriers.
    for task in tasks:
        if task.kind != PULL or not task.triggers:
            continue
        name = task.handles or task.name
        seen = run.seen.get(name)
        if seen is None:
            seen = run.seen[name] = {}
        for t in task.triggers:
            if t in versions:
                seen[t] = versions[t]
            ch = channels.get(t)
            if ch is not None and ch.consume():
                versions[t] = nv
                updated[t] = None
    # 2. Group writes by channel, in task order.
    grouped: dict[str, list[Any]] = {}
    for task in tasks:
        for chan, value in task.writes:
            lst = grouped.get(chan)
            if lst is None:
                grouped[chan] = [value]
            else:
                lst.append(value)
    # 3. Update written channels. A lone task's conditional edges already computed
    # the result for the state keys it wrote: take those channels instead of
    # running the reducers (e.g. add_messages) a second time.
    fresh = tasks[0].fresh if len(tasks) == 1 else None
    fired = plan.fired
    for key, values in grouped.items():
        if fresh is not None:
            done = fresh.get(key)
            if done is not None:
                channels[key], changed = done
                if changed:
                    versions[key] = nv
                    updated[key] = None
                continue
        ch = channels.get(key)
        if key in fired:
            shared = fired[key]
            if values[-1] is None:  # an edge fired: the plan's shared channel (see Plan.fired)
                channels[key] = shared
                versions[key] = nv
                updated[key] = None
                continue
            if ch is shared:
                ch = channels[key] = shared.copy()
        if ch is None:
            if key not in plan.channels:
                nodes = _writers(tasks, key)
                raise InvalidUpdateError(
                    f"Node(s) {', '.join(sorted(set(nodes)))} wrote to unknown key '{key}'",
                    key=key,
                    nodes=nodes,
                )
            ch = run.channel(key)
        try:
            changed = ch.update(values)
        except InvalidUpdateError as exc:
            nodes = _writers(tasks, key)
            raise InvalidUpdateError(
                f"{exc.args[0]}\n(written by nodes: {', '.join(nodes)})",
                key=key,
                nodes=nodes,
                value=values,
            ) from None
        except Exception as exc:
            # A reducer raised: say where it happened and keep the original cause.
            exc.add_note(
                f"While applying writes to state key '{key}' from node(s) {', '.join(_writers(tasks, key))}"
            )
            raise
        if changed:
            versions[key] = nv
            updated[key] = None
    # 4. Ephemeral channels from the previous step that were not written again. An
    # emptied EphemeralValue is dropped (made again when next written).
    if run.live:
        for key in run.live:
            if key not in grouped:
                ch = channels[key]
                if ch is fired.get(key):  # a shared edge trigger (Plan.fired): dropped
                    del channels[key]
                    versions[key] = nv
                    updated[key] = None
                    continue
                if ch.update(()):
                    versions[key] = nv
                    updated[key] = None
                if type(ch) is EphemeralValue:
                    del channels[key]
    ephemeral = plan.ephemeral
    live = []
    for k in grouped:
        if k in ephemeral:
            live.append(k)
    run.live = tuple(live)  # a tuple of str: untracked by the collector
    run.updated = updated
    if plan.deferred and not triggered_nodes(plan, run) and not pending_sends(run):
        # Nothing would run next: the run would end here. Deferred nodes' triggers
        # that were written open now (and run in the next step), as in LangGraph.
        for key, ch in channels.items():
            if ch.finish():
                versions[key] = nv
                updated[key] = None
    if updated:
        run.vmax = nv
    return updated


# -- planning a step, applying the input, resuming ----------------------------------

# Pending writes that are not channel writes: they record how a task ended.
SPECIAL = frozenset({INTERRUPT, RESUME, ERROR, ERROR_SOURCE, NO_WRITES})


def prepare_tasks(
    plan: Plan, run: RunState, step: int, *, stop: int,
    checkpoint_id: str | None = None, ns: str = "", with_ids: bool = False,
) -> list[Task]:
    """The tasks of step ``step``: one per pending ``Send`` packet (in packet order),
    then one per triggered node (in declaration order).

    Each pull task's input is the state it reads (managed values computed for ``step``
    against the run's last step ``stop``). ``with_ids``: give each task its stable id.

    Raises:
        TaskNotFound: with ``compile(strict=True)``, a ``Send`` names a node the graph does
            not have (otherwise it is skipped with a ``UserWarning``).
    """
    tasks: list[Task] = []
    for i, packet in enumerate(pending_sends(run)):
        node = plan.nodes.get(packet.node) if isinstance(packet, Send) else None
        if node is None or node.call is None:
            error = TaskNotFound(getattr(packet, "node", repr(packet)), known=[n for n in plan.nodes if n != START])
            if plan.strict:
                raise error
            # A saved Send to a node this graph no longer has: LangGraph skips it too.
            warnings.warn(f"{error}. The pending Send is ignored, as LangGraph does", stacklevel=2)
            continue
        task = Task(node, packet.arg, PUSH, i, _PUSH_TRIGGERS)
        task.timeout = packet.timeout
        tasks.append(task)
    channels = run.channels
    for node in triggered_nodes(plan, run):
        if node.call is None:
            inp: Any = channels[START].value
        elif node.read is not None:  # a low-level graph's node
            inp = node.read(channels)
        else:
            inp = read_state(channels, node.reads)
            for key, managed in node.managed:
                inp[key] = managed.compute(step, stop)
        triggers = node.triggers
        if len(triggers) > 1:
            # All of them, sorted, whichever fired (as LangGraph): shown in the task's
            # metadata and stream chunks, and all marked seen / consumed at the barrier.
            triggers = tuple(sorted(triggers))
        tasks.append(Task(node, inp, PULL, 0, triggers))
    if with_ids:
        for t in tasks:
            t.id = task_id(checkpoint_id, ns, step, t.name, t.kind, t.index)
    return tasks


def apply_input(run: RunState, input: Any) -> None:
    """Write the run's input to the START channel, to be mapped onto the state by the
    START task in the next step (a low-level graph's input goes to its input channels).

    A thread whose last input never reached its first step (the START task failed, or
    the run was cancelled or killed before it) still holds that input: the new one
    replaces it.
    """
    io = run.plan.io
    if io is not None:
        # A low-level graph: the input is written straight to its input channels.
        task = Task(io.input_node, input, PUSH, 0, ())
        task.writes = io.input_writes(input)
        apply_writes(run.plan, run, (task,))
        run.floor = run.vmax
        return
    run.channel(START).update([input])
    run.versions[START] = run.next_version()
    if START not in run.live:
        run.live = (*run.live, START)
    run.updated = (START,)


def apply_null_writes(plan: Plan, run: RunState, writes: Sequence[tuple[str, Any]]) -> dict[str, None]:
    """Apply writes that belong to no task (a ``Command`` continuing a thread) to
    ``run`` between steps: no trigger counts as seen and no ephemeral channel is
    emptied, so the step they precede still runs what it would have, plus what they
    trigger. Adds the changed channels to ``run.updated``; returns them.

    Raises:
        InvalidUpdateError: a channel rejected its writes, or a key is unknown.
    """
    grouped: dict[str, list[Any]] = {}
    for chan, value in writes:
        grouped.setdefault(chan, []).append(value)
    nv = run.vmax + 1
    changed: dict[str, None] = {}
    for key, values in grouped.items():
        if key not in plan.channels:
            raise InvalidUpdateError(f"Command update wrote to unknown key '{key}'", key=key, nodes=[])
        try:
            if run.channel(key).update(values):
                run.versions[key] = nv
                changed[key] = None
        except InvalidUpdateError as exc:
            raise InvalidUpdateError(f"{exc.args[0]}\n(written by the Command input)", key=key, nodes=[],
                                     value=values) from None
    if changed:
        run.vmax = nv
        live = [k for k in changed if k in plan.ephemeral and k not in run.live]
        if live:
            run.live = (*run.live, *live)
        if run.updated is not None:
            run.updated = {**dict.fromkeys(run.updated), **changed}
    return changed


def with_pending_applied(plan: Plan, run: RunState, done: Sequence[Task]) -> RunState:
    """A copy of ``run`` with the writes of ``done`` tasks applied (``run`` untouched):
    what a paused step shows (``get_state``, the output of an interrupted run)."""
    if not done:
        return run
    shadow = RunState(plan, run.values(), run.versions, run.seen)
    apply_writes(plan, shadow, done)
    return shadow


def restore_pending(plan: Plan, tasks: Sequence[Task], pending: Sequence[tuple[str, str, Any]]) -> list[Task]:
    """Give the tasks that finished before a failure or pause their saved writes
    (``pending``: ``(task id, channel, value)``); return the tasks left to run.

    A task whose saved writes are only an interrupt or an error runs again, keeping the
    resume values it had already received. A failed task that its node's error handler
    took over (an ``ERROR_SOURCE`` write) becomes that handler's task again, with the
    saved error: the handler, not the node, runs again unless it had finished.
    """
    by_task: dict[str, list[tuple[str, Any]]] = {}
    for tid, channel, value in pending:
        by_task.setdefault(tid, []).append((channel, value))
    to_run = []
    for t in tasks:
        saved = by_task.get(t.id)
        if saved is None:
            to_run.append(t)
            continue
        chans = {c for c, _ in saved}
        if ERROR_SOURCE in chans and t.node.error_handler is not None:
            error = next((v for c, v in saved if c == ERROR), None)
            # The failure as saved (its repr, as LangGraph saves it): what LangGraph's
            # resumed handler receives too.
            to_error_handler(plan, t, error)
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
        # Finished: it saved what it wrote (or that it wrote nothing). An interrupt or
        # error saved by an earlier attempt does not count once a later one finished
        # (a resumed task that completed while a sibling paused again), as LangGraph.
        if not (chans - SPECIAL) and NO_WRITES not in chans:
            to_run.append(t)
            continue
        t.writes = [(c, v) for c, v in saved if c not in SPECIAL]
        t.done = True
        if t.name != START:
            t.update = update_from_writes(plan, t.writes)
    return to_run


def is_resume_map(resume: Any) -> bool:
    """Whether a ``Command(resume=...)`` value answers interrupts by id: a dict whose
    keys all look like interrupt ids (32 hex digits), as LangGraph decides it."""
    return isinstance(resume, dict) and all(
        isinstance(k, str) and len(k) == 32 and all(c in _HEX for c in k) for k in resume
    )


_HEX = frozenset("0123456789abcdef")


def unanswered_interrupts(pending: Iterable[tuple[str, str, Any]]) -> int:
    """How many interrupts of a checkpoint's pending writes no resume value has reached
    yet, counted as LangGraph counts them: each paused task by the id of its first
    interrupt (one interrupt saved by a task and by its caller counts once); a task
    that got answers (and maybe paused again) or finished since counts as answered."""
    first: dict[str, str] = {}
    answered: set[str] = set()
    for tid, c, v in pending:
        if c == INTERRUPT:
            if v:
                first[tid] = getattr(v[0], "id", "")
        elif c != ERROR:
            answered.add(tid)
    return len(set(first.values()) - {first[t] for t in answered if t in first})


def assign_resume(tasks: Sequence[Task], resume: Any) -> None:
    """Hand a ``Command(resume=...)`` value to the interrupted tasks.

    A resume map (:func:`is_resume_map`) answers the interrupts it names, and no
    other; any other value answers the pending interrupt of every waiting task (or,
    when none waits, the first task).
    """
    waiting = [t for t in tasks if t.prior_interrupts]
    for t in waiting:
        t.resume_raw = resume
    if is_resume_map(resume):
        by_id = {i.id: t for t in waiting for i in t.prior_interrupts}
        for iid, value in resume.items():
            answered = by_id.get(iid)
            if answered is not None:
                answered.resume = [*(answered.resume or ()), value]
        return
    for t in waiting or tasks[:1]:
        t.resume = [*(t.resume or ()), resume]
