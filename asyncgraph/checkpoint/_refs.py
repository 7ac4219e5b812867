"""Pending writes stored as a reference to the value row that holds the same bytes.

A step's writes are applied into the checkpoint the step ends with: the message a node
returns is stored once as the node's pending write (against the checkpoint it ran from)
and again in the new checkpoint's value (a list delta, or a snapshot). When both go in
one transaction (``Store.op_put`` with ``parent_writes``), a write whose encoding is a
byte range of a value row inserted by the same put is stored as a reference to that
range instead: :data:`MARK` then ``[channel id, lin_version, lin_variant, seq, start,
end]`` in msgpack. Reading it back gives the very same bytes, so the same value.

Only with the default serializer: its output is msgpack, which never starts with the
byte ``0xc1`` (msgpack leaves it unused), so a stored write is a reference exactly when
it starts with :data:`MARK`. A referenced row belongs to a checkpoint newer than the
write's own, so retention (which keeps the newest checkpoints) keeps it as long as the
write; the blob collector (``Store._collect``) counts references as well, so an
overwritten checkpoint can never take a referenced row with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ormsgpack

from asyncgraph.checkpoint import _sql as S
from asyncgraph.checkpoint._sql import Dialect, Op, Stmt
from asyncgraph.errors import CheckpointError

__all__ = ["MARK", "MIN_SIZE", "RefTarget", "find", "parse", "resolve", "target_of"]

MARK = b"\xc1"
MIN_SIZE = 48
"""Writes shorter than this are stored as they are (a reference is about 20 bytes)."""

_IN_MAX = 500  # lineage versions per statement when reading rows referred to

RefTarget = tuple[int, Any, int, int]
"""A value row of the same thread: (channel id, lin_version, lin_variant, seq)."""


def find(data: bytes, candidates: Sequence[tuple[bytes, RefTarget]]) -> bytes | None:
    """A reference to the first candidate row holding ``data`` as a byte range, or None."""
    if len(data) < MIN_SIZE:
        return None
    for row_data, target in candidates:
        start = row_data.find(data)
        if start >= 0:
            return MARK + ormsgpack.packb([*target, start, start + len(data)])
    return None


def parse(data: bytes) -> tuple[RefTarget, int, int]:
    """The target row and byte range of a stored reference (``data`` starts with MARK).

    Raises:
        ValueError: ``data`` is not a well-formed reference.
    """
    fields = ormsgpack.unpackb(data[1:])
    if type(fields) is not list or len(fields) != 6:
        raise ValueError("malformed value reference")
    ch_id, lin_v, lin_var, seq, start, end = fields
    if not all(type(x) is int for x in (ch_id, lin_var, seq, start, end)) or not 0 <= start <= end:
        raise ValueError("malformed value reference")
    return (ch_id, lin_v, lin_var, seq), start, end


def target_of(data: Any) -> RefTarget:
    """The row a stored reference names, for the blob collector: a malformed one (it
    cannot be read back anyway, and says so when read) names no row (channel id -1)."""
    try:
        return parse(bytes(data))[0]
    except Exception:  # noqa: BLE001  (any malformed bytes)
        return (-1, None, 0, 0)


def resolve(
    d: Dialect,
    tables: Sequence[tuple[Any, str, str, str, list[Any]]],
    fetched: dict[tuple[Any, int, Any], list[Any]],
) -> Op:
    """Replace, in place, each stored row that is a reference by the bytes it refers
    to: from the rows already fetched, else read in one more batch.

    Args:
        tables: ``(tid, thread_id, checkpoint id, what, rows)``: fetched rows whose
            third column is the stored bytes (writes ``(task_id, channel, data)``, value
            rows ``(seq, kind, data)``); ``what`` names them in errors (``{}``: the
            second column).
        fetched: value rows already read, by (tid, channel id, (lin_version,
            lin_variant)), from seq 0 on.

    On PostgreSQL the extra batch may come after the load's last one was committed (a
    read sends ``COMMIT`` with what it expects to be its last batch): a row referred to
    that was deleted in between raises ``CheckpointError``, never gives other data.

    Raises:
        CheckpointError: a reference is malformed, or the row it refers to is gone.
    """
    found: dict[tuple[Any, RefTarget], Any] = {}
    wanted: list[tuple[Any, RefTarget]] = []
    places = []
    for tid, thread_id, cid, what, rows in tables:
        for j, row in enumerate(rows):
            data = row[2]
            if not data or data[:1] != MARK:
                continue
            try:
                target, start, end = parse(bytes(data))
            except Exception as exc:
                raise CheckpointError(
                    f"thread {thread_id!r} checkpoint {cid}: cannot read the stored "
                    f"{what.format(row[1])}: "
                    f"{exc}; the data was left untouched"
                ) from exc
            key = (tid, target)
            places.append((rows, j, key, start, end, thread_id, cid, what.format(row[1])))
            if key in found:
                continue
            have = fetched.get((tid, target[0], (target[1], target[2]))) or ()
            seq = target[3]
            if seq < len(have) and have[seq][0] == seq:
                found[key] = have[seq][2]
            else:
                found[key] = None
                wanted.append(key)
    if wanted:
        # One statement per (thread, channel, variant, seq), the lineage versions as a
        # list: the input rows a long thread's list refers to are many such rows.
        groups: dict[tuple[Any, int, int, int], list[Any]] = {}
        for tid, (ch_id, lin_v, lin_var, seq) in wanted:
            groups.setdefault((tid, ch_id, lin_var, seq), []).append(lin_v)
        stmts, heads = [], []
        for (tid, ch_id, lin_var, seq), versions in groups.items():
            for i in range(0, len(versions), _IN_MAX):
                chunk = versions[i : i + _IN_MAX]
                sql = S.SELECT_BLOBS_DATA.format(", ".join("?" * len(chunk)))
                stmts.append(Stmt(d.q(sql), (tid, ch_id, lin_var, seq, *chunk), fetch=True))
                heads.append((tid, ch_id, lin_var, seq))
        results = yield stmts
        for (tid, ch_id, lin_var, seq), got in zip(heads, results):
            for lin_v, data in got:
                found[(tid, (ch_id, lin_v, lin_var, seq))] = data
    for rows, j, key, start, end, thread_id, cid, what in places:
        data = found[key]
        if data is None or len(data) < end or data[:1] == MARK:
            raise CheckpointError(
                f"thread {thread_id!r} checkpoint {cid}: the stored {what} refers to a "
                "stored value that is gone; the data was left untouched"
            )
        row = rows[j]
        rows[j] = (row[0], row[1], bytes(data)[start:end])
