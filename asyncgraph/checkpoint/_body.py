"""The ``body`` column of a stored checkpoint, and the names dictionary it refers to.

Pure packing and unpacking, no I/O. See :class:`Body` for the layout and
:mod:`asyncgraph.checkpoint._sql` for the tables.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import ormsgpack

from asyncgraph.checkpoint._sql import Dialect

__all__ = ["INLINE_MAX", "INTERNED", "Body", "Loc", "Names", "plain", "unpack_ts"]

Loc = tuple[tuple[Any, int], int] | bytes
"""Where a channel's value is: ((lin_version key, lin_variant), seq), or the value itself."""


# A value whose encoding is at most this long is kept in the body, not in a blob row.
INLINE_MAX = 16
# Metadata string values stored as names ids (LangGraph's checkpoint sources).
INTERNED = frozenset({"input", "loop", "update", "fork"})


@dataclass(slots=True)
class Body:
    """A checkpoint row's ``body``: everything but the values, names as dictionary ids.

    Packed as ``[v, ts, base, chans, seen, updated, meta(, extra)]``:

    - ``ts``: microseconds after the time in the checkpoint id when the id is a UUIDv6
      (LangGraph's and ours), else as :func:`_pack_ts`.
    - ``base``: the greatest int version in the body (None if none); every int version
      is stored as ``base - version``, a small number. Other versions are stored as is.
    - ``chans``: flat ``[name id, version, location, ...]`` in ``channel_versions``
      order. A location is ``None`` (no value), bytes (the encoded value itself, at
      most ``INLINE_MAX`` long), ``0`` (the snapshot keyed by the channel's own
      version, variant 0), ``[lin_version, seq]`` (variant 0) or
      ``[lin_version, lin_variant, seq]``.
    - ``seen``: flat ``[node id, [name id, version, ...], ...]``.
    - ``meta``: the metadata as flat ``[key id, value, ...]`` when it is plain data (see
      :func:`plain`; the ``metadata`` column is then empty), else None. A negative key
      id means the value is the name id of a string in ``INTERNED``.
    """

    v: int
    ts: str
    versions: dict[str, Any]
    seen: dict[str, dict[str, Any]]
    updated: list[str] | None
    locs: dict[str, Loc]
    extra: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] | None = None

    def pack(self, ids: Callable[[str], int], d: Dialect, cid: str) -> bytes:
        """Packed with ``ids`` giving each name's dictionary id.

        The hot path of every put, so written for speed: no closures, one pass each.
        ``base`` is the greatest int channel version; a version seen by a node may be
        greater (stored negative), which unpacks the same (``base - stored``)."""
        versions = self.versions
        ints = [v for v in versions.values() if type(v) is int]
        base = max(ints) if ints else None
        locs = self.locs
        vkey = d.vkey
        chans: list[Any] = []
        append = chans.append
        all_int = len(ints) == len(versions)
        for ch, version in versions.items():
            loc: Any = locs.get(ch)
            if type(loc) is tuple:
                (lin_v, lin_var), seq = loc
                if seq == 0 and lin_var == 0 and lin_v == vkey(version):
                    loc = 0
                elif lin_var == 0:
                    loc = [lin_v, seq]
                else:
                    loc = [lin_v, lin_var, seq]
            append(ids(ch))
            append(base - version if all_int or type(version) is int else version)  # type: ignore[operator]
            append(loc)
        seen: list[Any] = []
        for node, vs in self.seen.items():
            seen.append(ids(node))
            if len(vs) == 1:
                # The common case: a node triggered by one channel.
                for ch, version in vs.items():
                    if type(version) is int and base is not None:
                        version = base - version
                    seen.append([ids(ch), version])
                continue
            flat: list[Any] = []
            for ch, version in vs.items():
                flat.append(ids(ch))
                if type(version) is int:
                    flat.append(version if base is None else base - version)
                else:
                    flat.append(version)
            seen.append(flat)
        if base is None and any(type(v) is int for f in seen[1::2] for v in f[1::2]):
            base = 0  # int versions seen but none current: store them as 0 - v
            for f in seen[1::2]:
                f[1::2] = [-v if type(v) is int else v for v in f[1::2]]
        updated = None if self.updated is None else [ids(ch) for ch in self.updated]
        meta: list[Any] | None = None
        if self.meta is not None:
            meta = []
            put = meta.append
            for k, value in self.meta.items():
                if type(value) is str and value in INTERNED:
                    put(-ids(k))
                    put(ids(value))
                else:
                    put(ids(k))
                    put(value)
        row: list[Any] = [self.v, _pack_ts(self.ts, cid), base, chans, seen, updated, meta]
        if self.extra:
            row.append(self.extra)
        return ormsgpack.packb(row)

    @staticmethod
    def raw(data: bytes) -> list[Any]:
        return ormsgpack.unpackb(data)

    @staticmethod
    def ids_of(row: list[Any]) -> set[int]:
        out = set(row[3][0::3]) | set(row[4][0::2]) | set(row[5] or ())
        for flat in row[4][1::2]:
            out.update(flat[0::2])
        if row[6] is not None:
            m = row[6]
            for j in range(0, len(m), 2):
                if m[j] < 0:
                    out.update((-m[j], m[j + 1]))
                else:
                    out.add(m[j])
        return out

    @staticmethod
    def raw_locs(row: list[Any], d: Dialect) -> Iterator[tuple[int, Any, tuple[Any, int], int]]:
        """(name id, version, lineage, seq) of every channel with a stored value."""
        base, chans = row[2], row[3]
        for i in range(0, len(chans), 3):
            ch_id, version, loc = chans[i], chans[i + 1], chans[i + 2]
            if type(version) is int:
                version = base - version
            if loc == 0:
                yield ch_id, version, (d.vkey(version), 0), 0
            elif loc is not None and type(loc) is not bytes:
                yield ch_id, version, (loc[0], 0 if len(loc) == 2 else loc[1]), loc[-1]

    @classmethod
    def from_raw(
        cls, row: list[Any], names: Callable[[int], str], d: Dialect, cid: str
    ) -> Body:
        base = row[2]

        def ver(v: Any) -> Any:
            return base - v if type(v) is int else v

        chans = row[3]
        versions = {names(chans[i]): ver(chans[i + 1]) for i in range(0, len(chans), 3)}
        locs: dict[str, Any] = {
            names(ch_id): (lin, seq) for ch_id, _, lin, seq in cls.raw_locs(row, d)
        }
        for i in range(0, len(chans), 3):
            if type(chans[i + 2]) is bytes:
                locs[names(chans[i])] = chans[i + 2]
        flat_seen = row[4]
        seen = {}
        for i in range(0, len(flat_seen), 2):
            f = flat_seen[i + 1]
            seen[names(flat_seen[i])] = {names(f[j]): ver(f[j + 1]) for j in range(0, len(f), 2)}
        updated = None if row[5] is None else [names(i) for i in row[5]]
        meta = None
        if row[6] is not None:
            m = row[6]
            meta = {
                names(-m[j]) if m[j] < 0 else names(m[j]): names(m[j + 1]) if m[j] < 0 else m[j + 1]
                for j in range(0, len(m), 2)
            }
        extra = row[7] if len(row) > 7 else {}
        return cls(row[0], unpack_ts(row[1], cid), versions, seen, updated, locs, extra, meta)


