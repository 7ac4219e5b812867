"""The payloads of the ``tasks`` stream (and ``debug``'s task events), at LangGraph's path.

``map_debug_tasks`` turns tasks about to run into ``task`` payloads: id, name, input,
triggers and, when there is any, the task's *user* metadata: its config's metadata
without the engine's own keys (node, step, path, namespace, thread and checkpoint ids,
which the payload and its namespace already say), plus the config's tags without
langchain-core's ``seq:step:N`` bookkeeping. ``map_debug_task_results`` makes the
``task_result`` payload of a finished task from its writes. The engine builds the same
payloads in :mod:`asyncgraph.pregel._stream` with :func:`task_metadata`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from asyncgraph.constants import CONF, ERROR, INTERRUPT, TAG_HIDDEN

__all__ = [
    "EXCLUDED_METADATA_KEYS",
    "get_bolded_text",
    "get_colored_text",
    "is_multiple_channel_write",
    "map_debug_task_results",
    "map_debug_tasks",
    "map_task_result_writes",
    "rm_pregel_keys",
    "task_metadata",
    "user_tags",
]

EXCLUDED_METADATA_KEYS = frozenset(
    {
        "thread_id",
        "checkpoint_id",
        "checkpoint_ns",
        "checkpoint_map",
        "langgraph_step",
        "langgraph_node",
        "langgraph_triggers",
        "langgraph_path",
        "langgraph_checkpoint_ns",
    }
)
"""Metadata keys the engine sets on a task's config; a task payload leaves them out."""

_RETURN = "__return__"  # a functional-API task's return value (LangGraph's RETURN write)


def user_tags(tags: Sequence[str] | None) -> list[str] | None:
    """``tags`` without langchain-core's ``seq:step:N`` markers; None if none is left."""
    kept = [t for t in tags or () if not t.startswith("seq:step")]
    return kept or None


def task_metadata(
    metadata: Mapping[str, Any] | None, tags: Sequence[str] | None, *extra: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """A task payload's ``metadata``: a new dict of ``metadata`` (then each of ``extra``,
    e.g. the node's own) without :data:`EXCLUDED_METADATA_KEYS`, with the user's
    ``tags`` under ``"tags"``; None when that is empty."""
    md: dict[str, Any] = {}
    for source in (metadata, *extra):
        if source:
            md.update((k, v) for k, v in source.items() if k not in EXCLUDED_METADATA_KEYS)
    kept = user_tags(tags)
    if kept is not None:
        md["tags"] = kept
    return md or None


def map_debug_tasks(tasks: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """A ``task`` payload for each task (anything with ``id``, ``name``, ``input``,
    ``triggers`` and ``config``), in order. Tasks tagged hidden are left out."""
    for task in tasks:
        config = task.config
        if config is not None and TAG_HIDDEN in (config.get("tags") or ()):
            continue
        payload: dict[str, Any] = {"id": task.id, "name": task.name, "input": task.input, "triggers": task.triggers}
        if config is not None:
            md = task_metadata(config.get("metadata"), config.get("tags"))
            if md is not None:
                payload["metadata"] = md
        yield payload


def is_multiple_channel_write(value: Any) -> bool:
    """Whether a result entry is already ``{"$writes": [...]}`` (a key written twice)."""
    return isinstance(value, dict) and isinstance(value.get("$writes"), list)


def map_task_result_writes(writes: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """``{channel: value}`` of writes; a channel written more than once maps to
    ``{"$writes": [value, ...]}`` in write order."""
    result: dict[str, Any] = {}
    repeated: set[str] = set()
    for channel, value in writes:
        if channel not in result:
            result[channel] = value
        elif channel in repeated:
            result[channel]["$writes"].append(value)
        else:
            result[channel] = {"$writes": [result[channel], value]}
            repeated.add(channel)
    return result


def map_debug_task_results(
    task_tup: tuple[Any, Sequence[tuple[str, Any]]], stream_keys: str | Sequence[str]
) -> Iterator[dict[str, Any]]:
    """The ``task_result`` payload of ``(task, writes)``: its error, the writes to
    ``stream_keys`` (and a function's return value), and its interrupts."""
    task, writes = task_tup
    keys = {stream_keys} if isinstance(stream_keys, str) else set(stream_keys)
    interrupts: list[Any] = []
    for channel, value in writes:
        if channel == INTERRUPT:
            for item in value if isinstance(value, Sequence) else (value,):
                is_instance = dataclasses.is_dataclass(item) and not isinstance(item, type)
                interrupts.append(dataclasses.asdict(item) if is_instance else item)
    yield {
        "id": task.id,
        "name": task.name,
        "error": next((v for c, v in writes if c == ERROR), None),
        "result": map_task_result_writes([(c, v) for c, v in writes if c in keys or c == _RETURN]),
        "interrupts": interrupts,
    }


def rm_pregel_keys(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Only the ``configurable`` part of ``config``, without the ``__pregel_*`` keys."""
    if config is None:
        return None
    return {CONF: {k: v for k, v in (config.get(CONF) or {}).items() if not k.startswith("__pregel_")}}


_COLORS = {"blue": "36;1", "green": "32;1", "yellow": "33;1", "pink": "38;5;200"}


def get_colored_text(text: str, color: str) -> str:
    """``text`` in a terminal color (``blue``, ``green``, ``yellow``, ``pink``)."""
    return f"\033[1;3;{_COLORS[color]}m{text}\033[0m"


def get_bolded_text(text: str) -> str:
    """``text`` in bold for a terminal."""
    return f"\033[1m{text}\033[0m"
