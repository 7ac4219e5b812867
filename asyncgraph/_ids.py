"""``NewType`` ids: str at run time, kept apart by the type checker. Public through
:mod:`asyncgraph.types`; defined here, below every module that makes them."""

from __future__ import annotations

from typing import NewType

__all__ = ["CheckpointId", "InterruptId", "TaskId", "ThreadId"]


TaskId = NewType("TaskId", str)
"""A task's stable id (a UUID-shaped hash of checkpoint, namespace, step and task)."""
CheckpointId = NewType("CheckpointId", str)
"""The id of a saved checkpoint (``config["configurable"]["checkpoint_id"]``)."""
ThreadId = NewType("ThreadId", str)
"""A conversation thread (``config["configurable"]["thread_id"]``)."""
InterruptId = NewType("InterruptId", str)
"""Identifies one ``interrupt()`` call, for ``Command(resume={id: value})``."""