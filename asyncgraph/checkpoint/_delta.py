"""How a put stores one channel value: a blob snapshot, a list delta, or inline; the
cache of those states per thread (:class:`_Cache`) and the decoding of a fetched
lineage (:class:`_Lineage`).

:class:`_Chan` records where a channel's value at one checkpoint is stored; the store
caches these per thread so that a list extending its parent's value is stored as a
delta holding only the new items (see :mod:`asyncgraph.checkpoint._store`). The
functions here plan those inserts and retry a lost one as a snapshot; they are split
out of the store's module to keep it to its operations, and take what they used from
``Store`` (the dialect, its ``_encode``, ``max_deltas``) as arguments.
"""

from __future__ import annotations

import collections
import operator
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import pydantic

from asyncgraph.checkpoint import _refs
from asyncgraph.checkpoint import _sql as S
from asyncgraph.checkpoint._body import INLINE_MAX, Loc
from asyncgraph.checkpoint._sql import DELTA, SNAPSHOT, Dialect, Op, Stmt
from asyncgraph.checkpoint._refs import RefTarget
from asyncgraph.constants import START
from asyncgraph.errors import CheckpointError


# The inserts of a speculative put (``Store.op_put(fast=True)``): a row that cannot be
# stored is an error (unique violation; for a delta whose predecessor is gone, its kind
# is NULL: a not-null violation) that aborts the transaction, instead of a row count of
# 0 the put must read before it may commit.
INSERT_BLOB_STRICT = S.INSERT_BLOB.removesuffix(" ON CONFLICT DO NOTHING")
INSERT_DELTA_STRICT = (
    "INSERT INTO asyncgraph_blobs (tid, channel, lin_version, lin_variant, seq, kind, data) "
    "SELECT t.tid, ?, ?, ?, ?, (SELECT ? FROM asyncgraph_blobs p WHERE p.tid = t.tid "
    "AND p.channel = ? AND p.lin_version = ? AND p.lin_variant = ? AND p.seq = ?), ? "
    "FROM asyncgraph_threads t WHERE t.thread_id = ? AND t.checkpoint_ns = ?"
)
assert INSERT_BLOB_STRICT != S.INSERT_BLOB

# The same for a row that is a reference to another (see _refs): stored only if the row
# referred to is still there (non-strict: or nothing is stored; strict: or it raises).
_REFERRED = ("EXISTS (SELECT 1 FROM asyncgraph_blobs r WHERE r.tid = {t}.tid AND "
             "r.channel = ? AND r.lin_version = ? AND r.lin_variant = ? AND r.seq = ?)")
_INSERT_BLOB_REF = S.INSERT_BLOB.replace(
    " ON CONFLICT", " AND " + _REFERRED.format(t="asyncgraph_threads") + " ON CONFLICT")
_INSERT_DELTA_REF = S.INSERT_DELTA.replace(
    " ON CONFLICT", " AND " + _REFERRED.format(t="t") + " ON CONFLICT")
_INSERT_BLOB_REF_STRICT = (
    "INSERT INTO asyncgraph_blobs (tid, channel, lin_version, lin_variant, seq, kind, data) "
    "SELECT t.tid, ?, ?, ?, ?, (SELECT ? WHERE " + _REFERRED.format(t="t") + "), ? "
    "FROM asyncgraph_threads t WHERE t.thread_id = ? AND t.checkpoint_ns = ?"
)
_INSERT_DELTA_REF_STRICT = INSERT_DELTA_STRICT.replace(
    "AND p.seq = ?)", "AND p.seq = ? AND " + _REFERRED.format(t="t") + ")")
assert _INSERT_BLOB_REF != S.INSERT_BLOB and _INSERT_DELTA_REF != S.INSERT_DELTA
assert _INSERT_DELTA_REF_STRICT != INSERT_DELTA_STRICT

# The insert of a value row by (kind, strict), as it is / as a reference (see _plan_blob).
_INSERTS = {(SNAPSHOT, False): S.INSERT_BLOB, (SNAPSHOT, True): INSERT_BLOB_STRICT,
            (DELTA, False): S.INSERT_DELTA, (DELTA, True): INSERT_DELTA_STRICT}
_INSERTS_REF = {(SNAPSHOT, False): _INSERT_BLOB_REF, (SNAPSHOT, True): _INSERT_BLOB_REF_STRICT,
                (DELTA, False): _INSERT_DELTA_REF, (DELTA, True): _INSERT_DELTA_REF_STRICT}

_SOURCE_MAX = 1 << 14
"""The longest ``__start__`` value whose bytes a put keeps (in the cache, so at most
this much per cached thread) for the next put's values to refer to; a longer input is
stored again by the state it is applied to."""


