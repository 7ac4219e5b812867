"""InMemorySaver: checkpoints kept in process memory, in plain Python dictionaries.

The layout is LangGraph's, so code that looks inside keeps working:

- ``storage[thread_id][checkpoint_ns][checkpoint_id] = (checkpoint, metadata, parent_id)``
  where ``checkpoint`` is the serialized checkpoint without its channel values;
- ``blobs[(thread_id, checkpoint_ns, channel, version)]`` holds one channel value, stored
  once by the checkpoint that changed it and shared by its descendants;
- ``writes[(thread_id, checkpoint_ns, checkpoint_id)][(task_id, idx)] =
  (task_id, channel, value, task_path)``.

Stored values are ``(type tag, payload)`` pairs from the serializer, made on ``put``, so
later changes to the objects a node returned never reach a stored checkpoint and every
read returns fresh objects. With the default serializer an immutable scalar (``int``,
``float``, ``str``, ``bytes``, ``bool``, ``None``) is kept as itself under the tag
``"raw"``: nothing could change it, so encoding it would only cost time.

Beyond LangGraph's saver (the contract is in :mod:`asyncgraph.checkpoint.base`): forks
that reuse a channel version keep both branches exact (the second value is stored under
a variant key), ``keep_last=N``, ``put_step``, ``list_threads`` and ``prune``.

Every operation is CPU-only and takes microseconds, so the async methods run inline on
the event loop; each calls its sync twin, so a subclass overriding ``put``,
``put_writes`` or ``get_tuple`` changes what the engine does, as with LangGraph's.
``PersistentDict`` as the factory keeps the data in a file, written by ``sync()`` and on
exit, read back when the saver is made again; the file holds only serializer output,
never pickles.
"""

from __future__ import annotations

import builtins  # the methods named `list` shadow the type inside the class
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from ormsgpack import packb as _packb

from asyncgraph._async import in_thread
from asyncgraph.checkpoint._bridge import inline_async
from asyncgraph.checkpoint.base import (
    MAX_ID_BYTES,
    WRITES_IDX_MAP,
    _NOT_METADATA,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
    PendingWrite,
    ThreadInfo,
    _HistoryWalk,
    check_thread_id,
    get_checkpoint_metadata,
)
from asyncgraph.checkpoint.serde import MsgpackSerde
from asyncgraph.checkpoint.serde._msgpack import _PACK_OPTS
from asyncgraph.errors import CheckpointError

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

__all__ = ["InMemorySaver", "MemorySaver", "PersistentDict"]

RAW = "raw"
"""Type tag of an immutable scalar kept as itself (default serializer only)."""
_EMPTY = ("empty", b"")
_RAW_NONE = (RAW, None)
_RAW_INTS = tuple((RAW, i) for i in range(256))
"""Small ints (counters, steps) kept as one shared tuple each: nothing new to store."""
_SCALARS = frozenset({int, float, str, bytes, bool, type(None)})
_ONLY_ADDRESS = _NOT_METADATA.issuperset
"""Whether a ``configurable`` holds nothing the checkpoint's metadata takes (the engine's)."""
_WRITE = "the write to {name!r} by task {task}"
_VARIANTS = "__asyncgraph_blob_keys__"
"""Private key in a stored checkpoint: channels whose value sits under a variant key."""
_UNVERSIONED = "__asyncgraph_unversioned__"
"""Private key in a stored checkpoint: channels with a value but no version."""

Typed = tuple[str, Any]
Record = tuple[Typed, Typed, "str | None"]
WriteRow = tuple[str, str, Typed, str]  # task id, channel, value, task path


def _parse(config: Any) -> tuple[str, str, str | None]:
    conf: Any = config.get("configurable") if config else None
    thread_id = conf.get("thread_id") if conf else None
    if thread_id is None:
        raise ValueError(
            'a checkpointer needs config["configurable"]["thread_id"]; pass e.g. '
            '{"configurable": {"thread_id": "1"}}'
        )
    ns = conf.get("checkpoint_ns") or ""
    if not (type(thread_id) is str and not ns and len(thread_id) <= MAX_ID_BYTES
            and thread_id.isascii() and "\x00" not in thread_id):
        # (The common case above is what check_thread_id accepts without a look.)
        thread_id = check_thread_id(thread_id, ns)
    return thread_id, ns, conf.get("checkpoint_id")


