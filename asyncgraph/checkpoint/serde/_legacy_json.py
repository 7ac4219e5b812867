"""Reading the ``"json"`` values of old LangGraph checkpoints (before its msgpack format).

Those values are JSON with two kinds of constructor envelopes:

- ``{"lc": 1, "type": "constructor", "id": [...], "kwargs": {...}}``: LangChain's own
  serialization (messages, documents), revived by langchain-core's ``Reviver`` limited to
  its core classes.
- ``{"lc": 2, "type": "constructor", "id": [*module, name], "args": [...], "kwargs": {...}}``:
  LangGraph's, naming any class. Nothing is imported from that name: a few standard types
  are rebuilt from a fixed table, LangGraph's own value types (``langgraph.types.*``)
  map to asyncgraph's and are constructed, and a class the serializer's allowlist allows
  is rebuilt as the msgpack format rebuilds it (fields set, no constructor; an enum from
  its value). Any other class reads back as its stored arguments (the kwargs dict, or
  the single argument), with a warning logged once per class, as for msgpack values.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import uuid
from collections.abc import Callable
from typing import Any

import pydantic

from asyncgraph.checkpoint.serde._allow import Allowlist, _warned_blocked_types, warn_once
from asyncgraph.checkpoint.serde._msgpack import _fields

__all__ = ["loads_json"]

# Standard types old checkpoints hold, by LangGraph's stored name: built from plain data.
_STANDARD: dict[tuple[str, str], Callable[..., Any]] = {
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "tuple"): tuple,
    ("uuid", "UUID"): uuid.UUID,
    ("decimal", "Decimal"): decimal.Decimal,
    ("datetime", "datetime"): dt.datetime.fromisoformat,
    ("datetime", "date"): dt.date.fromisoformat,
    ("datetime", "time"): dt.time.fromisoformat,
    ("datetime", "timedelta"): dt.timedelta,
}

_OWN_TYPES = "asyncgraph.types"


def loads_json(data: bytes, allowlist: Allowlist) -> Any:
    """The value of an old ``"json"`` checkpoint entry (see the module docstring).

    Raises:
        ValueError: ``data`` is not JSON.
    """
    from langchain_core.load.load import Reviver  # for import time: old data only

    lc_core = Reviver(allowed_objects="core")

    def hook(value: dict[str, Any]) -> Any:
        if value.get("type") == "constructor" and isinstance(value.get("id"), list):
            if value.get("lc") == 2:
                return _revive(value, allowlist)
            if value.get("lc") == 1:
                return lc_core(value)
        return value

    try:
        return json.loads(data, object_hook=hook)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON checkpoint value: {exc}") from None


def _revive(value: dict[str, Any], allowlist: Allowlist) -> Any:
    ids = value["id"]
    if len(ids) < 2 or not all(isinstance(part, str) for part in ids):
        return value
    module, name = ".".join(ids[:-1]), ids[-1]
    if module == "langgraph" or module.startswith("langgraph."):
        module = "asyncgraph" + module.removeprefix("langgraph")
    args = value.get("args") or []
    kwargs = value.get("kwargs") or {}
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        return value
    stored = kwargs if kwargs or len(args) != 1 else args[0]
    standard = _STANDARD.get((module, name))
    try:
        if standard is not None:
            return standard(*args, **kwargs)
        if not allowlist.allows(module, name):
            warn_once(
                _warned_blocked_types,
                (module, name),
                "Blocked deserialization of %s.%s: not in the checkpoint serializer's allowlist, "
                "so it is read back as its stored data.",
                module,
                name,
            )
            return stored
        cls = allowlist.resolve(module, name)
        if issubclass(cls, BaseException):
            return stored
        if module == _OWN_TYPES or issubclass(cls, enum.Enum):
            return cls(*args, **kwargs)  # asyncgraph's own value types; an enum by value
        if issubclass(cls, pydantic.BaseModel):
            return cls.model_construct(**kwargs)
        if dataclasses.is_dataclass(cls):
            obj = object.__new__(cls)
            for field, field_value in _fields(kwargs, name).items():
                object.__setattr__(obj, field, field_value)
            return obj
    except (TypeError, ValueError, LookupError):
        pass
    return stored
