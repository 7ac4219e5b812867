"""``UntrackedValue``: run state that is never saved in a checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asyncgraph.channels.base import MISSING, BaseChannel
from asyncgraph.errors import InvalidUpdateError

__all__ = ["UntrackedValue"]


class UntrackedValue(BaseChannel[Any, Any]):
    """Keeps the last value written, for the current run only.

    Its value is never stored: a checkpoint has no entry for it, and a run resumed
    from a checkpoint starts with it empty. Use it for per-run scratch state (counters,
    open handles) that must not be persisted or cannot be serialized, e.g.
    ``Annotated[int, UntrackedValue]`` in a state schema.

    Args:
        typ: the value's type (informational).
        guard: when true (the default), more than one write in a step raises
            :class:`~asyncgraph.errors.InvalidUpdateError`; when false, the last
            write of the step wins.
    """

    __slots__ = ("guard",)

    def __init__(self, typ: Any = Any, guard: bool = True, key: str = "") -> None:
        super().__init__(typ, key)
        self.guard = guard

    def checkpoint(self) -> Any:
        return MISSING

    def from_checkpoint(self, checkpoint: Any) -> UntrackedValue:
        # Whatever a saver hands back (there should be nothing), start empty.
        new: UntrackedValue = self._empty()  # type: ignore[assignment]
        return new

    def copy(self) -> UntrackedValue:
        """A copy holding the same value: copies are made within a run, where the
        value is still wanted (the base class goes through ``checkpoint()``, which
        would drop it)."""
        new: UntrackedValue = self._empty()  # type: ignore[assignment]
        new.value = self.value
        return new

    def new_run(self) -> UntrackedValue | None:
        return None if self.value is MISSING else self.copy()

    def update(self, values: Sequence[Any]) -> bool:
        if not values:
            return False
        if self.guard and len(values) != 1:
            raise InvalidUpdateError(
                f"At key '{self.key}': UntrackedValue(guard=True) can receive only one value "
                "per step. Use UntrackedValue(guard=False) to keep the last of several.",
                key=self.key,
            )
        self.value = values[-1]
        return True