def _config(thread_id: str, ns: str, cid: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": cid}}


def _write_order(kv: tuple[tuple[str, int], tuple[str, str, Typed, str]]) -> tuple[str, str, int]:
    """The order of a checkpoint's stored writes, as the SQL savers read them: by task
    path, task id, idx."""
    return (kv[1][3], kv[0][0], kv[0][1])


def _same(a: Typed, b: Typed) -> bool:
    return a[0] == b[0] and type(a[1]) is type(b[1]) and a[1] == b[1]


@inline_async
class InMemorySaver(BaseCheckpointSaver):
    """A checkpointer that keeps everything in process memory. Its async API is its
    sync methods called inline (:func:`~asyncgraph.checkpoint._bridge.inline_async`:
    no I/O, microseconds).

    Args:
        serde: the serializer; defaults to the safe msgpack one.
        factory: builds ``storage``, ``writes`` and ``blobs`` (``defaultdict``); pass
            ``functools.partial(PersistentDict, filename=...)`` to keep them in a file.
        keep_last: keep only the newest N checkpoints per thread and namespace.
    """

    storage: defaultdict[str, dict[str, dict[str, Record]]]
    writes: defaultdict[tuple[str, str, str], dict[tuple[str, int], tuple[str, str, Typed, str]]]
    blobs: dict[tuple[str, str, str, Any], Typed]

    def __init__(
        self,
        *,
        serde: Any = None,
        factory: Callable[..., Any] = defaultdict,
        keep_last: int | None = None,
    ) -> None:
        super().__init__(serde=serde)
        if keep_last is not None and keep_last < 1:
            raise ValueError(f"keep_last must be at least 1, got {keep_last}")
        self.keep_last = keep_last
        self._raw = type(self.serde) is MsgpackSerde
        self._lock = threading.RLock()  # the sync API may be used from several threads
        self.storage = factory(_ns_dict)
        self.writes = factory(dict)
        self.blobs = factory()
        self.stack = ExitStack()
        for name in ("storage", "writes", "blobs"):
            d = getattr(self, name)
            if isinstance(d, PersistentDict):
                d.use_section(name)
            if hasattr(d, "__exit__"):
                self.stack.enter_context(d)
        # Per thread: the keys of its blobs and writes, so deleting or pruning a thread
        # never scans the other threads' data.
        self._blob_keys: dict[str, set[tuple[str, str, str, Any]]] = {}
        self._write_keys: dict[str, set[tuple[str, str, str]]] = {}
        # (thread, ns, checkpoint id) -> {channel: blob key version} for checkpoints that
        # read a channel from a variant key (forks that reused a version).
        self._variants: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._debt: dict[tuple[str, str], int] = {}
        if self.storage or self.blobs or self.writes:
            self._reindex()

    # -- context management ---------------------------------------------------------------

    def __enter__(self) -> InMemorySaver:
        self.stack.__enter__()
        return self

    def __exit__(self, *exc: Any) -> bool | None:
        return self.stack.__exit__(*exc)

    async def __aenter__(self) -> InMemorySaver:
        self.stack.__enter__()
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        # Closing may write a PersistentDict's file: not on the event loop.
        return await in_thread(self.stack.__exit__, *exc)

    # -- encoding -------------------------------------------------------------------------

    def _dump(self, value: Any, what: str, name: Any = None, task: Any = None,
              dumps: Callable[[Any], bytes] | None = None) -> Typed:
        """Encode a value; a TypeError names it (``what`` formatted with name and task).
        ``dumps``: the default serializer's encoder for the values of one save."""
        if self._raw:
            if type(value) in _SCALARS:
                return (RAW, value)
        try:
            if dumps is not None:
                return ("msgpack", dumps(value))
            return self.serde.dumps_typed(value)  # type: ignore[no-any-return]
        except TypeError as exc:
            raise TypeError(f"cannot store {what.format(name=name, task=task)}: {exc}") from None

    def _dump_plain(self, value: Any, what: str, name: Any = None) -> Typed:
        """Encode a value that is usually plain data (checkpoint records, metadata).

        With the default serializer, plain data (dicts, lists, str, numbers) is packed in
        one C call: the same bytes its ``dumps`` makes, without its per-call set-up.
        Anything else is refused by the packer and goes through the serializer.
        """
        if self._raw:
            try:
                return ("msgpack", _packb(value, option=_PACK_OPTS))
            except TypeError:
                pass
        return self._dump(value, what, name)

    def _load(self, data: Typed, thread_id: str, cid: str, what: str) -> Any:
        if data[0] == RAW:
            return data[1]
        try:
            return self.serde.loads_typed(data)
        except Exception as exc:
            raise CheckpointError(
                f"thread {thread_id!r} checkpoint {cid}: cannot read the stored {what}: "
                f"{exc}; the data was left untouched"
            ) from exc

    def _write_rows(self, cid: str | None, writes: Sequence[PendingWrite],
                    encoder: builtins.list[Any] | None = None) -> dict[tuple[str, int], WriteRow]:
        """Encoded writes of several tasks, ``idx`` counted per task in order; a special
        write (error, interrupt, resume) repeated by a task keeps its last value.
        ``encoder``: the save's one-item list holding its encoder, or None until one is
        needed (see ``_put``)."""
        if not cid:
            raise ValueError('writes need config["configurable"]["checkpoint_id"]')
        rows: dict[tuple[str, int], WriteRow] = {}
        counters: dict[str, int] | None = None
        raw = self._raw
        task = None
        idx = 0
        for w in writes:
            try:
                task_id, ch, value, path = w  # type: ignore[misc]  # the engine's, with the task path
            except ValueError:
                task_id, ch, value = w[0], w[1], w[2]
                path = w[3] if len(w) > 3 else ""
            if task_id != task:  # usually one task's writes, in a row
                if task is not None:
                    if counters is None:
                        counters = {}
                    counters[task] = idx
                task = task_id
                idx = counters.get(task_id, 0) if counters else 0
            t = type(value)
            if raw and t is int and -1 < value < 256:
                enc: Typed = _RAW_INTS[value]
            elif raw and t in _SCALARS:
                enc = _RAW_NONE if value is None else (RAW, value)
            elif encoder is not None:
                if encoder[0] is None:
                    encoder[0] = self.serde.encoder()
                enc = self._dump(value, _WRITE, ch, task_id, encoder[0])
            else:
                enc = self._dump(value, _WRITE, ch, task_id)
            rows[(task_id, WRITES_IDX_MAP[ch] if ch in WRITES_IDX_MAP else idx)] = (task_id, ch, enc, path)
            idx += 1
        return rows

    # -- sync API -------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread_id, ns, cid = _parse(config)
        with self._lock:  # a sync caller in another thread may be pruning this thread
            namespaces = self.storage.get(thread_id)
            chain = namespaces.get(ns) if namespaces else None
            if not chain:
                return None
            if cid:
                rec = chain.get(cid)
                if rec is None:
                    return None
            else:
                cid = next(reversed(chain))
                rec = chain[cid]
            return self._tuple(thread_id, ns, cid, rec)

    def _tuple(self, thread_id: str, ns: str, cid: str, rec: Record) -> CheckpointTuple:
        skeleton = self._load(rec[0], thread_id, cid, "checkpoint")
        variants = skeleton.pop(_VARIANTS, None)
        values = self._load_blobs(thread_id, ns, skeleton["channel_versions"], variants, cid)
        for ch in skeleton.pop(_UNVERSIONED, ()):
            data = self.blobs.get((thread_id, ns, ch, ("", cid)))
            if data is not None:
                values[ch] = self._load(data, thread_id, cid, f"channel {ch!r}")
        checkpoint = {**skeleton, "channel_values": values}
        metadata = self._load(rec[1], thread_id, cid, "metadata")
        stored = self.writes.get((thread_id, ns, cid))
        pending = []
        if stored:
            for (task_id, _), (_, ch, data, _) in sorted(stored.items(), key=_write_order):
                pending.append((task_id, ch, self._load(data, thread_id, cid, f"write to {ch}")))
        parent = rec[2]
        return CheckpointTuple(
            config=_config(thread_id, ns, cid),
            checkpoint=checkpoint,  # type: ignore[arg-type]
            metadata=metadata,
            parent_config=_config(thread_id, ns, parent) if parent else None,
            pending_writes=pending,
        )

    def _load_blobs(
        self,
        thread_id: str,
        ns: str,
        versions: ChannelVersions,
        variants: dict[str, Any] | None = None,
        cid: str = "",
    ) -> dict[str, Any]:
        """The stored values of the channels in ``versions`` (``{channel: version}``,
        read from a variant key where ``variants`` names one). A channel stored as
        ``"empty"`` or not stored at all is left out."""
        blobs = self.blobs
        values = {}
        for ch, version in versions.items():
            key = (thread_id, ns, ch, tuple(variants[ch]) if variants and ch in variants else version)
            data = blobs.get(key)
            if data is not None and data[0] != "empty":
                values[ch] = self._load(data, thread_id, cid, f"channel {ch!r}")
        return values

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, DeltaChannelHistory]:
        """See :meth:`BaseCheckpointSaver.get_delta_channel_history`; this one reads the
        stored chain directly, decoding only the writes and values of ``channels``."""
        if not channels:
            return {}
        thread_id, ns, cid = _parse(config)
        walk = _HistoryWalk(channels)
        with self._lock:
            chain = (self.storage.get(thread_id) or {}).get(ns) or {}
            if not cid and chain:
                cid = next(reversed(chain))
            rec = chain.get(cid) if cid else None
            parent = rec[2] if rec else None
            while parent and walk.open:
                rec = chain.get(parent)
                if rec is None:
                    break
                stored = self.writes.get((thread_id, ns, parent))
                if stored:
                    walk.add_writes([
                        (task_id, ch, self._load(data, thread_id, parent, f"write to {ch}"))
                        for (task_id, _), (_, ch, data, _) in sorted(stored.items(), key=_write_order)
                        if ch in walk.open
                    ])
                skeleton = self._load(rec[0], thread_id, parent, "checkpoint")
                versions = skeleton["channel_versions"]
                wanted = {ch: versions[ch] for ch in walk.open if ch in versions}
                found = self._load_blobs(thread_id, ns, wanted, skeleton.get(_VARIANTS), parent)
                for ch in skeleton.get(_UNVERSIONED, ()):
                    data = self.blobs.get((thread_id, ns, ch, ("", parent))) if ch in walk.open else None
                    if data is not None:
                        found[ch] = self._load(data, thread_id, parent, f"channel {ch!r}")
                for ch, value in found.items():
                    walk.seed(ch, value)
                parent = rec[2]
        return walk.result()

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, DeltaChannelHistory]:
        """Async twin of :meth:`get_delta_channel_history`, called inline."""
        return self.get_delta_channel_history(config=config, channels=channels)

    def _with_serde(self, serde: Any) -> InMemorySaver:
        # The copy shares the storage (and its lock and indexes); only the codec differs.
        clone: InMemorySaver = super()._with_serde(serde)  # type: ignore[assignment]
        clone._raw = type(serde) is MsgpackSerde
        return clone

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        conf = (config or {}).get("configurable") or {}
        before_id = ((before or {}).get("configurable") or {}).get("checkpoint_id")
        with self._lock:
            if conf.get("thread_id") is not None:
                thread_id = str(conf["thread_id"])
                threads = [thread_id] if thread_id in self.storage else []
            else:
                threads = builtins.list(self.storage)
            wanted_ns = conf.get("checkpoint_ns")
            wanted_id = conf.get("checkpoint_id")
            found: builtins.list[tuple[str, str, str, dict[str, Record]]] = []
            for t in threads:
                for ns, chain in self.storage[t].items():
                    if wanted_ns is not None and ns != wanted_ns:
                        continue
                    if wanted_id:
                        ids = [wanted_id] if wanted_id in chain else []
                    else:
                        ids = builtins.list(chain)
                    found.extend((cid, t, ns, chain) for cid in ids)
        found.sort(key=lambda x: x[0], reverse=True)
        count = 0
        for cid, t, ns, chain in found:
            if limit is not None and count >= limit:
                return
            if before_id and cid >= before_id:
                continue
            with self._lock:
                # Read each one as it is now: one pruned or deleted since the listing
                # started is skipped, never read half-collected.
                rec = chain.get(cid)
                if rec is None:
                    continue
                if filter:
                    meta = self._load(rec[1], t, cid, "metadata")
                    if not all(k in meta and meta[k] == v for k, v in filter.items()):
                        continue
                tup = self._tuple(t, ns, cid, rec)
            count += 1
            yield tup

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._put(config, checkpoint, metadata, new_versions, (), ())

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
        cls = type(self)
        if cls is not InMemorySaver and (
            cls.put is not InMemorySaver.put or cls.put_writes is not InMemorySaver.put_writes
        ):
            # A subclass that overrides put / put_writes (as LangGraph's tests do) sees
            # every checkpoint and write through them, in put_step's order.
            return super().put_step(
                config, checkpoint, metadata, new_versions,
                parent_writes=parent_writes, writes=writes,
            )
        return self._put(config, checkpoint, metadata, new_versions, parent_writes, writes)

    def step_entry(self) -> Callable[..., RunnableConfig] | None:
        """For the engine (``pregel._saving``): the method that saves one step, called
        as ``entry(config, checkpoint, metadata, new_versions, parent_writes, writes,
        values, meta_t)`` instead of ``put_step`` / ``put`` (the same effect, one call
        fewer per step; see ``_put`` for the last two). None for a subclass that
        overrides ``put``, ``put_writes`` or ``put_step``, which sees every checkpoint
        through them, or a serializer other than the default one."""
        cls = type(self)
        if not self._raw or cls is not InMemorySaver and (
            cls.put is not InMemorySaver.put or cls.put_writes is not InMemorySaver.put_writes
            or cls.put_step is not InMemorySaver.put_step
        ):
            return None
        return self._put

    def _put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
        parent_writes: Sequence[PendingWrite],
        writes: Sequence[PendingWrite],
        values: dict[str, Any] | None = None,
        meta_t: Typed | None = None,
    ) -> RunnableConfig:
        """put / put_step. From the engine's step entry (``step_entry``) also: the
        checkpoint without its ``channel_values`` (a dict of its own, kept as the stored
        skeleton) and the ``values`` apart; and ``meta_t``, the metadata already stored
        (``packed_metadata``: the engine's plain metadata, in an address-only config)."""
        # (Every call and object below costs: this runs once per step of every graph.)
        conf: Any = config.get("configurable") if config else None
        thread_id = conf.get("thread_id") if conf else None
        ns = conf.get("checkpoint_ns") if conf else None
        if ns or type(thread_id) is not str or thread_id not in self._blob_keys:
            # A new thread (or a namespace): check its id. A thread the saver holds
            # data of passed this check before.
            thread_id, ns, _ = _parse(config)
        else:
            ns = ""
        parent_id = conf.get("checkpoint_id")
        cid = checkpoint["id"]
        if meta_t is None and (config.get("metadata") or not _ONLY_ADDRESS(conf)):
            metadata = get_checkpoint_metadata(config, metadata)  # (the engine's has it all)
        # Encode everything before storing anything: a TypeError leaves the saver as it was.
        skeleton: dict[str, Any] | None = None
        if values is None:
            values = checkpoint["channel_values"]
        else:
            skeleton = checkpoint  # type: ignore[assignment]  # (without channel_values)
        versions = checkpoint["channel_versions"]
        raw = self._raw
        # The values and the writes saved with them are encoded at one instant: an
        # object in several of them (a message in the list and in the write that added
        # it) is encoded once (MsgpackSerde.encoder), made when the first value that is
        # not a scalar needs it (most steps of many graphs have none).
        encoder: builtins.list[Any] | None = None
        new_blobs: dict[tuple[str, str, str, Any], Typed] = {}  # (keys are distinct)
        stored = 0  # channels of `values` stored here (all of them, with their versions)
        for ch, version in new_versions.items():
            value = values.get(ch, _EMPTY)
            if value is _EMPTY:  # (never a channel's value: a private object)
                new_blobs[(thread_id, ns, ch, version)] = _EMPTY
                continue
            t = type(value)
            if not raw:
                enc: Typed = self._dump(value, "channel {name!r}", ch)
            elif t is int and -1 < value < 256:
                enc = _RAW_INTS[value]
            elif value is None:
                enc = _RAW_NONE  # a trigger channel's value, at most steps
            elif t in _SCALARS:
                enc = (RAW, value)
            else:
                if encoder is None:
                    encoder = [self.serde.encoder()]
                enc = self._dump(value, "channel {name!r}", ch, None, encoder[0])
            new_blobs[(thread_id, ns, ch, version)] = enc
            if ch in versions:
                stored += 1
        blobs = self.blobs
        variants: dict[str, Any] | None = None
        if parent_id and self._variants:
            inherited = self._variants.get((thread_id, ns, parent_id))
            if inherited:
                variants = {
                    ch: key for ch, key in inherited.items()
                    if ch not in new_versions and versions.get(ch) == key[0]
                }
        if variants or not blobs.keys().isdisjoint(new_blobs):
            # A fork reused a version, or the parent reads a variant key: rare.
            new_blobs, variants = self._variant_keys(new_blobs, variants)
        if skeleton is None:
            skeleton = dict(checkpoint)
            del skeleton["channel_values"]
        if stored != len(values) and not values.keys() <= versions.keys():
            # Values of channels without a version (say an aggregate's initial value in
            # an input checkpoint) belong to this checkpoint alone.
            unversioned = [ch for ch in values if ch not in versions]
            for ch in unversioned:
                if raw and encoder is None:
                    encoder = [self.serde.encoder()]
                enc = self._dump(values[ch], "channel {name!r}", ch, None, encoder[0] if encoder else None)
                new_blobs[(thread_id, ns, ch, ("", cid))] = enc
            skeleton[_UNVERSIONED] = unversioned
        if variants:
            skeleton[_VARIANTS] = {ch: builtins.list(k) for ch, k in variants.items()}
        if raw:  # _dump_plain, inline
            try:
                skeleton_t: Typed = ("msgpack", _packb(skeleton, option=_PACK_OPTS))
                if meta_t is None:
                    meta_t = ("msgpack", _packb(metadata, option=_PACK_OPTS))
            except TypeError:
                raw = False
        if not raw:
            skeleton_t = self._dump_plain(skeleton, "checkpoint {name}", cid)
            if meta_t is None:
                meta_t = self._dump_plain(metadata, "the checkpoint's metadata")
        parent_rows: dict[tuple[str, int], WriteRow] | None = None
        own_rows: dict[tuple[str, int], WriteRow] | None = None
        if parent_writes or writes:
            if raw and encoder is None:
                encoder = [None]
            parent_rows = self._write_rows(parent_id, parent_writes, encoder) if parent_writes else None
            own_rows = self._write_rows(cid, writes, encoder) if writes else None
        encoder = None  # (it holds the values it encoded)
        record: Record = (skeleton_t, meta_t, parent_id)  # type: ignore[assignment]  # (meta_t is set)

        lock = self._lock
        lock.acquire()  # (not `with`: it costs twice as much)
        try:
            blob_keys = self._blob_keys.get(thread_id)
            if blob_keys is None:
                blob_keys = self._blob_keys[thread_id] = set()
            blobs.update(new_blobs)
            blob_keys.update(new_blobs)
            chain = self.storage[thread_id][ns]
            if chain and cid < next(reversed(chain)):
                # Stored out of order (an explicit old id): keep the chain sorted by id.
                chain[cid] = record
                ordered = sorted(chain.items())
                chain.clear()
                chain.update(ordered)
            else:
                chain[cid] = record
            if variants:
                self._variants[(thread_id, ns, cid)] = variants
            if parent_rows:
                outer = (thread_id, ns, parent_id)
                if outer not in self.writes:  # (_store_writes, inline: the usual case)
                    self.writes[outer] = parent_rows  # type: ignore[index]
                    keys = self._write_keys.get(thread_id)
                    if keys is None:
                        keys = self._write_keys[thread_id] = set()
                    keys.add(outer)  # type: ignore[arg-type]
                else:
                    self._store_writes(thread_id, ns, parent_id, parent_rows)  # type: ignore[arg-type]
            if own_rows:
                self._store_writes(thread_id, ns, cid, own_rows)
            if self.keep_last and len(chain) > self.keep_last:
                self._prune_chain(thread_id, ns, chain, self.keep_last, collect=False)
        finally:
            lock.release()
        return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": cid}}

    def _variant_keys(
        self, new_blobs: dict[tuple[str, str, str, Any], Typed], variants: dict[str, Any] | None
    ) -> tuple[dict[tuple[str, str, str, Any], Typed], dict[str, Any] | None]:
        """The keys a checkpoint's new values are stored under when a version is reused.

        A fork that reuses a channel's version for another value stores it under a
        variant key ``(version, n)`` and remembers it in ``variants`` (inherited from the
        parent for the channels this checkpoint did not change); a new value for a
        channel read from a variant key ends that."""
        blobs = self.blobs
        out: dict[tuple[str, str, str, Any], Typed] = {}
        for key, enc in new_blobs.items():
            thread_id, ns, ch, version = key
            old = blobs.get(key)
            if old is not None and not _same(old, enc):
                n = 1
                while (old := blobs.get(key := (thread_id, ns, ch, (version, n)))) is not None:
                    if _same(old, enc):
                        break
                    n += 1
                if variants is None:
                    variants = {}
                variants[ch] = (version, n)
            elif variants and ch in variants:
                del variants[ch]
            out[key] = enc
        return out, variants

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        thread_id, ns, cid = _parse(config)
        if not cid:
            raise ValueError('put_writes needs config["configurable"]["checkpoint_id"]')
        raw = self._raw
        rows: dict[tuple[str, int], WriteRow] = {}
        for idx, (ch, value) in enumerate(writes):
            if raw and type(value) in _SCALARS:
                enc: Typed = (RAW, value)
            else:
                enc = self._dump(value, _WRITE, ch, task_id)
            rows[(task_id, WRITES_IDX_MAP.get(ch, idx))] = (task_id, ch, enc, task_path)
        if rows:
            with self._lock:
                self._store_writes(thread_id, ns, cid, rows)

    def _store_writes(
        self, thread_id: str, ns: str, cid: str, rows: dict[tuple[str, int], WriteRow]
    ) -> None:
        outer = (thread_id, ns, cid)
        stored = self.writes.get(outer)
        if stored is None:
            self.writes[outer] = rows
            keys = self._write_keys.get(thread_id)
            if keys is None:
                keys = self._write_keys[thread_id] = set()
            keys.add(outer)
            return
        for inner, row in rows.items():
            # A retried task writes the same (task, idx) again: the first one stays.
            # Special writes (error, interrupt, resume) replace.
            if inner[1] < 0 or inner not in stored:
                stored[inner] = row

    def delete_thread(self, thread_id: str) -> None:
        thread_id = check_thread_id(thread_id)
        with self._lock:
            self.storage.pop(thread_id, None)
            for key in self._blob_keys.pop(thread_id, ()):
                self.blobs.pop(key, None)
            for outer in self._write_keys.pop(thread_id, ()):
                self.writes.pop(outer, None)
            for vkey in [k for k in self._variants if k[0] == thread_id]:
                del self._variants[vkey]
            for dkey in [k for k in self._debt if k[0] == thread_id]:
                del self._debt[dkey]

    def list_threads(self, *, limit: int | None = None) -> builtins.list[ThreadInfo]:
        with self._lock:
            infos = []
            for thread_id, namespaces in self.storage.items():
                newest, count = "", 0
                for chain in namespaces.values():
                    if chain:
                        newest = max(newest, next(reversed(chain)))
                        count += len(chain)
                if count:
                    infos.append(ThreadInfo(thread_id, newest, count))
        infos.sort(key=lambda info: info.latest_checkpoint_id, reverse=True)
        return infos if limit is None else infos[:limit]

    def prune(self, thread_id: str | None = None, *, keep_last: int) -> int:
        if keep_last < 1:
            raise ValueError(f"keep_last must be at least 1, got {keep_last}")
        removed = 0
        with self._lock:
            threads = builtins.list(self.storage) if thread_id is None else [str(thread_id)]
            for t in threads:
                namespaces = self.storage.get(t)
                for ns, chain in builtins.list((namespaces or {}).items()):
                    removed += self._prune_chain(t, ns, chain, keep_last, collect=True)
        return removed

    def _prune_chain(
        self, thread_id: str, ns: str, chain: dict[str, Record], keep: int, *, collect: bool
    ) -> int:
        """Drop all but the newest ``keep`` checkpoints of a chain, with their writes."""
        doomed = builtins.list(chain)[: max(len(chain) - keep, 0)]
        write_keys = self._write_keys.get(thread_id, set())
        for cid in doomed:
            del chain[cid]
            outer = (thread_id, ns, cid)
            if self.writes.pop(outer, None) is not None:
                write_keys.discard(outer)
            self._variants.pop(outer, None)
        if collect:
            self._collect(thread_id, ns, chain)
            self._debt.pop((thread_id, ns), None)
        elif doomed:
            # Finding the blobs nobody needs reads the kept checkpoints: do it once enough
            # garbage has built up, not after every put.
            key = (thread_id, ns)
            debt = self._debt.get(key, 0) + len(doomed)
            if debt >= max(16, self.keep_last or 0):
                self._collect(thread_id, ns, chain)
                debt = 0
            self._debt[key] = debt
        return len(doomed)

    def _collect(self, thread_id: str, ns: str, chain: dict[str, Record]) -> None:
        """Delete the blobs of (thread, ns) that no remaining checkpoint reads."""
        needed = set()
        for cid, rec in chain.items():
            skeleton = self._load(rec[0], thread_id, cid, "checkpoint")
            variants = skeleton.get(_VARIANTS) or {}
            for ch, version in skeleton["channel_versions"].items():
                needed.add((thread_id, ns, ch, tuple(variants[ch]) if ch in variants else version))
            for ch in skeleton.get(_UNVERSIONED, ()):
                needed.add((thread_id, ns, ch, ("", cid)))
        keys = self._blob_keys.get(thread_id, set())
        for key in [k for k in keys if k[1] == ns and k not in needed]:
            self.blobs.pop(key, None)
            keys.discard(key)

    def _reindex(self) -> None:
        """Rebuild the per-thread indexes from data loaded from a file."""
        for key in self.blobs:
            self._blob_keys.setdefault(key[0], set()).add(key)
        for outer in self.writes:
            self._write_keys.setdefault(outer[0], set()).add(outer)
        for t, namespaces in self.storage.items():
            for ns, chain in namespaces.items():
                for cid, rec in chain.items():
                    skeleton = self._load(rec[0], t, cid, "checkpoint")
                    if skeleton.get(_VARIANTS):
                        self._variants[(t, ns, cid)] = {
                            ch: tuple(k) for ch, k in skeleton[_VARIANTS].items()
                        }


