"""Value types of stored checkpoints, at LangGraph's path ``langgraph.checkpoint.serde.types``."""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["_DeltaSnapshot"]


class _DeltaSnapshot(NamedTuple):
    """The whole value of a :class:`~asyncgraph.channels.delta.DeltaChannel`, stored as
    one blob (LangGraph's snapshot form, which stops its replay of earlier writes).

    asyncgraph's ``DeltaChannel`` checkpoints its plain value (the SQL savers store a
    growing list as a delta themselves); it reads this form too, from a checkpoint
    LangGraph wrote.
    """

    value: Any
