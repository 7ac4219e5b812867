"""What the SQL savers do, written once and free of I/O.

Every operation is a generator that yields a *batch* of :class:`Stmt` and receives, for
each statement, its rows (``fetch=True``) or its row count. A driver (sqlite3,
aiosqlite, psycopg sync or async) runs the whole generator inside one transaction and
then calls the ``after`` callbacks the operation registered, which is where in-memory
state (the parent cache) changes: never before the data is committed. The statements
of one batch do not depend on each other's results, so psycopg sends a batch in one
pipeline round trip.

Linear storage: a list value that extends the list stored at the parent checkpoint is
stored as a delta holding only the new items. To decide that without reading the parent
back, the store keeps a small cache of the channel states of the last checkpoints it
wrote or read per thread (:class:`_Cache`). A miss only costs space (a snapshot is
written instead), never correctness: a delta is inserted only if the lineage entry it
follows exists (checked in the same statement), and two writers cannot append at the
same lineage position (unique key); either failure falls back to a snapshot.
"""

from __future__ import annotations

import collections
import datetime
import operator
import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import ormsgpack
import pydantic

from asyncgraph.checkpoint import _sql as S
from asyncgraph.checkpoint._sql import DELTA, EMPTY, SNAPSHOT, Dialect
from asyncgraph.checkpoint.base import (
    Checkpoint,
    CheckpointTuple,
    ThreadInfo,
    WRITES_IDX_MAP,
)
from asyncgraph.errors import CheckpointError

__all__ = ["Op", "Stmt", "Store"]


@dataclass(frozen=True, slots=True)
class Stmt:
    sql: str
    params: Sequence[Any] = ()
    fetch: bool = False
    many: bool = False


Op = Generator[list[Stmt], list[Any], Any]
After = list[Callable[[], None]]


class _Chan(NamedTuple):
    """Where a channel's value at one checkpoint is stored, and (lists) what it was."""

    version: Any
    variant: int
    lin: tuple[Any, int] | None = None  # (lin_version key, lin_variant) of its lineage
    seq: int = 0
    items: list[Any] | None = None  # a private copy of the list value, for prefix checks


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


@dataclass(slots=True)
class _Body:
    v: int
    ts: str
    versions: dict[str, Any]
    seen: dict[str, dict[str, Any]]
    updated: list[str] | None
    variants: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)

    def pack(self) -> bytes:
        row: list[Any] = [self.v, _pack_ts(self.ts), self.versions, self.seen, self.updated, self.variants]
        if self.extra:
            row.append(self.extra)
        return ormsgpack.packb(row, option=ormsgpack.OPT_NON_STR_KEYS)

    @classmethod
    def unpack(cls, data: bytes) -> _Body:
        row = ormsgpack.unpackb(data, option=ormsgpack.OPT_NON_STR_KEYS)
        row[1] = _unpack_ts(row[1])
        return cls(*row)


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _pack_ts(ts: str) -> Any:
    """A UTC ISO timestamp as integer microseconds when that reads back identically."""
    try:
        when = datetime.datetime.fromisoformat(ts)
    except (TypeError, ValueError):
        return ts
    if when.tzinfo is not datetime.timezone.utc or when.isoformat() != ts:
        return ts
    return (when - _EPOCH) // datetime.timedelta(microseconds=1)


def _unpack_ts(value: Any) -> str:
    if type(value) is int:
        return (_EPOCH + datetime.timedelta(microseconds=value)).isoformat()
    return value


_CHECKPOINT_KEYS = frozenset(
    {"v", "id", "ts", "channel_values", "channel_versions", "versions_seen", "updated_channels"}
)


def parse_config(config: Any) -> tuple[str, str, str | None]:
    conf = (config or {}).get("configurable") or {}
    thread_id = conf.get("thread_id")
    if thread_id is None:
        raise ValueError(
            'a checkpointer needs config["configurable"]["thread_id"]; pass e.g. '
            '{"configurable": {"thread_id": "1"}}'
        )
    return str(thread_id), conf.get("checkpoint_ns") or "", conf.get("checkpoint_id")


