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
