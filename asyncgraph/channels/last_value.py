"""Channels that keep the last value written."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asyncgraph.channels.base import MISSING, BaseChannel
from asyncgraph.errors import ErrorCode, InvalidUpdateError
from asyncgraph.types import Overwrite


class LastValue(BaseChannel[Any, Any]):
    """Keeps the last value; more than one write in a step is an error.

    The default channel of a state key without a reducer.
    """

    __slots__ = ()

    def update(self, values: Sequence[Any]) -> bool:
        if not values:
            return False
        if len(values) != 1:
            raise InvalidUpdateError(
                f"At key '{self.key}': Can receive only one value per step. "
                "Use an Annotated key to handle multiple values.",
                key=self.key,
                error_code=ErrorCode.INVALID_CONCURRENT_GRAPH_UPDATE,
            )
        value = values[-1]
        # Overwrite (meant for reducer keys) is harmless here: take the value.
        self.value = value.value if type(value) is Overwrite else value
        return True


class LastValueAfterFinish(BaseChannel[Any, Any]):
    """Keeps the last value written, but is available only once the run would
    otherwise end (``finish``); the task it triggers consumes it.

    The trigger of a deferred node (``add_node(..., defer=True)``): writes arriving in
    several steps trigger the node once, after every other task has run. Its
    checkpoint is ``(value, finished)``.
    """

    __slots__ = ("finished",)

    def __init__(self, typ: Any = Any, key: str = "") -> None:
        super().__init__(typ, key)
        self.finished = False

    def from_checkpoint(self, checkpoint: Any) -> LastValueAfterFinish:
        new: LastValueAfterFinish = self._empty()  # type: ignore[assignment]
        new.finished = False
        if checkpoint is not MISSING:
            new.value, new.finished = checkpoint
        return new

    def checkpoint(self) -> Any:
        return MISSING if self.value is MISSING else (self.value, self.finished)

    def get(self) -> Any:
        if not self.is_available():
            from asyncgraph.errors import EmptyChannelError

            raise EmptyChannelError(self.key)
        return self.value

    def is_available(self) -> bool:
        return self.finished and self.value is not MISSING

    def update(self, values: Sequence[Any]) -> bool:
        if not values:
            return False
        self.value = values[-1]
        self.finished = False  # a new write waits for the next finish
        return True

    def consume(self) -> bool:
        if not self.finished:
            return False
        self.value = MISSING
        self.finished = False
        return True

    def finish(self) -> bool:
        if self.finished or self.value is MISSING:
            return False
        self.finished = True
        return True
