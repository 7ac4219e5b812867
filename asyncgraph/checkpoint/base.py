"""The checkpointer contract: what the engine stores and how a saver must behave.

A *checkpoint* is a thread's state between two supersteps: every channel's value and
version, and which versions each node has already seen. *Pending writes* are the writes
of tasks that finished in a step that did not complete (a sibling failed, the process
died, or an interrupt paused the run); resuming applies them instead of running those
tasks again.

Contract every saver keeps (the conformance suite in ``tests/checkpoint`` checks it):

- ``put`` stores a checkpoint under ``(thread_id, checkpoint_ns, checkpoint["id"])`` and
  returns the config that addresses it. Checkpoint ids sort in creation order, so "latest"
  is the greatest id. ``new_versions`` names the channels whose value changed since the
  parent checkpoint; a saver may store only those and reuse the rest.
- ``channel_values`` holds the live values of every channel that has one; a saver must
  not mutate them and must not keep references that a later step could change
  (serialize, or copy).
- ``put_writes`` stores a task's writes against the checkpoint in ``config``; writing
  the same ``(task_id, idx)`` twice keeps the first (idempotent on retry), except
  special writes (``__error__``, ``__interrupt__``, ``__resume__``) which replace.
- ``get_tuple`` returns the checkpoint named by ``checkpoint_id`` in the config, or the
  latest of the thread when there is none, with its pending writes; ``None`` if absent.
- ``list`` yields newest first, filtered by ``filter`` (metadata equality), ``before``
  (a config) and ``limit``.
- ``delete_thread`` removes every checkpoint and write of a thread, all namespaces.
- A value that cannot be serialized raises ``TypeError`` naming the channel at ``put`` /
  ``put_writes`` time; stored data that cannot be read raises
  :class:`~asyncgraph.errors.CheckpointError` and leaves the data untouched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypedDict

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

__all__ = [
    "BaseCheckpointSaver",
    "Checkpoint",
    "CheckpointMetadata",
    "CheckpointTuple",
    "ChannelVersions",
    "PendingWrite",
    "create_checkpoint",
    "empty_checkpoint",
]

V = int | float | str
ChannelVersions = dict[str, V]

PendingWrite = tuple[str, str, Any]
"""(task_id, channel, value)."""

CHECKPOINT_FORMAT = 1


class Checkpoint(TypedDict):
    """A thread's state between supersteps."""

    v: int
    id: str
    ts: str
    channel_values: dict[str, Any]
    channel_versions: ChannelVersions
    versions_seen: dict[str, ChannelVersions]
    updated_channels: list[str] | None


class CheckpointMetadata(TypedDict, total=False):
    """Facts about how a checkpoint came to be; ``list(filter=...)`` matches on these."""

    source: Literal["input", "loop", "update", "fork"]
    step: int
    parents: dict[str, str]
    run_id: str


class CheckpointTuple(NamedTuple):
    config: RunnableConfig
    checkpoint: Checkpoint
    metadata: CheckpointMetadata
    parent_config: RunnableConfig | None = None
    pending_writes: list[PendingWrite] | None = None


def empty_checkpoint() -> Checkpoint:
    return Checkpoint(
        v=CHECKPOINT_FORMAT,
        id=_new_id(),
        ts=datetime.now(timezone.utc).isoformat(),
        channel_values={},
        channel_versions={},
        versions_seen={},
        updated_channels=None,
    )


def create_checkpoint(
    channel_values: dict[str, Any],
    channel_versions: ChannelVersions,
    versions_seen: dict[str, ChannelVersions],
    updated_channels: list[str] | None,
) -> Checkpoint:
    """A new checkpoint with a fresh, time-ordered id."""
    return Checkpoint(
        v=CHECKPOINT_FORMAT,
        id=_new_id(),
        ts=datetime.now(timezone.utc).isoformat(),
        channel_values=channel_values,
        channel_versions=channel_versions,
        versions_seen=versions_seen,
        updated_channels=updated_channels,
    )


def _new_id() -> str:
    """A UUIDv6-like id whose string order is creation order, even within a microsecond."""
    from asyncgraph.checkpoint._ids import time_ordered_id

    return time_ordered_id()


class BaseCheckpointSaver:
    """Base class of all savers. Subclasses implement the sync and/or async methods.

    The engine calls only the async methods (``aget_tuple``, ``aput``, ``aput_writes``);
    the sync ones serve users who inspect threads from sync code. A saver that is
    natively sync (SQLite) gets its async methods run in a thread by the default
    implementations here; a natively async one (aiosqlite, psycopg async) gets sync
    twins that refuse to run on the event loop's thread.
    """

    serde: Any

    def __init__(self, *, serde: Any = None) -> None:
        if serde is None:
            from asyncgraph.checkpoint.serde import default_serde

            serde = default_serde()
        self.serde = serde

    # -- sync API --------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        raise NotImplementedError

    def get(self, config: RunnableConfig) -> Checkpoint | None:
        tup = self.get_tuple(config)
        return tup.checkpoint if tup else None

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        raise NotImplementedError

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        raise NotImplementedError

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        raise NotImplementedError

    def delete_thread(self, thread_id: str) -> None:
        raise NotImplementedError

    # -- async API -------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        raise NotImplementedError

    async def aget(self, config: RunnableConfig) -> Checkpoint | None:
        tup = await self.aget_tuple(config)
        return tup.checkpoint if tup else None

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        raise NotImplementedError
        yield  # pragma: no cover  (makes this an async generator)

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        raise NotImplementedError

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        raise NotImplementedError

    async def adelete_thread(self, thread_id: str) -> None:
        raise NotImplementedError

    # -- versions --------------------------------------------------------------------

    def get_next_version(self, current: V | None, channel: Any = None) -> V:
        """The version a channel gets when it is written; must increase monotonically."""
        if current is None:
            return 1
        if isinstance(current, int):
            return current + 1
        return int(str(current).split(".")[0]) + 1