def packed_metadata(source: str, step: int) -> Typed:
    """The stored form of the engine's plain metadata, ``{"source": source, "step": step,
    "parents": {}}`` (no parents, nothing from the config): the same for every thread,
    so packed once (``PACKED_METADATA`` keeps it, by ``(source, step)``)."""
    t = ("msgpack", _packb({"source": source, "step": step, "parents": {}}, option=_PACK_OPTS))
    if len(PACKED_METADATA) >= 4096:
        PACKED_METADATA.clear()  # (a bound: steps go up to the recursion limit)
    PACKED_METADATA[(source, step)] = t
    return t


PACKED_METADATA: dict[tuple[str, int], Typed] = {}


def _ns_dict() -> defaultdict[str, dict[str, Record]]:
    return defaultdict(dict)


MemorySaver = InMemorySaver
"""LangGraph's older name for :class:`InMemorySaver`."""


# -- PersistentDict ----------------------------------------------------------------------


class PersistentDict(defaultdict):  # type: ignore[type-arg]
    """A ``defaultdict`` kept in a file: read when made, written by ``sync()`` and ``close()``.

    Use it as the saver's factory, ``InMemorySaver(factory=partial(PersistentDict,
    filename="checkpoints.bin"))``: the saver's three dictionaries share the file, each
    in its own section. The file is written atomically (a temporary file renamed over
    it) with the safe checkpoint serializer: it never holds pickles, and reading it
    never runs code. Keys may be strings, numbers or tuples of them.
    """

    def __init__(self, *args: Any, filename: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filename = filename
        self.section = "data"
        self.load()

    def use_section(self, name: str) -> None:
        """Keep this dict under ``name`` in the file (reloading that section)."""
        self.clear()
        self.section = name
        self.load()

    def load(self) -> None:
        """Merge the file's data for this section into the dict (nothing if absent)."""
        sections = _read_sections(self.filename)
        for key, value in sections.get(self.section, ()):
            self[key] = self._adopt(_from_plain(value))

    def _adopt(self, value: Any) -> Any:
        # A loaded nested dict becomes what the default factory makes, as before saving.
        if type(value) is dict and self.default_factory is not None:
            made = self.default_factory()
            if isinstance(made, dict):
                made.update(value)
                return made
        return value

    def sync(self) -> None:
        """Write the dict to the file now."""
        sections = _read_sections(self.filename)
        sections[self.section] = [[k, _to_plain(v)] for k, v in self.items()]
        data = _FILE_SERDE.dumps({"format": 1, "sections": sections})
        tmp = f"{self.filename}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.filename)

    def close(self) -> None:
        """Write the dict to the file; the data stays readable in memory."""
        self.sync()

    def __enter__(self) -> PersistentDict:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_FILE_SERDE = MsgpackSerde()


def _read_sections(filename: str) -> dict[str, Any]:
    try:
        with open(filename, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return {}
    if not raw:
        return {}
    try:
        data = _FILE_SERDE.loads(raw)
        if type(data) is not dict or data.get("format") != 1:
            raise ValueError("not a PersistentDict file")
        sections = data["sections"]
        if type(sections) is not dict:
            raise ValueError("not a PersistentDict file")
        return sections
    except Exception as exc:
        raise CheckpointError(
            f"cannot read {filename!r} as a PersistentDict file: {exc}; the file was left "
            "untouched"
        ) from exc


def _to_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {"d": [[k, _to_plain(v)] for k, v in value.items()]}
    return value


def _from_plain(value: Any) -> Any:
    if type(value) is dict and set(value) == {"d"}:
        return {_key(k): _from_plain(v) for k, v in value["d"]}
    return value


def _key(k: Any) -> Any:
    return tuple(k) if type(k) is list else k
