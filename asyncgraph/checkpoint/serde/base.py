"""The serializer and cipher protocols (LangGraph's ``checkpoint.serde.base``).

A saver talks to its serializer through :class:`SerializerProtocol`: a value becomes a
``(type tag, bytes)`` pair and back. :class:`UntypedSerializerProtocol` is the older
``dumps``/``loads`` shape; :func:`maybe_add_typed_methods` adapts one to the other.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = [
    "CipherProtocol",
    "SerializerCompat",
    "SerializerProtocol",
    "UntypedSerializerProtocol",
    "maybe_add_typed_methods",
]


class UntypedSerializerProtocol(Protocol):
    """Turns a value into bytes and back, with no type tag."""

    def dumps(self, obj: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


@runtime_checkable
class SerializerProtocol(Protocol):
    """Turns a value into ``(type tag, bytes)`` and back.

    ``loads_typed(dumps_typed(v)) == v`` for every value the serializer accepts; a value
    it cannot encode raises ``TypeError`` from ``dumps_typed``.
    """

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]: ...

    def loads_typed(self, data: tuple[str, bytes]) -> Any: ...


class SerializerCompat(SerializerProtocol):
    """Gives an untyped serializer the typed methods; the tag is the value's class name
    and is ignored on the way back."""

    def __init__(self, serde: UntypedSerializerProtocol) -> None:
        self.serde = serde

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return type(obj).__name__, self.serde.dumps(obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        return self.serde.loads(data[1])


def maybe_add_typed_methods(
    serde: SerializerProtocol | UntypedSerializerProtocol,
) -> SerializerProtocol:
    """``serde`` itself if it has the typed methods, else wrapped in :class:`SerializerCompat`."""
    if isinstance(serde, SerializerProtocol):
        return serde
    return SerializerCompat(serde)


class CipherProtocol(Protocol):
    """Encrypts and decrypts bytes for :class:`~asyncgraph.checkpoint.serde.encrypted.EncryptedSerializer`.

    ``encrypt`` returns ``(cipher name, ciphertext)``; the name is stored next to the data
    and handed back to ``decrypt``, which must raise if the data was tampered with.
    """

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]: ...

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes: ...