class _Chan(NamedTuple):
    """Where a channel's value at one checkpoint is stored, and (lists) what it was."""

    version: Any
    variant: int
    lin: tuple[Any, int] | None = None  # (lin_version key, lin_variant) of its lineage
    seq: int = 0
    items: list[Any] | tuple[Any, ...] | None = None  # the list value's items (see _held)
    inline: bytes | None = None  # a small value kept in the checkpoint body itself
    data: bytes | None = None  # the row's bytes, for the next put to refer to (START only)


_EMPTY: dict[int, _Chan] = {}

_ref = weakref.ref


def _held(value: list[Any]) -> list[Any] | tuple[Any, ...]:
    """A list value's items as the cache keeps them, for the next put's prefix check
    (:func:`_prefix`): weak references when every item takes one (messages), else a
    private copy of the list.

    The cache outlives the run: strong references would keep every message of the last
    runs of up to 1,024 threads alive for the collector to trace (~15 tracked objects
    per thread of the bench's agent), for nothing, as a thread's next run reads its
    checkpoint first and that read replaces the entry. While a run is in flight the
    engine holds its messages, so the references are alive for its next put; an item
    that died fails the check (a snapshot is written instead: space, not correctness)."""
    try:
        return tuple(map(_ref, value))  # one shared reference per object, made once
    except TypeError:  # str, dict, tuple, None, ...: no weak references
        return list(value)


def _empty(version: Any) -> _Chan:
    """``_Chan(version, 0)``: the state of a channel with no value (most channels of
    most checkpoints). Shared for small int versions, as they are immutable: a put
    makes one per such channel, and the cache keeps them per thread (fewer objects for
    the collector to count and trace)."""
    if type(version) is int and 0 <= version < 4096:
        found = _EMPTY.get(version)
        if found is None:
            found = _EMPTY[version] = _Chan(version, 0)
        return found
    return _Chan(version, 0)


def _plan_blob(
    d: Dialect,
    encode: Callable[[Any, str, Any], bytes],
    max_deltas: int,
    thread_id: str,
    ns: str,
    ch_id: int,
    ch: str,
    version: Any,
    values: dict[str, Any],
    parent: dict[str, _Chan] | None,
    strict: bool = False,
    source: tuple[bytes, RefTarget] | None = None,
) -> tuple[Stmt | None, _Chan, tuple[bytes, RefTarget] | None]:
    """The insert storing a channel's new value (None: it has none), its state, and
    where its bytes can be referred to from (None: nowhere): the row's own bytes and
    key, or those of the row it refers to.

    ``strict``: an insert that cannot store its row (the key is taken, a delta's
    predecessor is gone, the row it refers to is gone) raises instead of storing
    nothing (see ``Store.op_put``'s ``fast``).

    ``source``: the bytes and key of a row of this thread (the input checkpoint's
    ``__start__`` value); a value whose bytes are a range of it is stored as a
    reference to that range (see :mod:`._refs`), inserted only if that row still exists."""
    if ch not in values:
        return None, _empty(version), None
    value = values[ch]
    prev = parent.get(ch) if parent else None
    if (
        type(value) is list
        and prev is not None
        and prev.items is not None
        and prev.lin is not None
        and prev.seq < max_deltas
        and (same := _prefix(value, prev.items))
    ):
        n = len(prev.items)
        data = encode(value[n:], "channel {!r}", ch)
        lin_v, lin_var = prev.lin
        seq = prev.seq + 1
        if same == _SAME and type(prev.items) is tuple:  # the same objects: same references
            try:
                items: Any = prev.items + tuple(map(_ref, value[n:]))
            except TypeError:
                items = list(value)
        else:
            items = _held(value)
        chan = _Chan(version, 0, prev.lin, seq, items)
        kind: Any = DELTA
    else:
        data = encode(value, "channel {!r}", ch)
        if len(data) <= INLINE_MAX:
            return None, _Chan(version, 0, inline=data), None
        lin_v, lin_var, seq = d.vkey(version), 0, 0
        items = _held(value) if type(value) is list else None
        chan = _Chan(version, 0, (lin_v, 0), 0, items)
        kind = SNAPSHOT
    here: RefTarget = (ch_id, lin_v, lin_var, seq)
    ref = _refs.find(data, (source,)) if source is not None else None
    stored = data if ref is None else ref
    pred = () if kind == SNAPSHOT else (ch_id, lin_v, lin_var, seq - 1)
    if ref is None:
        guard: tuple[Any, ...] = ()
        sql = _INSERTS[kind, strict]
    else:
        guard = source[1]  # type: ignore[index]  # ref is None without a source
        sql = _INSERTS_REF[kind, strict]
    if strict and (pred or guard):
        # The kind is NULL (a not-null violation) when the predecessor or the row
        # referred to is gone.
        params: tuple[Any, ...] = (ch_id, lin_v, lin_var, seq, kind, *pred, *guard,
                                   stored, thread_id, ns)
    else:
        params = (ch_id, lin_v, lin_var, seq, kind, stored, thread_id, ns, *pred, *guard)
    if ch == START and kind == SNAPSHOT and ref is None and len(data) <= _SOURCE_MAX:
        chan = chan._replace(data=data)
    return Stmt(d.q(sql), params), chan, (data, here) if ref is None else source


