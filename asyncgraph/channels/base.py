"""The channel contract.

A channel holds one piece of run state (a state key, an edge trigger, the ``Send``
queue) and decides how the writes of one superstep combine into its next value. The
engine makes one channel object per run from the graph's channel specs with
:meth:`BaseChannel.from_checkpoint`, calls :meth:`update` once per step with every
write made to it in that step (possibly none), and reads it with :meth:`get`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from typing_extensions import TypeVar as DefaultTypeVar

from asyncgraph._missing import MISSING
from asyncgraph.errors import EmptyChannelError

Value = TypeVar("Value")
Update = TypeVar("Update")
# LangGraph types channels as BaseChannel[Value, Update, Checkpoint]; libraries subscript it
# with three arguments at import time, so the third exists, defaulted.
Checkpoint = DefaultTypeVar("Checkpoint", default=Any)



_CONFIG_SLOTS: dict[type, tuple[str, ...]] = {}


class BaseChannel(Generic[Value, Update, Checkpoint]):
    """Base of all channels.

    Subclasses keep their state in ``value`` (``MISSING`` when empty) and implement
    :meth:`update`; most need nothing else.
    """

    __slots__ = ("typ", "key", "value")

    def __init__(self, typ: Any = Any, key: str = "") -> None:
        self.typ = typ
        self.key = key
        self.value: Any = MISSING

    @property
    def ValueType(self) -> Any:  # noqa: N802  (LangGraph's public name)
        return self.typ

    @property
    def UpdateType(self) -> Any:  # noqa: N802
        return self.typ

    def copy(self) -> BaseChannel[Value, Update]:
        """An independent channel of the same kind holding the same value."""
        return self.from_checkpoint(self.checkpoint())

    def _empty(self) -> BaseChannel[Value, Update]:
        """A channel of the same kind and configuration, with no value.

        Made for channels of every run, so the list of configuration slots (those a
        subclass adds to ``typ`` and ``key``) is computed once per class.
        """
        cls = type(self)
        extra = _CONFIG_SLOTS.get(cls)
        if extra is None:
            extra = _CONFIG_SLOTS[cls] = tuple(
                slot
                for klass in cls.__mro__
                for slot in getattr(klass, "__slots__", ())
                if slot not in ("typ", "key", "value")
            )
        new = object.__new__(cls)
        new.typ = self.typ
        new.key = self.key
        new.value = MISSING
        for slot in extra:
            object.__setattr__(new, slot, getattr(self, slot))
        return new

    def from_checkpoint(self, checkpoint: Any) -> BaseChannel[Value, Update]:
        """A new channel of this kind whose value is ``checkpoint`` (or empty)."""
        new = self._empty()
        new.value = checkpoint
        return new

    def new_run(self) -> BaseChannel[Value, Update] | None:
        """This channel as a run with no checkpoint starts it, or None when it starts
        empty: the engine then makes it (``from_checkpoint(MISSING)``) on first write.

        Never shares a mutable starting value between runs.
        """
        if self.value is MISSING:
            return None
        return self.from_checkpoint(self.value)

    def checkpoint(self) -> Any:
        """The value to store in a checkpoint, ``MISSING`` if there is none."""
        return self.value

    def get(self) -> Value:
        """The current value. Raises :class:`EmptyChannelError` when there is none."""
        if self.value is MISSING:
            raise EmptyChannelError(self.key)
        return self.value  # type: ignore[no-any-return]

    def is_available(self) -> bool:
        return self.value is not MISSING

    def update(self, values: Sequence[Update]) -> bool:
        """Apply one step's writes (in the engine's deterministic order).

        Called once per step for every channel that was written, and for channels that
        reset between steps (ephemeral ones) also with an empty sequence. Returns
        whether the value changed, which bumps the channel's version.
        """
        raise NotImplementedError

    def consume(self) -> bool:
        """Called after a task triggered by this channel ran; True if that changed it."""
        return False

    def finish(self) -> bool:
        """Called when the run is about to end; True if that changed the value."""
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key!r}={self.value!r})"
