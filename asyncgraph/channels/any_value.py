"""``AnyValue``: the last value of a step whose writers all agree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asyncgraph.channels.base import MISSING, BaseChannel

__all__ = ["AnyValue"]


class AnyValue(BaseChannel[Any, Any]):
    """Keeps the last value written in a step; several writes in one step are allowed
    and assumed equal (the last one is kept, unlike ``LastValue`` which raises).

    A step with no write empties it: the value lives for the step after the one that
    wrote it.
    """

    __slots__ = ()

    def update(self, values: Sequence[Any]) -> bool:
        if not values:
            if self.value is MISSING:
                return False
            self.value = MISSING
            return True
        self.value = values[-1]
        return True
