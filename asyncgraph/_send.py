"""``Send``, defined below the serializer, which rebuilds stored ones.

Public path: :class:`asyncgraph.types.Send` (re-exported there; ``__module__`` says so,
which is also the name stored in checkpoints).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Send"]


class Send:
    """A message to run ``node`` in the next step with ``arg`` as its input.

    Returned from a conditional edge's path function (or in ``Command.goto``), it starts
    one task per ``Send``; ``arg`` is that task's own input, not the graph state. This is
    how map-reduce fan-out is written.
    """

    __slots__ = ("node", "arg")

    node: str
    arg: Any

    def __init__(self, node: str, arg: Any) -> None:
        self.node = node
        self.arg = arg

    def __hash__(self) -> int:
        return hash((self.node, repr(self.arg)))

    def __repr__(self) -> str:
        return f"Send(node={self.node!r}, arg={self.arg!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Send) and self.node == other.node and self.arg == other.arg


Send.__module__ = "asyncgraph.types"
