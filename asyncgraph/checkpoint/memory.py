"""InMemorySaver: checkpoints kept in memory for the life of the process.

It is the SQLite saver over a private in-memory database, so it behaves exactly like the
persistent savers (serialization, linear storage, retention, errors) and tests written
against it hold for them. Values are serialized on ``put``: later changes to the objects
a node returned never leak into stored checkpoints. Its async methods run inline on the
event loop: every operation is CPU-only and takes microseconds, less than a thread hop.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from contextlib import ExitStack
from typing import Any, Callable

from asyncgraph.checkpoint._sqlsaver import OpFn
from asyncgraph.checkpoint.sqlite import SqliteSaver

__all__ = ["InMemorySaver", "MemorySaver", "PersistentDict"]


class InMemorySaver(SqliteSaver):
    """A checkpointer that keeps everything in process memory.

    Args:
        serde: the serializer; defaults to the safe msgpack one.
        keep_last: keep only the newest N checkpoints per thread and namespace.
    """

    def __init__(
        self,
        *,
        serde: Any = None,
        keep_last: int | None = None,
        factory: Callable[..., Any] | None = None,
    ) -> None:
        # LangGraph's saver takes ``factory`` to build its storage dicts; this one keeps
        # its data in SQLite, so the factory is not used yet.
        self.stack = ExitStack()
        conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        super().__init__(conn, serde=serde, keep_last=keep_last, synchronous="OFF")

    def __enter__(self) -> InMemorySaver:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    async def __aenter__(self) -> InMemorySaver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def _arun(self, op: OpFn, *args: Any, write: bool = False) -> Any:
        return self._run(op, *args, write=write)


class PersistentDict(defaultdict):  # type: ignore[type-arg]
    """LangGraph's file-backed storage dict, accepted as an ``InMemorySaver`` factory."""

    def __init__(self, *args: Any, filename: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filename = filename

    def sync(self) -> None:
        """Nothing to flush: the data lives in the saver."""

    def close(self) -> None:
        """Nothing to release."""


MemorySaver = InMemorySaver
"""LangGraph's older name for :class:`InMemorySaver`."""
