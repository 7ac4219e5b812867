"""AsyncBatchedBaseStore: async calls made in the same event-loop tick run as one batch.

A subclass implements ``abatch`` (and ``batch`` if it has a native sync path). Each
``aget`` / ``asearch`` / ``aput`` / ``adelete`` / ``alist_namespaces`` queues its op; a
background task (``_task``, restarted if it dies) takes everything queued so far, merges
identical reads and repeated puts to one address (the last put wins), and calls
``abatch`` once. Sync methods submit to the store's loop from other threads; on the
loop's own thread they would deadlock, so they raise ``asyncio.InvalidStateError``.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from asyncgraph._sync import run_on_loop
from asyncgraph.store.base._store import BaseStore
from asyncgraph.store.base._types import NOT_PROVIDED, NotProvided, Op, PutOp, Result

__all__ = ["AsyncBatchedBaseStore"]


class AsyncBatchedBaseStore(BaseStore):
    """A store whose async calls are batched in a background task (see the module doc).

    Must be created inside a running event loop.
    """

    def __init__(self) -> None:
        super().__init__()
        self._loop = asyncio.get_running_loop()
        self._aqueue: asyncio.Queue[tuple[asyncio.Future[Any], Op]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._ensure_task()

    def __del__(self) -> None:
        task = getattr(self, "_task", None)
        if task is not None and not task.done():
            try:
                task.cancel()
            except RuntimeError:  # the loop is already closed
                pass

    def _ensure_task(self) -> None:
        if self._task is None or self._task.done():
            self._task = self._loop.create_task(_drain(self._aqueue, weakref.ref(self)))

    async def _submit(self, op: Op) -> Any:
        self._ensure_task()
        future: asyncio.Future[Any] = self._loop.create_future()
        self._aqueue.put_nowait((future, op))
        return await future

    async def aget(self, namespace: tuple[str, ...], key: str, *, refresh_ttl: bool | None = None) -> Any:
        return await self._submit(self._get_op(namespace, key, refresh_ttl))

    async def asearch(
        self,
        namespace_prefix: tuple[str, ...],
        /,
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        refresh_ttl: bool | None = None,
    ) -> Any:
        return await self._submit(
            self._search_op(namespace_prefix, query, filter, limit, offset, refresh_ttl)
        )

    async def aput(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | None | NotProvided = NOT_PROVIDED,
    ) -> None:
        await self._submit(self._put_op(namespace, key, value, index, ttl))

    async def adelete(self, namespace: tuple[str, ...], key: str) -> None:
        await self._submit(self._delete_op(namespace, key))

    async def alist_namespaces(
        self,
        *,
        prefix: Any = None,
        suffix: Any = None,
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Any:
        return await self._submit(self._list_op(prefix, suffix, max_depth, limit, offset))

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        return run_on_loop(self._loop, self.abatch(list(ops)), f"Synchronous call to {type(self).__name__}",
                           _ASYNC_INSTEAD, error=asyncio.InvalidStateError)


_ASYNC_INSTEAD = "the async method (for example `await store.aget(...)` for `store.get(...)`)"


def dedupe_ops(ops: list[Op]) -> tuple[list[int], list[Op]]:
    """(for each op, the index of the op that answers it; the ops to run).

    Equal reads run once. Puts to one address collapse into the last one, kept at the
    position of the first (the batch's reads before it see the old value either way,
    since a store applies a batch's puts after its reads).
    """
    unique: list[Op] = []
    answer: list[int] = []
    reads: dict[Any, int] = {}
    puts: dict[tuple[tuple[str, ...], str], int] = {}
    for op in ops:
        if isinstance(op, PutOp):
            address = (op.namespace, op.key)
            ix = puts.get(address)
            if ix is None:
                ix = puts[address] = len(unique)
                unique.append(op)
            else:
                unique[ix] = op
        else:
            try:
                ix = reads.setdefault(op, len(unique))
            except TypeError:  # a filter dict makes the op unhashable
                ix = next((i for i, u in enumerate(unique) if u == op), len(unique))
            if ix == len(unique):
                unique.append(op)
        answer.append(ix)
    return answer, unique


async def _drain(
    queue: asyncio.Queue[tuple[asyncio.Future[Any], Op]], ref: weakref.ref[AsyncBatchedBaseStore]
) -> None:
    while True:
        first = await queue.get()
        pending = [first]
        while not queue.empty():
            pending.append(queue.get_nowait())
        pending = [(f, op) for f, op in pending if not f.done()]  # cancelled callers
        if not pending:
            continue
        store = ref()
        if store is None:
            return
        try:
            answer, unique = dedupe_ops([op for _, op in pending])
            results = await store.abatch(unique)
        except Exception as exc:
            for future, _ in pending:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (future, _), ix in zip(pending, answer, strict=True):
                if not future.done():
                    future.set_result(results[ix])
        finally:
            del store

