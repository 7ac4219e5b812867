"""Run context for code running inside a node."""

from __future__ import annotations

from typing import Any

from asyncgraph._context import get_task_context, stream_writer
from asyncgraph.types import StreamWriter

__all__ = ["get_config", "get_store", "get_stream_writer"]


def get_config() -> dict[str, Any]:
    """The langchain-core config of the node running now (metadata, tags, callbacks).

    Raises:
        RuntimeError: called outside a running node.
    """
    return get_task_context().config()


def get_stream_writer() -> StreamWriter:
    """A function that emits ``stream_mode="custom"`` chunks from the running node.

    Outside a run, or when nobody streams ``custom``, it is a no-op.
    """
    return stream_writer()


def get_store() -> Any:
    """The store passed to ``compile(store=...)``, for the node running now."""
    return get_task_context().run.store
