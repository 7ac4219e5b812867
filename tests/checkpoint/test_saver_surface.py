"""The saver API is declared once (``SAVER_METHODS``); every saver has both sides of it,
each made from the side the saver implements natively."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from asyncgraph.cache.base import CACHE_METHODS, BaseCache
from asyncgraph.cache.memory import InMemoryCache
from asyncgraph.cache.sqlite import SqliteCache
from asyncgraph.checkpoint._bridge import InlineAsync, SyncOverAsync
from asyncgraph.checkpoint._sqlsaver import SqlSaver
from asyncgraph.checkpoint.base import SAVER_METHODS, BaseCheckpointSaver
from asyncgraph.checkpoint.memory import InMemorySaver
from asyncgraph.checkpoint.postgres import PostgresSaver
from asyncgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from asyncgraph.checkpoint.sqlite import SqliteSaver
from asyncgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

SAVERS = [BaseCheckpointSaver, InMemorySaver, SqlSaver, SqliteSaver, AsyncSqliteSaver, PostgresSaver,
          AsyncPostgresSaver]


def _public_pairs(cls: type) -> set[str]:
    """Names ``x`` for which ``cls`` has both ``x`` and ``ax`` as public methods."""
    names = {n for n in dir(cls) if not n.startswith("_") and callable(getattr(cls, n))}
    return {n for n in names if f"a{n}" in names}


def test_the_declaration_matches_the_base_class() -> None:
    # Every sync/async pair of the base class is declared in the table, plus those
    # written once per side in the base class over get_tuple / aget_tuple: `get` and
    # `get_delta_channel_history` (LangGraph's, for DeltaChannel).
    derived = {"get", "get_delta_channel_history"}
    assert _public_pairs(BaseCheckpointSaver) == set(SAVER_METHODS) | derived


@pytest.mark.parametrize("cls", SAVERS, ids=lambda c: c.__name__)
def test_every_saver_has_both_sides_of_every_declared_method(cls: type) -> None:
    for name, iterates in SAVER_METHODS.items():
        sync, asyn = getattr(cls, name), getattr(cls, f"a{name}")
        assert callable(sync), (cls, name)
        if iterates:
            assert inspect.isasyncgenfunction(asyn), (cls, f"a{name}")
        else:
            assert inspect.iscoroutinefunction(asyn), (cls, f"a{name}")
        assert not inspect.iscoroutinefunction(sync) and not inspect.isasyncgenfunction(sync), (cls, name)


@pytest.mark.parametrize("cls", [AsyncSqliteSaver, AsyncPostgresSaver], ids=lambda c: c.__name__)
def test_async_native_savers_get_their_sync_side_from_the_bridge(cls: type) -> None:
    for name in SAVER_METHODS:
        assert getattr(cls, name) is getattr(SyncOverAsync, name), (cls, name)


def test_the_memory_saver_gets_inline_async_twins() -> None:
    for name in SAVER_METHODS:
        assert getattr(InMemorySaver, f"a{name}") is getattr(InlineAsync, f"a{name}"), name


@pytest.mark.parametrize("cls", [SqliteSaver, PostgresSaver], ids=lambda c: c.__name__)
def test_sql_savers_make_both_sides_from_one_description(cls: type) -> None:
    for name, iterates in SAVER_METHODS.items():
        if not iterates:
            assert hasattr(SqlSaver, f"_op_{name}"), name
            assert getattr(cls, name) is SqlSaver.__dict__[name], name
            assert getattr(cls, f"a{name}") is SqlSaver.__dict__[f"a{name}"], name


async def test_the_memory_saver_async_twins_call_its_sync_methods() -> None:
    calls: list[str] = []

    class Spy(InMemorySaver):
        def get_tuple(self, config: Any) -> Any:
            calls.append("get_tuple")
            return super().get_tuple(config)

        def list_threads(self, *, limit: int | None = None) -> Any:
            calls.append("list_threads")
            return super().list_threads(limit=limit)

    saver = Spy()
    assert await saver.aget_tuple({"configurable": {"thread_id": "t"}}) is None
    assert await saver.alist_threads(limit=3) == []
    assert calls == ["get_tuple", "list_threads"]


async def test_default_async_twins_run_the_sync_method_in_a_thread() -> None:
    import threading

    seen: list[Any] = []

    class SyncOnly(BaseCheckpointSaver):
        def list_threads(self, *, limit: int | None = None) -> Any:
            seen.append((threading.get_ident(), limit))
            return []

        def list(self, config: Any, **kwargs: Any) -> Any:
            seen.append(threading.get_ident())
            yield from (1, 2)

    saver = SyncOnly()
    assert await saver.alist_threads(limit=2) == []
    assert [x async for x in saver.alist(None)] == [1, 2]
    here = threading.get_ident()
    assert seen[0][1] == 2 and seen[0][0] != here and seen[1] != here


@pytest.mark.parametrize("cls", [BaseCache, InMemoryCache, SqliteCache], ids=lambda c: c.__name__)
def test_every_cache_has_both_sides_of_every_declared_method(cls: type) -> None:
    assert _public_pairs(BaseCache) == set(CACHE_METHODS)
    for name in CACHE_METHODS:
        assert callable(getattr(cls, name))
        assert inspect.iscoroutinefunction(getattr(cls, f"a{name}")), (cls, name)


@pytest.mark.parametrize("cls", SAVERS, ids=lambda c: c.__name__)
def test_no_saver_has_an_async_method_without_its_sync_twin(cls: type) -> None:
    for name in dir(cls):
        if name.startswith("a") and not name.startswith("_"):
            method = getattr(cls, name)
            if inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method):
                assert callable(getattr(cls, name[1:], None)), (cls, name)
