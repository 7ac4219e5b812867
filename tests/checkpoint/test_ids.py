"""Checkpoint ids and timestamps (``checkpoint/_ids.py``): ids are UUIDv6 text whose
order is creation order; ``ts`` is the ISO text ``datetime.isoformat`` gives."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from asyncgraph.checkpoint._ids import id_and_ts, time_ordered_id


def test_ids_are_uuid6_and_strictly_increase_with_their_timestamps() -> None:
    before = datetime.now(timezone.utc)
    last = ""
    for i in range(20_000):
        cid, ts = id_and_ts() if i % 2 else (time_ordered_id(), None)
        u = uuid.UUID(cid)
        assert str(u) == cid and u.version == 6 and u.variant == uuid.RFC_4122
        assert cid > last
        last = cid
        if ts is not None:
            when = datetime.fromisoformat(ts)
            assert when.isoformat() == ts  # the same text isoformat() makes
            assert before - timedelta(seconds=1) <= when <= datetime.now(timezone.utc)


def test_a_forked_child_draws_its_own_random_part() -> None:
    # The last 64 bits are drawn once per process; a forked child must not reuse its
    # parent's, or two processes could make the same id in the same 100 ns.
    import os

    if not hasattr(os, "fork"):
        return
    mine = time_ordered_id()[19:]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(w, time_ordered_id()[19:].encode())
        os._exit(0)
    os.close(w)
    theirs = os.read(r, 100).decode()
    os.close(r)
    os.waitpid(pid, 0)
    assert len(theirs) == len(mine) == 17 and theirs != mine
    assert time_ordered_id()[19:] == mine  # the same for every id of one process


def test_id_and_ts_match_the_clock_reading_they_come_from(monkeypatch) -> None:
    # id_and_ts caches the text its ids and timestamps share (per 409.6 µs window and
    # per second): across window and second boundaries, and at a whole second (no
    # fraction), both are exactly what the one clock reading gives.
    import types

    from asyncgraph.checkpoint import _ids

    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    start = 1_765_000_000_999_000_000
    readings = [start + k * 137_000 for k in range(40)] + [1_765_000_002_000_000_000, 1_765_000_002_000_000_900,
                                                            1_765_000_002_005_000_000, 1_765_000_002_005_001_999]
    clock = iter(readings)
    monkeypatch.setattr(_ids, "time", types.SimpleNamespace(time_ns=lambda: next(clock)))
    monkeypatch.setattr(_ids, "_last", 0)
    for ns in readings:
        cid, ts = id_and_ts()
        assert ts == (epoch + timedelta(microseconds=ns // 1000)).isoformat()
        now = ns // 100 + _ids._EPOCH
        expected = uuid.UUID(int=(now >> 12) << 80 | 0x6 << 76 | (now & 0xFFF) << 64 | int(_ids._suffix.replace("-", ""), 16))
        assert cid == str(expected)
