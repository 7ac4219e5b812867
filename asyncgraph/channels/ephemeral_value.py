"""A channel whose value lasts for the one step after it was written."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asyncgraph.channels.base import MISSING, BaseChannel
from asyncgraph.errors import InvalidUpdateError


class EphemeralValue(BaseChannel[Any, Any]):
    """Holds a write for exactly one step, then empties itself.

    With ``guard=True`` (the default) more than one write in a step is an error. The
    engine uses unguarded ones as edge triggers.
    """

    __slots__ = ("guard",)

    def __init__(self, typ: Any = Any, guard: bool = True, key: str = "") -> None:
        super().__init__(typ, key)
        self.guard = guard

    def update(self, values: Sequence[Any]) -> bool:
        if not values:
            if self.value is MISSING:
                return False
            self.value = MISSING
            return True
        if self.guard and len(values) != 1:
            raise InvalidUpdateError(
                f"At key '{self.key}': EphemeralValue(guard=True) can receive only one "
                "value per step.",
                key=self.key,
            )
        self.value = values[-1]
        return True
