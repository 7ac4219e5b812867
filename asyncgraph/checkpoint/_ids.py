"""Checkpoint ids: UUID-formatted strings whose lexical order is creation order."""

from __future__ import annotations

import os
import random
import threading
import time
from datetime import datetime, timezone

_lock = threading.Lock()
_last = 0
# Uniqueness across processes needs randomness, not secrecy: a private generator (seeded
# from the OS, reseeded in a forked child) costs no system call per id, unlike urandom.
_rng = random.Random()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_rng.seed)
_bits = _rng.getrandbits
_EPOCH = 0x01B21DD213814000  # 100ns intervals from 1582-10-15 to 1970-01-01
_VARIANT = 1 << 63  # the top two bits of the last 64: "10", RFC 4122's variant
# (second, its ISO text up to the seconds): every checkpoint of a second shares it.
_second: tuple[int, str] = (-1, "")


def _id(ns: int) -> str:
    global _last
    now = ns // 100 + _EPOCH
    with _lock:
        if now <= _last:
            now = _last + 1
        _last = now
    # UUIDv6: 60 bits of timestamp, most significant first, the version nibble before
    # the last 12; then the variant and 62 random bits. The same text as
    # str(uuid.UUID(int=...)), formatted without the object.
    t = f"{now:015x}"
    r = f"{_bits(62) | _VARIANT:016x}"
    return f"{t[:8]}-{t[8:12]}-6{t[12:]}-{r[:4]}-{r[4:]}"


def time_ordered_id() -> str:
    """A UUIDv6-style id: 60 bits of 100ns timestamp first, then randomness.

    Ids made in one process strictly increase even when the clock does not move.
    """
    return _id(time.time_ns())


def id_and_ts() -> tuple[str, str]:
    """A new checkpoint's id (:func:`time_ordered_id`) and its ``ts``: the same text as
    ``datetime.now(timezone.utc).isoformat()``, from one reading of the clock."""
    global _second
    ns = time.time_ns()
    sec, us = divmod(ns // 1000, 1_000_000)
    cached = _second
    if cached[0] != sec:
        cached = _second = (sec, datetime.fromtimestamp(sec, timezone.utc).isoformat()[:-6])
    # isoformat() leaves the fraction out when it is zero.
    return _id(ns), f"{cached[1]}.{us:06d}+00:00" if us else f"{cached[1]}+00:00"
