"""``Send``, defined below the serializer, which rebuilds stored ones.

Public path: :class:`asyncgraph.types.Send` (re-exported there; ``__module__`` says so,
which is also the name stored in checkpoints).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from asyncgraph._timeout_policy import TimeoutPolicy

__all__ = ["Send"]


class Send:
    """A message to run ``node`` in the next step with ``arg`` as its input.

    Returned from a conditional edge's path function (or in ``Command.goto``), it starts
    one task per ``Send``; ``arg`` is that task's own input, not the graph state. This is
    how map-reduce fan-out is written.
    """

    __slots__ = ("node", "arg", "timeout")

    node: str
    arg: Any
    timeout: TimeoutPolicy | None
    """This task's timeout (seconds, a ``timedelta`` or a ``TimeoutPolicy``); None: the
    target node's."""

    def __init__(self, node: str, arg: Any, *, timeout: float | timedelta | TimeoutPolicy | None = None) -> None:
        self.node = node
        self.arg = arg
        self.timeout = TimeoutPolicy.coerce(timeout)

    def __hash__(self) -> int:
        return hash((self.node, repr(self.arg)))

    def __repr__(self) -> str:
        if self.timeout is None:
            return f"Send(node={self.node!r}, arg={self.arg!r})"
        return f"Send(node={self.node!r}, arg={self.arg!r}, timeout={self.timeout!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Send)
            and self.node == other.node
            and self.arg == other.arg
            and self.timeout == other.timeout
        )


Send.__module__ = "asyncgraph.types"
