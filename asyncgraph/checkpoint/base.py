"""The checkpointer contract: what the engine stores and how a saver must behave.

A *checkpoint* is a thread's state between two supersteps: every channel's value and
version, and which versions each node has already seen. *Pending writes* are the writes
of tasks that finished in a step that did not complete (a sibling failed, the process
died, or an interrupt paused the run); resuming applies them instead of running those
tasks again.

Contract every saver keeps (the conformance suite in ``tests/checkpoint`` checks it):

- ``put`` stores a checkpoint under ``(thread_id, checkpoint_ns, checkpoint["id"])`` and
  returns the config that addresses it. Checkpoint ids sort in creation order, so "latest"
  is the greatest id. ``new_versions`` names the channels whose value changed since the
  parent checkpoint; a saver may store only those and reuse the rest.
- ``channel_values`` holds the live values of every channel that has one; a saver must
  not mutate them and must not keep references that a later step could change
  (serialize, or copy).
- ``put_writes`` stores a task's writes against the checkpoint in ``config``; writing
  the same ``(task_id, idx)`` twice keeps the first (idempotent on retry), except
  special writes (``__error__``, ``__interrupt__``, ``__resume__``) which replace.
- ``get_tuple`` returns the checkpoint named by ``checkpoint_id`` in the config, or the
  latest of the thread when there is none, with its pending writes; ``None`` if absent.
- ``list`` yields newest first, filtered by ``filter`` (metadata equality), ``before``
  (a config) and ``limit``.
- ``delete_thread`` removes every checkpoint and write of a thread, all namespaces.
- A value that cannot be serialized raises ``TypeError`` naming the channel at ``put`` /
  ``put_writes`` time, before anything is stored; stored data that cannot be read raises
  :class:`~asyncgraph.errors.CheckpointError` and leaves the data untouched.

Beyond LangGraph's contract:

- ``put_step`` / ``aput_step`` store a checkpoint together with writes in ONE transaction:
  ``parent_writes`` are stored against the parent (the checkpoint named in ``config``,
  i.e. the writes of the tasks that produced this checkpoint) and ``writes`` against the
  new checkpoint (e.g. ``__interrupt__`` or error writes recorded with it). Each element
  is ``(task_id, channel, value)`` or ``(task_id, channel, value, task_path)`` (the
  engine sends the latter; the path is ``put_writes``'s); ``idx`` counts per task in sequence order, exactly as
  if ``put_writes`` were called once per task. Either everything is stored or nothing is.
  The engine should prefer it over ``aput_writes`` + ``aput`` where it has both at hand.
- ``put_steps`` / ``aput_steps`` store several :class:`StepPut` (each what one
  ``put_step`` call takes) in order, and return their configs. A step's config may name
  the checkpoint of an earlier step of the same call as its parent. The SQL savers store
  them in ONE transaction (one thread hop for SQLite, one round trip for PostgreSQL), each
  checkpoint and write as its own row, exactly what the ``put_step`` calls one by one
  store; either all are stored or none. The default calls ``put_step`` once per step
  (each atomic, the whole not). The engine uses it to save the checkpoints of the steps
  that ran while an earlier save was in flight (``durability="async"``).
- ``list_threads`` reports every thread with its newest checkpoint id and count.
- ``prune(thread_id, keep_last=N)`` keeps the newest N checkpoints of each namespace of a
  thread (all threads when ``thread_id`` is None) with their writes, and deletes the rest.
  Savers also take ``keep_last=N`` to do this after every ``put``. Pruning never removes
  stored data a kept checkpoint still needs.
- Linear storage (SQL savers and the in-memory saver): a list channel value that extends
  the value at the parent checkpoint is stored as the appended items only. Items already
  stored are treated as immutable: mutating a message object in place after it was
  checkpointed is not detected (replace it instead, as ``add_messages`` does).
  Checkpoints returned by one ``list`` call (one page of history) may share list items
  (messages) with each other, never lists or other values.
"""

from __future__ import annotations

