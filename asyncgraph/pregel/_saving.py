"""The loop's view of the checkpointer: what to save, in which config, when, under
each durability mode (see the README's "Durability modes")."""

from __future__ import annotations

import asyncio
import functools
import types
import weakref
from collections.abc import Awaitable, Collection, Generator, Sequence
from typing import Any

from asyncgraph._send import Send
from asyncgraph.channels.base import MISSING
from asyncgraph.channels.untracked_value import UntrackedValue
from asyncgraph.checkpoint._bridge import InlineAsync
from asyncgraph.checkpoint._ids import id_and_ts
from asyncgraph.checkpoint.memory import PACKED_METADATA, packed_metadata
from asyncgraph.checkpoint.base import CHECKPOINT_FORMAT, BaseCheckpointSaver, Checkpoint, StepPut, get_checkpoint_metadata
from asyncgraph.constants import CONF, NULL_TASK_ID, TASKS
from asyncgraph.constants import PULL as PULL_PATH
from asyncgraph.constants import PUSH as PUSH_PATH
from asyncgraph.pregel._algo import PULL, RunState, Task, handler_task_id, task_id
from asyncgraph.pregel._context import RunContext
from asyncgraph.pregel._nested import ancestors


@types.coroutine
def _resume(coro: Any, first: Any) -> Generator[Any, Any, Any]:
    """Go on with a coroutine that was started by hand (``send``) and suspended on
    ``first``: what ``await coro`` would have done from there, inside a task."""
    out = first
    while True:
        try:
            sent = yield out
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            try:
                out = coro.throw(exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                out = coro.send(sent)
            except StopIteration as done:
                return done.value


def saved_values(run: RunState, versions: dict[str, Any], untracked: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The values a checkpoint stores: those of the channels that have a version (a
    channel never written holds its initial value, made again on load). ``untracked``:
    the UntrackedValue channels, whose keys pending ``Send`` arguments do not keep."""
    out = {}
    for key, ch in run.channels.items():
        if key in versions:
            v = ch.checkpoint()
            if v is not MISSING:
                out[key] = v
    if untracked and isinstance(out.get(TASKS), list):
        out[TASKS] = [v for _, v in without_untracked([(TASKS, send) for send in out[TASKS]], untracked)]
    return out


# The metadata keys a checkpoint of the engine always has (Saver.put).
_OWN_METADATA = frozenset({"source", "step", "parents"})


def untracked_channels(channels: Any) -> frozenset[str]:
    """The names of ``channels``' UntrackedValue channels (a plan's, which never change:
    found once per plan, not once per run with a checkpointer)."""
    known = _UNTRACKED.get(id(channels))
    if known is not None and known[0] is channels:
        return known[1]
    if not any(issubclass(t, UntrackedValue) for t in set(map(type, channels.values()))):
        names: frozenset[str] = frozenset()  # (the usual case: a check per channel type)
    else:
        names = frozenset(k for k, ch in channels.items() if isinstance(ch, UntrackedValue))
    if len(_UNTRACKED) >= 256:
        _UNTRACKED.clear()  # (a bound on the plans kept alive here)
    _UNTRACKED[id(channels)] = (channels, names)
    return names


# id(plan.channels) -> (plan.channels, its UntrackedValue channels): the mapping itself is
# kept, so its id is not reused while the entry lives.
_UNTRACKED: dict[int, tuple[Any, frozenset[str]]] = {}


def without_untracked(writes: list[tuple[str, Any]], untracked: frozenset[str]) -> list[tuple[str, Any]]:
    """``writes`` as a checkpoint keeps them: no write to an UntrackedValue channel, and
    no untracked key in a ``Send``'s dict argument (often the whole state), as LangGraph."""
    out: list[tuple[str, Any]] = []
    for ch, value in writes:
        if ch in untracked:
            continue
        if ch == TASKS and isinstance(value, Send) and isinstance(value.arg, dict) \
                and not untracked.isdisjoint(value.arg):
            arg = {k: v for k, v in value.arg.items() if k not in untracked}
            value = Send(value.node, arg, timeout=value.timeout)
        out.append((ch, value))
    return out


def user_metadata(config: dict[str, Any]) -> dict[str, Any]:
    """What a run's checkpoints carry in their metadata besides source and step, as in
    LangGraph: the run's ``metadata`` and then its ``configurable`` values that are
    strings, numbers or booleans (the savers' own rule: ``get_checkpoint_metadata``)."""
    return get_checkpoint_metadata(config, {})  # type: ignore[arg-type, return-value]


def saver_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` as savers see it: the thread id as text. Savers key threads by string,
    so an int thread id given by the caller is passed on as its text (as LangGraph
    does), and a saver that keys its own bookkeeping by the config's value sees one
    thread, not ``1`` then ``"1"``."""
    conf = config[CONF]
    if isinstance(conf["thread_id"], str):
        return config
    return {**config, CONF: {**conf, "thread_id": str(conf["thread_id"])}}


@functools.lru_cache(maxsize=4096)
def _path_text(kind: int, name: str, index: int) -> str:
    """``str(task.path)``, the task path savers store with writes; made once per node."""
    text = str((PULL_PATH, name) if kind == PULL else (PUSH_PATH, index))
    if kind == PULL and len(_PULL_PATHS) < 4096:
        _PULL_PATHS[name] = text
    return text


# A pull task's path text by node name (what _path_text made): one dict look-up.
_PULL_PATHS: dict[str, str] = {}


_INLINE = InlineAsync.__dict__
_new_tuple = tuple.__new__

_STEP_OK: weakref.WeakKeyDictionary[type, bool] = weakref.WeakKeyDictionary()


def _definer(cls: type, name: str) -> type | None:
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass
    return None


def takes_steps(saver: Any) -> bool:
    """Whether the engine may hand ``saver`` a checkpoint and the writes before it in one
    ``aput_step`` call: the saver's own ``aput_step`` (not the non-atomic default), from
    a class that also provides the ``aput`` and ``aput_writes`` it has. A subclass that
    overrides ``aput`` or ``aput_writes`` (to watch what is saved, as LangGraph's tests
    do) is called through them instead."""
    cls = type(saver)
    ok = _STEP_OK.get(cls)
    if ok is None:
        step = _definer(cls, "aput_step")
        put = _definer(cls, "aput")
        writes = _definer(cls, "aput_writes")
        ok = (
            step is not None and step is not BaseCheckpointSaver
            and put is not None and writes is not None
            and issubclass(step, put) and issubclass(step, writes)
        )
        _STEP_OK[cls] = ok
    return ok


def stores_steps_at_once(saver: Any) -> bool:
    """Whether ``saver`` has its own ``aput_steps`` (several steps in one transaction),
    from a class that also provides the ``aput_step``, ``aput`` and ``aput_writes`` it
    has: a subclass that overrides one of those (to watch or fence what is saved) is
    called through it, one step at a time."""
    cls = type(saver)
    ok = _STEPS_OK.get(cls)
    if ok is None:
        steps = _definer(cls, "aput_steps")
        ok = takes_steps(saver) and steps is not None and steps is not BaseCheckpointSaver and all(
            (d := _definer(cls, name)) is not None and issubclass(steps, d)
            for name in ("aput_step", "aput", "aput_writes")
        )
        _STEPS_OK[cls] = ok
    return ok


_STEPS_OK: weakref.WeakKeyDictionary[type, bool] = weakref.WeakKeyDictionary()

MAX_UNSAVED = 32
"""durability="async" with group commit: checkpoints not yet committed (being saved, or
queued behind), at most; a step that would make one more waits for all of them to be
saved first. It bounds what a killed process can lose (see the README's "Durability
modes") and what the queue holds."""


class Saver:
    """The loop's view of the checkpointer: what to save, in which config, when.

    One call per step: the writes of the task that finishes a step (the only task of a
    one-node step) are not saved on their own but held and saved with the step's
    checkpoint, in one ``aput_step`` call (one transaction, one round trip or thread
    hop). They reach the database exactly when the checkpoint does: a crash before that
    runs the node again on resume, as one during a separate write would. Writes of
    tasks that finish while siblings still run are saved at once, so a failing or
    paused sibling never costs them. Savers without their own ``aput_step`` get
    ``aput_writes`` then ``aput``, as before.

    Group commit (durability="async", a saver with its own ``aput_steps``: the SQL
    savers): a step does not wait for the save of the step before it. While a save is
    in flight, the next steps' checkpoints (with their held writes) queue behind it, in
    order, and are saved together in ONE ``aput_steps`` call (one transaction) when it
    completes; each is still its own row, exactly as saved one at a time. Their configs
    are made here (every checkpoint's id is), so a queued checkpoint is the parent of
    the next without a round trip. Anything that needs the saved state (writes of a
    sibling or an interrupt, an error, the run's end, a stream of checkpoints, a sync
    node that holds the loop) waits for everything queued (``flush``), as it waits for
    the one save in flight otherwise.
    """

    __slots__ = ("saver", "config", "parent_config", "thread_config", "parent_id", "deferred", "inflight",
                 "durability", "extra", "seen", "stepped", "rc", "held", "steps", "exit_id", "exit_source", "parents",
                 "untracked", "loaded", "direct", "batches", "queue", "unsaved", "entry")

    def __init__(self, saver: Any, config: dict[str, Any], durability: str, rc: RunContext | None = None) -> None:
        self.saver = saver
        self.rc = rc
        # Writes of the task that finished the step, saved with the step's checkpoint.
        self.held: list[tuple[str, str, Any, str]] | None = None
        self.steps = rc is not None and durability != "exit" and takes_steps(saver)
        conf = saver_config(config)[CONF]
        self.thread_config = {
            CONF: {"thread_id": conf["thread_id"], "checkpoint_ns": conf.get("checkpoint_ns", "")}
        }
        self.config: dict[str, Any] | None = None  # config of the latest checkpoint
        self.parent_config: dict[str, Any] | None = None  # and of the one before it
        # The checkpoint tuple the run started from, if any (its stream event shows its
        # saved metadata and parent, as LangGraph's).
        self.loaded: Any = None
        self.parent_id: str | None = None
        # durability="exit": the writes of the step in progress, saved with the final
        # checkpoint (under task ids derived from it, so a resume matches them).
        self.deferred: list[tuple[Task, int, list[tuple[str, Any]]]] = []
        self.inflight: asyncio.Task[Any] | None = None
        self.durability = durability
        # Without the keys put() sets itself, which win over the user's.
        self.extra = {k: v for k, v in user_metadata(config).items() if k not in _OWN_METADATA}
        # versions_seen as last saved: node -> a copy of its dict, never changed once
        # saved; after a step only the dicts of the nodes that ran (``stepped``, set at
        # the barrier) are copied again.
        self.seen: dict[str, dict[str, Any]] | None = None
        self.stepped: Sequence[Task] | None = None
        self.exit_id: tuple[str, str] | None = None  # see skip()
        self.exit_source = "loop"  # and the source it is saved with
        # A subgraph run's: the checkpoint of each enclosing run, by namespace; saved
        # as the checkpoints' metadata["parents"] (_nested.ancestors).
        self.parents: dict[str, str] = {} if rc is None else ancestors(rc, config)
        # UntrackedValue channels: their writes are never saved (empty for most graphs).
        self.untracked = untracked_channels(rc.plan.channels) if rc is not None else frozenset()
        # aput / aput_step are the generated inline twins (checkpoint._bridge.inline_async,
        # as on InMemorySaver): put calls the sync methods they would call, without a
        # coroutine to make and step through per checkpoint.
        cls = type(saver)
        self.direct = (getattr(cls, "aput", None) is _INLINE["aput"]
                       and getattr(cls, "aput_step", None) is _INLINE["aput_step"])
        # The saver's own per-step entry, when it has one that does what put_step and
        # put would (InMemorySaver._put, for the class itself or a subclass that
        # overrides none of put, put_writes, put_step): one call per checkpoint, without
        # put_step's keyword arguments and subclass check.
        entry = getattr(saver, "step_entry", None) if self.direct else None
        self.entry = entry() if entry is not None else None
        # Group commit (see the class docstring): the checkpoints queued behind the save
        # in flight, saved together by the task in ``inflight`` (_finish).
        self.batches = self.steps and durability == "async" and not self.direct and stores_steps_at_once(saver)
        self.queue: list[StepPut] = []
        self.unsaved = 0  # checkpoints being saved or queued (at most MAX_UNSAVED)

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

    def save(self, rc: RunContext, run: RunState, step: int, source: str,
             updated: Collection[str] | None) -> Awaitable[None] | None:
        """Save the checkpoint of ``run`` after ``step`` (:meth:`put`) as far as it can
        without waiting, which is all of it unless a save in flight must finish first or
        durability="sync" waits for the saver; then the awaitable that does the rest.
        The loop's per-step call: no coroutine to make and step through when the save
        needs no waiting (the in-memory saver, any saver in the background)."""
        inflight = self.inflight
        if inflight is not None and not (self.batches and self.unsaved < MAX_UNSAVED and not inflight.done()):
            return self.put(rc, run, step, source, updated)  # (which waits for it, then comes back)
        # Otherwise the checkpoint queues behind the save in flight, if any (group commit).
        versions = run.versions.copy()  # the run goes on changing its own
        if updated is None:
            new_versions = versions
        elif source == "loop":
            # A barrier's (apply_writes): every channel it changed got the one new
            # version it ended with, run.vmax.
            new_versions = dict.fromkeys(updated, run.vmax)
        else:
            new_versions = {}
            try:  # (a loop in this frame: cheaper than a comprehension's own frame)
                for k in updated:
                    new_versions[k] = versions[k]
            except KeyError:  # (every changed channel has a version, but just in case)
                new_versions = {k: versions[k] for k in updated if k in versions}
        if self.exit_id is not None:
            (cid, ts), self.exit_id = self.exit_id, None
        else:
            cid, ts = id_and_ts()
        values = saved_values(run, versions, self.untracked)
        # versions_seen (see ``seen`` in __init__): the dicts of the nodes that did not
        # run are shared with the last checkpoint.
        last = self.seen
        stepped = self.stepped
        current = run.seen
        self.stepped = None
        if last is None or stepped is None:
            seen = {k: v.copy() for k, v in current.items()}
        else:
            seen = last.copy()
            for task in stepped:
                name = task.handles or task.name  # (an error handler's: its failed node's)
                mine = current.get(name)
                if mine is not None:
                    seen[name] = mine.copy()
        self.seen = seen
        changed: list[str] | None = None
        if updated is not None:
            changed = names = [*updated]
            names.sort()  # (sorted(), without its call: the same list)
        # The checkpoint's address: its parent's config, and this one's id from now on.
        parent_id = self.parent_id
        cfg = self.config or {CONF: {**self.thread_config[CONF], **({"checkpoint_id": parent_id} if parent_id else {})}}
        self.parent_config = cfg if parent_id else None
        rc.progress.checkpoint_id = cid
        self.parent_id = cid
        held = self.held
        parents = self.parents
        entry = self.entry
        if entry is not None and not parents and not self.extra:
            # InMemorySaver's step entry (see __init__): the checkpoint without its
            # values (the skeleton it stores), the values apart, and the plain metadata
            # in its stored form, packed once per (source, step) for every thread.
            meta_t = PACKED_METADATA.get((source, step))
            if meta_t is None:
                meta_t = packed_metadata(source, step)
            self.held = None
            self.config = entry(cfg, {
                "v": CHECKPOINT_FORMAT,
                "id": cid,
                "ts": ts,
                "channel_versions": versions,
                "versions_seen": seen,
                "updated_channels": changed,
            }, None, new_versions, held or (), (), values, meta_t)
            return None
        ckpt: Checkpoint = {
            "v": CHECKPOINT_FORMAT,
            "id": cid,
            "ts": ts,
            "channel_values": values,
            "channel_versions": versions,
            "versions_seen": seen,
            "updated_channels": changed,
        }
        # (A run id reaches the metadata only through the run's own metadata or
        # configurable, as in LangGraph: the callbacks' run id is not the thread's.)
        metadata = {"source": source, "step": step, "parents": parents.copy() if parents else {}}
        if self.extra:
            metadata.update(self.extra)
        if self.batches:
            # The saver returns exactly this config (it is the checkpoint's address).
            self.config = {CONF: {**self.thread_config[CONF], "checkpoint_id": cid}}
            if inflight is not None:
                self.held = None
                # StepPut(cfg, ckpt, metadata, new_versions, held or ()), made in C (the
                # named tuple's own __new__ is Python code).
                self.queue.append(_new_tuple(StepPut, (cfg, ckpt, metadata, new_versions, held or (), ())))
                self.unsaved += 1
                return None
            self.unsaved = 1  # and saved in the background, below (durability="async")
        if self.direct:
            # The saver's async methods are its sync ones called inline: call them.
            entry = self.entry
            if entry is not None:
                if held is not None:
                    self.held = None
                    self.config = entry(cfg, ckpt, metadata, new_versions, held, ())
                else:
                    self.config = entry(cfg, ckpt, metadata, new_versions, (), ())
                return None
            if held is not None:
                self.held = None
                self.config = self.saver.put_step(cfg, ckpt, metadata, new_versions, parent_writes=held)
            else:
                self.config = self.saver.put(cfg, ckpt, metadata, new_versions)
            return None
        if held is not None:
            self.held = None
            coro = self.saver.aput_step(cfg, ckpt, metadata, new_versions, parent_writes=held)
        else:
            coro = self.saver.aput(cfg, ckpt, metadata, new_versions)
        if self.durability != "async":
            return self._saved(coro)
        # In the background, but started right here: a saver whose put needs no I/O
        # (the in-memory one) finishes before the first suspension, and a task and
        # two turns of the event loop per step would buy nothing.
        if type(coro) is not types.CoroutineType:
            self.inflight = asyncio.ensure_future(self._finish(coro))
            return None
        try:
            first = coro.send(None)
        except StopIteration as done:
            self.config = done.value
            return None
        self.inflight = asyncio.ensure_future(self._finish(_resume(coro, first)))
        return None

    async def put(self, rc: RunContext, run: RunState, step: int, source: str, updated: Collection[str] | None) -> None:
        """:meth:`save`, awaited: first waits for the save in flight unless the checkpoint
        can queue behind it (group commit)."""
        inflight = self.inflight
        if inflight is not None and not (self.batches and self.unsaved < MAX_UNSAVED and not inflight.done()):
            await self.flush()  # (no save is started meanwhile: the loop saves one step at a time)
        aw = self.save(rc, run, step, source, updated)
        if aw is not None:
            await aw

    async def _saved(self, aw: Awaitable[Any]) -> None:
        """durability="sync": wait for the saver's put; its config is the latest."""
        self.config = await aw

    def skip(self, rc: RunContext, source: str = "loop") -> None:
        """durability="exit": a checkpoint that is not saved still gets its id now.
        The next step's task ids derive from it, and so do the namespaces of the
        subgraphs those tasks run; the exit checkpoint is saved under the last one, so
        a resume finds both the tasks' writes and their subgraphs' checkpoints."""
        self.exit_id = id_and_ts()
        self.exit_source = source
        rc.progress.checkpoint_id = self.exit_id[0]

    async def _finish(self, aw: Any) -> None:
        """Finish the save in flight. With group commit, then save what queued behind
        it, all at once, until nothing is left (``put`` already made the configs: a
        later one may be the latest by now). A failed save drops the rest: they chain
        on a checkpoint that was not stored (the run fails with its error, at the next
        ``flush``)."""
        if not self.batches:
            self.config = await aw
            return
        try:
            await aw
            self.unsaved -= 1
            queue = self.queue
            while queue:
                self.queue = []
                await self.saver.aput_steps(queue)
                self.unsaved -= len(queue)
                queue = self.queue
        except BaseException:
            self.queue = []
            self.unsaved = 0
            raise

    def hold(self, task: Task, writes: list[tuple[str, Any]]) -> bool:
        """Hold the writes of the task that finishes the step, saved with the step's
        checkpoint (see the class docstring); False for any other task. Synchronous:
        the loop calls it first and awaits ``put_writes`` only when it returns False."""
        if not self.steps:  # (False under durability="exit")
            return False
        if not task.done or task.interrupts or task.error is not None:
            return False
        current = self.rc.progress.current  # type: ignore[union-attr]  # steps: rc is set
        if (len(current) != 1 or current[0] is not task) and not self._finishes_step(task, current):
            return False
        path = _PULL_PATHS.get(task.name) if task.kind == PULL else None
        if path is None:
            path = _path_text(task.kind, task.name, task.index)
        tid: str = task.id
        held = self.held
        if held is None:
            held = self.held = []
        for ch, value in writes:  # (no comprehension: its frame costs more than two appends)
            held.append((tid, ch, value, path))
        return True

    async def put_writes(self, task: Task, writes: list[tuple[str, Any]], step: int) -> None:
        if self.untracked:
            writes = without_untracked(writes, self.untracked)
            if not writes:
                return  # only untracked values: saved as not run, so a resume runs it again
        if self.durability == "exit":
            self.deferred.append((task, step, writes))
            return
        if self.hold(task, writes):
            return
        if self.inflight is not None:
            await self.flush()
        if self.config is None:
            return
        await self.saver.aput_writes(self.config, writes, task.id, _path_text(task.kind, task.name, task.index))

    async def put_null_writes(self, writes: list[tuple[str, Any]]) -> None:
        """Save writes that belong to no task (a ``Command`` continuing the thread) with
        the checkpoint they follow: a resume of that checkpoint applies them again.
        durability="exit" saves nothing here: the run's one checkpoint holds them."""
        if self.durability == "exit" or self.config is None:
            return
        if self.inflight is not None:
            await self.flush()
        await self.saver.aput_writes(self.config, writes, NULL_TASK_ID, "")

    @staticmethod
    def _finishes_step(task: Task, current: Sequence[Task]) -> bool:
        """Whether ``task``, which finished (not interrupted, not failed), is the last of
        the step's tasks ``current`` to do so: the step's checkpoint comes next."""
        mine = False
        for t in current:
            if t is task:
                mine = True
            elif not t.done:
                return False
        return mine

    async def spill(self, cause: BaseException) -> None:
        """The step's checkpoint will not be saved (its barrier raised ``cause``): save
        the held writes on their own, as pending writes of the step. A failure to save
        them is noted on ``cause``, which the run raises, never hidden or put in its place."""
        held = self.held
        if held is None:
            return
        self.held = None
        try:
            await self.flush()
            if self.config is None:
                return
            by_task: dict[tuple[str, str], list[tuple[str, Any]]] = {}
            for tid, ch, value, path in held:
                by_task.setdefault((tid, path), []).append((ch, value))
            for (tid, path), writes in by_task.items():
                await self.saver.aput_writes(self.config, writes, tid, path)
        except Exception as exc:
            cause.add_note(
                f"The writes of the step's last finished task could not be saved either "
                f"({type(exc).__name__}: {exc}): a resume runs that task again."
            )

    async def finish_exit(self, rc: RunContext, run: RunState, step: int) -> None:
        """durability="exit": save the one checkpoint of the run (the state after the
        last committed step) and the writes of the step that did not commit. A run
        that committed nothing since the checkpoint it loaded (a resume that paused
        again in its first step) saves no copy of it: the writes go with that one, under
        the task ids (and subgraph namespaces) the next resume derives from it again."""
        if self.exit_id is not None or self.config is None:
            await self.put(rc, run, step - 1, self.exit_source, None)
        await self.flush()
        if self.config is None:
            return
        for task, task_step, writes in self.deferred:
            # The ids the resumed run will look for (an error handler's derives from
            # the id of the task it took over).
            tid = task_id(rc.progress.checkpoint_id, rc.ns, task_step, task.handles or task.name, task.kind, task.index)
            task.id = handler_task_id(tid, task.name) if task.handles else tid
            await self.saver.aput_writes(self.config, writes, task.id, _path_text(task.kind, task.name, task.index))
        self.deferred.clear()
