"""``NewType`` ids: str at run time, kept apart by the type checker. Public through
:mod:`asyncgraph.types`; defined here, below every module that makes them. Also the
fast uuid4 string that ``add_messages`` gives a message without an id."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from typing import NewType

__all__ = ["CheckpointId", "InterruptId", "TaskId", "ThreadId", "task_id", "uuid4_str"]


TaskId = NewType("TaskId", str)
"""A task's stable id (a UUID-shaped hash of checkpoint, namespace, step and task)."""
CheckpointId = NewType("CheckpointId", str)
"""The id of a saved checkpoint (``config["configurable"]["checkpoint_id"]``)."""
ThreadId = NewType("ThreadId", str)
"""A conversation thread (``config["configurable"]["thread_id"]``)."""
InterruptId = NewType("InterruptId", str)
"""Identifies one ``interrupt()`` call, for ``Command(resume={id: value})``."""

# -- uuid4 strings ----------------------------------------------------------------------
# ``str(uuid.uuid4())`` makes one ``os.urandom`` call and a UUID object per id: 2-10 us,
# the largest single cost of an agent run's reducer (every message gets an id). The
# same bits (os.urandom, version 4, RFC 4122 variant) come here from one urandom call per
# 256 ids. ``next()`` on a list iterator is atomic under the GIL, so two threads never
# get the same value; a forked child draws a fresh batch (the parent's would repeat).
# Tests that patch ``uuid.uuid4`` for deterministic ids (LangGraph's own suite does) are
# honoured: while it is patched, ids come from it.

_BATCH = 256
_VERSION_MASK = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_BITS = (0x4000 << 64) | (0x8000 << 48)


def _batch() -> Iterator[int]:
    raw = os.urandom(16 * _BATCH)
    return iter([int.from_bytes(raw[i : i + 16], "big") for i in range(0, 16 * _BATCH, 16)])


_ints = _batch()


def _reseed() -> None:
    global _ints
    _ints = _batch()


if hasattr(os, "register_at_fork"):  # (not on Windows: no fork there)
    os.register_at_fork(after_in_child=_reseed)


_UUID4 = uuid.uuid4


def uuid4_str() -> str:
    """A random (version 4) UUID as its canonical 36-character string."""
    if uuid.uuid4 is not _UUID4:  # patched (a test's deterministic ids): use it
        return str(uuid.uuid4())
    global _ints
    try:
        n = next(_ints)
    except StopIteration:
        _ints = _batch()
        n = next(_ints)
    h = "%032x" % ((n & _VERSION_MASK) | _VERSION_BITS)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_blake2b = hashlib.blake2b


def task_id(checkpoint_id: str | None, ns: str, step: int, name: str, kind: int, index: int) -> TaskId:
    """A task's stable id: the same checkpoint, namespace, step and task give the same
    id, so a resume finds the writes saved under it."""
    d = _blake2b(f"{checkpoint_id}|{ns}|{step}|{name}|{kind}|{index}".encode(), digest_size=16).digest()
    # The UUID text 8-4-4-4-12 of the digest's hex: the middle three groups in one
    # hex() call with a separator (fewer slices than cutting the 32-digit text up;
    # one per task, every step). TaskId is str at run time: not called.
    return f"{d[:4].hex()}-{d[4:10].hex('-', 2)}-{d[10:].hex()}"  # type: ignore[return-value]