import builtins  # the methods named `list` shadow the type inside the class
import copy
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Generic, Literal, NamedTuple, TypedDict

from typing_extensions import NotRequired, TypeVar

from asyncgraph._async import async_iter_twin, async_twin
from asyncgraph._missing import MISSING
from asyncgraph.checkpoint.serde.base import SerializerProtocol

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

    from asyncgraph.checkpoint._locks import ThreadLock

__all__ = [
    "WRITES_IDX_MAP",
    "BaseCheckpointSaver",
    "Checkpoint",
    "CheckpointMetadata",
    "CheckpointTuple",
    "ChannelVersions",
    "DeltaChannelHistory",
    "PendingWrite",
    "SerializerProtocol",
    "ThreadInfo",
    "MAX_ID_BYTES",
    "SAVER_METHODS",
    "StepPut",
    "check_thread_id",
    "copy_checkpoint",
    "create_checkpoint",
    "empty_checkpoint",
    "get_checkpoint_metadata",
]

V = int | float | str
ChannelVersions = dict[str, V]

PendingWrite = tuple[str, str, Any]
"""(task_id, channel, value)."""

CHECKPOINT_FORMAT = 1

WRITES_IDX_MAP: dict[str, int] = {"__error__": -1, "__interrupt__": -3, "__resume__": -4}
"""Special write channels: stored at a fixed negative ``idx``, and a second write of the
same channel by the same task replaces the first instead of being ignored."""


MAX_ID_BYTES = 1024
"""The longest ``thread_id`` (and, separately, ``checkpoint_ns``) a saver accepts, in
UTF-8 bytes: PostgreSQL cannot index much more than twice this, and every back end
keeps the same limit so a thread that works on one works on all."""


def check_thread_id(thread_id: Any, ns: Any = "") -> str:
    """``thread_id`` as the str savers store, or ``ValueError`` if no back end can.

    A thread id (and a checkpoint namespace) must be at most :data:`MAX_ID_BYTES` long
    in UTF-8, must not contain a NUL character, and must be encodable as UTF-8. Savers
    call this before touching the database, so a bad id never half-writes anything.
    """
    tid = str(thread_id)
    for what, value in (("thread_id", tid), ("checkpoint_ns", ns)):
        if type(value) is not str or (value.isascii() and len(value) <= MAX_ID_BYTES
                                      and "\x00" not in value):
            continue
        if "\x00" in value:
            raise ValueError(
                f"{what} {_clip(value)} contains a NUL character (\\x00), which no "
                "checkpoint database can store; use another id"
            )
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"{what} {_clip(value)} is not valid Unicode text ({exc.reason}); use another id"
            ) from None
        if size > MAX_ID_BYTES:
            raise ValueError(
                f"{what} is {size} bytes long in UTF-8 ({_clip(value)}); checkpoint savers "
                f"accept at most {MAX_ID_BYTES} bytes (MAX_ID_BYTES): use a shorter id, "
                "e.g. a hash of this one"
            )
    return tid


def _clip(value: str) -> str:
    return repr(value) if len(value) <= 40 else repr(value[:40]) + "..."


class Checkpoint(TypedDict):
    """A thread's state between supersteps."""

    v: int
    id: str
    ts: str
    channel_values: dict[str, Any]
    channel_versions: ChannelVersions
    versions_seen: dict[str, ChannelVersions]
    updated_channels: list[str] | None


class CheckpointMetadata(TypedDict, total=False):
    """Facts about how a checkpoint came to be; ``list(filter=...)`` matches on these."""

    source: Literal["input", "loop", "update", "fork"]
    step: int
    parents: dict[str, str]
    run_id: str


class CheckpointTuple(NamedTuple):
    config: RunnableConfig
    checkpoint: Checkpoint
    metadata: CheckpointMetadata
    parent_config: RunnableConfig | None = None
    pending_writes: list[PendingWrite] | None = None


