"""A typed msgpack encoding for checkpoint values (no pickle, ever).

Plain data (None, bool, int, float, str, bytes, list, dict) is native msgpack. Every other
supported type is a msgpack *extension* whose code says what it is, so a value reads back
as the same type it was written as, never as a look-alike dict:

====  =====================================================================
code  payload (itself msgpack)
====  =====================================================================
1     tuple: [items]
2     set: [items]
3     frozenset: [items]
4     datetime: [naive iso string, tz, fold]
5     date: proleptic ordinal
6     time: [naive iso string, tz, fold]
7     timedelta: [days, seconds, microseconds]
8     UUID: 16 bytes
9     Decimal: str
10    Enum: [module, qualname, value]
11    Pydantic v2 model: [module, qualname, {field: value}, unset names?]
12    dataclass: [module, qualname, {field: value}]
13    named tuple: [module, qualname, [items]]
14    langchain-core message: [class code or name, content, {other non-default fields}, id]
15    Send: [node, arg] or [node, arg, [run_timeout, idle_timeout, refresh_on]]
16    (never written: bytearray is native msgpack bin and reads back as bytes)
17    exception: [module, qualname, packed args or None, str(exc)]
18    int beyond 64 bits: decimal str
19    subclass of dict/list/str/int/float/bytes: [module, qualname, base value]
====  =====================================================================

``tz`` is ``None`` (naive), ``["z", key]`` (``zoneinfo.ZoneInfo``) or
``["o", seconds, name]`` (``datetime.timezone``).

Stored bytes are untrusted input (anyone who can write a row controls them), so reading
never calls into a class the :class:`~asyncgraph.checkpoint.serde.Allowlist` does not
allow, and rebuilds allowed ones without running their code: Pydantic models,
dataclasses and exceptions get their fields or attributes set directly, builtin
subclasses and named tuples are made with the builtin's own ``__new__``. Only enums
(``cls(value)``) and builtin exceptions (``ValueError(*args)``) are called, and an allowed
class's own field default factories and Pydantic ``model_post_init``.

A class that is not allowed is stored with a warning and read back as its stored data
(a model or dataclass as a :class:`StoredObject`), with a warning (see :mod:`asyncgraph.checkpoint.serde._allow`); with ``strict=True``
storing one is a ``TypeError`` and reading one a ``ValueError`` naming it.
"""

from __future__ import annotations

import builtins
import collections
import copy
import dataclasses
import datetime as dt
import decimal
import enum
import functools
import importlib.util
import os
import re
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any, Literal

import ormsgpack
import pydantic
from pydantic_core import PydanticUndefined

from asyncgraph._send import Send
from asyncgraph._timeout_policy import TimeoutPolicy
from asyncgraph.checkpoint.serde._allow import (
    Allowlist,
    _warned_blocked_types,
    _warned_unreconstructable_types,
    _warned_unregistered_types,
    default_allowlist,
    warn_once,
)

__all__ = ["MsgpackSerde", "StoredError", "StoredObject"]

_SCALARS = frozenset({str, int, float, bool})

_PACK_OPTS = (
    ormsgpack.OPT_NON_STR_KEYS
    | ormsgpack.OPT_PASSTHROUGH_BIG_INT
    | ormsgpack.OPT_PASSTHROUGH_DATACLASS
    | ormsgpack.OPT_PASSTHROUGH_DATETIME
    | ormsgpack.OPT_PASSTHROUGH_ENUM
    | ormsgpack.OPT_PASSTHROUGH_SUBCLASS
    | ormsgpack.OPT_PASSTHROUGH_TUPLE
    | ormsgpack.OPT_PASSTHROUGH_UUID
)
_UNPACK_OPTS = ormsgpack.OPT_NON_STR_KEYS
_packb = ormsgpack.packb
_Ext = ormsgpack.Ext

TUPLE, SET, FROZENSET, DATETIME, DATE, TIME, TIMEDELTA, UUID, DECIMAL = range(1, 10)
ENUM, PYDANTIC, DATACLASS, NAMEDTUPLE, MESSAGE, SEND = range(10, 16)
EXCEPTION, BIGINT, SUBCLASS = 17, 18, 19

# The builtins a stored subclass may derive from; the stored value has exactly this type.
_SUBCLASS_BASES: tuple[type, ...] = (dict, list, str, int, float, bytes)


class StoredError(Exception):
    """Stands in for a stored exception whose class the allowlist does not cover.

    Errors recorded by the engine (a node's failure) must always be storable, so an
    exception of a class that is not allowed is stored by name and message and read
    back as this. ``type_name`` is the original ``module.qualname``.
    """

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message


class StoredObject(dict):  # type: ignore[type-arg]
    """Stands in for a stored Pydantic model or dataclass whose class the allowlist does
    not cover: the class is never imported or built, and this is its stored fields.

    It is a dict of those fields (code that reads the value as data works), reads them
    as attributes too (``value.city``), and compares equal to an instance of the
    original class (same ``module.qualname``) holding those fields, as well as to a
    dict of them. Stored again, it is stored as the original class, so once the class
    is allowed the value reads back as itself. ``type_name`` is the original
    ``module.qualname``.
    """

    __slots__ = ("type_name", "_code", "_unset")

    def __init__(self, type_name: str, fields: dict[str, Any], code: int = PYDANTIC,
                 unset: list[str] | None = None) -> None:
        super().__init__(fields)
        self.type_name = type_name
        self._code = code
        self._unset = unset

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("__"):
            try:
                return self[name]
            except KeyError:
                pass
        raise AttributeError(f"stored {self.type_name} has no field {name!r}")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, dict):
            return dict.__eq__(self, other)
        cls = type(other)
        if f"{cls.__module__}.{cls.__qualname__}" != self.type_name:
            return NotImplemented  # type: ignore[no-any-return]
        return _same_fields(self, other)

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"StoredObject({self.type_name!r}, {dict.__repr__(self)})"

    def __reduce__(self) -> Any:
        return (StoredObject, (self.type_name, dict(self), self._code, self._unset))