def _store_fallback(
    d: Dialect,
    encode: Callable[[Any, str, Any], bytes],
    thread_id: str,
    ns: str,
    ids: Callable[[str], int],
    lost: list[str],
    new_versions: dict[str, Any],
    values: dict[str, Any],
    chans: dict[str, _Chan],
) -> Op:
    for ch in lost:
        version = new_versions[ch]
        vkey = d.vkey(version)
        for _attempt in range(8):  # concurrent forks may race for the same variant
            (rows,) = yield [Stmt(d.q(S.MAX_VARIANT), (thread_id, ns, ids(ch), vkey), True)]
            top = rows[0][0] if rows else None
            variant = 0 if top is None else top + 1
            value = values[ch]  # lost inserts are of values: an empty channel has none
            data = encode(value, "channel {!r}", ch)
            items = _held(value) if type(value) is list else None
            chan = _Chan(version, variant, (vkey, variant), 0, items)
            params = (ids(ch), vkey, variant, 0, SNAPSHOT, data, thread_id, ns)
            (count,) = yield [Stmt(d.q(S.INSERT_BLOB), params)]
            if count:
                chans[ch] = chan
                break
        else:
            raise CheckpointError(
                f"thread {thread_id!r}: could not store channel {ch!r} (version "
                f"{version}) after 8 attempts; concurrent writers keep colliding"
            )


def _locs(chans: dict[str, _Chan]) -> dict[str, Loc]:
    """Each stored channel's location (inline value or lineage position) for a body."""
    locs: dict[str, Loc] = {}
    for ch, c in chans.items():
        if c.inline is not None:
            locs[ch] = c.inline
        elif c.lin is not None:
            locs[ch] = (c.lin, c.seq)
    return locs


def _alive(chans: dict[str, _Chan]) -> bool:
    """Whether every list item the channel states hold weakly is still alive."""
    for c in chans.values():
        if type(c.items) is tuple:
            for r in c.items:
                if r() is None:
                    return False
    return True


_SAME = 1
_EQUAL = 2


def _prefix(new: list[Any], old: list[Any] | tuple[Any, ...]) -> int:
    """Whether ``new`` starts with the items of ``old`` (see :func:`_held`): 0 if not,
    :data:`_SAME` if with the same objects, :data:`_EQUAL` if with equal ones."""
    if type(old) is tuple:  # weak references; a dead one gives None, which fails below
        old = [r() for r in old]  # (None is never an item here: it takes none)
    n = len(old)
    if len(new) < n:
        return 0
    if all(map(operator.is_, old, new)):  # the common case, at C speed
        return _SAME
    for a, b in zip(old, new):
        if a is b:
            continue
        if type(a) is not type(b):
            return 0
        if isinstance(a, pydantic.BaseModel):
            # Field-wise, as pydantic's __eq__ but without its per-call overhead (a
            # thread reloaded from the database holds equal, not identical, messages).
            if a.__dict__ != b.__dict__ or a.__pydantic_extra__ != b.__pydantic_extra__:
                return 0
        elif a != b:
            return 0
    return _EQUAL


