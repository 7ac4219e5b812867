"""Checkpointers: where a graph's state is saved between steps.

Savers live in submodules, as in LangGraph: ``asyncgraph.checkpoint.memory``,
``.sqlite``, ``.sqlite.aio``, ``.postgres``, ``.postgres.aio``. The contract is in
:mod:`asyncgraph.checkpoint.base`.
"""

from asyncgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    ThreadInfo,
    create_checkpoint,
    empty_checkpoint,
)

__all__ = [
    "BaseCheckpointSaver",
    "ChannelVersions",
    "Checkpoint",
    "CheckpointMetadata",
    "CheckpointTuple",
    "PendingWrite",
    "ThreadInfo",
    "create_checkpoint",
    "empty_checkpoint",
]
