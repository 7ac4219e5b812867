"""``JsonPlusSerializer``: LangGraph's serializer name and constructor, on the safe serde.

Code written for LangGraph constructs ``JsonPlusSerializer(...)`` and hands it to a saver
or to :class:`~asyncgraph.checkpoint.serde.encrypted.EncryptedSerializer`. Here it is
:class:`~asyncgraph.checkpoint.serde.MsgpackSerde` with LangGraph's arguments mapped onto
the allowlist:

==========================================  ==============================================
``allowed_msgpack_modules`` not given       the process-wide allowlist (:func:`allow`)
``allowed_msgpack_modules=None``            the built-in trusted set only (LangGraph's
                                            strict mode)
``allowed_msgpack_modules=[Cls, (m, q)]``   those classes on top of the process-wide list
``allowed_msgpack_modules=True``            the process-wide allowlist: there is no mode
                                            that rebuilds any class a checkpoint names
``pickle_fallback=True``                    refused: asyncgraph never pickles or unpickles
``allowed_json_modules``                    accepted and unused: a class named in the JSON
                                            format of old LangGraph checkpoints is rebuilt
                                            only if the allowlist allows it
==========================================  ==============================================

A class outside the allowlist is read back as its stored data with a warning logged
once per class, as LangGraph does in its strict mode (``strict=True``: an error
instead); ``_warned_unregistered_types`` and ``_warned_blocked_types`` are the sets of
classes already warned about (see :mod:`asyncgraph.checkpoint.serde._allow`).

Type tags follow LangGraph's: ``"null"`` for None, ``"bytes"``/``"bytearray"`` for raw
bytes, ``"msgpack"`` for everything else. ``"json"`` rows (LangGraph's format before
msgpack) are read without importing the classes they name (see
:mod:`asyncgraph.checkpoint.serde._legacy_json`); ``"pickle"`` rows are refused with an
error that says why.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from asyncgraph.checkpoint.serde._allow import (  # noqa: F401  (LangGraph's private names)
    Allowlist,
    _warned_blocked_types,
    _warned_unreconstructable_types,
    _warned_unregistered_types,
    default_allowlist,
)
from asyncgraph.checkpoint.serde._legacy_json import loads_json
from asyncgraph.checkpoint.serde._msgpack import MsgpackSerde

__all__ = ["JsonPlusSerializer"]

AllowedMsgpackModules = Iterable[tuple[str, ...] | type]


class _Unset:
    def __repr__(self) -> str:
        return "<default>"


_UNSET: Any = _Unset()

_NO_PICKLE = (
    "JsonPlusSerializer(pickle_fallback=True) is not supported: asyncgraph never pickles "
    "or unpickles checkpoint data, because reading a pickle runs whatever code the stored "
    "bytes name. Store plain data, or register your classes with "
    "asyncgraph.checkpoint.serde.allow(MyClass)"
)


class JsonPlusSerializer(MsgpackSerde):
    """The safe msgpack serializer under LangGraph's name (see the module docstring).

    Args:
        pickle_fallback: must be False; True raises ``ValueError`` (never pickles).
        allowed_json_modules: accepted for compatibility and unused.
        allowed_msgpack_modules: extra classes (or ``(module, qualname)`` pairs) to allow;
            ``None`` for the built-in trusted set only; ``True`` for the process-wide
            allowlist (as when not given).
        allowlist: an :class:`~asyncgraph.checkpoint.serde.Allowlist` to use as is
            (asyncgraph's own way; exclusive with ``allowed_msgpack_modules``).
        strict: a class outside the allowlist is an error when stored or read, instead
            of a warning (and its stored data when read).
    """

    def __init__(
        self,
        *,
        pickle_fallback: bool = False,
        allowed_json_modules: Iterable[tuple[str, ...]] | Literal[True] | None = None,
        allowed_msgpack_modules: AllowedMsgpackModules | Literal[True] | None = _UNSET,
        allowlist: Allowlist | None = None,
        strict: bool = False,
    ) -> None:
        if pickle_fallback:
            raise ValueError(_NO_PICKLE)
        if allowlist is not None and allowed_msgpack_modules is not _UNSET:
            raise TypeError("pass either allowlist= or allowed_msgpack_modules=, not both")
        if allowlist is None:
            if allowed_msgpack_modules is _UNSET or allowed_msgpack_modules is True:
                allowlist = default_allowlist()
            elif allowed_msgpack_modules is None:
                allowlist = Allowlist()
            else:
                allowlist = Allowlist(allowed_msgpack_modules, inherit=default_allowlist())
        super().__init__(allowlist=allowlist, strict=strict)
        self.pickle_fallback = False
        self.allowed_json_modules = allowed_json_modules

    def with_msgpack_allowlist(self, extra_allowlist: AllowedMsgpackModules) -> JsonPlusSerializer:
        """A serializer that also allows ``extra_allowlist`` (this one if nothing is new)."""
        extra = list(extra_allowlist)
        merged = Allowlist(extra, inherit=self.allowlist)  # checks the entries
        names = [(e.__module__, e.__qualname__) if isinstance(e, type) else e for e in extra]
        if all(isinstance(n, tuple) and self.allowlist.allows(*n) for n in names):
            return self
        return JsonPlusSerializer(allowlist=merged, strict=self.strict)

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        if obj is None:
            return "null", b""
        if type(obj) is bytes:
            return "bytes", obj
        if type(obj) is bytearray:
            return "bytearray", bytes(obj)
        return "msgpack", self.dumps(obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        kind, payload = data
        if kind == "msgpack":
            return self.loads(payload)
        if kind == "null":
            return None
        if kind == "bytes":
            return bytes(payload)
        if kind == "bytearray":
            return bytearray(payload)
        if kind == "pickle":
            raise ValueError(
                "refusing to read a pickled value: asyncgraph never unpickles checkpoint "
                "data (it would run whatever code the stored bytes name)"
            )
        if kind == "json":
            return loads_json(payload, self.allowlist)
        raise ValueError(f"unknown serialization type {kind!r}")

