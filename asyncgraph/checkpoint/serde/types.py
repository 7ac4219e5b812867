"""Names a checkpoint's pending writes use (LangGraph's ``checkpoint.serde.types``).

A saver stores a task's writes under channel names; these special ones carry an error,
an interrupt, a resume value, a scheduled marker or a ``Send`` packet.
"""

from __future__ import annotations

from typing import Any, Final, Protocol, runtime_checkable

from asyncgraph.constants import TASKS

__all__ = ["ERROR", "INTERRUPT", "RESUME", "SCHEDULED", "TASKS", "SendProtocol"]

ERROR: Final = "__error__"
SCHEDULED: Final = "__scheduled__"
INTERRUPT: Final = "__interrupt__"
RESUME: Final = "__resume__"


@runtime_checkable
class SendProtocol(Protocol):
    """What a saver may rely on in a ``Send`` packet (:class:`asyncgraph.types.Send`)."""

    node: str
    arg: Any

    def __hash__(self) -> int: ...

    def __eq__(self, value: object) -> bool: ...
