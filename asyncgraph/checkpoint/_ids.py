"""Checkpoint ids: UUID-formatted strings whose lexical order is creation order."""

from __future__ import annotations

import os
import random
import threading
import time
from datetime import datetime, timezone

_lock = threading.Lock()
_last = 0
_EPOCH = 0x01B21DD213814000  # 100ns intervals from 1582-10-15 to 1970-01-01
_VARIANT = 1 << 63  # the top two bits of the last 64: "10", RFC 4122's variant
# (second, its ISO text up to the seconds): every checkpoint of a second shares it.
_second: tuple[int, str] = (-1, "")
_suffix = ""
"""The ids' last 64 bits as text ("-xxxx-xxxxxxxxxxxx"): RFC 4122's variant and 62 random
bits, drawn once per process, as UUIDv6's clock sequence and node are. Ids of one process
differ by their timestamps (strictly increasing, below); the random part keeps two
processes' ids apart. Drawn again in a forked child, which must not share its parent's."""


def _draw_suffix() -> None:
    global _suffix
    # Randomness for uniqueness, not secrecy; from the OS, once per process.
    r = f"{random.Random().getrandbits(62) | _VARIANT:016x}"
    _suffix = f"-{r[:4]}-{r[4:]}"


_draw_suffix()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_draw_suffix)


def _id(ns: int) -> str:
    global _last
    now = ns // 100 + _EPOCH
    _lock.acquire()
    if now <= _last:
        now = _last + 1
    _last = now
    _lock.release()  # nothing between can raise
    # UUIDv6: 60 bits of timestamp, most significant first, the version nibble before
    # the last 12; then the per-process suffix. The same text as str(uuid.UUID(int=...)),
    # formatted without the object, in one formatting operation.
    return "%08x-%04x-6%03x%s" % (now >> 28, (now >> 12) & 0xFFFF, now & 0xFFF, _suffix)


def time_ordered_id() -> str:
    """A UUIDv6-style id: 60 bits of 100ns timestamp first, then a per-process random part.

    Ids made in one process strictly increase even when the clock does not move.
    """
    return _id(time.time_ns())


# The id's text up to its last three hex digits, for the current 409.6 µs (2**12 ticks of
# 100 ns): (now >> 12, "xxxxxxxx-xxxx-6"); and the last three digits.
_window: tuple[int, str] = (-1, "")
_HEX3 = tuple(f"{i:03x}" for i in range(4096))


def id_and_ts() -> tuple[str, str]:
    """A new checkpoint's id (:func:`time_ordered_id`) and its ``ts``: the same text as
    ``datetime.now(timezone.utc).isoformat()``, from one reading of the clock."""
    global _second, _last, _window
    ns = time.time_ns()
    us = ns // 1000
    sec = us // 1_000_000
    cached = _second
    if cached[0] != sec:
        cached = _second = (sec, datetime.fromtimestamp(sec, timezone.utc).isoformat()[:-6])
    us -= sec * 1_000_000
    # _id(ns), inline, its text made from a cached prefix (one call and two integer
    # formattings fewer per checkpoint).
    now = ns // 100 + _EPOCH
    _lock.acquire()
    if now <= _last:
        now = _last + 1
    _last = now
    _lock.release()  # nothing between can raise
    high = now >> 12
    window = _window
    if window[0] != high:
        window = _window = (high, "%08x-%04x-6" % (high >> 16, high & 0xFFFF))
    # isoformat() leaves the fraction out when it is zero.
    return (window[1] + _HEX3[now & 0xFFF] + _suffix,
            "%s.%06d+00:00" % (cached[1], us) if us else cached[1] + "+00:00")
