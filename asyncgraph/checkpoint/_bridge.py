"""Sync methods for natively async savers: run on the saver's loop, never block it."""

from __future__ import annotations

import asyncio
import builtins  # the methods named `list` shadow the type inside the class
from collections.abc import Coroutine, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from asyncgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    ThreadInfo,
)

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

T = TypeVar("T")


class SyncOverAsync:
    """Mixin giving an async-native saver its sync twins.

    A sync method called from any thread other than the event loop the saver runs on
    submits the async method to that loop and waits. Called on the loop's own thread it
    would deadlock, so it raises ``RuntimeError`` saying which async method to await.
    """

    _loop: asyncio.AbstractEventLoop | None = None

    def _bind_loop(self) -> None:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.get_running_loop()

    def _sync(self, name: str, coro: Coroutine[Any, Any, T]) -> T:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        loop = self._loop
        if running is not None and (loop is None or running is loop):
            coro.close()
            raise RuntimeError(
                f"{type(self).__name__}.{name}() blocks, and was called from the event "
                f"loop's thread, where it would deadlock: use `await saver.a{name}(...)` "
                "instead"
            )
        if loop is None or loop.is_closed():
            coro.close()
            raise RuntimeError(
                f"{type(self).__name__}.{name}() runs on the event loop the saver is used "
                f"from, and it has none yet: use `await saver.a{name}(...)` inside the loop"
            )
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    # The async methods are provided by the saver class this is mixed into.

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._sync("get_tuple", self.aget_tuple(config))  # type: ignore[attr-defined]

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        async def collect() -> list[CheckpointTuple]:
            agen = self.alist(config, filter=filter, before=before, limit=limit)  # type: ignore[attr-defined]
            return [item async for item in agen]

        return iter(self._sync("list", collect()))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        coro = self.aput(config, checkpoint, metadata, new_versions)  # type: ignore[attr-defined]
        return self._sync("put", coro)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        coro = self.aput_writes(config, writes, task_id, task_path)  # type: ignore[attr-defined]
        self._sync("put_writes", coro)

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
        coro = self.aput_step(  # type: ignore[attr-defined]
            config, checkpoint, metadata, new_versions, parent_writes=parent_writes, writes=writes
        )
        return self._sync("put_step", coro)

    def delete_thread(self, thread_id: str) -> None:
        self._sync("delete_thread", self.adelete_thread(thread_id))  # type: ignore[attr-defined]

    def list_threads(self, *, limit: int | None = None) -> builtins.list[ThreadInfo]:
        return self._sync("list_threads", self.alist_threads(limit=limit))  # type: ignore[attr-defined]

    def prune(self, thread_id: str | None = None, *, keep_last: int) -> int:
        return self._sync("prune", self.aprune(thread_id, keep_last=keep_last))  # type: ignore[attr-defined]
