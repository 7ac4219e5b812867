"""A channel that folds writes with a reducer, e.g. ``Annotated[list, operator.add]``."""

from __future__ import annotations

import collections.abc
import typing
from collections.abc import Callable, Sequence
from typing import Any

from asyncgraph.channels.base import MISSING, BaseChannel
from asyncgraph.errors import ErrorCode, InvalidUpdateError
from asyncgraph.types import Overwrite

__all__ = ["BinaryOperatorAggregate"]

_OVERWRITE = "__overwrite__"  # LangGraph's key of the dict form of Overwrite


def _get_overwrite(value: Any) -> tuple[bool, Any]:
    """Whether ``value`` is an overwrite, and the value it sets: ``(True, v)`` for
    ``Overwrite(v)``, for its dict form ``{"__overwrite__": v}`` and for the form JSON
    leaves of it (``{"type": "__overwrite__", "value": v}``, e.g. an update sent
    through an HTTP API); ``(False, None)`` for anything else."""
    if type(value) is Overwrite or isinstance(value, Overwrite):
        return True, value.value
    if type(value) is dict or isinstance(value, dict):
        if len(value) == 1 and _OVERWRITE in value:
            return True, value[_OVERWRITE]
        if value.get("type") == _OVERWRITE and "value" in value:
            return True, value["value"]
    return False, None


def _empty_factory(typ: Any) -> Callable[[], Any] | None:
    """What makes the reducer's starting value (``typ()``), or None when the type
    cannot make an empty one."""
    origin = typing.get_origin(typ) or typ
    if origin in (collections.abc.Sequence, collections.abc.MutableSequence):
        origin = list
    elif origin in (collections.abc.Set, collections.abc.MutableSet):
        origin = set
    elif origin in (collections.abc.Mapping, collections.abc.MutableMapping):
        origin = dict
    try:
        origin()
    except Exception:
        return None
    return origin  # type: ignore[no-any-return]


class BinaryOperatorAggregate(BaseChannel[Any, Any]):
    """Combines each write into the value with ``operator(value, write)``.

    Writes of one step are folded in the engine's order. ``Overwrite(v)`` (or its
    dict forms, see :func:`_get_overwrite`) replaces the value with ``v`` and
    discards the step's other writes to the key.
    """

    __slots__ = ("operator", "factory")

    def __init__(self, typ: Any, operator: Callable[[Any, Any], Any], key: str = "") -> None:
        super().__init__(typ, key)
        self.operator = operator
        self.factory = _empty_factory(typ)
        self.value = self.factory() if self.factory is not None else MISSING

    def _empty(self) -> BinaryOperatorAggregate:
        # The base's generic slot copy, written out for this class: a run makes one of
        # these per reducer key, and a conditional edge's fresh state one per step.
        if type(self) is not BinaryOperatorAggregate:
            return super()._empty()  # type: ignore[return-value]
        new = object.__new__(BinaryOperatorAggregate)
        new.typ = self.typ
        new.key = self.key
        new.value = MISSING
        new.operator = self.operator
        new.factory = self.factory
        return new

    def copy(self) -> BinaryOperatorAggregate:
        if type(self) is not BinaryOperatorAggregate:
            return super().copy()  # type: ignore[return-value]
        new = self._empty()
        new.value = self.value
        return new

    def new_run(self) -> BinaryOperatorAggregate | None:
        # A new starting value for every run: a reducer that extends its left side in
        # place must not carry one run's values into the next.
        factory = self.factory
        if factory is None:
            return None
        new = self._empty()
        new.value = factory()
        return new  # type: ignore[return-value]

    def update(self, values: Sequence[Any]) -> bool:
        if not values:
            return False
        overwrites = None
        for v in values:
            if isinstance(v, (Overwrite, dict)):
                is_ow, ov = _get_overwrite(v)
                if is_ow:
                    if overwrites is None:
                        overwrites = [ov]
                    else:
                        overwrites.append(ov)
        if overwrites:
            # An Overwrite wins over the step's other writes to this key (LangGraph's
            # semantics); two of them in one step cannot both win.
            if len(overwrites) > 1:
                raise InvalidUpdateError(
                    f"At key '{self.key}': Can receive only one Overwrite value per super-step.",
                    key=self.key,
                    error_code=ErrorCode.INVALID_CONCURRENT_GRAPH_UPDATE,
                )
            self.value = overwrites[0]
            return True
        value = self.value
        op = self.operator
        for v in values:
            value = v if value is MISSING else op(value, v)
        self.value = value
        return True
