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
wrote or read per thread (:class:`._delta._Cache`). A miss only costs space (a snapshot is
written instead), never correctness: a delta is inserted only if the lineage entry it
follows exists (checked in the same statement), and two writers cannot append at the
same lineage position (unique key); either failure falls back to a snapshot.

Split out to keep this module to the operations: how one channel value is stored
(snapshot, delta or inline) is in :mod:`._delta`, the conversion of a schema version 1
database in :mod:`._migrate`, and :class:`Stmt` and :data:`Op` in :mod:`._sql`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from asyncgraph.checkpoint import _refs
from asyncgraph.checkpoint import _sql as S
from asyncgraph.checkpoint._body import INTERNED, Body, Names, plain
from asyncgraph.checkpoint._delta import (
    _alive, _Cache, _Chan, _Lineage, _empty, _held, _locs, _plan_blob, _store_fallback,
)
from asyncgraph.checkpoint._migrate import _migrate_v1
from asyncgraph.checkpoint._refs import RefTarget
from asyncgraph.checkpoint._sql import SNAPSHOT, Dialect, Last, Op, Stmt
from asyncgraph.checkpoint.serde import MsgpackSerde
from asyncgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    Checkpoint,
    MAX_ID_BYTES,
    check_thread_id,
    CheckpointTuple,
    ThreadInfo,
)
from asyncgraph.constants import START
from asyncgraph.errors import CheckpointError

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

__all__ = ["Mispredicted", "Op", "Stmt", "Store"]


After = list[Callable[[], object]]  # run after the commit; return values are ignored


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
    ns = conf.get("checkpoint_ns") or ""
    if (type(thread_id) is str and not ns and thread_id.isascii()
            and len(thread_id) <= MAX_ID_BYTES and "\x00" not in thread_id):
        return thread_id, ns, conf.get("checkpoint_id")  # check_thread_id's common case
    return check_thread_id(thread_id, ns), ns, conf.get("checkpoint_id")