def plain(value: Any, depth: int = 0) -> bool:
    """Whether msgpack gives ``value`` back exactly (same types, same values)."""
    t = type(value)
    if t is str or t is bool or t is float or value is None:
        return True
    if t is int:
        return -(2**63) <= value < 2**64
    if t is dict and depth < 4:
        # The scalars inline (a checkpoint's metadata: one call, not one per value).
        for k, v in value.items():
            if type(k) is not str:
                return False
            t = type(v)
            if t is str or t is bool or t is float or v is None:
                continue
            if t is int:
                if -(2**63) <= v < 2**64:
                    continue
                return False
            if not plain(v, depth + 1):
                return False
        return True
    if t is list and depth < 4:
        return all(plain(v, depth + 1) for v in value)
    return False


def _uuid6_us(cid: str) -> int | None:
    """The time in a UUIDv6 checkpoint id, in microseconds since 1970, else None."""
    if len(cid) != 36 or cid[14] != "6":
        return None
    try:
        n = int(cid.replace("-", ""), 16)
    except ValueError:
        return None
    t = ((n >> 96) & 0xFFFFFFFF) << 28 | ((n >> 80) & 0xFFFF) << 12 | (n >> 64) & 0x0FFF
    return (t - 0x01B21DD213814000) // 10


class Names:
    """The cached part of the ``names`` dictionary (rows are never changed or removed)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.names: dict[int, str] = {}
        self._lock = threading.Lock()

    def learn(self, rows: Sequence[Sequence[Any]]) -> None:
        with self._lock:
            for i, name in rows:
                self.ids[name] = i
                self.names[i] = name


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


# (the text of a UTC second up to the seconds, its microseconds since 1970): the
# checkpoints of one second share it.
_ts_second: tuple[str, int] = ("", 0)


def _pack_ts(ts: str, cid: str) -> Any:
    """A UTC ISO timestamp as integer microseconds when that reads back identically
    (relative to the checkpoint id's time when it has one), else the string."""
    global _ts_second
    # Fast path: the engine's own form ("...THH:MM:SS.ffffff+00:00", no fraction when
    # it is zero), its second already worked out below (so it reads back the same).
    head, start = _ts_second
    if (
        len(ts) == 32 and ts.startswith(head) and head and ts[19] == "." and ts.endswith("+00:00")
        and ts[20:26].isdigit() and ts[20:26] != "000000" and ts[20:26].isascii()
    ):
        origin = _uuid6_us(cid)
        us = start + int(ts[20:26])
        return us if origin is None else us - origin
    try:
        when = datetime.datetime.fromisoformat(ts)
    except (TypeError, ValueError):
        return ts
    if when.tzinfo is not datetime.UTC or when.isoformat() != ts:
        return ts
    delta = when - _EPOCH
    us = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    if len(ts) == 32 and ts[19] == "." and ts.endswith("+00:00"):
        _ts_second = (ts[:19], us - delta.microseconds)
    origin = _uuid6_us(cid)
    return us if origin is None else us - origin


def unpack_ts(value: Any, cid: str) -> str:
    if type(value) is int:
        origin = _uuid6_us(cid)
        if origin is not None:
            value += origin
        return (_EPOCH + datetime.timedelta(microseconds=value)).isoformat()
    return value
