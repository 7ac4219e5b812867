"""The one-off conversion of a schema version 1 database to version 2.

:meth:`Store.op_setup <asyncgraph.checkpoint._store.Store.op_setup>` runs it, inside the
setup transaction, when it finds a version 1 database; nothing else uses it, so it is
kept out of the store's module. Version 1 bodies are msgpack naming channels, version 2
bodies are :class:`~asyncgraph.checkpoint._body.Body` with names dictionary ids (see
:mod:`asyncgraph.checkpoint._sql` for both layouts).
"""

from __future__ import annotations

from typing import Any

import ormsgpack

from asyncgraph.checkpoint import _sql as S
from asyncgraph.checkpoint._body import Body, Loc, unpack_ts
from asyncgraph.checkpoint._sql import Dialect, Op, Stmt


def _migrate_v1(d: Dialect) -> Op:
    """Convert a version 1 database (in the setup transaction, all in memory)."""
    ckpts, blobs = yield [
        Stmt(S.V1_SELECT_CHECKPOINTS, (), True),
        Stmt(S.V1_SELECT_BLOBS, (), True),
    ]
    # (tid, channel, version key, variant) -> (lin, seq), None for an empty marker
    where: dict[tuple[Any, ...], Any] = {}
    for tid, ch, lin_v, lin_var, seq, version, variant, kind, _ in blobs:
        where[(tid, ch, version, variant)] = None if kind == 2 else ((lin_v, lin_var), seq)
    bodies = []
    names: set[str] = {ch for _, ch, *_ in blobs}
    for tid, cid, parent, raw, meta in ckpts:
        v, ts, versions, seen, updated, variants, *extra = ormsgpack.unpackb(
            bytes(raw), option=ormsgpack.OPT_NON_STR_KEYS
        )
        locs: dict[str, Loc] = {}
        for ch, version in versions.items():
            loc = where.get((tid, ch, d.vkey(version), variants.get(ch, 0)))
            if loc is not None:
                locs[ch] = loc
        body = Body(v, unpack_ts(ts, ""), versions, seen, updated, locs, *extra)
        names.update(versions, seen, updated or ())
        for vs in seen.values():
            names.update(vs)
        bodies.append(((tid, cid, parent, meta), body))
    yield [Stmt(sql) for sql in d.migrations[1]]
    ids: dict[str, int] = {}
    if names:
        _, rows = yield [
            Stmt(d.q(S.INSERT_NAME_SQLITE if d.name == "sqlite" else S.INSERT_NAME), [(n,) for n in sorted(names)], many=True),
            Stmt(d.q(S.SELECT_NAMES), (), True),
        ]
        ids = {name: i for i, name in rows}
    stmts = []
    if bodies:
        rows = [(tid, cid, parent, body.pack(ids.__getitem__, d, d.id_out(cid)), meta)
                for (tid, cid, parent, meta), body in bodies]
        stmts.append(Stmt(d.q(S.V2_INSERT_CHECKPOINT), rows, many=True))
    kept = [(tid, ids[ch], lin_v, lin_var, seq, kind, data)
            for tid, ch, lin_v, lin_var, seq, _, _, kind, data in blobs if kind != 2]
    if kept:
        stmts.append(Stmt(d.q(S.V2_INSERT_BLOB), kept, many=True))
    if stmts:
        yield stmts