class StepPut(NamedTuple):
    """What one ``put_step`` call takes: one element of ``put_steps``' argument."""

    config: RunnableConfig
    checkpoint: Checkpoint
    metadata: CheckpointMetadata
    new_versions: ChannelVersions
    parent_writes: Sequence[tuple[Any, ...]] = ()
    """``(task_id, channel, value)`` or ``(task_id, channel, value, task_path)``, as
    ``put_step`` takes them."""
    writes: Sequence[tuple[Any, ...]] = ()


class DeltaChannelHistory(TypedDict):
    """What ``get_delta_channel_history`` returns for one channel.

    ``writes`` are the channel's writes stored at the ancestors of a checkpoint,
    oldest first, as ``(task_id, channel, value)``; ``seed`` is the value stored at the
    nearest ancestor that has one (the writes start at that ancestor). No ``seed`` key
    means no ancestor stored a value: replay the writes onto an empty channel.
    """

    writes: list[PendingWrite]
    seed: NotRequired[Any]


class ThreadInfo(NamedTuple):
    """One thread as reported by ``list_threads``: newest first."""

    thread_id: str
    latest_checkpoint_id: str
    checkpoints: int
    """How many checkpoints the thread holds, over all namespaces."""


def empty_checkpoint() -> Checkpoint:
    return Checkpoint(
        v=CHECKPOINT_FORMAT,
        id=_new_id(),
        ts=datetime.now(timezone.utc).isoformat(),
        channel_values={},
        channel_versions={},
        versions_seen={},
        updated_channels=None,
    )


def copy_checkpoint(checkpoint: Checkpoint) -> Checkpoint:
    """A copy of ``checkpoint`` whose dicts can be changed without touching the original.

    The channel values themselves are shared, not copied: savers serialize them.
    """
    copied = Checkpoint(
        v=checkpoint["v"],
        id=checkpoint["id"],
        ts=checkpoint["ts"],
        channel_values=dict(checkpoint["channel_values"]),
        channel_versions=dict(checkpoint["channel_versions"]),
        versions_seen={node: dict(seen) for node, seen in checkpoint["versions_seen"].items()},
        updated_channels=checkpoint.get("updated_channels"),
    )
    for key, value in checkpoint.items():  # keys a newer format or another library added
        if key not in copied:
            copied[key] = value  # type: ignore[literal-required]
    return copied


def create_checkpoint(
    channel_values: Any,
    channel_versions: Any,
    versions_seen: Any,
    updated_channels: list[str] | None = None,
    *,
    id: str | None = None,
) -> Checkpoint:
    """A new checkpoint with a fresh, time-ordered id (or ``id``).

    Two call forms:

    - ``create_checkpoint(channel_values, channel_versions, versions_seen,
      updated_channels)``: asyncgraph's, from the parts.
    - ``create_checkpoint(checkpoint, channels, step)``: LangGraph's, told apart by the
      int ``step``. The new checkpoint copies ``checkpoint``'s versions; its values are
      ``checkpoint``'s when ``channels`` is None, else each channel's ``checkpoint()``
      (empty channels left out). ``step`` is accepted and unused, as in LangGraph.
    """
    if isinstance(versions_seen, int):
        return _from_checkpoint(channel_values, channel_versions, id, updated_channels)
    return Checkpoint(
        v=CHECKPOINT_FORMAT,
        id=id or _new_id(),
        ts=datetime.now(timezone.utc).isoformat(),
        channel_values=channel_values,
        channel_versions=channel_versions,
        versions_seen=versions_seen,
        updated_channels=updated_channels,
    )


def _from_checkpoint(
    checkpoint: Checkpoint, channels: Any, cid: str | None, updated: list[str] | None
) -> Checkpoint:
    """LangGraph's ``create_checkpoint(checkpoint, channels, step)``."""
    if channels is None:
        values = dict(checkpoint["channel_values"])
    else:
        values = {}
        for name, chan in channels.items():
            value = chan.checkpoint()
            if value is not MISSING:
                values[name] = value
    new = copy_checkpoint(checkpoint)
    new["id"] = cid or _new_id()
    new["ts"] = datetime.now(timezone.utc).isoformat()
    new["channel_values"] = values
    new["updated_channels"] = updated
    return new


