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
    NULL_TASK_ID,
    PULL,
    PUSH,
    RESUME,
    TASKS,
)

__all__ = [
    "CACHE_NS_WRITES",
    "CONF",
    "CONFIG_KEY_CACHE",
    "CONFIG_KEY_CALL",
    "CONFIG_KEY_CHECKPOINTER",
    "CONFIG_KEY_CHECKPOINT_ID",
    "CONFIG_KEY_CHECKPOINT_MAP",
    "CONFIG_KEY_CHECKPOINT_NS",
    "CONFIG_KEY_NODE_FINISHED",
    "CONFIG_KEY_DURABILITY",
    "CONFIG_KEY_READ",
    "CONFIG_KEY_RESUMING",
    "CONFIG_KEY_RUNTIME",
    "CONFIG_KEY_SCRATCHPAD",
    "CONFIG_KEY_SEND",
    "CONFIG_KEY_STREAM",
    "CONFIG_KEY_TASK_ID",
    "CONFIG_KEY_THREAD_ID",
    "CONFIG_KEY_TIMED_ATTEMPT_OBSERVER",
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

CONFIG_KEY_THREAD_ID: Final = "thread_id"
CONFIG_KEY_CHECKPOINT_ID: Final = "checkpoint_id"
CONFIG_KEY_CHECKPOINT_NS: Final = "checkpoint_ns"
CONFIG_KEY_CHECKPOINT_MAP: Final = "checkpoint_map"
CONFIG_KEY_RUNTIME: Final = "__pregel_runtime"
CONFIG_KEY_SEND: Final = "__pregel_send"
CONFIG_KEY_READ: Final = "__pregel_read"
CONFIG_KEY_CALL: Final = "__pregel_call"
CONFIG_KEY_CHECKPOINTER: Final = "__pregel_checkpointer"
CONFIG_KEY_STREAM: Final = "__pregel_stream"
CONFIG_KEY_CACHE: Final = "__pregel_cache"
CONFIG_KEY_RESUMING: Final = "__pregel_resuming"
CONFIG_KEY_TASK_ID: Final = "__pregel_task_id"
CONFIG_KEY_SCRATCHPAD: Final = "__pregel_scratchpad"
CONFIG_KEY_DURABILITY: Final = "__pregel_durability"
CONFIG_KEY_TIMED_ATTEMPT_OBSERVER: Final = "__pregel_timed_attempt_observer"
CONFIG_KEY_NODE_FINISHED: Final = "__pregel_node_finished"
"""LangGraph calls a callable under this key with each finished node's name; asyncgraph
does not (observe node ends with ``stream_mode="tasks"`` or callbacks instead)."""