def make_config(thread_id: str, ns: str, cid: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": cid}}


_PULL_PREFIX = "('__pregel_pull', "


def _pull_path(node: str) -> str:
    """A node's own task path, as the engine writes it."""
    return str(("__pregel_pull", node))


def _name(i: int, local: dict[int, str], known: dict[int, str]) -> str:
    found = local[i] if i in local else known.get(i)
    if found is None:
        raise CheckpointError(
            f"a stored pending write names an unknown channel or node (id {i}); the data "
            "was left untouched"
        )
    return found


def _id_bytes(i: int) -> bytes:
    """A names id as a write's channel or task path stores it: big-endian bytes (a
    blob, which SQLite keeps as it is in a text column, where an int turns to text)."""
    return i.to_bytes((i.bit_length() + 7) // 8 or 1, "big")


def _id_of(data: bytes) -> int:
    return int.from_bytes(data, "big")


def _first(pair: tuple[Any, Any]) -> Any:
    return pair[0]


def _interned_known(meta: dict[str, Any], known: dict[str, int]) -> bool:
    """Whether every metadata value the body stores as a names id has one already."""
    for v in meta.values():
        if type(v) is str and v in INTERNED and v not in known:
            return False
    return True


def _known_ids(
    known: dict[str, int], checkpoint: Checkpoint, new_versions: dict[str, Any],
    meta: dict[str, Any] | None,
) -> Callable[[str], int] | None:
    """``known.__getitem__`` when every name a put stores has a names id already (the
    common case, checked at C speed and without a generator: ``Store._ids_for``
    inserts the others), else None."""
    names = known.keys()
    seen = checkpoint["versions_seen"]
    if not (
        names >= checkpoint["channel_versions"].keys()
        and names >= new_versions.keys()
        and (not meta or (names >= meta.keys() and _interned_known(meta, known)))
        and names >= seen.keys()
    ):
        return None
    for vs in seen.values():
        if not names >= vs.keys():
            return None
    updated = checkpoint.get("updated_channels")
    if updated:
        for ch in updated:
            if ch not in names:
                return None
    return known.__getitem__


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
        # Writes may be stored as references (see _refs): the default serializer's
        # output never starts with the reference mark.
        self.refs = type(serde) is MsgpackSerde
        self.keep_last = keep_last
        self.max_deltas = max_deltas
        self.cache = _Cache()
        self.names = Names()
        # Checkpoints pruned per thread since its blobs were last collected: collecting
        # reads the kept bodies, so it runs once enough garbage has built up.
        self._gc_debt: dict[tuple[str, str], int] = {}
        # Task paths stored as a node's names id (see _path_id), once worked out.
        self._path_ids: dict[str, bytes] = {}

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
            if version == 2 and current == 1:
                yield from _migrate_v1(d)
            else:
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

    def op_list_page(
        self,
        after: After,
        config: Any,
        filter: dict[str, Any] | None,
        before_id: str | None,
        limit: int | None,
        page: int,
    ) -> Op:
        """One page of ``list``, newest first, read and loaded in one transaction (one
        snapshot): ``(tuples, cursor)``, ``cursor`` being the id to continue before, or
        None when nothing is left. ``limit`` counts what is left to return."""
        d = self.d
        where, params = [], []
        conf = (config or {}).get("configurable") or {}
        if conf.get("thread_id") is not None:
            where.append("t.thread_id = ?")
            params.append(check_thread_id(conf["thread_id"], conf.get("checkpoint_ns") or ""))
        if "checkpoint_ns" in conf and conf["checkpoint_ns"] is not None:
            where.append("t.checkpoint_ns = ?")
            params.append(conf["checkpoint_ns"])
        if conf.get("checkpoint_id"):
            where.append("c.checkpoint_id = ?")
            params.append(d.id_in(conf["checkpoint_id"]))
        if before_id:
            where.append("c.checkpoint_id < ?")
            params.append(d.id_in(before_id))
        sql = S.SELECT_LIST + (" WHERE " + " AND ".join(where) if where else "")
        want = page if limit is None or filter else min(page, limit)
        sql += f" ORDER BY c.checkpoint_id DESC LIMIT {int(want)}"
        (rows,) = yield [Stmt(d.q(sql), tuple(params), True)]
        cursor = d.id_out(rows[-1][1]) if len(rows) == want and rows else None
        if filter:
            kept = []
            for row in rows:
                cid = d.id_out(row[1])
                if len(row[4]):
                    meta = self._decode(row[4], row[5], cid, "metadata")
                else:
                    body, _ = yield from self._load_body(after, row[3], row[5], cid)
                    meta = body.meta or {}
                if all(k in meta and meta[k] == v for k, v in filter.items()):
                    kept.append(row)
                    if limit is not None and len(kept) >= limit:
                        cursor = None
                        break
            rows = kept
        if limit is not None and len(rows) >= limit:
            cursor = None
        tuples = yield from self.op_load_many(after, rows)
        return tuples, cursor

    def op_load(self, after: After, row: Sequence[Any], *, remember: bool = False) -> Op:
        """The full tuple for a checkpoint row (as selected by ``_CKPT_COLS``)."""
        (tup,) = yield from self.op_load_many(after, [row], remember=remember)
        return tup

    def op_load_many(
        self, after: After, rows: Sequence[Sequence[Any]], *, remember: bool = False
    ) -> Op:
        """The full tuples for checkpoint rows: every value and write in one batch.

        Checkpoints of one thread share their list lineages (a history page reads the
        same message deltas over and over): each lineage is fetched and decoded ONCE per
        call, up to the furthest position any of the rows needs, and each checkpoint's
        list is a new list over the shared items. So the tuples of one call may share
        list items (messages), never lists or other values."""
        d = self.d
        parsed = []
        read: dict[int, str] = {}  # names read by this operation (see _load_body)
        groups: dict[tuple[Any, int, Any], int] = {}  # (tid, channel id, lineage) -> max seq
        for row in rows:
            tid, cid_db, parent_db, body_raw, meta_raw, thread_id, ns = row
            cid = d.id_out(cid_db)
            body, ids = yield from self._load_body(after, body_raw, thread_id, cid, read)
            channels = []
            for ch, loc in body.locs.items():
                if type(loc) is tuple:
                    (lin, seq) = loc
                    key = (tid, ids(ch), lin)
                    if groups.get(key, -1) < seq:
                        groups[key] = seq
                    channels.append((ch, body.versions[ch], key, seq))
            parsed.append((row, cid, body, channels))
        keys = list(groups)
        stmts = [
            Stmt(d.q(S.SELECT_VALUE), (tid, ch_id, lin[0], lin[1], groups[key]), fetch=True)
            for key in keys
            for tid, ch_id, lin in (key,)
        ]
        select_writes = S.SELECT_WRITES_SQLITE if d.name == "sqlite" else d.q(S.SELECT_WRITES)
        stmts += [Stmt(select_writes, (row[0], row[1]), fetch=True) for row in rows]
        results = (yield Last(stmts)) if stmts else []
        if d.name == "sqlite" and rows:
            results[len(keys):] = yield from self._named_writes(after, results[len(keys):], read)
        lineages = {key: _Lineage(rows_) for key, rows_ in zip(keys, results)}
        if self.refs:
            # Before anything is decoded: rows stored as references (see _refs).
            newest = {row[0]: (row[5], cid) for row, cid, _, _ in reversed(parsed)}
            tables = [(row[0], row[5], cid, "write to {}", results[len(keys) + i])
                      for i, (row, cid, _, _) in enumerate(parsed)]
            tables += [(key[0], *newest[key[0]], "value", results[i])
                       for i, key in enumerate(keys)]
            yield from _refs.resolve(self.d, tables, dict(zip(keys, results)))
        out = []
        for i, (row, cid, body, channels) in enumerate(parsed):
            assembled = []
            for ch, version, key, seq in channels:
                value, chan = self._assemble(
                    ch, version, key[2], seq, lineages[key], row[5], cid, remember
                )
                assembled.append((ch, value, chan))
            out.append(self._tuple(after, row, cid, body, assembled,
                                   results[len(keys) + i], remember))
        return out

    def _named_writes(self, after: After, tables: list[list[Any]], read: dict[int, str]) -> Op:
        """SQLite's write rows ``(task_id, channel, data, task_path, idx)``, each table
        as ``(task_id, channel name, data)`` in ``SELECT_WRITES``' order: a channel or
        task path stored as a names id (schema version 4) read back as its text."""
        known = self.names.names
        wanted = {
            _id_of(v) for rows in tables for row in rows for v in (row[1], row[3])
            if type(v) is bytes
        }
        local = read
        if not wanted <= known.keys() and not wanted <= read.keys():
            (names,) = yield [Stmt(S.SELECT_NAMES, (), True)]
            local = {i: name for i, name in names}
            after.append(lambda: self.names.learn(names))
        out = []
        for rows in tables:
            named = []
            for task_id, ch, data, path, idx in rows:
                if type(ch) is bytes:
                    ch = _name(_id_of(ch), local, known)
                if type(path) is bytes:
                    path = _pull_path(_name(_id_of(path), local, known))
                # ORDER BY task_path, task_id, idx: SQLite puts text before blobs.
                key = (path, (0, task_id) if type(task_id) is str else (1, bytes(task_id)), idx)
                named.append((key, (task_id, ch, data)))
            named.sort(key=_first)
            out.append([row for _, row in named])
        return out

    def _tuple(
        self,
        after: After,
        row: Sequence[Any],
        cid: str,
        body: Body,
        assembled: list[tuple[str, Any, _Chan]],
        write_rows: list[Any],
        remember: bool,
    ) -> CheckpointTuple:
        d = self.d
        tid, cid_db, parent_db, body_raw, meta_raw, thread_id, ns = row
        values: dict[str, Any] = {}
        chans: dict[str, _Chan] = {
            ch: _Chan(version, 0) for ch, version in body.versions.items() if ch not in body.locs
        }
        for ch, loc in body.locs.items():
            if type(loc) is bytes:
                version = body.versions[ch]
                values[ch] = self._decode(loc, thread_id, cid, f"channel {ch!r}")
                chans[ch] = _Chan(version, 0, inline=loc)
        for ch, value, chan in assembled:
            chans[ch] = chan
            values[ch] = value
        writes = [
            (d.id_out(task_id), channel, self._decode(data, thread_id, cid, f"write to {channel}"))
            for task_id, channel, data in write_rows
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
        metadata: Any
        if body.meta is not None:
            metadata = body.meta
        else:
            metadata = self._decode(meta_raw, thread_id, cid, "metadata")
        parent = d.parent_out(parent_db, cid_db) if parent_db is not None else None
        if remember:
            after.append(lambda: self.cache.remember(thread_id, ns, cid, chans))
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
        lin: tuple[Any, int],
        target_seq: int,
        lineage: _Lineage,
        thread_id: str,
        cid: str,
        remember: bool,
    ) -> tuple[Any, _Chan]:
        """A channel's value at ``target_seq`` of its lineage, and its cache state."""
        rows = lineage.rows
        if len(rows) <= target_seq or lineage.contiguous() < target_seq:
            raise CheckpointError(
                f"thread {thread_id!r} checkpoint {cid}: the stored value of channel "
                f"{ch!r} is incomplete (delta chain has gaps); the data was left untouched"
            )
        if rows[0][1] != SNAPSHOT:
            raise CheckpointError(
                f"thread {thread_id!r} checkpoint {cid}: the stored value of channel {ch!r} "
                "does not start with a snapshot; the data was left untouched"
            )
        if target_seq == 0 and not lineage.is_list(self, thread_id, cid, ch):
            # Not a list: decoded for each checkpoint, so no two share a mutable value.
            value = self._decode(rows[0][2], thread_id, cid, f"channel {ch!r}")
            return value, _Chan(version, lin[1], lin, 0, None)
        if not lineage.is_list(self, thread_id, cid, ch):
            raise CheckpointError(
                f"thread {thread_id!r} checkpoint {cid}: channel {ch!r} has list deltas "
                "stored on top of a non-list value; the data was left untouched"
            )
        value = lineage.prefix(self, target_seq, thread_id, cid, ch)
        chan = _Chan(version, lin[1], lin, target_seq, _held(value) if remember else None)
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
        *,
        fast: bool = False,
    ) -> Op:
        """Store a checkpoint (and writes, see ``put_step``).

        ``fast``: speculate that every value insert stores its row (no fork reused the
        version, no delta predecessor was pruned meanwhile), so the whole put, COMMIT
        included, can go in one batch. If one cannot, the database raises and the
        transaction is rolled back, nothing stored: the caller runs the put again
        without ``fast`` (the PostgreSQL savers do: ``postgres._driver.speculation_failed``)."""
        d = self.d
        thread_id, ns, parent_id = parse_config(config)
        cid = checkpoint["id"]
        cid_db = d.id_in(cid)
        plain_meta = type(metadata) is dict and plain(metadata)
        meta = b"" if plain_meta else self._encode(metadata, "metadata")
        parent = self.cache.get(thread_id, ns, parent_id) if parent_id else None

        # A cached parent means the thread's row exists (a concurrent delete_thread is
        # caught below by the checkpoint insert finding no thread).
        first = self._lock(thread_id)
        if parent is None:
            first.append(Stmt(d.q(S.INSERT_THREAD), (thread_id, ns)))
        ids = _known_ids(self.names.ids, checkpoint, new_versions, metadata if plain_meta else None)
        if ids is None:  # (names to insert first)
            ids = yield from self._ids_for(
                after, checkpoint, new_versions, metadata if plain_meta else None, first
            )
        if parent_id and parent is None:
            first.append(Stmt(d.q(S.SELECT_BODY), (thread_id, ns, d.id_in(parent_id)), True))

        # Encode everything before touching the database: a TypeError leaves it as it was.
        # One encoder for the new values and the writes saved with them, all taken at
        # this instant (nothing runs between: no yield until every value is encoded): a
        # message in the list and in the write that added it is encoded once.
        encode = self._encoder()
        values = checkpoint["channel_values"]
        planned: dict[str, tuple[Stmt, _Chan]] = {}
        unstored: dict[str, _Chan] = {}  # no value, or one small enough for the body
        # The writes that produced this checkpoint may be stored as references to the
        # value rows this put inserts (see _refs): channel -> [(row bytes, row key)].
        targets: dict[str, list[tuple[bytes, RefTarget]]] | None = (
            {} if parent_writes and self.refs else None
        )
        # Values may refer to the bytes of the input checkpoint's __start__ value (the
        # input message the first step appends to the state), if this put follows it.
        src = parent.get(START) if parent and self.refs and START in new_versions else None
        source = (src.data, (ids(START), *src.lin, src.seq)) if src and src.data and src.lin else None
        for ch, version in new_versions.items():
            stmt, chan, target = _plan_blob(
                d, encode, self.max_deltas,
                thread_id, ns, ids(ch), ch, version, values, parent, fast,
                source if ch != START else None,
            )
            if stmt is None:
                unstored[ch] = chan
            else:
                planned[ch] = (stmt, chan)
                if targets is not None and target is not None:
                    targets[ch] = [target]
        referring: list[tuple[str, Stmt]] = []  # (channel, the write's fix-up if lost)
        write_stmts = [
            *self._write_stmts(thread_id, ns, parent_id, parent_writes, "put_step",
                               targets=targets, referring=referring, encode=encode),
            *self._write_stmts(thread_id, ns, cid, writes, "put_step", encode=encode),
        ]
        del encode  # (it holds what it encoded)

        if parent_id and parent is None:
            results = yield first + [p[0] for p in planned.values()]
            parent = yield from self._parent_from_body(
                after, results[-1 - len(planned)], thread_id, parent_id
            )
            inserted = results[len(results) - len(planned) :]
            first = []
        else:
            inserted = None
        # The last batch when nothing can be lost (no value insert, or a speculative put:
        # an insert that cannot store raises) and nothing is to be collected.
        final = (fast or not planned) and not self.keep_last

        chans = self._inherit(checkpoint, new_versions, parent)
        chans.update(unstored)
        for ch, p in planned.items():
            chans[ch] = p[1]
        body = self._body(checkpoint, chans, metadata if plain_meta else None)
        ckpt_stmt = Stmt(
            d.q(S.INSERT_CHECKPOINT),
            (cid_db, d.parent_in(parent_id, cid_db) if parent_id else None,
             body.pack(ids, d, cid), meta,
             thread_id, ns),
        )
        tail = [ckpt_stmt, *write_stmts, *self._retention_stmts(thread_id, ns)]
        if inserted is None:
            batch = first + [p[0] for p in planned.values()] + tail
            results = yield Last(batch) if final else batch
            inserted = results[len(first) : len(first) + len(planned)]
            tail_results = results[len(first) + len(planned) :]
        else:
            tail_results = yield Last(tail) if final and fast else tail

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
            # full snapshot under the next free variant, then fix the body, and store
            # the writes that referred to the row that was not inserted as they are.
            yield from _store_fallback(
                d, self._encode, thread_id, ns, ids, lost, new_versions, values, chans
            )
            body = self._body(checkpoint, chans, metadata if plain_meta else None)
            yield [
                Stmt(d.q(S.UPDATE_BODY), (body.pack(ids, d, cid), thread_id, ns, d.id_in(cid))),
                *(fix for ch, fix in referring if ch in lost),
            ]

        pruned = tail_results[-1] if self.keep_last else 0
        if pruned:
            yield from self._maybe_collect(after, thread_id, ns, pruned)
        after.append(lambda: self.cache.put(thread_id, ns, cid, chans))
        return make_config(thread_id, ns, cid)

    def op_put_steps(
        self, after: After, steps: Sequence[Any], *, fast: bool = False, speculate: bool = False
    ) -> Op:
        """Store several steps (``put_steps``: :class:`~asyncgraph.checkpoint.base.StepPut`)
        in one transaction, each exactly as :meth:`op_put` stores it on its own, in order;
        their configs.

        The puts run one after the other on a view of this store (:class:`_TxView`)
        whose caches (channel states, names ids, task path ids) take in each put's
        results at once: a put sees its parent's channel states as if the put before it
        had committed (so a list extended step by step is stored as the same deltas).
        The shared caches learn them only after the commit.

        ``speculate`` (with ``fast``; PostgreSQL): the last batch of a put (:class:`Last`)
        is answered at once with the results it gets when every row is stored (a
        speculative put checks nothing else), and its statements wait to go with the
        next batch that needs real results, or at the end: a call whose puts need no
        reads is ONE batch, ``COMMIT`` included. The real results are checked when they
        come; a row that was not stored raises :class:`Mispredicted` (nothing is
        stored: the transaction rolls back) and the caller runs the call again without
        speculating."""
        view = _TxView(self)
        configs = []
        deferred: list[Stmt] = []  # statements answered by a guess, not sent yet
        guessed: list[Any] = []
        last_step = len(steps) - 1
        for i, step in enumerate(steps):
            sub: After = []
            gen = view.op_put(sub, step.config, step.checkpoint, step.metadata, step.new_versions,
                              step.parent_writes, step.writes, fast=fast)
            try:
                batch = next(gen)
                while True:
                    if speculate and type(batch) is Last:
                        # What each statement gives when every row is stored: its
                        # row count (the rows a fetch returns are not read there).
                        answer: list[Any] = [[] if stmt.fetch else len(stmt.params) if stmt.many else 1
                                             for stmt in batch]
                        deferred += batch
                        guessed += answer
                    else:
                        final = type(batch) is Last and i == last_step and not deferred
                        results = yield Last(batch) if final else [*deferred, *batch]
                        if deferred:
                            _check(deferred, guessed, results)
                            results = results[len(deferred):]
                            deferred, guessed = [], []
                        answer = results
                    batch = gen.send(answer)
            except StopIteration as stop:
                configs.append(stop.value)
            for callback in sub:  # into the view's caches, for the puts after it
                callback()
        if deferred:
            _check(deferred, guessed, (yield Last(deferred)))
        after.append(view.commit)
        return configs

    def op_many(
        self,
        after: After,
        calls: Sequence[tuple[Callable[..., Op], tuple[Any, ...]]],
        done: Callable[[int, BaseException | None, Any], None] | None = None,
    ) -> Op:
        """Several independent operations (reads of different callers) in one
        transaction, in lockstep: each round sends the next batch of every operation
        not yet done, together. Returns ``(error, value)`` per call: an operation that
        raises fails alone (its ``after`` callbacks are dropped); the others go on.
        ``done(i, error, value)`` is called as soon as call ``i`` has its outcome, before
        the transaction ends, after that call's ``after`` callbacks: only for reads,
        whose results and callbacks (caching what was read) are final once read."""
        subs: list[After] = [[] for _ in calls]
        gens = [op(sub, *args) for sub, (op, args) in zip(subs, calls)]
        out: list[Any] = [None] * len(calls)
        errors: list[BaseException | None] = [None] * len(calls)
        batches: dict[int, list[Stmt]] = {}

        def advance(i: int, results: Any) -> None:
            try:
                batches[i] = next(gens[i]) if results is None else gens[i].send(results)
            except StopIteration as stop:
                out[i] = stop.value
                if done is not None:
                    # A read's callbacks only keep what it read (final): at once, so its
                    # caller's next put finds the states it read in the cache.
                    for callback in subs[i]:
                        callback()
                    subs[i].clear()
                    done(i, None, stop.value)
            except Exception as exc:  # noqa: BLE001  (this call's error, handed back)
                errors[i] = exc
                if done is not None:
                    done(i, exc, None)

        for i in range(len(gens)):
            advance(i, None)
        while batches:
            round_ = list(batches.items())
            batches.clear()
            stmts = [stmt for _, batch in round_ for stmt in batch]
            last = all(type(batch) is Last for _, batch in round_)
            results = yield Last(stmts) if last else stmts
            at = 0
            for i, batch in round_:
                advance(i, results[at : at + len(batch)])
                at += len(batch)
        for sub, error in zip(subs, errors):
            if error is None:
                after.extend(sub)
        return list(zip(errors, out))

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
            yield Last(self._lock(thread_id) + stmts)

    def op_delete_thread(self, after: After, thread_id: str) -> Op:
        q = self.d.q
        yield Last([
            *self._lock(thread_id),
            *(Stmt(q(S.DELETE_THREAD.format(table=t)), (thread_id,))
              for t in ("writes", "blobs", "checkpoints")),
            Stmt(q(S.DELETE_THREAD_ROWS), (thread_id,)),
        ])
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
        for t, ns in sorted(pairs):  # sorted: thread locks in one order, no deadlocks
            res = yield self._lock(t) + self._retention_stmts(t, ns, keep_last)
            total += res[-1]
            yield from self._collect(after, t, ns)
        return total

    def _lock(self, thread_id: str) -> list[Stmt]:
        """The statement serializing this transaction with other writers of the thread."""
        sql = self.d.thread_xact_lock
        return [] if sql is None else [Stmt(self.d.q(sql), (thread_id,), True)]

    # -- helpers: encoding ---------------------------------------------------------------

    def _encode(self, value: Any, what: str, subject: Any = None) -> bytes:
        """``value`` encoded; a ``TypeError`` says what it was: ``what``, formatted with
        ``subject`` (only then: most values encode)."""
        try:
            return self.serde.dumps(value)
        except TypeError as exc:
            raise TypeError(f"cannot store {what.format(subject)}: {exc}") from None

    def _encoder(self) -> Callable[[Any, str, Any], bytes]:
        """``_encode`` for the values of one put, taken at one instant: with the default
        serializer, an object met twice (by identity) is encoded once
        (``MsgpackSerde.encoder``, same bytes). Drop it once they are encoded."""
        if not self.refs:
            return self._encode
        dumps = self.serde.encoder()

        def encode(value: Any, what: str, subject: Any = None) -> bytes:
            try:
                return dumps(value)
            except TypeError as exc:
                raise TypeError(f"cannot store {what.format(subject)}: {exc}") from None

        return encode

    def _decode(self, data: bytes, thread_id: str, cid: str, what: str) -> Any:
        try:
            return self.serde.loads(bytes(data))
        except Exception as exc:
            raise CheckpointError(
                f"thread {thread_id!r} checkpoint {cid}: cannot read the stored {what}: "
                f"{exc}; the data was left untouched"
            ) from exc

    def _raw_body(self, data: bytes, thread_id: str, cid: str) -> list[Any]:
        try:
            row = Body.raw(bytes(data))
            Body.ids_of(row)  # checks the shape
            return row
        except Exception as exc:
            raise CheckpointError(
                f"thread {thread_id!r} checkpoint {cid}: cannot read the stored checkpoint "
                f"record: {exc}; the data was left untouched"
            ) from exc

    def _load_body(
        self, after: After, data: bytes, thread_id: str, cid: str,
        read: dict[int, str] | None = None,
    ) -> Op:
        """Decode a body, reading the names dictionary first if it names unknown ids
        (into ``read``, when given, for the rest of the operation: the cache learns
        them only once it commits)."""
        row = self._raw_body(data, thread_id, cid)
        known = self.names.names
        local: dict[int, str] = {}
        if read and Body.ids_of(row) <= read.keys():
            local = read
        elif not Body.ids_of(row) <= known.keys():
            (rows,) = yield [Stmt(self.d.q(S.SELECT_NAMES), (), True)]
            local = {i: name for i, name in rows}
            after.append(lambda: self.names.learn(rows))
            if read is not None:
                read.update(local)

        def name(i: int) -> str:
            found = local[i] if i in local else known.get(i)
            if found is None:
                raise CheckpointError(
                    f"thread {thread_id!r} checkpoint {cid}: the stored checkpoint record "
                    f"names an unknown channel or node (id {i}); the data was left untouched"
                )
            return found

        try:
            body = Body.from_raw(row, name, self.d, cid)
        except CheckpointError:
            raise
        except Exception as exc:
            raise CheckpointError(
                f"thread {thread_id!r} checkpoint {cid}: cannot read the stored checkpoint "
                f"record: {exc}; the data was left untouched"
            ) from exc
        if not local:
            return body, self.names.ids.__getitem__
        return body, {n: i for i, n in local.items()}.__getitem__

    def _ids_for(
        self,
        after: After,
        checkpoint: Checkpoint,
        new_versions: dict[str, Any],
        meta: dict[str, Any] | None,
        first: list[Stmt],
    ) -> Op:
        """The names dictionary ids for every name the put stores, inserting new names.

        When names must be inserted, the statements of ``first`` go in the same batch,
        ahead of them, and ``first`` is emptied."""
        known = self.names.ids
        found = _known_ids(known, checkpoint, new_versions, meta)
        if found is not None:
            return found
        needed = set(checkpoint["channel_versions"]) | set(new_versions) | set(meta or ())
        if meta:
            needed.update(v for v in meta.values() if type(v) is str and v in INTERNED)
        for node, vs in checkpoint["versions_seen"].items():
            needed.add(node)
            needed.update(vs)
        needed.update(checkpoint.get("updated_channels") or ())
        missing = sorted(n for n in needed if n not in known)  # sorted: no deadlocks
        if not missing:
            return known.__getitem__
        for n in missing:
            if type(n) is not str:
                raise TypeError(f"cannot store checkpoint: channel/node name {n!r} is not a str")
        d = self.d
        head = list(first)
        first.clear()
        *_, rows = yield [
            *head,
            Stmt(d.q(S.INSERT_NAME_SQLITE if d.name == "sqlite" else S.INSERT_NAME), [(n,) for n in missing], many=True),
            Stmt(d.q(S.SELECT_NAMES), (), True),
        ]
        local = {name: i for i, name in rows}
        after.append(lambda: self.names.learn(rows))
        return local.__getitem__

    def _body(
        self, checkpoint: Checkpoint, chans: dict[str, _Chan], meta: dict[str, Any] | None
    ) -> Body:
        # No copies: the body is packed right away, and packing only reads them.
        extra = (
            {k: v for k, v in checkpoint.items() if k not in _CHECKPOINT_KEYS}
            if len(checkpoint) > len(_CHECKPOINT_KEYS) else {}
        )
        return Body(
            v=checkpoint["v"],
            ts=checkpoint["ts"],
            versions=checkpoint["channel_versions"],
            seen=checkpoint["versions_seen"],
            updated=checkpoint.get("updated_channels"),
            locs=_locs(chans),
            extra=extra,
            meta=meta,
        )

    # -- helpers: channel values ----------------------------------------------------------

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
            chans[ch] = prev if prev is not None and prev.version == version else _empty(version)
        return chans

    def _parent_from_body(
        self, after: After, rows: list[Any], thread_id: str, parent_id: str
    ) -> Op:
        if not rows:
            return None
        body, _ = yield from self._load_body(after, rows[0][0], thread_id, parent_id)
        chans = {}
        for ch, version in body.versions.items():
            loc = body.locs.get(ch)
            if loc is None:
                chans[ch] = _Chan(version, 0)
            elif type(loc) is bytes:
                chans[ch] = _Chan(version, 0, inline=loc)
            else:
                chans[ch] = _Chan(version, loc[0][1], loc[0], loc[1])
        return chans

    def _write_stmts(
        self,
        thread_id: str,
        ns: str,
        cid: str | None,
        rows: Sequence[tuple[str, str, Any]],
        what: str,
        task_path: str = "",
        *,
        targets: dict[str, list[tuple[bytes, RefTarget]]] | None = None,
        referring: list[tuple[str, Stmt]] | None = None,
        encode: Callable[[Any, str, Any], bytes] | None = None,
    ) -> list[Stmt]:
        """The inserts of writes. With ``targets``, a write whose bytes a value row of
        the same channel holds is stored as a reference to them (see :mod:`._refs`);
        ``referring`` gets, for each, the statement storing it as it is instead.
        ``encode``: the put's encoder (see ``_encoder``), else ``_encode``."""
        if not rows:
            return []
        if not cid:
            raise ValueError(f"{what}: writes need a checkpoint to belong to")
        d = self.d
        if encode is None:
            encode = self._encode
        insert, upsert = d.q(S.INSERT_WRITE), d.q(S.UPSERT_WRITE)
        stmts = []
        counters: dict[str, int] = {}
        cid_db = d.id_in(cid)
        task_dbs: dict[str, Any] = {}
        compact = d.name == "sqlite"
        names = self.names.ids
        paths: dict[str, Any] = {}
        for row in rows:
            task_id, ch, value = row[0], row[1], row[2]
            path = row[3] if len(row) > 3 else task_path
            idx = counters.get(task_id, 0)
            counters[task_id] = idx + 1
            special = WRITES_IDX_MAP.get(ch)
            data = encode(value, "the write to {0[0]!r} by task {0[1]}", (ch, task_id))
            task_db = task_dbs.get(task_id)
            if task_db is None:
                task_db = task_dbs[task_id] = d.id_in(task_id)
            if targets and special is None and ch in targets:
                ref = _refs.find(data, targets[ch])
                if ref is not None:
                    assert referring is not None
                    referring.append((ch, Stmt(d.q(S.UNREF_WRITE), (
                        data, thread_id, ns, cid_db, task_db, idx, ref))))
                    data = ref
            if compact:
                # Names ids for the channel and a node's own path (schema version 4):
                # only names the database holds (those cached were read from it).
                ch_id = names.get(ch)
                ch_db = ch if ch_id is None else _id_bytes(ch_id)
                path_db = paths.get(path)
                if path_db is None:
                    path_db = paths[path] = self._path_id(path)
            else:
                ch_db, path_db = ch, path
            params = (cid_db, task_db, idx if special is None else special, ch_db,
                      path_db, data, thread_id, ns)
            stmts.append(Stmt(insert if special is None else upsert, params))
        return stmts

    def _path_id(self, path: str) -> Any:
        """A task path as stored on SQLite: the names id of the node for a node's own
        path (``str(("__pregel_pull", node))``, which reads back the same), else the
        path itself."""
        found = self._path_ids.get(path)
        if found is not None:
            return found
        if not path.startswith(_PULL_PREFIX) or not path.endswith(")"):
            return path
        try:
            node = ast.literal_eval(path)[1]
        except Exception:  # noqa: BLE001  (not a pull path after all: stored as it is)
            return path
        i = self.names.ids.get(node) if type(node) is str else None
        if i is None or _pull_path(node) != path:
            return path
        stored = _id_bytes(i)
        if len(self._path_ids) < 4096:
            self._path_ids[path] = stored
        return stored

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
        bodies, keys, write_refs, value_refs = yield [
            Stmt(d.q(S.SELECT_KEPT_BODIES), (thread_id, ns), True),
            Stmt(d.q(S.SELECT_BLOB_KEYS), (thread_id, ns), True),
            Stmt(d.q(S.SELECT_WRITE_REFS), (thread_id, ns, _refs.MARK), True),
            Stmt(d.q(S.SELECT_BLOB_REFS), (thread_id, ns, _refs.MARK), True),
        ]
        needed: dict[tuple[int, Any, int], int] = {}

        def need(ch_id: int, lin_v: Any, lin_var: int, seq: int) -> None:
            lin = (ch_id, lin_v, lin_var)
            needed[lin] = max(needed.get(lin, -1), seq)

        for (raw,) in bodies:
            for ch_id, _, (lin_v, lin_var), seq in Body.raw_locs(Body.raw(bytes(raw)), d):
                need(ch_id, lin_v, lin_var, seq)
        if self.refs:
            # Rows referred to by kept writes, and by kept value rows, stay too (see
            # _refs; a row referred to is never itself a reference: one pass).
            for (raw,) in write_refs:
                need(*_refs.target_of(raw))
            for ch_id, lin_v, lin_var, seq, raw in value_refs:
                if seq <= needed.get((ch_id, lin_v, lin_var), -1):
                    need(*_refs.target_of(raw))
        doomed = [
            (thread_id, ns, ch, lin_v, lin_var, seq)
            for ch, lin_v, lin_var, seq in keys
            if seq > needed.get((ch, lin_v, lin_var), -1)
        ]
        if doomed:
            yield [Stmt(d.q(S.DELETE_BLOB), doomed, many=True)]
        # A cached state of a pruned checkpoint may point into a lineage tail just deleted.

        ids = self.names.ids

        def still_stored(chans: dict[str, _Chan]) -> bool:
            return all(
                c.lin is None or c.seq <= needed.get((ids.get(ch, -1), *c.lin), -1)
                for ch, c in chans.items()
            )

        after.append(lambda: self.cache.retain(thread_id, ns, still_stored))


# -- several puts in one transaction (Store.op_put_steps) ------------------------------


class Mispredicted(Exception):
    """A speculative ``op_put_steps`` found a row it guessed stored was not (a write
    stored before, a thread deleted meanwhile): it was rolled back, nothing stored; run
    it again without speculating."""


def _check(stmts: Sequence[Stmt], guessed: Sequence[Any], results: Sequence[Any]) -> None:
    for stmt, guess, got in zip(stmts, guessed, results):
        if not stmt.fetch and got != guess:
            raise Mispredicted(f"{got} rows where {guess} were expected: {stmt.sql[:60]}")


class _TxCache:
    """A transaction's view of the channel-state cache: what its puts stored, over the
    shared cache; replayed onto the shared cache after the commit."""

    __slots__ = ("cut", "local", "log", "shared")

    def __init__(self, shared: _Cache) -> None:
        self.shared = shared
        self.local: dict[tuple[str, str], dict[str, dict[str, _Chan]]] = {}
        self.log: list[tuple[str, tuple[Any, ...]]] = []
        self.cut: set[tuple[str, str]] = set()  # threads pruned here: the shared states may be gone

    def get(self, thread_id: str, ns: str, cid: str) -> dict[str, _Chan] | None:
        key = (thread_id, ns)
        entries = self.local.get(key)
        if entries is not None and cid in entries:
            return entries[cid]
        if key in self.cut:
            return None
        return self.shared.get(thread_id, ns, cid)

    def put(self, thread_id: str, ns: str, cid: str, chans: dict[str, _Chan]) -> None:
        self.local.setdefault((thread_id, ns), {})[cid] = chans
        self.log.append(("put", (thread_id, ns, cid, chans)))

    def remember(self, thread_id: str, ns: str, cid: str, chans: dict[str, _Chan]) -> None:
        old = self.get(thread_id, ns, cid)
        if old is None or not _alive(old):
            self.put(thread_id, ns, cid, chans)

    def retain(self, thread_id: str, ns: str, keep: Callable[[dict[str, _Chan]], bool]) -> None:
        key = (thread_id, ns)
        entries = self.local.get(key)
        if entries:
            for cid in [c for c, chans in entries.items() if not keep(chans)]:
                del entries[cid]
        self.cut.add(key)
        self.log.append(("retain", (thread_id, ns, keep)))

    def drop_thread(self, thread_id: str) -> None:
        for key in [k for k in self.local if k[0] == thread_id]:
            del self.local[key]
        self.cut.update(k for k in list(self.cut) if k[0] == thread_id)
        self.log.append(("drop_thread", (thread_id,)))

    def commit(self) -> None:
        for name, args in self.log:
            getattr(self.shared, name)(*args)


class _TxNames:
    """A transaction's view of the names dictionary cache (see :class:`_TxCache`)."""

    __slots__ = ("ids", "learned", "names", "shared")

    def __init__(self, shared: Names) -> None:
        self.shared = shared
        self.ids = shared.ids
        self.names = shared.names
        self.learned: list[Sequence[Sequence[Any]]] | None = None

    def learn(self, rows: Sequence[Sequence[Any]]) -> None:
        if self.learned is None:
            self.learned = []
            self.ids, self.names = dict(self.ids), dict(self.names)
        for i, name in rows:
            self.ids[name] = i
            self.names[i] = name
        self.learned.append(rows)

    def commit(self) -> None:
        for rows in self.learned or ():
            self.shared.learn(rows)


class _TxView(Store):
    """The store as one ``op_put_steps`` transaction sees it: the shared store's
    settings and state, with caches of its own (see :meth:`Store.op_put_steps`), and
    each thread's advisory lock taken once."""

    def __init__(self, store: Store) -> None:  # noqa: super-init-not-called  (a view)
        self.__dict__.update(store.__dict__)
        self.shared = store
        self.cache = _TxCache(store.cache)  # type: ignore[assignment]
        self.names = _TxNames(store.names)  # type: ignore[assignment]
        self._locked: set[str] = set()

    def _lock(self, thread_id: str) -> list[Stmt]:
        if thread_id in self._locked:
            return []
        self._locked.add(thread_id)
        return Store._lock(self, thread_id)

    def _path_id(self, path: str) -> Any:
        # Ids worked out from names learned in this transaction stay here until it commits.
        if self.names.learned is not None and self._path_ids is self.shared._path_ids:  # type: ignore[attr-defined]
            self._path_ids = dict(self._path_ids)
        return Store._path_id(self, path)

    def commit(self) -> None:
        """After the commit: what the transaction learned goes to the shared caches."""
        self.cache.commit()  # type: ignore[attr-defined]
        self.names.commit()  # type: ignore[attr-defined]
        shared = self.shared._path_ids
        if self._path_ids is not shared:
            for path, stored in self._path_ids.items():
                if path not in shared and len(shared) < 4096:
                    shared[path] = stored