_NOT_METADATA = frozenset({
    "thread_id", "checkpoint_id", "checkpoint_ns", "checkpoint_map", "langgraph_step",
    "langgraph_node", "langgraph_triggers", "langgraph_path", "langgraph_checkpoint_ns",
})


def get_checkpoint_metadata(config: RunnableConfig, metadata: CheckpointMetadata) -> CheckpointMetadata:
    """``metadata`` as a saver stores it: with the config's ``metadata`` and then its
    ``configurable`` values that are strings, numbers or booleans added where
    ``metadata`` has no such key (no private ``__`` keys, no checkpoint address), as
    LangGraph's savers do. The engine's checkpoints already carry them, so for those
    this returns ``metadata`` itself; it copies only when it adds something."""
    extra, conf = config.get("metadata"), config.get("configurable")
    if not extra and (not conf or conf.keys() <= _NOT_METADATA):
        return metadata  # the engine's case: nothing to add
    out: Any = metadata
    for obj in (extra, conf):
        if not obj:
            continue
        for k, v in obj.items():
            if k in out or k in _NOT_METADATA or k.startswith("__"):
                continue
            if isinstance(v, str):
                v = v.replace("\x00", "")
            elif not isinstance(v, (int, float, bool)):
                continue
            if out is metadata:
                out = dict(metadata)
            out[k] = v
    return out  # type: ignore[no-any-return]


def _new_id() -> str:
    """A UUIDv6-like id whose string order is creation order, even within a microsecond."""
    from asyncgraph.checkpoint._ids import time_ordered_id

    return time_ordered_id()


SAVER_METHODS: dict[str, bool] = {
    "get_tuple": False,
    "list": True,
    "put": False,
    "put_writes": False,
    "put_step": False,
    "put_steps": False,
    "delete_thread": False,
    "list_threads": False,
    "prune": False,
}
"""The saver API, declared once: each method's sync name (its async twin is ``"a" +
name``), and whether it returns an iterator (its twin an async iterator). The sync
signatures are :class:`BaseCheckpointSaver`'s; every other side (the async defaults
below them, ``checkpoint/_bridge``'s mixins, the SQL savers) is made from this table,
and ``tests/checkpoint/test_saver_surface.py`` checks every saver against it."""


# The type of channel versions, as in LangGraph's BaseCheckpointSaver[V] (libraries write
# BaseCheckpointSaver[str]); informational here.
VersionT = TypeVar("VersionT", default=Any)


