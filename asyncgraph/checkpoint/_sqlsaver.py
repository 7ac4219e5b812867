"""The saver methods every SQL backend shares: each is one :class:`Store` operation.

A backend provides ``_run`` (sync) and/or ``_arun`` (async), which execute an operation
in one transaction; this class maps the public API onto them.
"""

from __future__ import annotations

import asyncio
import builtins  # the methods named `list` shadow the type inside the class
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from asyncgraph.checkpoint._store import Op, Store
from asyncgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    ThreadInfo,
    check_thread_id,
)

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

OpFn = Callable[..., Op]

LIST_PAGE = 100
"""Checkpoints ``list`` reads and loads per transaction: a page is one snapshot, and
memory stays bounded however long the history."""


class SqlSaver(BaseCheckpointSaver):
    _store: Store

    def _run(self, op: OpFn, *args: Any, write: bool = False) -> Any:
        raise NotImplementedError

    async def _arun(self, op: OpFn, *args: Any, write: bool = False) -> Any:
        return await asyncio.to_thread(lambda: self._run(op, *args, write=write))

    @property
    def keep_last(self) -> int | None:
        """Checkpoints kept per thread and namespace after each put (None: all)."""
        return self._store.keep_last

    # -- sync ----------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._run(self._store.op_get_tuple, config)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        before_id = ((before or {}).get("configurable") or {}).get("checkpoint_id")
        while True:
            page, before_id = self._run(
                self._store.op_list_page, config, filter, before_id, limit, LIST_PAGE
            )
            yield from page
            if before_id is None:
                return
            if limit is not None:
                limit -= len(page)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._run(
            self._store.op_put, config, checkpoint, metadata, new_versions, write=True
        )

    def put_step(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
        *,
        parent_writes: Sequence[PendingWrite] = (),
        writes: Sequence[PendingWrite] = (),
    ) -> RunnableConfig:
        return self._run(
            self._store.op_put, config, checkpoint, metadata, new_versions,
            parent_writes, writes, write=True,
        )

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._run(self._store.op_put_writes, config, writes, task_id, task_path, write=True)

    def delete_thread(self, thread_id: str) -> None:
        self._run(self._store.op_delete_thread, check_thread_id(thread_id), write=True)

    def list_threads(self, *, limit: int | None = None) -> builtins.list[ThreadInfo]:
        return self._run(self._store.op_list_threads, limit)

    def prune(self, thread_id: str | None = None, *, keep_last: int) -> int:
        return self._run(self._store.op_prune, _tid(thread_id), keep_last, write=True)

    # -- async ---------------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._arun(self._store.op_get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        before_id = ((before or {}).get("configurable") or {}).get("checkpoint_id")
        while True:
            page, before_id = await self._arun(
                self._store.op_list_page, config, filter, before_id, limit, LIST_PAGE
            )
            for tup in page:
                yield tup
            if before_id is None:
                return
            if limit is not None:
                limit -= len(page)

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._arun(
            self._store.op_put, config, checkpoint, metadata, new_versions, write=True
        )

    async def aput_step(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
        *,
        parent_writes: Sequence[PendingWrite] = (),
        writes: Sequence[PendingWrite] = (),
    ) -> RunnableConfig:
        return await self._arun(
            self._store.op_put, config, checkpoint, metadata, new_versions,
            parent_writes, writes, write=True,
        )

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._arun(
            self._store.op_put_writes, config, writes, task_id, task_path, write=True
        )

    async def adelete_thread(self, thread_id: str) -> None:
        await self._arun(self._store.op_delete_thread, check_thread_id(thread_id), write=True)

    async def alist_threads(self, *, limit: int | None = None) -> builtins.list[ThreadInfo]:
        return await self._arun(self._store.op_list_threads, limit)

    async def aprune(self, thread_id: str | None = None, *, keep_last: int) -> int:
        return await self._arun(self._store.op_prune, _tid(thread_id), keep_last, write=True)


def _tid(thread_id: str | None) -> str | None:
    return None if thread_id is None else check_thread_id(thread_id)


def drive(gen: Op, execute: Callable[[list[Any]], list[Any]]) -> Any:
    """Run an operation to completion with a sync batch executor."""
    try:
        batch = next(gen)
        while True:
            batch = gen.send(execute(batch))
    except StopIteration as stop:
        return stop.value


async def adrive(gen: Op, execute: Callable[[list[Any]], Awaitable[list[Any]]]) -> Any:
    """Run an operation to completion with an async batch executor."""
    try:
        batch = next(gen)
        while True:
            batch = gen.send(await execute(batch))
    except StopIteration as stop:
        return stop.value