def make_config(thread_id: str, ns: str, cid: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": cid}}


class Store:
    """The operations of a SQL saver over one dialect. See the module docstring."""

    def __init__(
        self,
        dialect: Dialect,
        serde: Any,
        *,
        keep_last: int | None = None,
        max_deltas: int = 4096,
    ) -> None:
        if keep_last is not None and keep_last < 1:
            raise ValueError(f"keep_last must be at least 1, got {keep_last}")
        self.d = dialect
        self.serde = serde
        self.keep_last = keep_last
        self.max_deltas = max_deltas
        self.cache = _Cache()
        # Checkpoints pruned per thread since its blobs were last collected: collecting
        # reads the kept bodies, so it runs once enough garbage has built up.
        self._gc_debt: dict[tuple[str, str], int] = {}

    # -- schema ------------------------------------------------------------------------

    def op_setup(self, after: After) -> Op:
        d = self.d
        first: list[Stmt] = []
        if d.setup_lock:
            first.append(Stmt(d.setup_lock, fetch=True))
        first.append(Stmt(S.CREATE_SCHEMA_TABLE))
        yield first
        (rows,) = yield [Stmt(S.SELECT_SCHEMA, fetch=True)]
        current = rows[0][0] or 0
        known = len(d.migrations)
        if current > known:
            raise CheckpointError(
                f"the database holds asyncgraph checkpoint schema version {current}, but "
                f"this asyncgraph only knows versions up to {known}: upgrade asyncgraph "
                "(the database was left untouched)"
            )
        for version in range(current + 1, known + 1):
            yield [Stmt(sql) for sql in d.migrations[version - 1]]
            yield [Stmt(d.q(S.INSERT_SCHEMA), (version,))]

    # -- reads -------------------------------------------------------------------------

    def op_get_tuple(self, after: After, config: Any) -> Op:
        thread_id, ns, cid = parse_config(config)
        if cid:
            stmt = Stmt(self.d.q(S.SELECT_CHECKPOINT), (thread_id, ns, self.d.id_in(cid)), True)
        else:
            stmt = Stmt(self.d.q(S.SELECT_LATEST), (thread_id, ns), True)
        (rows,) = yield [stmt]
        if not rows:
            return None
        return (yield from self.op_load(after, rows[0], remember=True))

    def op_list_rows(
        self,
        after: After,
        config: Any,
        filter: dict[str, Any] | None,
        before: Any,
        limit: int | None,
    ) -> Op:
        d = self.d
        where, params = [], []
        conf = (config or {}).get("configurable") or {}
        if conf.get("thread_id") is not None:
            where.append("t.thread_id = ?")
            params.append(str(conf["thread_id"]))
        if "checkpoint_ns" in conf and conf["checkpoint_ns"] is not None:
            where.append("t.checkpoint_ns = ?")
            params.append(conf["checkpoint_ns"])
        if conf.get("checkpoint_id"):
            where.append("c.checkpoint_id = ?")
            params.append(d.id_in(conf["checkpoint_id"]))
        before_id = ((before or {}).get("configurable") or {}).get("checkpoint_id")
        if before_id:
            where.append("c.checkpoint_id < ?")
            params.append(d.id_in(before_id))
        sql = S.SELECT_LIST + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY c.checkpoint_id DESC"
        if limit is not None and not filter:
            sql += f" LIMIT {int(limit)}"
        (rows,) = yield [Stmt(d.q(sql), tuple(params), True)]
        if not filter:
            return rows
        kept = []
        for row in rows:
            meta = self._decode(row[4], row[5], d.id_out(row[1]), "metadata")
            if all(k in meta and meta[k] == v for k, v in filter.items()):
                kept.append(row)
                if limit is not None and len(kept) >= limit:
                    break
        return kept

    def op_load(self, after: After, row: Sequence[Any], *, remember: bool = False) -> Op:
        """The full tuple for a checkpoint row (as selected by ``_CKPT_COLS``)."""
        d = self.d
        tid, cid_db, parent_db, body_raw, meta_raw, thread_id, ns = row
        cid = d.id_out(cid_db)
        body = self._decode_body(body_raw, thread_id, cid)
        channels = list(body.versions.items())
        stmts = [
            Stmt(
                d.q(S.SELECT_VALUE),
                (tid, ch, d.vkey(version), body.variants.get(ch, 0)),
                fetch=True,
            )
            for ch, version in channels
        ]
        stmts.append(Stmt(d.q(S.SELECT_WRITES), (tid, cid_db), fetch=True))
        results = yield stmts
        values: dict[str, Any] = {}
        chans: dict[str, _Chan] = {}
        for (ch, version), lineage in zip(channels, results):
            if not lineage:
                continue  # never stored: the channel was not in new_versions
            value, chan = self._assemble(ch, version, body.variants.get(ch, 0), lineage, thread_id, cid)
            chans[ch] = chan
            if value is not _ABSENT:
                values[ch] = value
        writes = [
            (d.id_out(task_id), channel, self._decode(data, thread_id, cid, f"write to {channel}"))
            for task_id, channel, data in results[-1]
        ]
        checkpoint: dict[str, Any] = {
            "v": body.v,
            "id": cid,
            "ts": body.ts,
            "channel_values": values,
            "channel_versions": body.versions,
            "versions_seen": body.seen,
            "updated_channels": body.updated,
        }
        checkpoint.update(body.extra)
        metadata = self._decode(meta_raw, thread_id, cid, "metadata")
        parent = d.id_out(parent_db) if parent_db is not None else None
        if remember:
            after.append(lambda: self.cache.put(thread_id, ns, cid, chans))
        return CheckpointTuple(
            config=make_config(thread_id, ns, cid),
            checkpoint=checkpoint,  # type: ignore[arg-type]
            metadata=metadata,
            parent_config=make_config(thread_id, ns, parent) if parent else None,
            pending_writes=writes,
        )

    def _assemble(
        self,
        ch: str,
        version: Any,
        variant: int,
        lineage: list[Sequence[Any]],
        thread_id: str,
        cid: str,
    ) -> tuple[Any, _Chan]:
        lin_version, lin_variant, target_seq = lineage[0][3], lineage[0][4], lineage[0][5]
        if len(lineage) != target_seq + 1 or any(r[0] != i for i, r in enumerate(lineage)):
            raise CheckpointError(
                f"thread {thread_id!r} checkpoint {cid}: the stored value of channel "
                f"{ch!r} is incomplete (delta chain has gaps); the data was left untouched"
            )
        first = lineage[0]
        if first[1] == EMPTY:
            return _ABSENT, _Chan(version, variant)
        if first[1] != SNAPSHOT:
            raise CheckpointError(
                f"thread {thread_id!r} checkpoint {cid}: the stored value of channel {ch!r} "
                "does not start with a snapshot; the data was left untouched"
            )
        value = self._decode(first[2], thread_id, cid, f"channel {ch!r}")
        if target_seq == 0:
            items = list(value) if type(value) is list else None
            return value, _Chan(version, variant, (lin_version, lin_variant), 0, items)
        if type(value) is not list:
            raise CheckpointError(
                f"thread {thread_id!r} checkpoint {cid}: channel {ch!r} has list deltas "
                "stored on top of a non-list value; the data was left untouched"
            )
        for r in lineage[1:]:
            value.extend(self._decode(r[2], thread_id, cid, f"channel {ch!r}"))
        chan = _Chan(version, variant, (lin_version, lin_variant), target_seq, list(value))
        return value, chan

    def op_list_threads(self, after: After, limit: int | None) -> Op:
        sql = S.LIST_THREADS + (f" LIMIT {int(limit)}" if limit is not None else "")
        (rows,) = yield [Stmt(self.d.q(sql), (), True)]
        return [ThreadInfo(t, self.d.id_out(latest), count) for t, latest, count in rows]

    # -- writes ------------------------------------------------------------------------

    def op_put(
        self,
        after: After,
        config: Any,
        checkpoint: Checkpoint,
        metadata: Any,
        new_versions: dict[str, Any],
        parent_writes: Sequence[tuple[str, str, Any]] = (),
        writes: Sequence[tuple[str, str, Any]] = (),
    ) -> Op:
        d = self.d
        thread_id, ns, parent_id = parse_config(config)
        cid = checkpoint["id"]
        meta = self._encode(metadata, "metadata")
        parent = self.cache.get(thread_id, ns, parent_id) if parent_id else None

        # A cached parent means the thread's row exists (a concurrent delete_thread is
        # caught below by the checkpoint insert finding no thread).
        first = [] if parent is not None else [Stmt(d.q(S.INSERT_THREAD), (thread_id, ns))]
        if parent_id and parent is None:
            first.append(Stmt(d.q(S.SELECT_BODY), (thread_id, ns, d.id_in(parent_id)), True))

        # Encode everything before touching the database: a TypeError leaves it as it was.
        values = checkpoint["channel_values"]
        planned: dict[str, tuple[Stmt, _Chan]] = {}
        for ch, version in new_versions.items():
            planned[ch] = self._plan_blob(thread_id, ns, ch, version, values, parent)
        write_stmts = [
            *self._write_stmts(thread_id, ns, parent_id, parent_writes, "put_step"),
            *self._write_stmts(thread_id, ns, cid, writes, "put_step"),
        ]

        if parent_id and parent is None:
            results = yield first + [p[0] for p in planned.values()]
            parent = self._parent_from_body(results[-1 - len(planned)], thread_id, parent_id)
            inserted = results[len(results) - len(planned) :]
            first = []
        else:
            inserted = None

        chans = self._inherit(checkpoint, new_versions, parent)
        chans.update({ch: p[1] for ch, p in planned.items()})
        body = self._body(checkpoint, chans)
        ckpt_stmt = Stmt(
            d.q(S.INSERT_CHECKPOINT),
            (d.id_in(cid), d.id_in(parent_id) if parent_id else None, body.pack(), meta,
             thread_id, ns),
        )
        tail = [ckpt_stmt, *write_stmts, *self._retention_stmts(thread_id, ns)]
        if inserted is None:
            results = yield first + [p[0] for p in planned.values()] + tail
            inserted = results[len(first) : len(first) + len(planned)]
            tail_results = results[len(first) + len(planned) :]
        else:
            tail_results = yield tail

        if not tail_results[0]:
            # Every insert resolves the thread's row itself; none found it: the thread
            # was deleted by a concurrent delete_thread between our statements.
            raise CheckpointError(
                f"thread {thread_id!r} was deleted while checkpoint {cid} was being stored; "
                "nothing was stored"
            )
        lost = [ch for ch, count in zip(planned, inserted) if not count]
        if lost:
            # A fork reused a version number, or a delta's predecessor is gone: store a
            # full snapshot under the next free variant, then fix the body.
            yield from self._store_fallback(thread_id, ns, lost, new_versions, values, chans)
            body = self._body(checkpoint, chans)
            yield [Stmt(d.q(S.UPDATE_BODY), (body.pack(), thread_id, ns, d.id_in(cid)))]

        pruned = tail_results[-1] if self.keep_last else 0
        if pruned:
            yield from self._maybe_collect(after, thread_id, ns, pruned)
        after.append(lambda: self.cache.put(thread_id, ns, cid, chans))
        return make_config(thread_id, ns, cid)

    def op_put_writes(
        self,
        after: After,
        config: Any,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> Op:
        thread_id, ns, cid = parse_config(config)
        if not cid:
            raise ValueError('put_writes needs config["configurable"]["checkpoint_id"]')
        rows = [(task_id, ch, value) for ch, value in writes]
        stmts = self._write_stmts(thread_id, ns, cid, rows, "put_writes", task_path)
        if stmts:
            # Writes belong to a stored checkpoint, so the thread's row exists.
            yield stmts

    def op_delete_thread(self, after: After, thread_id: str) -> Op:
        q = self.d.q
        yield [
            *(Stmt(q(S.DELETE_THREAD.format(table=t)), (thread_id,))
              for t in ("writes", "blobs", "checkpoints")),
            Stmt(q(S.DELETE_THREAD_ROWS), (thread_id,)),
        ]
        after.append(lambda: self.cache.drop_thread(thread_id))

    def op_prune(self, after: After, thread_id: str | None, keep_last: int) -> Op:
        if keep_last < 1:
            raise ValueError(f"keep_last must be at least 1, got {keep_last}")
        d = self.d
        if thread_id is None:
            (pairs,) = yield [Stmt(d.q(S.SELECT_ALL_NAMESPACES), (), True)]
        else:
            (rows,) = yield [Stmt(d.q(S.SELECT_NAMESPACES), (thread_id,), True)]
            pairs = [(thread_id, ns) for (ns,) in rows]
        total = 0
        for t, ns in pairs:
            res = yield self._retention_stmts(t, ns, keep_last)
            total += res[-1]
            yield from self._collect(after, t, ns)
        return total

    # -- helpers: encoding ---------------------------------------------------------------

    def _encode(self, value: Any, what: str) -> bytes:
        try:
            return self.serde.dumps(value)
        except TypeError as exc:
            raise TypeError(f"cannot store {what}: {exc}") from None

    def _decode(self, data: bytes, thread_id: str, cid: str, what: str) -> Any:
        try:
            return self.serde.loads(bytes(data))
        except Exception as exc:
            raise CheckpointError(
                f"thread {thread_id!r} checkpoint {cid}: cannot read the stored {what}: "
                f"{exc}; the data was left untouched"
            ) from exc

    def _decode_body(self, data: bytes, thread_id: str, cid: str) -> _Body:
        try:
            return _Body.unpack(bytes(data))
        except Exception as exc:
            raise CheckpointError(
                f"thread {thread_id!r} checkpoint {cid}: cannot read the stored checkpoint "
                f"record: {exc}; the data was left untouched"
            ) from exc

    def _body(self, checkpoint: Checkpoint, chans: dict[str, _Chan]) -> _Body:
        extra = {k: v for k, v in checkpoint.items() if k not in _CHECKPOINT_KEYS}
        return _Body(
            v=checkpoint["v"],
            ts=checkpoint["ts"],
            versions=dict(checkpoint["channel_versions"]),
            seen={k: dict(v) for k, v in checkpoint["versions_seen"].items()},
            updated=checkpoint.get("updated_channels"),
            variants={ch: c.variant for ch, c in chans.items() if c.variant},
            extra=extra,
        )

    # -- helpers: channel values ----------------------------------------------------------

    def _plan_blob(
        self,
        thread_id: str,
        ns: str,
        ch: str,
        version: Any,
        values: dict[str, Any],
        parent: dict[str, _Chan] | None,
    ) -> tuple[Stmt, _Chan]:
        d = self.d
        vkey = d.vkey(version)
        if ch not in values:
            params = (ch, vkey, 0, 0, vkey, 0, EMPTY, None, thread_id, ns)
            return Stmt(d.q(S.INSERT_BLOB), params), _Chan(version, 0)
        value = values[ch]
        prev = parent.get(ch) if parent else None
        if (
            type(value) is list
            and prev is not None
            and prev.items is not None
            and prev.lin is not None
            and prev.seq < self.max_deltas
            and _extends(value, prev.items)
        ):
            n = len(prev.items)
            data = self._encode(value[n:], f"channel {ch!r}")
            lin_v, lin_var = prev.lin
            seq = prev.seq + 1
            params = (ch, lin_v, lin_var, seq, vkey, 0, DELTA, data, thread_id, ns,
                      ch, lin_v, lin_var, prev.seq)
            chan = _Chan(version, 0, prev.lin, seq, list(value))
            return Stmt(d.q(S.INSERT_DELTA), params), chan
        data = self._encode(value, f"channel {ch!r}")
        params = (ch, vkey, 0, 0, vkey, 0, SNAPSHOT, data, thread_id, ns)
        items = list(value) if type(value) is list else None
        return Stmt(d.q(S.INSERT_BLOB), params), _Chan(version, 0, (vkey, 0), 0, items)

    def _store_fallback(
        self,
        thread_id: str,
        ns: str,
        lost: list[str],
        new_versions: dict[str, Any],
        values: dict[str, Any],
        chans: dict[str, _Chan],
    ) -> Op:
        d = self.d
        for ch in lost:
            version = new_versions[ch]
            vkey = d.vkey(version)
            for _attempt in range(8):  # concurrent forks may race for the same variant
                (rows,) = yield [Stmt(d.q(S.MAX_VARIANT), (thread_id, ns, ch, vkey), True)]
                top = rows[0][0] if rows else None
                variant = 0 if top is None else top + 1
                if ch in values:
                    value = values[ch]
                    data = self._encode(value, f"channel {ch!r}")
                    kind = SNAPSHOT
                    items = list(value) if type(value) is list else None
                    chan = _Chan(version, variant, (vkey, variant), 0, items)
                else:
                    data, kind, chan = None, EMPTY, _Chan(version, variant)
                params = (ch, vkey, variant, 0, vkey, variant, kind, data, thread_id, ns)
                (count,) = yield [Stmt(d.q(S.INSERT_BLOB), params)]
                if count:
                    chans[ch] = chan
                    break
            else:
                raise CheckpointError(
                    f"thread {thread_id!r}: could not store channel {ch!r} (version "
                    f"{version}) after 8 attempts; concurrent writers keep colliding"
                )

    def _inherit(
        self,
        checkpoint: Checkpoint,
        new_versions: dict[str, Any],
        parent: dict[str, _Chan] | None,
    ) -> dict[str, _Chan]:
        """Channel states for the channels this put does not store: the parent's."""
        chans = {}
        for ch, version in checkpoint["channel_versions"].items():
            if ch in new_versions:
                continue
            prev = parent.get(ch) if parent else None
            chans[ch] = prev if prev is not None and prev.version == version else _Chan(version, 0)
        return chans

    def _parent_from_body(
        self, rows: list[Any], thread_id: str, parent_id: str
    ) -> dict[str, _Chan] | None:
        if not rows:
            return None
        body = self._decode_body(rows[0][0], thread_id, parent_id)
        return {ch: _Chan(v, body.variants.get(ch, 0)) for ch, v in body.versions.items()}

    def _write_stmts(
        self,
        thread_id: str,
        ns: str,
        cid: str | None,
        rows: Sequence[tuple[str, str, Any]],
        what: str,
        task_path: str = "",
    ) -> list[Stmt]:
        if not rows:
            return []
        if not cid:
            raise ValueError(f"{what}: writes need a checkpoint to belong to")
        d = self.d
        stmts = []
        counters: dict[str, int] = {}
        for task_id, ch, value in rows:
            idx = counters.get(task_id, 0)
            counters[task_id] = idx + 1
            special = WRITES_IDX_MAP.get(ch)
            data = self._encode(value, f"the write to {ch!r} by task {task_id}")
            params = (d.id_in(cid), d.id_in(task_id), idx if special is None else special, ch,
                      task_path, data, thread_id, ns)
            stmts.append(Stmt(d.q(S.INSERT_WRITE if special is None else S.UPSERT_WRITE), params))
        return stmts

    # -- helpers: retention ---------------------------------------------------------------

    def _retention_stmts(self, thread_id: str, ns: str, keep: int | None = None) -> list[Stmt]:
        keep = keep or self.keep_last
        if not keep:
            return []
        q = self.d.q
        params = (thread_id, ns, thread_id, ns, keep - 1)
        return [Stmt(q(S.PRUNE_WRITES), params), Stmt(q(S.PRUNE_CHECKPOINTS), params)]

    def _maybe_collect(self, after: After, thread_id: str, ns: str, pruned: int) -> Op:
        key = (thread_id, ns)
        debt = self._gc_debt.get(key, 0) + pruned
        if debt < max(16, self.keep_last or 0):
            after.append(lambda: self._gc_debt.__setitem__(key, debt))
            return
        yield from self._collect(after, thread_id, ns)
        after.append(lambda: self._gc_debt.pop(key, None))

    def _collect(self, after: After, thread_id: str, ns: str) -> Op:
        """Delete the blobs no remaining checkpoint of (thread, ns) needs."""
        d = self.d
        bodies, keys = yield [
            Stmt(d.q(S.SELECT_KEPT_BODIES), (thread_id, ns), True),
            Stmt(d.q(S.SELECT_BLOB_KEYS), (thread_id, ns), True),
        ]
        by_version = {(ch, ver, var): (lin_v, lin_var, seq)
                      for ch, lin_v, lin_var, seq, ver, var in keys}
        needed: dict[tuple[str, Any, int], int] = {}
        for (raw,) in bodies:
            body = _Body.unpack(bytes(raw))
            for ch, version in body.versions.items():
                hit = by_version.get((ch, d.vkey(version), body.variants.get(ch, 0)))
                if hit is not None:
                    lin = (ch, hit[0], hit[1])
                    needed[lin] = max(needed.get(lin, -1), hit[2])
        doomed = [
            (thread_id, ns, ch, lin_v, lin_var, seq)
            for ch, lin_v, lin_var, seq, _, _ in keys
            if seq > needed.get((ch, lin_v, lin_var), -1)
        ]
        if doomed:
            yield [Stmt(d.q(S.DELETE_BLOB), doomed, many=True)]
        # A cached state of a pruned checkpoint may point into a lineage tail just deleted.

        def still_stored(chans: dict[str, _Chan]) -> bool:
            return all(
                c.lin is None or c.seq <= needed.get((ch, *c.lin), -1) for ch, c in chans.items()
            )

        after.append(lambda: self.cache.retain(thread_id, ns, still_stored))


def _extends(new: list[Any], old: list[Any]) -> bool:
    """Whether ``new`` starts with the items of ``old``: by identity, else by equality."""
    n = len(old)
    if len(new) < n:
        return False
    if all(map(operator.is_, old, new)):  # the common case, at C speed
        return True
    for a, b in zip(old, new):
        if a is b:
            continue
        if type(a) is not type(b):
            return False
        if isinstance(a, pydantic.BaseModel):
            # Field-wise, as pydantic's __eq__ but without its per-call overhead (a
            # thread reloaded from the database holds equal, not identical, messages).
            if a.__dict__ != b.__dict__ or a.__pydantic_extra__ != b.__pydantic_extra__:
                return False
        elif a != b:
            return False
    return True


class _Absent:
    __slots__ = ()


_ABSENT = _Absent()