class BaseCheckpointSaver(Generic[VersionT]):
    """Base class of all savers. Subclasses implement the sync and/or async methods.

    The engine calls only the async methods (``aget_tuple``, ``aput``, ``aput_writes``);
    the sync ones serve users who inspect threads from sync code. A saver that is
    natively sync (SQLite) gets its async methods run in a thread by the default
    implementations here; a natively async one (aiosqlite, psycopg async) gets sync
    twins that refuse to run on the event loop's thread.
    """

    serde: Any

    def __init__(self, *, serde: Any = None) -> None:
        if serde is None:
            from asyncgraph.checkpoint.serde import default_serde

            serde = default_serde()
        self.serde = serde

    # -- sync API --------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        raise NotImplementedError

    def get(self, config: RunnableConfig) -> Checkpoint | None:
        tup = self.get_tuple(config)
        return tup.checkpoint if tup else None

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        raise NotImplementedError

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        raise NotImplementedError

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        raise NotImplementedError

    def delete_thread(self, thread_id: str) -> None:
        raise NotImplementedError

    def put_step(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
        *,
        parent_writes: Sequence[PendingWrite] = (),
        writes: Sequence[PendingWrite] = (),
    ) -> RunnableConfig:
        """Store a checkpoint and writes atomically; see the module docstring.

        This default is NOT atomic (writes, then the checkpoint); every asyncgraph saver
        overrides it with a single transaction.
        """
        _put_writes_grouped(self.put_writes, config, parent_writes)
        new_config = self.put(config, checkpoint, metadata, new_versions)
        _put_writes_grouped(self.put_writes, new_config, writes)
        return new_config

    def put_steps(self, steps: Sequence[StepPut]) -> builtins.list[RunnableConfig]:
        """Store several steps in order (see the module docstring); their configs.

        This default calls ``put_step`` once per step: each step is atomic, the whole
        is not. The SQL savers store them all in one transaction.
        """
        return [
            self.put_step(s.config, s.checkpoint, s.metadata, s.new_versions,
                          parent_writes=s.parent_writes, writes=s.writes)
            for s in steps
        ]

    def list_threads(self, *, limit: int | None = None) -> builtins.list[ThreadInfo]:
        """Every thread that has a checkpoint, most recently updated first."""
        raise NotImplementedError

    def thread_lock(self, thread_id: str, *, timeout: float | None = None) -> ThreadLock:
        """An opt-in lock on one thread, for ``async with`` or ``with``.

        Savers do not lock threads by themselves: concurrent runs on one thread all
        run, every put is atomic, and the thread's latest checkpoint is the last one
        written. Hold this lock around a run to have one run per thread at a time::

            async with saver.thread_lock(thread_id, timeout=30):
                await graph.ainvoke(inputs, config)

        This default excludes holders in this process using this saver object; the
        PostgreSQL savers exclude holders in every process using the database. The lock
        is not reentrant.

        Raises:
            TimeoutError: on entering, if another holder kept it ``timeout`` seconds.
            ValueError: the thread id cannot be stored (see :func:`check_thread_id`).
        """
        from asyncgraph.checkpoint._locks import ThreadLock, local_locks

        return ThreadLock(local_locks(self), check_thread_id(thread_id), timeout)

    def prune(self, thread_id: str | None = None, *, keep_last: int) -> int:
        """Keep the newest ``keep_last`` checkpoints per namespace; return how many went."""
        raise NotImplementedError

    def with_allowlist(self, extra_allowlist: Any) -> BaseCheckpointSaver[VersionT]:
        """This saver, reading and writing with a serializer that also allows the classes
        in ``extra_allowlist`` (classes or ``(module, qualname)`` pairs).

        The result shares this saver's storage; only values it decodes itself see the
        wider allowlist. This saver is returned unchanged when its serializer takes no
        allowlist or already allows them all.
        """
        widen = getattr(self.serde, "with_msgpack_allowlist", None)
        if widen is None:
            return self
        serde = widen(extra_allowlist)
        if serde is self.serde:
            return self
        return self._with_serde(serde)

    def _with_serde(self, serde: Any) -> BaseCheckpointSaver[VersionT]:
        """A shallow copy of this saver using ``serde``; savers that keep the serializer
        elsewhere too override it."""
        clone = copy.copy(self)
        clone.serde = serde
        return clone

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, DeltaChannelHistory]:
        """The stored history of ``channels`` before the checkpoint in ``config``.

        Follows the parent links from that checkpoint (its own pending writes are not
        history: they lead to its child). At each ancestor it takes the writes to the
        channels, and a channel whose value is stored there gets it as ``seed`` and is
        not followed further. A fork's history is its own branch only.

        This default reads one ``get_tuple`` per ancestor; savers with direct access to
        their storage override it. Returns one :class:`DeltaChannelHistory` per name
        in ``channels`` (an empty dict for none).
        """
        if not channels:
            return {}
        walk = _HistoryWalk(channels)
        tup = self.get_tuple(config)
        parent = tup.parent_config if tup else None
        while parent is not None and walk.open:
            tup = self.get_tuple(parent)
            if tup is None:
                break
            walk.visit(tup)
            parent = tup.parent_config
        return walk.result()

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, DeltaChannelHistory]:
        """Async twin of :meth:`get_delta_channel_history`, over ``aget_tuple``."""
        if not channels:
            return {}
        walk = _HistoryWalk(channels)
        tup = await self.aget_tuple(config)
        parent = tup.parent_config if tup else None
        while parent is not None and walk.open:
            tup = await self.aget_tuple(parent)
            if tup is None:
                break
            walk.visit(tup)
            parent = tup.parent_config
        return walk.result()

    # -- async API -------------------------------------------------------------------
    # Derived from the sync declarations above (SAVER_METHODS): by default each runs its
    # sync method in a worker thread, for natively sync savers. A natively async saver
    # overrides these and gets its sync side from checkpoint/_bridge.SyncOverAsync.

    aget_tuple = async_twin(get_tuple)
    alist = async_iter_twin(list)
    aput = async_twin(put)
    aput_writes = async_twin(put_writes)
    aput_step = async_twin(put_step)

    async def aput_steps(self, steps: Sequence[StepPut]) -> builtins.list[RunnableConfig]:
        """Async twin of :meth:`put_steps`: this default awaits ``aput_step`` once per
        step (so a subclass's own ``aput_step`` sees every step)."""
        return [
            await self.aput_step(s.config, s.checkpoint, s.metadata, s.new_versions,
                                 parent_writes=s.parent_writes, writes=s.writes)
            for s in steps
        ]
    adelete_thread = async_twin(delete_thread)
    alist_threads = async_twin(list_threads)
    aprune = async_twin(prune)

    async def aget(self, config: RunnableConfig) -> Checkpoint | None:
        tup = await self.aget_tuple(config)
        return tup.checkpoint if tup else None

    # -- versions --------------------------------------------------------------------

    def get_next_version(self, current: V | None, channel: Any = None) -> V:
        """The version a channel gets when it is written; must increase monotonically."""
        if current is None:
            return 1
        if isinstance(current, int):
            return current + 1
        return int(str(current).split(".")[0]) + 1


