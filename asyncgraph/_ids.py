"""``NewType`` ids: str at run time, kept apart by the type checker. Public through
:mod:`asyncgraph.types`; defined here, below every module that makes them."""

from __future__ import annotations

import hashlib
from typing import NewType

__all__ = ["CheckpointId", "InterruptId", "TaskId", "ThreadId", "task_id"]


TaskId = NewType("TaskId", str)
"""A task's stable id (a UUID-shaped hash of checkpoint, namespace, step and task)."""
CheckpointId = NewType("CheckpointId", str)
"""The id of a saved checkpoint (``config["configurable"]["checkpoint_id"]``)."""
ThreadId = NewType("ThreadId", str)
"""A conversation thread (``config["configurable"]["thread_id"]``)."""
InterruptId = NewType("InterruptId", str)
"""Identifies one ``interrupt()`` call, for ``Command(resume={id: value})``."""

def task_id(checkpoint_id: str | None, ns: str, step: int, name: str, kind: int, index: int) -> TaskId:
    """A task's stable id: the same checkpoint, namespace, step and task give the same
    id, so a resume finds the writes saved under it."""
    raw = f"{checkpoint_id}|{ns}|{step}|{name}|{kind}|{index}".encode()
    h = hashlib.blake2b(raw, digest_size=16).hexdigest()
    return TaskId(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}")