def _same_fields(stored: dict[str, Any], obj: Any) -> bool:
    """Whether ``obj``, a Pydantic model or dataclass instance, holds the fields
    ``stored`` (a field stored without a value counts as its class's default)."""
    if isinstance(obj, pydantic.BaseModel):
        values = dict(obj.__dict__)
        if obj.__pydantic_extra__:
            values.update(obj.__pydantic_extra__)
        missing = values.keys() - stored.keys()
        defaults = _model_defaults(type(obj)) if missing else {}
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = dataclasses.fields(obj)
        values = {f.name: getattr(obj, f.name) for f in fields}
        defaults = {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}
    else:
        return False
    if stored.keys() - values.keys():
        return False
    for key, value in values.items():
        if key in stored:
            if stored[key] is not value and not _equal(stored[key], value):
                return False
        elif key not in defaults or (defaults[key] is not value and not _equal(defaults[key], value)):
            return False
    return True


def _model_defaults(cls: type[pydantic.BaseModel]) -> dict[str, Any]:
    """A Pydantic model's field defaults (its default factories called)."""
    found = {}
    for name, field in cls.model_fields.items():
        if field.default_factory is not None:
            try:
                found[name] = field.default_factory()  # type: ignore[call-arg]
            except TypeError:  # a factory that wants the validated data
                continue
        elif field.default is not PydanticUndefined:
            found[name] = field.default
    return found


class _Failure:
    """Carries the first real error out of ormsgpack, which replaces it with its own."""

    __slots__ = ("error",)

    def __init__(self) -> None:
        self.error: BaseException | None = None


class _Hook:
    """ormsgpack's ``default`` (or ``ext_hook``) for one ``dumps`` (``loads``) call: it
    passes itself to nested packing and records the first real error in ``failure``.

    A class, not a closure: a nested function that refers to itself is a reference
    cycle, garbage only the cyclic collector frees, one per checkpoint value saved.
    """

    __slots__ = ("method", "failure")

    def __init__(self, method: Callable[..., Any]) -> None:
        self.method = method
        self.failure = _Failure()

    def __call__(self, *args: Any) -> Any:
        try:
            return self.method(*args, self)
        except BaseException as exc:
            if self.failure.error is None:
                self.failure.error = exc
            raise


def _packed(obj: Any, hook: _Hook) -> bytes:
    """``obj`` packed with ``hook`` encoding what msgpack cannot: the first error the
    hook met is raised (a TypeError as a plain one, its message kept), not ormsgpack's."""
    try:
        return ormsgpack.packb(obj, default=hook, option=_PACK_OPTS)
    except TypeError as exc:
        cause = hook.failure.error or exc
        if isinstance(cause, TypeError):
            raise TypeError(str(cause)) from None
        raise cause from None


class _Decoding(_Hook):
    """The ``ext_hook`` of one ``loads``: a message (most of a conversation's values)
    is rebuilt right here, every other extension by ``MsgpackSerde._decode``."""

    __slots__ = ()

    def __call__(self, code: int, payload: bytes) -> Any:  # type: ignore[override]
        try:
            if code == MESSAGE:
                name, content, values, msg_id = ormsgpack.unpackb(payload, ext_hook=self, option=_UNPACK_OPTS)
                if type(name) is int and 0 < name < _N_MESSAGE_NAMES and _BUILDERS_BY_CODE:
                    return _BUILDERS_BY_CODE[name - 1](content, values, msg_id)
                return _message_builder(name)(content, values, msg_id)
            return self.method(code, payload, self)
        except BaseException as exc:
            if self.failure.error is None:
                self.failure.error = exc
            raise


class _SameInstant(_Hook):
    """The encoding hook of :meth:`MsgpackSerde.encoder`: an object met again (the same
    object, by identity) is not encoded again; its first encoding is reused.

    Exact only because every value it encodes is taken at one instant: nothing runs
    between the encodings that could change an object in place (see ``encoder``). The
    memo holds each object with its encoding, so no id is reused while it lives.
    """

    __slots__ = ("memo",)

    def __init__(self, method: Callable[..., Any]) -> None:
        super().__init__(method)
        self.memo: dict[int, tuple[Any, Any]] = {}

    def __call__(self, obj: Any) -> Any:
        memo = self.memo
        hit = memo.get(id(obj))
        if hit is not None:
            return hit[1]
        try:
            out = self.method(obj, self)
        except BaseException as exc:
            if self.failure.error is None:
                self.failure.error = exc
            raise
        memo[id(obj)] = (obj, out)
        return out


