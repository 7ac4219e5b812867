"""Names with a fixed meaning in every graph."""

from __future__ import annotations

from typing import Final

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

# Reserved names: a node may not be called any of these.
RESERVED: Final = frozenset({START, END, TASKS, "__interrupt__", "__error__", "__resume__",
                             "__input__", "__root__", "__copy__", "__no_writes__"})

NS_SEP: Final = "|"
"""Separates the levels of a checkpoint namespace (parent|child)."""

NS_END: Final = ":"
"""Separates a namespace level's node name from its task id."""
