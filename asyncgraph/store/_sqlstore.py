"""What the four SQL store classes share: config, embedding before the transaction,
running an op generator on a connection, and the sync-over-async bridge."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import Any, TypeVar

from asyncgraph.store._sql import Dialect, Prepared, SqlCore, Stmt
from asyncgraph.store._vectors import Indexer, to_blob
from asyncgraph.store.base._store import BaseStore
from asyncgraph.store.base._types import IndexConfig, Op, Result, TTLConfig

__all__ = ["SqlStore", "adrive", "drive"]

T = TypeVar("T")
Execute = Callable[[list[Stmt]], list[Any]]


def drive(gen: Generator[list[Stmt], list[Any], T], execute: Execute) -> T:
    """Run an op generator with a sync batch executor."""
    try:
        batch = next(gen)
        while True:
            batch = gen.send(execute(batch))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def adrive(
    gen: Generator[list[Stmt], list[Any], T], execute: Callable[[list[Stmt]], Awaitable[list[Any]]]
) -> T:
    """Run an op generator with an async batch executor."""
    try:
        batch = next(gen)
        while True:
            batch = gen.send(await execute(batch))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


class SqlStore(BaseStore):
    """Base of the SQLite and Postgres stores (sync and async)."""

    supports_ttl = True
    _core: SqlCore

    def _configure(
        self,
        dialect: Dialect,
        index: IndexConfig | None,
        ttl: TTLConfig | None,
        *,
        vector_score: str | None = None,
        vector_param: Callable[[list[float]], Any] = to_blob,
        vector_store: Callable[[list[float]], Any] = to_blob,
    ) -> None:
        self._indexer = Indexer(index) if index else None
        self.index_config = self._indexer.config if self._indexer else None
        self.embeddings = self._indexer.embeddings if self._indexer else None
        self.ttl_config = ttl
        self._core = SqlCore(
            dialect,
            self._indexer,
            ttl,
            vector_score=vector_score,
            vector_param=vector_param,
            vector_store=vector_store,
        )

    def _prepare(self, ops: Iterable[Op]) -> Prepared:
        prep = self._core.prepare(ops)
        indexer = self._indexer
        if indexer is not None:
            if prep.queries:
                prep.query_vectors = indexer.embed_queries(prep.queries)
            if prep.puts:
                prep.put_vectors = indexer.embed_puts(list(prep.puts.values()))
        return prep

    async def _aprepare(self, ops: Iterable[Op]) -> Prepared:
        prep = self._core.prepare(ops)
        indexer = self._indexer
        if indexer is not None:
            if prep.queries:
                prep.query_vectors = await indexer.aembed_queries(prep.queries)
            if prep.puts:
                prep.put_vectors = await indexer.aembed_puts(list(prep.puts.values()))
        return prep


class AsyncBridge:
    """Sync ``batch`` for an async-native store: submitted to the store's loop from
    another thread; on the loop's own thread it would deadlock, so it raises
    ``asyncio.InvalidStateError`` (as LangGraph's async stores do)."""

    _loop: asyncio.AbstractEventLoop | None = None

    def _bind_loop(self) -> None:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.get_running_loop()

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        loop = self._loop
        if running is not None and (loop is None or running is loop):
            raise asyncio.InvalidStateError(
                f"Synchronous call to {type(self).__name__} on its event loop's thread, where "
                "it would deadlock: await the async method instead (for example "
                "`await store.aget(...)` for `store.get(...)`)"
            )
        if loop is None or loop.is_closed():
            raise RuntimeError(
                f"{type(self).__name__} runs on the event loop it is used from, and it has "
                "none yet: call its async methods inside the loop first"
            )
        coro = self.abatch(ops)  # type: ignore[attr-defined]
        return asyncio.run_coroutine_threadsafe(coro, loop).result()  # type: ignore[no-any-return]
