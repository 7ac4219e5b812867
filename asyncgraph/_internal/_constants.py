"""Reserved names under LangGraph's private path ``langgraph._internal._constants``.

These are the strings LangGraph uses for reserved channels, pending-write keys,
task-path markers and ``config["configurable"]`` keys. The ones that name channels,
pending writes or task paths (``ERROR``, ``INTERRUPT``, ``TASKS``, ``PULL`` ...) are
the values asyncgraph itself uses (re-exported from :mod:`asyncgraph.constants`), so
checkpoints and expected outputs compare equal.

asyncgraph keeps its run context in a typed object rather than in
``config["configurable"]``, so of the ``CONFIG_KEY_*`` keys it reads only
``CONFIG_KEY_RUNTIME`` (a Runtime a caller put there, see
``asyncgraph._internal._runnable``) and the checkpoint coordinates (``thread_id``,
``checkpoint_ns``, ``checkpoint_id``). The others are provided so code that builds
or inspects a LangGraph config by these names imports; the engine does not read them.
"""

from __future__ import annotations

from typing import Final

from asyncgraph.constants import (
    CONF,
    ERROR,
    INPUT,
    INTERRUPT,
    NO_WRITES,
    NS_END,
    NS_SEP,
    PULL,
    PUSH,
    RESUME,
    TASKS,
)

__all__ = [
    "CACHE_NS_WRITES",
    "CONF",
    "CONFIG_KEY_CHECKPOINT_ID",
    "CONFIG_KEY_CHECKPOINT_MAP",
    "CONFIG_KEY_CHECKPOINT_NS",
    "CONFIG_KEY_NODE_FINISHED",
    "CONFIG_KEY_RUNTIME",
    "CONFIG_KEY_THREAD_ID",
    "ERROR",
    "INPUT",
    "INTERRUPT",
    "NO_WRITES",
    "NS_END",
    "NS_SEP",
    "NULL_TASK_ID",
    "OVERWRITE",
    "PREVIOUS",
    "PULL",
    "PUSH",
    "RESUME",
    "RETURN",
    "TASKS",
]

RETURN: Final = "__return__"
"""Pending write holding a functional-API task's return value."""

PREVIOUS: Final = "__previous__"
"""Channel of an entrypoint's saved value (``entrypoint.final(save=...)``)."""

CACHE_NS_WRITES: Final = "__pregel_ns_writes"
"""Cache namespace of node writes."""

OVERWRITE: Final = "__overwrite__"
"""Key of the dict form of :class:`~asyncgraph.types.Overwrite`: ``{"__overwrite__": v}``
(and the ``"type"`` of its JSON-erased form ``{"type": "__overwrite__", "value": v}``)."""

NULL_TASK_ID: Final = "00000000-0000-0000-0000-000000000000"
"""Task id of writes that belong to no task (``update_state`` of a whole step)."""

CONFIG_KEY_THREAD_ID: Final = "thread_id"
CONFIG_KEY_CHECKPOINT_ID: Final = "checkpoint_id"
CONFIG_KEY_CHECKPOINT_NS: Final = "checkpoint_ns"
CONFIG_KEY_CHECKPOINT_MAP: Final = "checkpoint_map"
CONFIG_KEY_RUNTIME: Final = "__pregel_runtime"
CONFIG_KEY_NODE_FINISHED: Final = "__pregel_node_finished"
"""LangGraph calls a callable under this key with each finished node's name; asyncgraph
does not (observe node ends with ``stream_mode="tasks"`` or callbacks instead)."""
