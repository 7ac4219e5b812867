"""What the four SQL store classes share: config, embedding before the transaction,
running an op generator on a connection, and the sync-over-async bridge."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from typing import Any, Literal, TypeVar

from asyncgraph._sync import run_on_loop
from asyncgraph.store._sql import Dialect, Prepared, SqlCore, Stmt
from asyncgraph.store._vectors import Indexer, to_blob
from asyncgraph.store.base._store import BaseStore
from asyncgraph.store.base.batch import _ASYNC_INSTEAD
from asyncgraph.store.base._types import (
    NOT_PROVIDED,
    IndexConfig,
    Item,
    NotProvided,
    Op,
    Result,
    TTLConfig,
    validate_labels,
    validate_namespace,
)

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
    """Base of the SQLite and Postgres stores (sync and async).

    ``get`` and ``put`` (and their async twins on the async stores) run one statement
    directly when they can; anything else goes through ``batch`` / ``abatch``.
    """

    supports_ttl = True
    _core: SqlCore
    _sync_native = False  # True: _execute runs statements; False: _aexecute does

    def _execute(self, batch: list[Stmt]) -> list[Any]:
        raise NotImplementedError

    async def _aexecute(self, batch: list[Stmt]) -> list[Any]:
        raise NotImplementedError

    def _fetch_row(self, sql: str, params: tuple[Any, ...]) -> Any:
        """One row of one statement, or None (sync stores)."""
        rows = self._execute([Stmt(sql, params, fetch=True)])[0]
        return rows[0] if rows else None

    def _fast_get(self, namespace: Any, key: Any) -> tuple[str, ...] | None:
        """(prefix, key) if the get can take the fast path."""
        if type(namespace) is not tuple or type(key) is not str or self._core.omit_expired:
            return None
        if namespace not in self._labels_ok:
            validate_labels(namespace)
            self._labels_ok.add(namespace)
        return (".".join(namespace), key)

    def _fast_put(self, namespace: Any, key: Any, value: Any, index: Any, ttl: Any) -> Stmt | None:
        if (
            self._indexer is not None
            or type(namespace) is not tuple
            or type(key) is not str
            or type(value) is not dict
        ):
            return None
        if namespace not in self._put_ok:
            validate_namespace(namespace)
            self._put_ok.add(namespace)
        if ttl is NOT_PROVIDED or isinstance(ttl, NotProvided):
            ttl = self.ttl_config.get("default_ttl") if self.ttl_config else None
        return self._core.put_stmt(namespace, key, value, ttl)

    def get(
        self, namespace: tuple[str, ...], key: str, *, refresh_ttl: bool | None = None
    ) -> Item | None:
        address = self._fast_get(namespace, key) if self._sync_native else None
        if address is None:
            return super().get(namespace, key, refresh_ttl=refresh_ttl)
        row = self._fetch_row(self._core._get_one, address)
        if row is None:
            return None
        if row[5] is not None and self._refresh(refresh_ttl):
            self._execute([self._core.refresh_one(row)])
        return self._core.fast_item(row, namespace)

    async def aget(
        self, namespace: tuple[str, ...], key: str, *, refresh_ttl: bool | None = None
    ) -> Item | None:
        address = None if self._sync_native else self._fast_get(namespace, key)
        if address is None:
            return await super().aget(namespace, key, refresh_ttl=refresh_ttl)
        rows = (await self._aexecute([Stmt(self._core._get_one, address, fetch=True)]))[0]
        if not rows:
            return None
        if rows[0][5] is not None and self._refresh(refresh_ttl):
            await self._aexecute([self._core.refresh_one(rows[0])])
        return self._core.fast_item(rows[0], namespace)

    def put(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | None | NotProvided = NOT_PROVIDED,
    ) -> None:
        stmt = self._fast_put(namespace, key, value, index, ttl) if self._sync_native else None
        if stmt is None:
            return super().put(namespace, key, value, index, ttl=ttl)
        self._execute([stmt])

    async def aput(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | None | NotProvided = NOT_PROVIDED,
    ) -> None:
        stmt = None if self._sync_native else self._fast_put(namespace, key, value, index, ttl)
        if stmt is None:
            return await super().aput(namespace, key, value, index, ttl=ttl)
        await self._aexecute([stmt])

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
        self._labels_ok: set[tuple[str, ...]] = set()  # namespaces already validated
        self._put_ok: set[tuple[str, ...]] = set()
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
        return run_on_loop(self._loop, self.abatch(ops), f"Synchronous call to {type(self).__name__}",  # type: ignore[attr-defined]
                           _ASYNC_INSTEAD, error=asyncio.InvalidStateError)