class MsgpackSerde:
    """The default checkpoint serializer: typed msgpack via ``ormsgpack``.

    Args:
        allowlist: classes that may be stored and rebuilt. Defaults to the process-wide
            list that :func:`~asyncgraph.checkpoint.serde.allow` extends.
        strict: a class outside the allowlist is an error (``TypeError`` when storing,
            ``ValueError`` when reading) instead of a logged warning and, when reading,
            its stored data.

    ``dumps`` raises ``TypeError`` naming the offending type (and where in the value it
    sits) for anything it cannot encode faithfully. ``loads`` raises ``ValueError`` for
    truncated data and unknown type codes.
    """

    def __init__(self, *, allowlist: Allowlist | None = None, strict: bool = False) -> None:
        self.allowlist = allowlist or default_allowlist()
        self.strict = strict
        self._pydantic_defaults: dict[type, dict[str, Any]] = {}

    # -- protocol ----------------------------------------------------------------------

    def dumps(self, obj: Any) -> bytes:
        if obj is None or type(obj) in _SCALARS:
            # Packed natively, never through ``default`` (which is only called for what
            # ormsgpack cannot pack itself): the same bytes, without the hook's objects.
            # A big int is passed through to ``default``: raised here, done below.
            try:
                return ormsgpack.packb(obj, option=_PACK_OPTS)
            except TypeError:
                pass
        return _packed(obj, _Hook(self._encode))

    def encoder(self) -> Callable[[Any], bytes]:
        """``dumps`` for several values saved at one instant, say a checkpoint's new
        channel values and the writes saved with it: an object that occurs in more than
        one of them (a message in the message list and in the write that added it) is
        encoded once. The bytes are exactly ``dumps``'s. Use it only while nothing can
        change the values in place, and drop it once they are encoded (it holds them)."""
        hook = _SameInstant(self._encode)

        def dumps(obj: Any) -> bytes:
            if obj is None or type(obj) in _SCALARS:
                try:
                    return ormsgpack.packb(obj, option=_PACK_OPTS)
                except TypeError:
                    pass
            hook.failure.error = None
            return _packed(obj, hook)

        return dumps

    def loads(self, data: bytes) -> Any:
        hook = _Decoding(self._decode)
        try:
            return ormsgpack.unpackb(data, ext_hook=hook, option=_UNPACK_OPTS)
        except ValueError as exc:
            cause = hook.failure.error or exc
            raise ValueError(str(cause)) from None

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """LangGraph's serializer protocol, for code written against it."""
        return "msgpack", self.dumps(obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        kind, payload = data
        if kind != "msgpack":
            raise ValueError(f"unknown serialization type {kind!r}")
        return self.loads(payload)

    # -- encoding ----------------------------------------------------------------------

    def _pack(self, value: Any, default: Any) -> bytes:
        return ormsgpack.packb(value, default=default, option=_PACK_OPTS)

    def _class_ref(self, cls: type) -> tuple[str, str]:
        name = cls.__module__, cls.__qualname__
        if not self.allowlist.allows(*name):
            if self.strict:
                raise TypeError(self.allowlist.not_allowed_message(cls))
            warn_once(
                _warned_unregistered_types,
                name,
                "Storing unregistered type %s.%s in a checkpoint: it will be read back as its "
                "stored data, not as %s, until it is allowed. %s",
                *name,
                cls.__qualname__,
                self.allowlist.not_allowed_message(cls),
            )
        return name

    def _class_for(self, mod: Any, qual: Any) -> type | None:
        """The allowed class stored as ``mod.qual``, or None: read the stored data instead
        (warned once per class). Strict: ``LookupError`` instead of None."""
        if type(mod) is not str or type(qual) is not str:
            raise ValueError(f"malformed class reference {mod!r}, {qual!r}")
        if self.strict:
            return self.allowlist.resolve(mod, qual)
        if not self.allowlist.allows(mod, qual):
            warn_once(
                _warned_blocked_types,
                (mod, qual),
                "Blocked deserialization of %s.%s: not in the checkpoint serializer's allowlist, "
                "so it is read back as its stored data. Allow it with "
                "asyncgraph.checkpoint.serde.allow(%s) or allowed_msgpack_modules=[(%r, %r)].",
                mod, qual, qual, mod, qual,
            )
            return None
        try:
            return self.allowlist.resolve(mod, qual)
        except LookupError as exc:  # allowed, but gone or moved since it was stored
            warn_once(
                _warned_unreconstructable_types,
                (mod, qual),
                "Could not rebuild %s.%s from a checkpoint (%s); reading its stored data instead.",
                mod, qual, exc,
            )
            return None

    def _encode(self, obj: Any, default: Any) -> ormsgpack.Ext:
        # Order matters: a StrEnum is a str and an Enum, a NamedTuple is a tuple, and a
        # message is a Pydantic model; the most specific encoding is tried first.
        cls = type(obj)
        if cls is tuple:
            return ormsgpack.Ext(TUPLE, self._pack(list(obj), default))
        if cls is StoredObject:  # keeps standing in for the original class
            mod, _, qual = obj.type_name.rpartition(".")
            payload: list[Any] = [mod, qual, dict(obj)]
            if obj._unset:
                payload.append(obj._unset)
            return ormsgpack.Ext(obj._code, self._pack(payload, default))
        plan = _MESSAGE_PLANS.get(cls)
        if plan is not None:  # a langchain-core message seen before: the bulk of most checkpoints
            return self._encode_message(obj, plan, default)
        if cls is Send:  # (before the isinstance checks; _is_send below for look-alikes)
            return self._encode_send(obj, default)
        if isinstance(obj, pydantic.BaseModel):
            return self._encode_model(obj, default)
        if isinstance(obj, enum.Enum):
            mod, qual = self._class_ref(cls)
            return ormsgpack.Ext(ENUM, self._pack([mod, qual, obj.value], default))
        if cls is set or cls is frozenset:
            return ormsgpack.Ext(SET if cls is set else FROZENSET, self._pack(list(obj), default))
        if cls is dt.datetime:
            naive = obj.replace(tzinfo=None, fold=0).isoformat()
            payload = [naive, _tz_spec(obj.tzinfo), obj.fold]
            return ormsgpack.Ext(DATETIME, self._pack(payload, default))
        if cls is dt.date:
            return ormsgpack.Ext(DATE, self._pack(obj.toordinal(), default))
        if cls is dt.time:
            naive = obj.replace(tzinfo=None, fold=0).isoformat()
            payload = [naive, _tz_spec(obj.tzinfo), obj.fold]
            return ormsgpack.Ext(TIME, self._pack(payload, default))
        if cls is dt.timedelta:
            payload = [obj.days, obj.seconds, obj.microseconds]
            return ormsgpack.Ext(TIMEDELTA, self._pack(payload, default))
        if cls is uuid.UUID:
            return ormsgpack.Ext(UUID, obj.bytes)
        if cls is decimal.Decimal:
            return ormsgpack.Ext(DECIMAL, str(obj).encode())
        if cls is int:
            return ormsgpack.Ext(BIGINT, str(obj).encode())
        if _is_send(obj):
            return self._encode_send(obj, default)
        if isinstance(obj, tuple) and hasattr(cls, "_fields"):
            mod, qual = self._class_ref(cls)
            return ormsgpack.Ext(NAMEDTUPLE, self._pack([mod, qual, list(obj)], default))
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            mod, qual = self._class_ref(cls)
            fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
            return ormsgpack.Ext(DATACLASS, self._pack([mod, qual, fields], default))
        if isinstance(obj, BaseException):
            return self._encode_exception(obj, default)
        # Plain ``type``: mypy would otherwise check ``base(obj)`` for every pair of the six.
        bases: tuple[type, ...] = (dict, list, str, int, float, bytes)
        for base in bases:
            if isinstance(obj, base):
                mod, qual = self._class_ref(cls)
                return ormsgpack.Ext(SUBCLASS, self._pack([mod, qual, base(obj)], default))
        raise TypeError(
            f"cannot store a value of type {cls.__module__}.{cls.__qualname__} in a "
            "checkpoint: supported are JSON-like data, tuples, sets, bytes, datetimes, "
            "UUIDs, Decimals, enums, dataclasses, named tuples, Pydantic models and "
            "langchain-core messages"
        )

    def _encode_send(self, obj: Any, default: Any) -> ormsgpack.Ext:
        packet = [obj.node, obj.arg]
        timeout = getattr(obj, "timeout", None)
        if timeout is not None:
            packet.append([timeout.run_timeout, timeout.idle_timeout, timeout.refresh_on])
        return ormsgpack.Ext(SEND, self._pack(packet, default))

    def _encode_model(self, obj: pydantic.BaseModel, default: Any) -> ormsgpack.Ext:
        cls = type(obj)
        defaults = self._defaults_of(cls)
        if _is_message(cls):
            fields = {**defaults, "content": _BY_POSITION, "id": _BY_POSITION}
            plan = _MESSAGE_PLANS[cls] = (_MESSAGE_CODES.get(cls.__name__, cls.__name__), defaults, fields)
            return self._encode_message(obj, plan, default)
        values = dict(obj.__dict__)
        if obj.__pydantic_extra__:
            values.update(obj.__pydantic_extra__)
        mod, qual = self._class_ref(cls)
        fields_set = obj.model_fields_set
        kept = {k: v for k, v in values.items() if k in fields_set or not _same(defaults, k, v)}
        unset = [k for k in kept if k not in fields_set]
        payload = [mod, qual, kept]
        if unset:
            payload.append(unset)
        return ormsgpack.Ext(PYDANTIC, self._pack(payload, default))

    def _encode_message(self, obj: Any, plan: tuple[Any, dict[str, Any], dict[str, Any]],
                        default: Any) -> ormsgpack.Ext:
        """A langchain-core message: a small class code, content and id by position (a
        UUID id as 16 bytes), and only the fields that differ from their defaults (a
        field equal to its default, of the same type, is left out)."""
        code, defaults, fields = plan
        kept = {}
        get = fields.get
        for k, v in obj.__dict__.items():
            d = get(k, _NO_DEFAULT)
            if v is d or d is _BY_POSITION:
                continue
            if d is not _NO_DEFAULT:
                t = type(d)
                if type(v) is t:
                    # (Inline _equal for the defaults messages have: no call, no try.)
                    if t is dict or t is list:
                        if not d:
                            if not v:
                                continue
                        elif _equal(v, d):
                            continue
                    elif t in _EQ_NEVER_RAISES:
                        if v == d:
                            continue
                    elif _equal(v, d):
                        continue
            kept[k] = v
        extra = obj.__pydantic_extra__
        if extra:
            for k, v in extra.items():
                if not _same(defaults, k, v):
                    kept[k] = v
        mid = obj.id
        if type(mid) is str and len(mid) == 36:
            mid = _PACKED_IDS.get(mid) or _pack_id(mid)
        return _Ext(MESSAGE, _packb([code, obj.content, kept, mid], default=default, option=_PACK_OPTS))

    def _defaults_of(self, cls: type[pydantic.BaseModel]) -> dict[str, Any]:
        found = self._pydantic_defaults.get(cls)
        if found is None:
            found = self._pydantic_defaults[cls] = _model_defaults(cls)
        return found

    def _encode_exception(self, exc: BaseException, default: Any) -> ormsgpack.Ext:
        if type(exc) is StoredError:  # keeps standing in for the original class
            mod, _, qual = exc.type_name.rpartition(".")
            return ormsgpack.Ext(EXCEPTION, self._pack([mod, qual, None, exc.message], default))
        cls = type(exc)
        mod, qual = cls.__module__, cls.__qualname__
        try:
            args: Any = self._pack(list(exc.args), default)
        except TypeError:
            args = None  # read back as StoredError carrying str(exc)
        payload = [mod, qual, args, str(exc)]
        if args is not None and self._rebuildable(mod, qual):
            # Attributes too, so reading back needs no __init__ (which may rebuild the
            # message from the arguments, or want other ones).
            try:
                payload.append(self._pack(dict(getattr(exc, "__dict__", {})), default))
            except TypeError:
                pass
        return ormsgpack.Ext(EXCEPTION, self._pack(payload, default))

    def _rebuildable(self, mod: str, qual: str) -> bool:
        if mod == "builtins":
            cls = vars(builtins).get(qual)
            return isinstance(cls, type) and issubclass(cls, Exception)
        return self.allowlist.allows(mod, qual)

    # -- decoding ----------------------------------------------------------------------

    def _unpack(self, payload: bytes, hook: Any) -> Any:
        return ormsgpack.unpackb(payload, ext_hook=hook, option=_UNPACK_OPTS)

    def _decode(self, code: int, payload: bytes, hook: Any) -> Any:
        if code == TUPLE:
            return tuple(_list(self._unpack(payload, hook), "tuple"))
        if code == MESSAGE:
            name, content, values, msg_id = self._unpack(payload, hook)
            return _message_builder(name)(content, values, msg_id)
        if code == PYDANTIC:
            mod, qual, values, *rest = self._unpack(payload, hook)
            cls = self._class_for(mod, qual)
            if cls is None:
                return StoredObject(f"{mod}.{qual}", _fields(values, qual), PYDANTIC, rest[0] if rest else None)
            if not issubclass(cls, pydantic.BaseModel):
                raise ValueError(f"{mod}.{qual} is not a Pydantic model")
            values = _fields(values, qual)
            fields_set = set(values).difference(_list(rest[0], qual)) if rest else set(values)
            return _construct(cls, values, fields_set)
        if code == SET:
            return set(_list(self._unpack(payload, hook), "set"))
        if code == FROZENSET:
            return frozenset(_list(self._unpack(payload, hook), "frozenset"))
        if code == DATETIME:
            naive, tz, fold = self._unpack(payload, hook)
            value = dt.datetime.fromisoformat(naive)
            return value.replace(tzinfo=_tz_from_spec(tz), fold=fold)
        if code == DATE:
            return dt.date.fromordinal(self._unpack(payload, hook))
        if code == TIME:
            naive, tz, fold = self._unpack(payload, hook)
            return dt.time.fromisoformat(naive).replace(tzinfo=_tz_from_spec(tz), fold=fold)
        if code == TIMEDELTA:
            days, seconds, micros = self._unpack(payload, hook)
            return dt.timedelta(days=days, seconds=seconds, microseconds=micros)
        if code == UUID:
            return uuid.UUID(bytes=payload)
        if code == DECIMAL:
            return decimal.Decimal(payload.decode())
        if code == BIGINT:
            return int(payload.decode())
        if code == ENUM:
            mod, qual, value = self._unpack(payload, hook)
            cls = self._class_for(mod, qual)
            if cls is None:
                return value
            if not issubclass(cls, enum.Enum):
                raise ValueError(f"{mod}.{qual} is not an Enum")
            return cls(value)
        if code == SEND:
            node, arg, *timeout = self._unpack(payload, hook)
            if timeout:
                run, idle, refresh = timeout[0]
                return Send(node, arg, timeout=TimeoutPolicy(run_timeout=run, idle_timeout=idle, refresh_on=refresh))
            return Send(node, arg)
        if code == NAMEDTUPLE:
            mod, qual, items = self._unpack(payload, hook)
            cls = self._class_for(mod, qual)
            if cls is None:
                return _list(items, qual)
            if not (issubclass(cls, tuple) and hasattr(cls, "_fields")):
                raise ValueError(f"{mod}.{qual} is not a named tuple")
            return _new_namedtuple(cls, _list(items, qual))
        if code == DATACLASS:
            mod, qual, fields = self._unpack(payload, hook)
            cls = self._class_for(mod, qual)
            if cls is None:
                return StoredObject(f"{mod}.{qual}", _fields(fields, qual), DATACLASS)
            if not dataclasses.is_dataclass(cls):
                raise ValueError(f"{mod}.{qual} is not a dataclass")
            fields = _fields(fields, qual)
            # Set fields directly, as they were: no __init__ / __post_init__ re-run, and
            # frozen or slotted classes work the same.
            obj = object.__new__(cls)
            for name, value in fields.items():
                object.__setattr__(obj, name, value)
            # A field added to the class after the value was stored takes its default.
            for f in dataclasses.fields(cls):
                if f.name not in fields:
                    if f.default is not dataclasses.MISSING:
                        object.__setattr__(obj, f.name, f.default)
                    elif f.default_factory is not dataclasses.MISSING:
                        object.__setattr__(obj, f.name, f.default_factory())
            return obj
        if code == EXCEPTION:
            return self._decode_exception(payload, hook)
        if code == SUBCLASS:
            mod, qual, value = self._unpack(payload, hook)
            cls = self._class_for(mod, qual)
            return value if cls is None else _new_subclass(cls, value)
        raise ValueError(f"unknown type code {code} in stored value")

    def _decode_exception(self, payload: bytes, hook: Any) -> BaseException:
        mod, qual, packed_args, message, *rest = self._unpack(payload, hook)
        if type(mod) is not str or type(qual) is not str:
            raise ValueError(f"malformed stored exception {mod!r}, {qual!r}")
        if type(message) is not str:
            message = repr(message)
        if type(packed_args) is bytes:
            cls: Any = None
            if mod == "builtins":
                # Only the builtin exception classes themselves; not SystemExit and co.
                cls = vars(builtins).get(qual)
                if not (isinstance(cls, type) and issubclass(cls, Exception)):
                    cls = None
            elif self.allowlist.allows(mod, qual):
                cls = self.allowlist.resolve(mod, qual) if self.strict else self._class_for(mod, qual)
                if cls is not None and not issubclass(cls, BaseException):
                    raise ValueError(f"{mod}.{qual} is not an exception class")
            if cls is not None:
                args = _list(self._unpack(packed_args, hook), qual)
                attrs: Any = {}  # stored by an older version: no attributes
                if rest and type(rest[0]) is bytes:
                    attrs = self._unpack(rest[0], hook)
                notes = attrs.pop("__notes__", None) if type(attrs) is dict else None
                attrs = _fields(attrs, qual)
                if notes is not None:  # from add_note(): a list of strings
                    if type(notes) is not list or not all(type(n) is str for n in notes):
                        raise ValueError(f"malformed stored {qual}: bad __notes__")
                    attrs["__notes__"] = notes
                try:
                    return _new_exception(cls, args, attrs)
                except TypeError:  # a builtin's own argument rules: keep the text
                    pass
        name = f"{mod}.{qual}" if mod else qual
        return StoredError(name, message)


_Plan = tuple[tuple[tuple[str, bool, Any], ...], bool] | None
_PLANS: dict[type, _Plan] = {}
_IMMUTABLE = (type(None), bool, int, float, str, bytes, tuple, frozenset)


def _construct(cls: type[pydantic.BaseModel], values: dict[str, Any], fields_set: set[str]) -> Any:
    """``cls.model_construct(_fields_set=fields_set, **values)``, without its per-call cost.

    ``model_construct`` inspects every default factory's signature on every call, which
    made reading a long conversation ten times slower than it needs to be. The plan
    (field defaults) is worked out once per class; classes with a post-init hook,
    private attributes or data-dependent factories still go through ``model_construct``.
    """
    plan: _Plan | Literal[False] = _PLANS.get(cls, False)  # False: not planned yet
    if plan is False:
        plan = _PLANS[cls] = _plan_for(cls)
    if plan is None:
        return cls.model_construct(_fields_set=fields_set, **values)
    fields, extra_allowed = plan
    field_values: dict[str, Any] = {}
    for name, is_factory, default in fields:
        if name in values:
            field_values[name] = values.pop(name)
        elif is_factory:
            field_values[name] = default()
        elif default is not PydanticUndefined:
            field_values[name] = default if isinstance(default, _IMMUTABLE) else copy.deepcopy(default)
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", field_values)
    object.__setattr__(obj, "__pydantic_fields_set__", fields_set)
    object.__setattr__(obj, "__pydantic_extra__", values if extra_allowed else None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


_Builder = Callable[[Any, Any, Any], Any]
_BUILDERS_BY_CODE: list[_Builder] = []
_BUILDERS_BY_NAME: dict[str, _Builder] = {}
_ABSENT = object()


def _message_builder(name: Any) -> _Builder:
    """The function that rebuilds a stored message of class ``name`` (its stored code,
    or its class name) from its content, other fields and id (see
    :func:`_builder_for`); ValueError for a name that is not a langchain-core message
    class."""
    if type(name) is int and 0 < name < len(_MESSAGE_NAMES):
        if not _BUILDERS_BY_CODE:
            _BUILDERS_BY_CODE.extend(_builder_for(_message_class(i)) for i in range(len(_MESSAGE_NAMES)) if i)
        return _BUILDERS_BY_CODE[name - 1]
    build = _BUILDERS_BY_NAME.get(name) if type(name) is str else None
    if build is None:
        build = _BUILDERS_BY_NAME[name] = _builder_for(_message_class(name))
    return build


def _builder_for(cls: type[pydantic.BaseModel]) -> _Builder:
    """A function ``(content, values, msg_id) -> message`` for the message class
    ``cls``: the stored message as ``_construct`` (and so ``model_construct``) builds
    it, with the per-class work done here, once.

    The message's ``__dict__`` starts as a copy of a template holding every field in
    declaration order with its immutable default; fields with a default factory (the
    empty dicts and lists of every message) get a fresh value from it, then the stored
    fields replace their defaults in place (the order stays the declared one). Stored
    names must be strings and never dunders (``_fields``); names that are not fields
    are extras, as ``_construct`` keeps them. Nothing of the class runs but its
    default factories, as with ``_construct``.
    """
    if _plan_for(cls) is None:  # a hook or private attributes: model_construct's way
        def slow(content: Any, values: Any, msg_id: Any) -> Any:
            values = _fields(values, cls.__name__)
            values["content"] = content
            values["id"] = _unpack_id(msg_id)
            fields_set = set(values)
            if msg_id is None:
                fields_set.discard("id")
            return _construct(cls, values, fields_set)

        return slow
    template: dict[str, Any] = {}
    fresh: list[tuple[str, Callable[[], Any]]] = []
    required: list[str] = []
    for name, field in cls.__pydantic_fields__.items():
        if field.default_factory is not None:
            template[name] = None
            fresh.append((name, field.default_factory))  # type: ignore[arg-type]
        elif field.default is PydanticUndefined:
            template[name] = _ABSENT
            required.append(name)
        elif isinstance(field.default, _IMMUTABLE):
            template[name] = field.default
        else:
            template[name] = None
            fresh.append((name, functools.partial(copy.deepcopy, field.default)))
    # content is always stored; a missing other required field stays missing.
    required_rest = tuple(n for n in required if n != "content")
    names = frozenset(template)
    extra_allowed = cls.model_config.get("extra") == "allow"
    what = cls.__name__
    new = cls.__new__
    # The slots, set through their descriptors (what object.__setattr__ finds and calls,
    # without its per-call name lookup and argument tuple).
    set_dict, set_fields_set, set_extra, set_private = (
        _slot_setter(cls, name)
        for name in ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
    )

    def build(content: Any, values: Any, msg_id: Any) -> Any:
        fv = template.copy()
        for name, factory in fresh:
            fv[name] = factory()
        extra: dict[str, Any] | None = {} if extra_allowed else None
        fields_set: set[str] | None = None
        if values:
            _fields(values, what)
            fields_set = set(values)
            if values.keys() <= names:
                fv.update(values)
            else:
                for key, value in values.items():
                    if key in names:
                        fv[key] = value
                    elif extra is not None:
                        extra[key] = value
        elif type(values) is not dict:
            raise ValueError(f"malformed stored {what}: expected a field mapping")
        fv["content"] = content
        if type(msg_id) is bytes and len(msg_id) == 16:
            fv["id"] = _UNPACKED_IDS.get(msg_id) or _unpack_uuid(msg_id)
            has_id = True
        else:
            fv["id"] = _unpack_id(msg_id)
            has_id = msg_id is not None
        if fields_set is None:
            fields_set = {"content", "id"} if has_id else {"content"}
        else:
            fields_set.add("content")
            if has_id:
                fields_set.add("id")
            else:
                fields_set.discard("id")
        for name in required_rest:
            if fv[name] is _ABSENT:
                del fv[name]
        obj = new(cls)
        set_dict(obj, fv)
        set_fields_set(obj, fields_set)
        set_extra(obj, extra)
        set_private(obj, None)
        return obj

    return build


def _plan_for(cls: type[pydantic.BaseModel]) -> _Plan:
    if cls.__pydantic_root_model__ or cls.__pydantic_post_init__ or cls.__private_attributes__:
        return None
    fields = []
    for name, field in cls.__pydantic_fields__.items():
        if field.default_factory is not None:
            if field.default_factory_takes_validated_data:
                return None
            fields.append((name, True, field.default_factory))
        else:
            fields.append((name, False, field.default))
    return tuple(fields), cls.model_config.get("extra") == "allow"


def _equal(value: Any, default: Any) -> bool:
    try:
        return bool(value == default)
    except Exception:
        return False


def _same(defaults: dict[str, Any], key: str, value: Any) -> bool:
    if key not in defaults:
        return False
    default = defaults[key]
    if value is default:
        return True
    if type(value) is not type(default):
        return False
    try:
        return bool(value == default)
    except Exception:
        return False


def _tz_spec(tz: dt.tzinfo | None) -> list[Any] | None:
    if tz is None:
        return None
    if isinstance(tz, zoneinfo.ZoneInfo):
        return ["z", tz.key]
    if isinstance(tz, dt.timezone):
        offset = tz.utcoffset(None)
        name = tz.tzname(None)
        default_name = dt.timezone(offset).tzname(None)
        return ["o", offset.total_seconds(), None if name == default_name else name]
    raise TypeError(
        f"cannot store a datetime with tzinfo of type {type(tz).__qualname__}: use "
        "datetime.timezone or zoneinfo.ZoneInfo"
    )


def _tz_from_spec(spec: list[Any] | None) -> dt.tzinfo | None:
    if spec is None:
        return None
    if spec[0] == "z":
        return _zone(spec[1])
    if spec[0] == "o":
        offset = dt.timedelta(seconds=spec[1])
        if offset == dt.timedelta(0) and spec[2] is None:
            return dt.timezone.utc
        return dt.timezone(offset) if spec[2] is None else dt.timezone(offset, spec[2])
    raise ValueError(f"unknown timezone encoding {spec[0]!r}")


_MESSAGE_CLASSES: dict[str, type[pydantic.BaseModel]] = {}

# Stored codes of the message classes: append only, never reorder (data depends on it).
_MESSAGE_NAMES = (
    "",
    "HumanMessage", "AIMessage", "SystemMessage", "ToolMessage", "FunctionMessage",
    "ChatMessage", "RemoveMessage", "HumanMessageChunk", "AIMessageChunk",
    "SystemMessageChunk", "ToolMessageChunk", "FunctionMessageChunk", "ChatMessageChunk",
)
_MESSAGE_CODES = {name: i for i, name in enumerate(_MESSAGE_NAMES) if name}
_N_MESSAGE_NAMES = len(_MESSAGE_NAMES)


# The class code and field defaults of each message class met (see _encode_message), and
# the defaults again with content and id marked as stored by position.
_MESSAGE_PLANS: dict[type, tuple[Any, dict[str, Any], dict[str, Any]]] = {}
_BY_POSITION = object()
_NO_DEFAULT = object()
# Exact builtin types whose == never raises (nor calls into other code).
_EQ_NEVER_RAISES = frozenset({str, int, float, bool, bytes, type(None)})
# Message ids as packed (a message is saved again with every checkpoint of its thread);
# cleared when full.
_PACKED_IDS: dict[str, Any] = {}
_PACKED_IDS_MAX = 8192


def _pack_id(value: Any) -> Any:
    """A canonical UUID string as its 16 bytes (ids are often 10% of a message)."""
    if type(value) is str and len(value) == 36:
        packed = _PACKED_IDS.get(value)
        if packed is not None:
            return packed
        try:
            parsed = uuid.UUID(value)
        except ValueError:
            packed = value
        else:
            packed = parsed.bytes if str(parsed) == value else value
        if len(_PACKED_IDS) >= _PACKED_IDS_MAX:
            _PACKED_IDS.clear()
        _PACKED_IDS[value] = packed
        return packed
    return value


# Message ids as read back (the same messages are read with every read of their thread);
# cleared when full.
_UNPACKED_IDS: dict[bytes, str] = {}


def _unpack_uuid(value: bytes) -> str:
    """A 16-byte id as its canonical UUID string (``str(uuid.UUID(bytes=value))``),
    remembered in ``_UNPACKED_IDS``."""
    # Formatted directly: building the UUID object was a fifth of the cost of reading a
    # message back.
    h = value.hex()
    text = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    if len(_UNPACKED_IDS) >= _PACKED_IDS_MAX:
        _UNPACKED_IDS.clear()
    _UNPACKED_IDS[value] = text
    return text


def _slot_setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """``lambda obj, value: object.__setattr__(obj, name, value)`` for instances of
    ``cls``, as the data descriptor that call finds on the class (its ``__set__``)."""
    for klass in cls.__mro__:
        attr = klass.__dict__.get(name)
        if attr is not None:
            setter = getattr(type(attr), "__set__", None)
            if setter is not None:
                return attr.__set__  # type: ignore[no-any-return]
            break
    return lambda obj, value: object.__setattr__(obj, name, value)


def _unpack_id(value: Any) -> Any:
    if type(value) is bytes:
        if len(value) != 16:
            return str(uuid.UUID(bytes=value))  # raises its own clear ValueError
        # str(uuid.UUID(bytes=value)), formatted directly: building the UUID object was
        # a fifth of the cost of reading a message back.
        h = value.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return value


def _is_message(cls: type) -> bool:
    if cls.__module__.startswith("langchain_core.messages"):
        registered = _message_classes().get(cls.__name__)
        return registered is cls
    return False


def _message_classes() -> dict[str, type[pydantic.BaseModel]]:
    if not _MESSAGE_CLASSES:
        # Imported on first use: langchain_core.messages is heavy at import time.
        import langchain_core.messages as messages

        for name in messages.__all__:
            obj = getattr(messages, name, None)
            if isinstance(obj, type) and issubclass(obj, messages.BaseMessage):
                _MESSAGE_CLASSES[name] = obj
    return _MESSAGE_CLASSES


def _message_class(name: Any) -> type[pydantic.BaseModel]:
    if type(name) is int and 0 < name < len(_MESSAGE_NAMES):
        name = _MESSAGE_NAMES[name]
    cls = _message_classes().get(name) if type(name) is str else None
    if cls is None:
        raise ValueError(f"unknown langchain-core message class {name!r}")
    return cls


def _new_exception(cls: type[BaseException], args: list[Any], attrs: dict[str, Any]) -> BaseException:
    """An exception of ``cls`` with these args and attributes; ``cls.__init__`` and a
    ``__new__`` of its own never run (the builtin base's ``__new__`` does)."""
    base = next(b for b in cls.__mro__ if b.__module__ == "builtins")
    if cls.__module__ == "builtins":
        exc = cls(*args)
    else:
        exc = base.__new__(cls, *args)  # type: ignore[call-overload]
        exc.args = tuple(args)
    vars(exc).update(attrs)  # no property setters run
    return exc


def _new_namedtuple(cls: Any, items: list[Any]) -> Any:
    """``cls(*items)`` without calling into the class; a field added after the value was
    stored takes its default."""
    fields = cls._fields
    if len(items) < len(fields):
        defaults = getattr(cls, "_field_defaults", {})
        missing = fields[len(items) :]
        if not all(f in defaults for f in missing):
            raise ValueError(f"stored {cls.__qualname__} lacks fields {list(missing)}")
        items = [*items, *(defaults[f] for f in missing)]
    elif len(items) > len(fields):
        raise ValueError(f"stored {cls.__qualname__} has {len(items)} items for {len(fields)} fields")
    return tuple.__new__(cls, items)


def _list(value: Any, what: str) -> list[Any]:
    if type(value) is not list:
        raise ValueError(f"malformed stored {what}: expected a list, got {type(value).__name__}")
    return value


def _fields(value: Any, what: str) -> dict[str, Any]:
    """A stored field mapping: string keys, none of them a dunder name."""
    if type(value) is not dict:
        raise ValueError(f"malformed stored {what}: expected a field mapping")
    for key in value:
        if type(key) is not str or (key.startswith("__") and key.endswith("__")):
            raise ValueError(f"malformed stored {what}: field name {key!r} is not allowed")
    return value


def _new_subclass(cls: Any, value: Any) -> Any:
    """An instance of the builtin subclass ``cls`` holding ``value``, built with the
    builtin's own ``__new__`` and methods: ``cls.__new__``/``__init__`` never run."""
    base = type(value)
    name = f"{cls.__module__}.{cls.__qualname__}"
    if base not in _SUBCLASS_BASES or not issubclass(cls, base) or issubclass(cls, enum.Enum):
        raise ValueError(f"{name} is not a subclass of the stored {base.__name__}")
    try:
        if base is dict:
            if issubclass(cls, collections.OrderedDict):
                obj = collections.OrderedDict.__new__(cls)
                for key, item in value.items():
                    collections.OrderedDict.__setitem__(obj, key, item)
                return obj
            obj = dict.__new__(cls)
            dict.update(obj, value)
            return obj
        if base is list:
            obj = list.__new__(cls)
            list.extend(obj, value)
            return obj
        return base.__new__(cls, value)
    except TypeError as exc:  # e.g. a C base other than the builtin (defaultdict)
        raise ValueError(f"cannot rebuild {name} from a stored {base.__name__}: {exc}") from None


# A time zone key is a relative path below the tz database; ZoneInfo itself refuses ``..``
# and absolute paths, but an unknown key makes it fall back to importing the tzdata
# package machinery. Keys are checked against the database first.
_TZ_KEY = re.compile(r"[A-Za-z0-9_+\-]{1,40}(/[A-Za-z0-9_+\-]{1,40}){0,3}\Z")
_known_zones: set[str] = set()
_tzdata: list[bool] = []


def _zone(key: Any) -> zoneinfo.ZoneInfo:
    if key not in _known_zones:
        if type(key) is not str or not _TZ_KEY.match(key):
            raise ValueError(f"malformed stored time zone key {key!r}")
        in_tzpath = any(os.path.isfile(os.path.join(root, key)) for root in zoneinfo.TZPATH)
        if not _tzdata:
            _tzdata.append(importlib.util.find_spec("tzdata") is not None)
        if not (in_tzpath or _tzdata[0]):
            raise ValueError(f"unknown time zone {key!r} in stored value")
        zone = zoneinfo.ZoneInfo(key)
        _known_zones.add(key)
        return zone
    return zoneinfo.ZoneInfo(key)


def _is_send(obj: Any) -> bool:
    cls = type(obj)
    return cls.__name__ == "Send" and cls.__module__ == "asyncgraph.types"