class _HistoryWalk:
    """The state of one ``get_delta_channel_history`` walk, newest ancestor first.

    Local to one call, so concurrent walks (threads or tasks) never see each other.
    """

    def __init__(self, channels: Sequence[str]) -> None:
        self.channels = builtins.list(channels)
        self.open = set(self.channels)  # channels still walked back (no seed yet)
        self.chunks: dict[str, builtins.list[builtins.list[PendingWrite]]] = {c: [] for c in self.channels}
        self.seeds: dict[str, Any] = {}

    def visit(self, tup: CheckpointTuple) -> None:
        """Take one ancestor's writes to the open channels, then its stored values."""
        self.add_writes(tup.pending_writes or ())
        values = tup.checkpoint["channel_values"]
        for ch in [c for c in self.open if c in values]:
            self.seed(ch, values[ch])

    def add_writes(self, writes: Sequence[PendingWrite]) -> None:
        """One ancestor's writes (in its pending-writes order); those to open channels count."""
        mine: dict[str, builtins.list[PendingWrite]] = {}
        for w in writes:
            if w[1] in self.open:
                mine.setdefault(w[1], []).append((w[0], w[1], w[2]))
        for ch, ws in mine.items():
            self.chunks[ch].append(ws)

    def seed(self, channel: str, value: Any) -> None:
        """``channel``'s value stored at the ancestor just visited: the walk stops there."""
        self.seeds[channel] = value
        self.open.discard(channel)

    def result(self) -> dict[str, DeltaChannelHistory]:
        out: dict[str, DeltaChannelHistory] = {}
        for ch in self.channels:
            entry: DeltaChannelHistory = {"writes": [w for ws in reversed(self.chunks[ch]) for w in ws]}
            if ch in self.seeds:
                entry["seed"] = self.seeds[ch]
            out[ch] = entry
        return out


def _put_writes_grouped(
    put_writes: Callable[..., None], config: RunnableConfig, writes: Sequence[PendingWrite]
) -> None:
    by_task: dict[str, list[tuple[str, Any]]] = {}
    paths: dict[str, str] = {}
    for w in writes:
        by_task.setdefault(w[0], []).append((w[1], w[2]))
        if len(w) > 3:
            paths[w[0]] = w[3]
    for task_id, task_writes in by_task.items():
        put_writes(config, task_writes, task_id, paths.get(task_id, ""))
