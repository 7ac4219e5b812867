"""The serializer protocol a saver talks to (LangGraph's ``checkpoint.serde.base``)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["SerializerProtocol"]


@runtime_checkable
class SerializerProtocol(Protocol):
    """Turns a value into ``(type tag, bytes)`` and back.

    ``loads_typed(dumps_typed(v)) == v`` for every value the serializer accepts; a value
    it cannot encode raises ``TypeError`` from ``dumps_typed``.
    """

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]: ...

    def loads_typed(self, data: tuple[str, bytes]) -> Any: ...
