"""A pub/sub channel: collects every write."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asyncgraph.channels.base import MISSING, BaseChannel


class Topic(BaseChannel[Any, Any]):
    """Collects the writes of a step into a list.

    Each step's list replaces the previous one unless ``accumulate=True``. A write that
    is a list adds its items.
    """

    __slots__ = ("accumulate",)

    def __init__(self, typ: Any = Any, accumulate: bool = False, key: str = "") -> None:
        super().__init__(typ, key)
        self.accumulate = accumulate

    def get(self) -> Any:
        if not self.value:
            from asyncgraph.errors import EmptyChannelError

            raise EmptyChannelError(self.key)
        return self.value

    def is_available(self) -> bool:
        return bool(self.value)

    def update(self, values: Sequence[Any]) -> bool:
        old = self.value if self.value is not MISSING else []
        new = list(old) if self.accumulate else []
        for v in values:
            if isinstance(v, list):
                new.extend(v)
            else:
                new.append(v)
        changed = new != old
        self.value = new if new else ([] if self.accumulate else MISSING)
        return changed

    def checkpoint(self) -> Any:
        return self.value if self.value else MISSING
