"""JSON for the wire: messages, interrupts, dataclasses and Pydantic models as plain data."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import date, datetime
from enum import Enum
from typing import Any

__all__ = ["dumps", "to_jsonable"]


def _default(obj: Any) -> Any:
    if hasattr(obj, "model_dump") and callable(obj.model_dump):
        return obj.model_dump()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    if type(obj).__name__ == "Interrupt" and hasattr(obj, "value"):
        return {"value": obj.value, "id": getattr(obj, "id", None)}
    if hasattr(obj, "_asdict"):
        return obj._asdict()
    return repr(obj)


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=_default, separators=(",", ":"), ensure_ascii=False)


def to_jsonable(obj: Any) -> Any:
    """``obj`` as JSON-compatible data (a round trip through :func:`dumps`)."""
    return json.loads(dumps(obj))
