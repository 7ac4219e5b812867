"""The expected reads of the v1 migration test as JSON, not a pickle.

A pickle of langchain-core messages can stop loading when langchain-core changes its
classes; this format only relies on ``message_to_dict`` / ``messages_from_dict``,
langchain-core's public message serialization. Tuples and messages are tagged so
that reading gives back exactly the objects ``SqliteSaver.list`` returns.
"""

from __future__ import annotations

import json
from typing import IO, Any

from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict


def _encode(obj: Any) -> Any:
    if isinstance(obj, BaseMessage):
        return {"__message__": message_to_dict(obj)}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v) for v in obj]
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError(f"non-string key in {obj!r}")
        return {k: _encode(v) for k, v in obj.items()}
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot encode {type(obj).__name__}: {obj!r}")


def _decode(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    if isinstance(obj, dict):
        if set(obj) == {"__message__"}:
            return messages_from_dict([obj["__message__"]])[0]
        if set(obj) == {"__tuple__"}:
            return tuple(_decode(v) for v in obj["__tuple__"])
        return {k: _decode(v) for k, v in obj.items()}
    return obj


def dump_expected(expected: dict[str, list[tuple[Any, ...]]], f: IO[str]) -> None:
    json.dump(_encode(expected), f, indent=1, sort_keys=True)
    f.write("\n")


def load_expected(f: IO[str]) -> dict[str, list[tuple[Any, ...]]]:
    return _decode(json.load(f))  # type: ignore[no-any-return]
