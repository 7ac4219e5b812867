"""``DeltaChannel``: a reducer channel whose reducer takes a whole step's writes at once."""

from __future__ import annotations

import collections.abc
import copy
import sys
import typing
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from asyncgraph.channels.base import MISSING, BaseChannel
from asyncgraph.channels.binop import _get_overwrite
from asyncgraph.checkpoint.serde.types import _DeltaSnapshot
from asyncgraph.errors import EmptyChannelError, ErrorCode, InvalidUpdateError

__all__ = ["DeltaChannel"]

_ABSTRACT = {
    collections.abc.Sequence: list,
    collections.abc.MutableSequence: list,
    collections.abc.Set: set,
    collections.abc.MutableSet: set,
    collections.abc.Mapping: dict,
    collections.abc.MutableMapping: dict,
}


def _concrete(typ: Any) -> Any:
    """The class that makes an empty value of ``typ`` (``list`` for ``list[str]`` or
    ``Sequence[str]``, ``dict`` for ``Mapping[str, int]`` ...)."""
    origin = typing.get_origin(typ) or typ
    if typing.get_origin(origin) is typing.Annotated:
        origin = typing.get_args(origin)[0]
    return _ABSTRACT.get(origin, origin)


class DeltaChannel(BaseChannel[Any, Any]):
    """Folds each step's writes into the value with one call ``reducer(value, writes)``.

    ``Annotated[list, DeltaChannel(reducer)]`` in a state schema. The reducer receives
    the current value and the list of every write of the step, in the engine's order,
    and returns the new value. It must be deterministic and give the same result
    however the writes are batched: ``reducer(reducer(v, xs), ys) == reducer(v, xs + ys)``
    (writes from several steps may be replayed in one call, see :meth:`replay_writes`).
    An empty channel starts from ``typ()`` (an empty list for ``list``).

    A message written without an id (a message object, or a message dict such as
    ``{"role": "user", "content": "hi"}`` in a written list, which becomes a message)
    gets a new id before the reducer sees it, as in LangGraph, so every read of the
    stored value shows the same id.

    ``Overwrite(v)`` (or its dict forms) among a step's writes replaces the value with
    ``v`` (``typ()`` for ``None``); the step's other writes are dropped, and two
    overwrites in one step are an :class:`~asyncgraph.errors.InvalidUpdateError`.

    Stored form: LangGraph keeps only the writes in its checkpoints and rebuilds the
    value by replaying them; asyncgraph's checkpoint holds the value (its SQL savers
    store a list that grows as a delta of the previous one, so the storage cost is
    alike). A LangGraph snapshot (``_DeltaSnapshot``) is read as its value.

    Args:
        reducer: ``(value, writes) -> new value``.
        typ: the value's type; from ``Annotated[T, DeltaChannel(...)]`` it is ``T``.
        snapshot_frequency: accepted for LangGraph compatibility (how often LangGraph
            stores a whole snapshot); a positive int. asyncgraph always stores the value.
    """

    __slots__ = ("reducer", "snapshot_frequency", "typ_given")

    def __init__(
        self,
        reducer: Callable[[Any, Sequence[Any]], Any],
        typ: Any = None,
        *,
        snapshot_frequency: int = 1000,
        key: str = "",
    ) -> None:
        if not isinstance(snapshot_frequency, int) or snapshot_frequency <= 0:
            raise ValueError(f"snapshot_frequency must be a positive int, got {snapshot_frequency!r}")
        self.typ_given = typ is not None
        super().__init__(_concrete(typ) if typ is not None else list, key)
        self.reducer = reducer
        self.snapshot_frequency = snapshot_frequency

    def with_type(self, typ: Any) -> DeltaChannel:
        """This channel for a state key annotated ``typ`` (unless a type was given)."""
        if self.typ_given:
            return self.from_checkpoint(self.value)
        return DeltaChannel(self.reducer, typ, snapshot_frequency=self.snapshot_frequency, key=self.key)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DeltaChannel):
            return NotImplemented
        if self.snapshot_frequency != other.snapshot_frequency:
            return False
        a, b = self.reducer, other.reducer
        # Two lambdas cannot be told apart by name: count them as the same reducer.
        return a is b or getattr(a, "__name__", None) == "<lambda>" or getattr(b, "__name__", None) == "<lambda>"

    __hash__ = BaseChannel.__hash__

    def _start(self) -> Any:
        try:
            return self.typ()
        except Exception:
            return MISSING

    def from_checkpoint(self, checkpoint: Any) -> DeltaChannel:
        """A channel holding ``checkpoint``: ``MISSING`` starts from ``typ()``, a
        ``_DeltaSnapshot`` is unwrapped, any other value (``None`` too) is the value."""
        new: DeltaChannel = self._empty()  # type: ignore[assignment]
        if checkpoint is MISSING:
            new.value = self._start()
        elif isinstance(checkpoint, _DeltaSnapshot):
            new.value = checkpoint.value
        else:
            new.value = checkpoint
        return new

    def new_run(self) -> DeltaChannel | None:
        return self.from_checkpoint(MISSING if self.value is MISSING else copy.copy(self.value))

    def copy(self) -> DeltaChannel:
        new: DeltaChannel = self._empty()  # type: ignore[assignment]
        new.value = self.value if self.value is MISSING else copy.copy(self.value)
        return new

    def replay_writes(self, writes: Sequence[tuple[Any, Any, Any]]) -> None:
        """Apply earlier steps' writes, ``(task id, channel, value)`` oldest first, with
        one reducer call. The last overwrite among them is the new starting value and
        only the writes after it are reduced."""
        values = [w[2] for w in writes]
        if not values:
            return
        base = self.value
        first = 0
        for i, v in enumerate(values):
            is_ow, ov = _get_overwrite(v)
            if is_ow:
                base = copy.copy(ov) if ov is not None else self._start()
                first = i + 1
        rest = values[first:]
        self.value = self.reducer(base, rest) if rest else base

    def update(self, values: Sequence[Any]) -> bool:
        if not values:
            return False
        overwrite: tuple[bool, Any] | None = None
        for v in values:
            is_ow, ov = _get_overwrite(v)
            if is_ow:
                if overwrite is not None:
                    raise InvalidUpdateError(
                        f"At key '{self.key}': Can receive only one Overwrite value per super-step.",
                        key=self.key,
                        error_code=ErrorCode.INVALID_CONCURRENT_GRAPH_UPDATE,
                    )
                overwrite = (True, ov)
        if overwrite is not None:
            ov = overwrite[1]
            self.value = copy.copy(ov) if ov is not None else self._start()
            return True
        base = self._start() if self.value is MISSING else self.value
        self.value = self.reducer(base, [_with_message_ids(v) for v in values])
        return True

    def get(self) -> Any:
        if self.value is MISSING:
            raise EmptyChannelError(self.key)
        return self.value


def _with_message_ids(value: Any) -> Any:
    """``value`` with an id on each message in it that has none: a message object gets
    one in place; a message dict in a list becomes a message (in a new list)."""
    messages = sys.modules.get("langchain_core.messages")
    if isinstance(value, list):
        if not any(isinstance(v, dict) and ("role" in v or "type" in v) for v in value):
            if messages is not None:
                for v in value:
                    if isinstance(v, messages.BaseMessage) and not v.id:
                        v.id = str(uuid.uuid4())
            return value
        # Message dicts come over the wire (the server API); loaded only then, for
        # import time.
        from langchain_core.messages import BaseMessage, convert_to_messages

        out = []
        for v in value:
            if isinstance(v, dict) and ("role" in v or "type" in v):
                try:
                    v = convert_to_messages([v])[0]
                except (ValueError, NotImplementedError):
                    pass  # not a message after all: the reducer sees it as written
            if isinstance(v, BaseMessage) and not v.id:
                v.id = str(uuid.uuid4())
            out.append(v)
        return out
    if messages is not None and isinstance(value, messages.BaseMessage) and not value.id:
        value.id = str(uuid.uuid4())
    return value