class _Cache:
    """Channel states of the last few checkpoints per thread, LRU over threads."""

    def __init__(self, threads: int = 1024, per_thread: int = 3) -> None:
        self._threads = threads
        self._per_thread = per_thread
        self._lock = threading.Lock()  # sync savers may be used from several threads
        self._data: collections.OrderedDict[tuple[str, str], dict[str, dict[str, _Chan]]] = (
            collections.OrderedDict()
        )

    def get(self, thread_id: str, ns: str, cid: str) -> dict[str, _Chan] | None:
        with self._lock:
            entries = self._data.get((thread_id, ns))
            return None if entries is None else entries.get(cid)

    def put(self, thread_id: str, ns: str, cid: str, chans: dict[str, _Chan]) -> None:
        with self._lock:
            key = (thread_id, ns)
            entries = self._data.get(key)
            if entries is None:
                entries = self._data[key] = {}
                if len(self._data) > self._threads:
                    self._data.popitem(last=False)
            else:
                self._data.move_to_end(key)
            entries.pop(cid, None)
            entries[cid] = chans
            while len(entries) > self._per_thread:
                del entries[next(iter(entries))]

    def remember(self, thread_id: str, ns: str, cid: str, chans: dict[str, _Chan]) -> None:
        """The states of a checkpoint just read: as :meth:`put`, unless the states of
        the same checkpoint are cached with every list item still alive (a run in
        flight on the thread holds them, and its next put extends them; the read's
        items die with its caller's result, e.g. a client polling the state)."""
        old = self.get(thread_id, ns, cid)
        if old is None or not _alive(old):
            self.put(thread_id, ns, cid, chans)

    def retain(self, thread_id: str, ns: str, keep: Callable[[dict[str, _Chan]], bool]) -> None:
        with self._lock:
            entries = self._data.get((thread_id, ns))
            if entries:
                for cid in [c for c, chans in entries.items() if not keep(chans)]:
                    del entries[cid]

    def drop_thread(self, thread_id: str) -> None:
        with self._lock:
            for key in [k for k in self._data if k[0] == thread_id]:
                del self._data[key]


_RUN_MIN = 8
"""Delta rows from which a lineage's rows are decoded in one pass (see ``_decode_run``)."""


def _array_len(data: bytes) -> int:
    """The item count a msgpack array header at the start of ``data`` announces, or -1."""
    if not data:
        return -1
    b = data[0]
    if 0x90 <= b <= 0x9F:
        return b & 0x0F
    if b == 0xDC and len(data) >= 3:
        return int.from_bytes(data[1:3], "big")
    if b == 0xDD and len(data) >= 5:
        return int.from_bytes(data[1:5], "big")
    return -1


class _Lineage:
    """The fetched rows of one lineage, decoded incrementally and only once."""

    __slots__ = ("_contiguous", "_ends", "_items", "_list", "rows")

    def __init__(self, rows: list[Sequence[Any]]) -> None:
        self.rows = rows
        self._contiguous: int | None = None
        self._list: bool | None = None
        self._items: list[Any] = []
        self._ends: list[int] = []  # item count after each decoded seq

    def contiguous(self) -> int:
        """The greatest seq such that seqs 0..it are all present."""
        if self._contiguous is None:
            n = -1
            for i, r in enumerate(self.rows):
                if r[0] != i:
                    break
                n = i
            self._contiguous = n
        return self._contiguous

    def is_list(self, store: Any, thread_id: str, cid: str, ch: str) -> bool:
        if self._list is None:
            value = store._decode(self.rows[0][2], thread_id, cid, f"channel {ch!r}")
            self._list = type(value) is list
            if self._list:
                self._items = value
                self._ends = [len(value)]
        return self._list

    def prefix(self, store: Any, seq: int, thread_id: str, cid: str, ch: str) -> list[Any]:
        if seq - len(self._ends) >= _RUN_MIN and store.refs:
            self._decode_run(store, seq)
        while len(self._ends) <= seq:
            r = self.rows[len(self._ends)]
            self._items.extend(store._decode(r[2], thread_id, cid, f"channel {ch!r}"))
            self._ends.append(len(self._items))
        return self._items[: self._ends[seq]]

    def _decode_run(self, store: Any, seq: int) -> None:
        """Decode the delta rows up to ``seq`` in ONE call of the default serializer:
        their bytes (each a msgpack array) joined behind one array header, so the
        decoder's setup is paid once, not once per row. Each row must come back as a
        list of the length its own header announces; anything else (a row that is not
        an array, bytes that do not decode, a boundary that does not line up) leaves
        the rows to the row-by-row decoding, which reports the row at fault."""
        start = len(self._ends)
        if start == 0:
            return  # the snapshot is decoded by is_list first
        datas = [bytes(r[2]) for r in self.rows[start : seq + 1]]
        counts = [_array_len(d) for d in datas]
        if -1 in counts:
            return
        try:
            values = store.serde.loads(b"\xdd" + len(datas).to_bytes(4, "big") + b"".join(datas))
        except Exception:  # noqa: BLE001  (the row-by-row decoding reports it)
            return
        if type(values) is not list or len(values) != len(datas):
            return
        for value, count in zip(values, counts):
            if type(value) is not list or len(value) != count:
                return
        items, ends = self._items, self._ends
        for value in values:
            items.extend(value)
            ends.append(len(items))
