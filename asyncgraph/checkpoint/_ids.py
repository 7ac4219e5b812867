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
_suffix = ""
"""The ids' last 64 bits as text ("-xxxx-xxxxxxxxxxxx"): RFC 4122's variant and 62 random
bits, drawn once per process, as UUIDv6's clock sequence and node are. Ids of one process
differ by their timestamps (strictly increasing, below); the random part keeps two
processes' ids apart. Drawn again in a forked child, which must not share its parent's."""


def _draw_suffix() -> None:
    global _suffix, _TAIL
    # Randomness for uniqueness, not secrecy; from the OS, once per process.
    r = f"{random.Random().getrandbits(62) | _VARIANT:016x}"
    _suffix = f"-{r[:4]}-{r[4:]}"
    _TAIL = tuple(f"-6{i:03x}{_suffix}" for i in range(4096))


_TAIL: tuple[str, ...] = ()
"""An id's text after its 12th hex digit, by its last 12 bits: the version digit, the
last three timestamp digits and the suffix (id_and_ts)."""


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


# The id's text up to its 11th hex digit, for the current 104.9 ms (2**20 ticks of 100 ns):
# (now >> 20, "xxxxxxxx-xx"); then two more digits, "-6" and the last three digits from
# tables. (A window of 409.6 µs, the text up to "-6", missed on most calls whenever a
# step takes longer than that: under a profiler, or with slow nodes.)
_window: tuple[int, str] = (-1, "")
_HEX2 = tuple(f"{i:02x}" for i in range(256))
# The ts's second: (its first ns, its ISO text up to the seconds and the ".", that text
# with the UTC offset instead: all isoformat() writes when the microseconds are 0); and
# the fraction's digits by thousands (the last three with the offset).
_second: tuple[int, str, str] = (-(10**9), "", "")
_DEC3 = tuple(f"{i:03d}" for i in range(1000))
_DEC3_UTC = tuple(f"{i:03d}+00:00" for i in range(1000))
_acquire, _release = _lock.acquire, _lock.release


def _new_second(sec: int) -> tuple[int, str, str]:
    global _second
    text = datetime.fromtimestamp(sec, timezone.utc).isoformat()[:-6]
    _second = (sec * 1_000_000_000, text + ".", text + "+00:00")
    return _second


def id_and_ts() -> tuple[str, str]:
    """A new checkpoint's id (:func:`time_ordered_id`) and its ``ts``: the same text as
    ``datetime.now(timezone.utc).isoformat()``, from one reading of the clock."""
    global _last, _window
    ns = time.time_ns()
    # _id(ns), inline, its text made from a cached prefix (one call and two integer
    # formattings fewer per checkpoint).
    now = ns // 100 + _EPOCH
    _acquire()
    if now <= _last:
        now = _last + 1
    _last = now
    _release()  # nothing between can raise
    window = _window
    if window[0] != now >> 20:
        high = now >> 20
        window = _window = (high, "%08x-%02x" % (high >> 8, high & 0xFF))
    second = _second
    us = (ns - second[0]) // 1000  # (small ints from here: cheaper than ns's)
    if not 0 <= us < 1_000_000:
        second = _new_second(ns // 1_000_000_000)
        us = (ns - second[0]) // 1000
    return (f"{window[1]}{_HEX2[(now >> 12) & 0xFF]}{_TAIL[now & 0xFFF]}",
            f"{second[1]}{_DEC3[us // 1000]}{_DEC3_UTC[us % 1000]}" if us else second[2])
