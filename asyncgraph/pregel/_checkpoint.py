"""Checkpoint helpers at LangGraph's path (``langgraph.pregel._checkpoint``), which libraries
built on LangGraph and their test savers import."""

from __future__ import annotations

from asyncgraph.checkpoint.base import Checkpoint, empty_checkpoint

__all__ = ["copy_checkpoint", "empty_checkpoint"]


def copy_checkpoint(checkpoint: Checkpoint) -> Checkpoint:
    """A copy of ``checkpoint`` whose dicts can be changed without touching the original.

    The channel values themselves are shared, not copied: savers serialize them.
    """
    copied = Checkpoint(
        v=checkpoint["v"],
        id=checkpoint["id"],
        ts=checkpoint["ts"],
        channel_values=dict(checkpoint["channel_values"]),
        channel_versions=dict(checkpoint["channel_versions"]),
        versions_seen={node: dict(seen) for node, seen in checkpoint["versions_seen"].items()},
        updated_channels=checkpoint.get("updated_channels"),
    )
    for key, value in checkpoint.items():  # keys a newer format or another library added
        if key not in copied:
            copied[key] = value  # type: ignore[literal-required]
    return copied
