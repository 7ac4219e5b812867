"""Checkpoint ids: UUID-formatted strings whose lexical order is creation order."""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last = 0


def time_ordered_id() -> str:
    """A UUIDv6-style id: 60 bits of 100ns timestamp first, then randomness.

    Ids made in one process strictly increase even when the clock does not move.
    """
    global _last
    with _lock:
        now = time.time_ns() // 100 + 0x01B21DD213814000  # 100ns since 1582-10-15
        if now <= _last:
            now = _last + 1
        _last = now
    time_high = (now >> 28) & 0xFFFFFFFF
    time_mid = (now >> 12) & 0xFFFF
    time_low = now & 0x0FFF
    rand = int.from_bytes(os.urandom(8), "big")
    clock_seq = (rand >> 48) & 0x3FFF | 0x8000
    node = rand & 0xFFFFFFFFFFFF
    value = (time_high << 96) | (time_mid << 80) | (0x6000 | time_low) << 64 | clock_seq << 48 | node
    h = f"{value:032x}"  # what str(uuid.UUID(int=value)) gives, without the object
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
