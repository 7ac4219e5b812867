"""Checkpoint ids: UUID-formatted strings whose lexical order is creation order."""

from __future__ import annotations

import os
import random
import threading
import time

_lock = threading.Lock()
_last = 0
# Uniqueness across processes needs randomness, not secrecy: a private generator (seeded
# from the OS, reseeded in a forked child) costs no system call per id, unlike urandom.
_rng = random.Random()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_rng.seed)
_bits = _rng.getrandbits


def time_ordered_id() -> str:
    """A UUIDv6-style id: 60 bits of 100ns timestamp first, then randomness.

    Ids made in one process strictly increase even when the clock does not move.
    """
    global _last
    now = time.time_ns() // 100 + 0x01B21DD213814000  # 100ns since 1582-10-15
    with _lock:
        if now <= _last:
            now = _last + 1
        _last = now
    rand = _bits(62)
    # Formatted directly: the same text as str(uuid.UUID(int=...)), without the object.
    return (
        f"{(now >> 28) & 0xFFFFFFFF:08x}-{(now >> 12) & 0xFFFF:04x}-{0x6000 | now & 0x0FFF:04x}-"
        f"{0x8000 | rand >> 48:04x}-{rand & 0xFFFFFFFFFFFF:012x}"
    )
