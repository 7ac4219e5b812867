"""Names with a fixed meaning in every graph."""

from __future__ import annotations

import warnings
from typing import Any, Final

from asyncgraph.warnings import LangGraphDeprecatedSinceV10, _import_path

START: Final = "__start__"
"""The virtual node whose edges say where a run begins."""

END: Final = "__end__"
"""The virtual node whose incoming edges end a branch of the run."""

TAG_HIDDEN: Final = "langsmith:hidden"
"""Tag that hides a node from stream output and tracing."""

TAG_NOSTREAM: Final = "nostream"
"""Tag on a chat model that keeps its tokens out of ``stream_mode="messages"``."""

TASKS: Final = "__pregel_tasks"
"""Channel that carries :class:`~asyncgraph.types.Send` packets to the next step."""

CONF: Final = "configurable"
"""The config key of run-specific settings (thread_id, checkpoint_ns ...)."""

# Reserved channel names. Each one is also a key of pending writes in a checkpoint, so
# the strings are LangGraph's and must not change.
INTERRUPT: Final = "__interrupt__"
"""Pending write of a task that called ``interrupt()``; key of a paused run's output."""

RESUME: Final = "__resume__"
"""Pending write holding the answers a resumed task has received."""

ERROR: Final = "__error__"
"""Pending write of a task that failed (``get_state().tasks[i].error``)."""

ERROR_SOURCE: Final = "__error_source_node__"
"""Pending write next to ``ERROR`` when the failed task's node has an error handler:
the handler took the failure over, so a resume runs the handler, not the node."""

NO_WRITES: Final = "__no_writes__"
"""Pending write of a task that finished without writing anything."""

INPUT: Final = "__input__"

NULL_TASK_ID: Final = "00000000-0000-0000-0000-000000000000"
"""Task id of pending writes that belong to no task: a ``Command(update=..., goto=...)``
that continued a thread, applied before the step it continues (as LangGraph keeps them)."""
ROOT: Final = "__root__"
"""``Command(update=...)`` key whose value is the whole update (not a state key)."""

COPY: Final = "__copy__"

PULL: Final = "__pregel_pull"
"""First element of the path of a task started by a trigger channel."""

PUSH: Final = "__pregel_push"
"""First element of the path of a task started by a ``Send``."""

METADATA: Final = "__metadata__"
"""Key of an ``updates`` chunk carrying facts about the task (``{"cached": True}``)."""

BRANCH_PREFIX: Final = "branch:to:"
"""Prefix of the channel that triggers a node reached by an edge (``branch:to:node``)."""

ERROR_HANDLER_PREFIX: Final = "__error_handler__"
"""``add_node(name, ..., error_handler=h)`` adds ``h`` as the node ``__error_handler__<name>``."""

DEFAULT_ERROR_HANDLER: Final = "__default_error_handler__"
"""The node ``set_node_defaults(error_handler=h)`` adds at compile time."""

# Reserved names: a node may not be called any of these.
RESERVED: Final = frozenset({START, END, TASKS, INTERRUPT, ERROR, RESUME, INPUT, ROOT, COPY, NO_WRITES})

NS_SEP: Final = "|"
"""Separates the levels of a checkpoint namespace (parent|child)."""

NS_END: Final = ":"
"""Separates a namespace level's node name from its task id."""


def __getattr__(name: str) -> Any:
    # LangGraph 0.x exported Send and Interrupt here, and its private constants; both
    # still import, with a deprecation warning naming the new home.
    if name in ("Send", "Interrupt"):
        warnings.warn(
            f"Importing {name} from {_import_path(__name__)} is deprecated. Please use "
            f"'from {_import_path('asyncgraph.types')} import {name}' instead.",
            LangGraphDeprecatedSinceV10,
            stacklevel=2,
        )
        from asyncgraph import types

        return getattr(types, name)
    if not name.startswith("__"):
        from asyncgraph._internal import _constants

        if name in _constants.__all__:
            warnings.warn(
                f"Importing {name} from {_import_path(__name__)} is deprecated. This constant "
                "is now private and should not be used directly.",
                LangGraphDeprecatedSinceV10,
                stacklevel=2,
            )
            return getattr(_constants, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
