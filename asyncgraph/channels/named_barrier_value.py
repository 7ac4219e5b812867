"""A channel that opens once every named writer has written: the join of an edge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asyncgraph.channels.base import MISSING, BaseChannel
from asyncgraph.errors import InvalidUpdateError


class NamedBarrierValue(BaseChannel[Any, Any]):
    """Available once each of ``names`` has been written; emptied when consumed.

    ``add_edge(["a", "b"], "c")`` makes one: ``c`` runs after both ``a`` and ``b`` ran,
    in whichever steps they ran.
    """

    __slots__ = ("names",)

    def __init__(self, typ: Any = Any, names: set[str] | frozenset[str] = frozenset(), key: str = "") -> None:
        super().__init__(typ, key)
        self.names = frozenset(names)
        self.value = set()

    def from_checkpoint(self, checkpoint: Any) -> NamedBarrierValue:
        new = self._empty()
        new.value = set(checkpoint) if checkpoint is not MISSING else set()
        return new  # type: ignore[return-value]

    def new_run(self) -> None:
        return None  # nobody has written yet: made on the first write

    def checkpoint(self) -> Any:
        return set(self.value) if self.value else MISSING

    def get(self) -> Any:
        if self.value != self.names:
            from asyncgraph.errors import EmptyChannelError

            raise EmptyChannelError(self.key)
        return None

    def is_available(self) -> bool:
        return self.value == self.names

    def update(self, values: Sequence[Any]) -> bool:
        changed = False
        for v in values:
            if v not in self.names:
                raise InvalidUpdateError(
                    f"At key '{self.key}': '{v}' is not one of the nodes this join waits "
                    f"for ({', '.join(sorted(self.names))})",
                    key=self.key,
                    value=v,
                )
            if v not in self.value:
                self.value.add(v)
                changed = True
        return changed

    def consume(self) -> bool:
        if self.value == self.names:
            self.value = set()
            return True
        return False


class NamedBarrierValueAfterFinish(NamedBarrierValue):
    """A join barrier into a deferred node: once each of ``names`` has written, it
    opens only when the run would otherwise end (``finish``). Its checkpoint is
    ``(names seen, finished)``."""

    __slots__ = ("finished",)

    def __init__(self, typ: Any = Any, names: set[str] | frozenset[str] = frozenset(), key: str = "") -> None:
        super().__init__(typ, names, key)
        self.finished = False

    def from_checkpoint(self, checkpoint: Any) -> NamedBarrierValueAfterFinish:
        new: NamedBarrierValueAfterFinish = self._empty()  # type: ignore[assignment]
        new.value, new.finished = (set(checkpoint[0]), checkpoint[1]) if checkpoint is not MISSING else (set(), False)
        return new

    def checkpoint(self) -> Any:
        return (set(self.value), self.finished) if self.value else MISSING

    def get(self) -> Any:
        if not self.is_available():
            from asyncgraph.errors import EmptyChannelError

            raise EmptyChannelError(self.key)
        return None

    def is_available(self) -> bool:
        return self.finished and self.value == self.names

    def consume(self) -> bool:
        if not self.is_available():
            return False
        self.value = set()
        self.finished = False
        return True

    def finish(self) -> bool:
        if self.finished or self.value != self.names:
            return False
        self.finished = True
        return True
