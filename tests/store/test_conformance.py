"""What every store back end must do, run on each (memory, SQLite sync/async, Postgres
sync/async): the async API for all, the sync API for the sync stores."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest

from asyncgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchItem,
    SearchOp,
)
from asyncgraph.testing import DeterministicEmbeddings
from tests.store.conftest import StoreFactory

DIMS = 64


def index(**extra: Any) -> dict[str, Any]:
    return {"embed": DeterministicEmbeddings(DIMS), "dims": DIMS, **extra}


async def keys(store: Any, prefix: tuple[str, ...], **kwargs: Any) -> set[str]:
    return {r.key for r in await store.asearch(prefix, limit=1000, **kwargs)}


# -- basics ------------------------------------------------------------------------------


async def test_put_get_round_trip(make_store: StoreFactory) -> None:
    async with make_store() as store:
        value = {"name": "Ada", "tags": ["x", "y"], "nested": {"n": 1.5, "ok": True, "none": None}}
        await store.aput(("users", "u1"), "profile", value)
        item = await store.aget(("users", "u1"), "profile")
        assert isinstance(item, Item)
        assert item.value == value
        assert item.namespace == ("users", "u1") and item.key == "profile"
        assert isinstance(item.created_at, datetime) and item.created_at.tzinfo is not None
        assert item.updated_at == item.created_at
        assert await store.aget(("users", "u1"), "missing") is None
        assert await store.aget(("users", "nobody"), "profile") is None
        assert item.dict()["namespace"] == ["users", "u1"]


async def test_values_beyond_the_fast_parser_come_back_intact(make_store: StoreFactory) -> None:
    # Integers past 64 bits and non-ASCII text: the SQL stores parse values with orjson
    # when it can and fall back to json for what it refuses.
    async with make_store() as store:
        value = {"big": 2**70 + 1, "neg": -(2**65) - 3, "text": "héllo ✓ 日本", "f": 0.1, "list": [2**64 + 7, 1],
                 "u64": 2**64 - 1, "digits": "12345678901234567890123"}
        await store.aput(("a",), "k", value)
        item = await store.aget(("a",), "k")
        assert item is not None and item.value == value
        assert type(item.value["big"]) is int and item.value["big"] == 2**70 + 1
        found = await store.asearch(("a",), filter={"text": "héllo ✓ 日本"})
        assert [r.value for r in found] == [value]


async def test_overwrite_keeps_created_at(make_store: StoreFactory) -> None:
    async with make_store() as store:
        await store.aput(("a",), "k", {"v": 1})
        first = await store.aget(("a",), "k")
        await asyncio.sleep(0.01)
        await store.aput(("a",), "k", {"v": 2})
        second = await store.aget(("a",), "k")
        assert first is not None and second is not None
        assert second.value == {"v": 2}
        assert second.created_at == first.created_at
        assert second.updated_at > first.updated_at


async def test_delete(make_store: StoreFactory) -> None:
    async with make_store() as store:
        await store.aput(("a",), "k", {"v": 1})
        await store.adelete(("a",), "k")
        assert await store.aget(("a",), "k") is None
        await store.adelete(("a",), "k")  # deleting nothing is fine
        assert await store.alist_namespaces() == []


async def test_non_ascii_and_odd_labels(make_store: StoreFactory) -> None:
    async with make_store() as store:
        ns = ("ユーザー", "a/b", "50%_off", "a b")
        await store.aput(ns, "ключ", {"text": "这是中文", "emoji": "🙂"})
        item = await store.aget(ns, "ключ")
        assert item is not None and item.value == {"text": "这是中文", "emoji": "🙂"}
        assert await store.alist_namespaces() == [ns]
        assert await keys(store, ("ユーザー", "a/b")) == {"ключ"}
        assert await keys(store, ("ユーザー", "a")) == set()


# -- search ------------------------------------------------------------------------------


async def test_search_namespace_prefix_is_label_wise(make_store: StoreFactory) -> None:
    async with make_store() as store:
        await store.aput(("a",), "1", {"v": 1})
        await store.aput(("a", "b"), "2", {"v": 2})
        await store.aput(("a", "b", "c"), "3", {"v": 3})
        await store.aput(("ab",), "4", {"v": 4})
        await store.aput(("a-b",), "5", {"v": 5})
        await store.aput(("b", "a"), "6", {"v": 6})
        assert await keys(store, ("a",)) == {"1", "2", "3"}
        assert await keys(store, ("a", "b")) == {"2", "3"}
        assert await keys(store, ()) == {"1", "2", "3", "4", "5", "6"}
        assert await keys(store, ("a", "b", "c", "d")) == set()


async def test_search_limit_offset_pages_everything_once(make_store: StoreFactory) -> None:
    async with make_store() as store:
        for i in range(25):
            await store.aput(("docs",), f"k{i:02d}", {"i": i})
        pages = [await store.asearch(("docs",), limit=10, offset=o) for o in (0, 10, 20, 30)]
        assert [len(p) for p in pages] == [10, 10, 5, 0]
        seen = [r.key for p in pages for r in p]
        assert sorted(seen) == [f"k{i:02d}" for i in range(25)]
        assert all(isinstance(r, SearchItem) and r.score is None for r in pages[0])


FILTER_ITEMS = {
    "a": {"n": 1, "s": "apple", "b": True, "tag": ["x", "y"], "meta": {"lang": "en", "v": 2}},
    "b": {"n": 2.5, "s": "banana", "b": False, "tag": ["y"], "meta": {"lang": "fr", "v": 3}},
    "c": {"n": 10, "s": "cherry", "b": 1, "tag": [], "meta": {"lang": "en"}, "z": None},
    "d": {"s": "date", "n": "7"},
}

FILTER_CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"s": "apple"}, {"a"}),
    ({"n": 1}, {"a"}),
    ({"n": 1.0}, {"a"}),
    ({"n": 10}, {"c"}),
    ({"b": True}, {"a"}),
    ({"b": False}, {"b"}),
    ({"b": 1}, {"c"}),  # JSON equality: booleans are not numbers
    ({"n": "7"}, {"d"}),
    ({"z": None}, {"a", "b", "c", "d"} - {"x"}),  # null or missing
    ({"n": {"$eq": 2.5}}, {"b"}),
    ({"n": {"$ne": 1}}, {"b", "c", "d"}),
    ({"n": {"$gt": 1}}, {"b", "c"}),  # "7" is a string: no numeric order with 1
    ({"n": {"$gte": 1}}, {"a", "b", "c"}),
    ({"n": {"$lt": 10}}, {"a", "b"}),
    ({"n": {"$lte": 10, "$gt": 1}}, {"b", "c"}),
    ({"s": {"$gt": "banana"}}, {"c", "d"}),
    ({"s": {"$lte": "banana"}}, {"a", "b"}),
    ({"missing": {"$gt": 0}}, set()),
    ({"missing": {"$ne": 0}}, {"a", "b", "c", "d"}),
    ({"meta.lang": "en"}, {"a", "c"}),
    ({"meta.v": {"$gte": 3}}, {"b"}),
    ({"meta": {"lang": "en"}}, {"a", "c"}),  # a dict matches a value holding those keys
    ({"tag": ["x", "y"]}, {"a"}),
    ({"tag": []}, {"c"}),
    ({"s": "apple", "n": 2.5}, set()),
    ({"s": {"$ne": "apple"}, "meta.lang": "en"}, {"c"}),
]


@pytest.mark.parametrize(("flt", "expected"), FILTER_CASES, ids=[str(c[0]) for c in FILTER_CASES])
async def test_filters(make_store: StoreFactory, flt: dict[str, Any], expected: set[str]) -> None:
    async with make_store() as store:
        for key, value in FILTER_ITEMS.items():
            await store.aput(("f",), key, value)
        assert await keys(store, ("f",), filter=flt) == expected


async def test_filter_with_limit_offset(make_store: StoreFactory) -> None:
    async with make_store() as store:
        for i in range(30):
            await store.aput(("f",), str(i), {"even": i % 2 == 0, "i": i})
        first = await store.asearch(("f",), filter={"even": True}, limit=10)
        second = await store.asearch(("f",), filter={"even": True}, limit=10, offset=10)
        assert len(first) == 10 and len(second) == 5
        assert {r.key for r in first} | {r.key for r in second} == {str(i) for i in range(0, 30, 2)}


# -- bad input ---------------------------------------------------------------------------


async def test_bad_input_is_rejected_clearly(make_store: StoreFactory) -> None:
    async with make_store() as store:
        with pytest.raises(InvalidNamespaceError, match="empty"):
            await store.aput((), "k", {"v": 1})
        with pytest.raises(InvalidNamespaceError, match="periods"):
            await store.aput(("a.b",), "k", {"v": 1})
        with pytest.raises(InvalidNamespaceError, match="langgraph"):
            await store.aput(("langgraph", "x"), "k", {"v": 1})
        with pytest.raises(InvalidNamespaceError, match="strings"):
            await store.aput(("a", 1), "k", {"v": 1})  # type: ignore[arg-type]
        with pytest.raises(InvalidNamespaceError):
            await store.aget(("a", ""), "k")
        with pytest.raises(TypeError, match="must be dicts.*'k'"):
            await store.aput(("a",), "k", ["not", "a", "dict"])  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"Unsupported operator '\$like'"):
            await store.asearch(("a",), filter={"v": {"$like": "x"}})
        with pytest.raises(InvalidNamespaceError):  # ops given straight to batch are checked too
            await store.abatch([GetOp(("a.b",), "k")])
        assert await store.alist_namespaces() == []  # nothing was written


# -- list_namespaces ---------------------------------------------------------------------


async def test_list_namespaces(make_store: StoreFactory) -> None:
    async with make_store() as store:
        for ns in [("a", "b", "c"), ("a", "b", "d"), ("a", "x"), ("b", "b", "c"), ("c",)]:
            await store.aput(ns, "k", {"v": 1})
        assert await store.alist_namespaces() == [
            ("a", "b", "c"), ("a", "b", "d"), ("a", "x"), ("b", "b", "c"), ("c",)
        ]
        assert await store.alist_namespaces(prefix=("a",)) == [("a", "b", "c"), ("a", "b", "d"), ("a", "x")]
        assert await store.alist_namespaces(prefix=("a", "b")) == [("a", "b", "c"), ("a", "b", "d")]
        assert await store.alist_namespaces(suffix=("c",)) == [("a", "b", "c"), ("b", "b", "c"), ("c",)]
        assert await store.alist_namespaces(prefix=("*", "b")) == [("a", "b", "c"), ("a", "b", "d"), ("b", "b", "c")]
        assert await store.alist_namespaces(prefix=("a",), suffix=("*", "d")) == [("a", "b", "d")]
        assert await store.alist_namespaces(max_depth=2) == [("a", "b"), ("a", "x"), ("b", "b"), ("c",)]
        assert await store.alist_namespaces(max_depth=1, prefix=("a",)) == [("a",)]
        assert await store.alist_namespaces(limit=2, offset=1) == [("a", "b", "d"), ("a", "x")]
        assert await store.alist_namespaces(prefix=("zzz",)) == []


# -- batch -------------------------------------------------------------------------------


async def test_batch_reads_see_the_store_before_the_batch_puts(make_store: StoreFactory) -> None:
    async with make_store() as store:
        await store.aput(("a",), "k", {"v": 1})
        results = await store.abatch(
            [
                PutOp(("a",), "k", {"v": 2}),
                GetOp(("a",), "k"),
                SearchOp(("a",)),
                ListNamespacesOp((MatchCondition("prefix", ("a",)),)),
                PutOp(("a",), "new", {"v": 3}),
                PutOp(("a",), "k", {"v": 4}),
            ]
        )
        assert results[0] is None and results[4] is None
        assert results[1].value == {"v": 1}  # type: ignore[union-attr]
        assert [r.key for r in results[2]] == ["k"]  # type: ignore[union-attr]
        assert results[3] == [("a",)]
        assert (await store.aget(("a",), "k")).value == {"v": 4}  # type: ignore[union-attr]
        assert await store.aget(("a",), "new") is not None


# -- semantic search ---------------------------------------------------------------------


DOCS = {
    "cats": "cats are small furry pets that purr",
    "dogs": "dogs are loyal pets that bark",
    "stocks": "the stock market fell sharply on interest rates",
    "rates": "central banks raise interest rates to fight inflation",
    "pasta": "boil pasta in salted water and add tomato sauce",
}


async def test_semantic_search_ranks_by_similarity(make_store: StoreFactory) -> None:
    async with make_store(index=index(fields=["text"])) as store:
        for key, text in DOCS.items():
            await store.aput(("docs",), key, {"text": text, "len": len(text)})
        results = await store.asearch(("docs",), query="interest rates inflation", limit=2)
        assert [r.key for r in results] == ["rates", "stocks"]
        assert results[0].score is not None and results[1].score is not None
        assert 1.0 >= results[0].score > results[1].score
        pets = await store.asearch(("docs",), query="furry pets that purr", limit=5)
        assert pets[0].key == "cats"
        assert [r.score for r in pets] == sorted((r.score for r in pets), reverse=True)
        assert len(pets) == 5
        page2 = await store.asearch(("docs",), query="furry pets that purr", limit=2, offset=2)
        assert [r.key for r in page2] == [r.key for r in pets[2:4]]
        filtered = await store.asearch(("docs",), query="pets", filter={"len": {"$gt": 30}})
        assert {r.key for r in filtered} == {k for k, t in DOCS.items() if len(t) > 30}


async def test_semantic_search_fields_override_and_unindexed_items(make_store: StoreFactory) -> None:
    async with make_store(index=index(fields=["title"])) as store:
        await store.aput(("d",), "1", {"title": "pasta recipes", "body": "stock market news"})
        await store.aput(("d",), "2", {"title": "market report", "body": "pasta"}, index=["body"])
        await store.aput(("d",), "3", {"title": "pasta"}, index=False)
        results = await store.asearch(("d",), query="pasta")
        assert [r.key for r in results] == ["2", "1", "3"]
        by_key = {r.key: r for r in results}
        assert by_key["3"].score is None  # not embedded: ranked after, unscored
        assert by_key["2"].score == pytest.approx(1.0, abs=1e-5)  # the body "pasta" itself


async def test_update_replaces_vectors(make_store: StoreFactory) -> None:
    async with make_store(index=index(fields=["text"])) as store:
        await store.aput(("d",), "x", {"text": "cats purr"})
        await store.aput(("d",), "y", {"text": "stock market"})
        await store.aput(("d",), "x", {"text": "interest rates"})
        results = await store.asearch(("d",), query="cats purr")
        assert {r.key for r in results} == {"x", "y"}
        top = (await store.asearch(("d",), query="interest rates", limit=1))[0]
        assert top.key == "x" and top.score == pytest.approx(1.0, abs=1e-5)
        await store.adelete(("d",), "x")
        assert [r.key for r in await store.asearch(("d",), query="interest rates")] == ["y"]


async def test_array_paths_embed_each_element(make_store: StoreFactory) -> None:
    async with make_store(index=index(fields=["notes[*].text"])) as store:
        await store.aput(("d",), "1", {"notes": [{"text": "garden roses"}, {"text": "stock market"}]})
        await store.aput(("d",), "2", {"notes": [{"text": "pasta sauce"}]})
        best = await store.asearch(("d",), query="stock market", limit=1)
        assert best[0].key == "1" and best[0].score == pytest.approx(1.0, abs=1e-5)


async def test_query_without_index_is_a_plain_search(make_store: StoreFactory) -> None:
    async with make_store() as store:
        await store.aput(("d",), "1", {"text": "x"})
        results = await store.asearch(("d",), query="x")
        assert [(r.key, r.score) for r in results] == [("1", None)]


async def test_async_embedding_function(make_store: StoreFactory) -> None:
    emb = DeterministicEmbeddings(DIMS)

    async def aembed(texts: list[str]) -> list[list[float]]:
        return emb.embed_documents(list(texts))

    async with make_store(index={"embed": aembed, "dims": DIMS}) as store:
        await store.aput(("d",), "1", {"text": "cats purr"})
        await store.aput(("d",), "2", {"text": "stock market"})
        assert (await store.asearch(("d",), query="cats purr"))[0].key == "1"


async def test_wrong_embedding_size_is_reported(make_store: StoreFactory) -> None:
    async with make_store(index={"embed": DeterministicEmbeddings(8), "dims": DIMS}) as store:
        with pytest.raises(ValueError, match="8 dimensions.*dims=64"):
            await store.aput(("d",), "1", {"text": "x"})
        assert await store.aget(("d",), "1") is None


# -- TTL ---------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        import time

        self.now = time.time()

    def time(self) -> float:
        return self.now


async def sweep(store: Any) -> int:
    """sweep_ttl() is sync on the sync stores and a coroutine on the async ones."""
    removed = store.sweep_ttl()
    return int(await removed) if asyncio.iscoroutine(removed) else int(removed)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Store time under the test's control (TTL is in minutes)."""
    import asyncgraph.store._sql as sql
    import asyncgraph.store.memory as memory

    c = Clock()
    monkeypatch.setattr(sql, "time", c)
    monkeypatch.setattr(memory, "time", c)
    return c


async def test_ttl_expiry_and_sweep(make_store: StoreFactory, clock: Clock) -> None:
    async with make_store(ttl={"default_ttl": 10}) as store:
        await store.aput(("t",), "default", {"v": 1})
        await store.aput(("t",), "short", {"v": 2}, ttl=1)
        await store.aput(("t",), "forever", {"v": 3}, ttl=None)
        clock.now += 90
        assert await sweep(store) == 1
        assert await store.aget(("t",), "short") is None
        clock.now += 600
        assert await sweep(store) == 1
        assert await keys(store, ("t",)) == {"forever"}


async def test_ttl_refresh_on_read(make_store: StoreFactory, clock: Clock) -> None:
    async with make_store(ttl={"default_ttl": 1}) as store:
        await store.aput(("t",), "read", {"v": 1})
        await store.aput(("t",), "searched", {"v": 2})
        await store.aput(("t",), "peeked", {"v": 3})
        clock.now += 50
        assert await store.aget(("t",), "read") is not None
        assert await store.asearch(("t",), filter={"v": 2}) != []
        assert await store.aget(("t",), "peeked", refresh_ttl=False) is not None
        clock.now += 50  # 100 s after the puts, 50 s after the reads
        await sweep(store)
        assert await keys(store, ("t",)) == {"read", "searched"}


async def test_ttl_omit_expired(make_store: StoreFactory, clock: Clock) -> None:
    async with make_store(ttl={"default_ttl": 1, "omit_expired": True}) as store:
        await store.aput(("t",), "k", {"v": 1})
        clock.now += 120
        assert await store.aget(("t",), "k") is None
        assert await store.asearch(("t",)) == []


async def test_sweeper_starts_and_stops(make_store: StoreFactory) -> None:
    async with make_store(ttl={"default_ttl": 1, "sweep_interval_minutes": 1}) as store:
        started = store.start_ttl_sweeper()  # type: ignore[attr-defined]
        if asyncio.iscoroutine(started):
            await started
            assert await store.stop_ttl_sweeper(timeout=5)  # type: ignore[attr-defined]
        else:
            assert await asyncio.to_thread(store.stop_ttl_sweeper, 5)  # type: ignore[attr-defined]


# -- the sync API ------------------------------------------------------------------------


@contextmanager
def sync_store(kind: str, request: pytest.FixtureRequest, tmp_path: Any, **kwargs: Any) -> Iterator[Any]:
    if kind == "memory":
        from asyncgraph.store.memory import InMemoryStore

        yield InMemoryStore(**kwargs)
    elif kind == "sqlite":
        from asyncgraph.store.sqlite import SqliteStore

        with SqliteStore.from_conn_string(str(tmp_path / "sync.db"), **kwargs) as store:
            yield store
    else:
        from asyncgraph.store.postgres import PostgresStore
        from tests.store.conftest import _truncate

        dsn = request.getfixturevalue("store_pg_dsn")
        _truncate(dsn)
        with PostgresStore.from_conn_string(dsn, **kwargs) as pstore:
            yield pstore


@pytest.mark.parametrize("kind", ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_sync_api(kind: str, request: pytest.FixtureRequest, tmp_path: Any) -> None:
    with sync_store(kind, request, tmp_path, index=index(fields=["text"])) as store:
        store.put(("s", "x"), "1", {"text": "cats purr", "n": 1})
        store.put(("s", "y"), "2", {"text": "stock market", "n": 2})
        assert store.get(("s", "x"), "1").value == {"text": "cats purr", "n": 1}
        assert [r.key for r in store.search(("s",), query="stock")][0] == "2"
        assert [r.key for r in store.search(("s",), filter={"n": {"$lt": 2}})] == ["1"]
        assert store.list_namespaces(prefix=("s",)) == [("s", "x"), ("s", "y")]
        store.delete(("s", "x"), "1")
        assert store.get(("s", "x"), "1") is None
        assert store.batch([GetOp(("s", "y"), "2")])[0].key == "2"


async def test_sync_call_on_the_loop_of_an_async_store_is_refused(make_store: StoreFactory, store_kind: str) -> None:
    if store_kind not in ("sqlite_aio", "postgres_aio"):
        return
    async with make_store() as store:
        await store.aput(("a",), "k", {"v": 1})
        with pytest.raises(asyncio.InvalidStateError, match="aget"):
            store.get(("a",), "k")
        assert await asyncio.to_thread(store.get, ("a",), "k") is not None


# -- database-side vector scoring (the sqlite-vec / pgvector path) ----------------------


def test_database_scored_search_matches_python_ranking(tmp_path: Any) -> None:
    """The SQL path that sqlite-vec and pgvector use (score in SQL, best vector per item,
    unscored items after) gives the same pages as the Python ranking. A Python cosine
    stands in for the extension, which this interpreter may not be able to load."""
    import sqlite3

    from asyncgraph.store._vectors import from_blob, to_blob
    from asyncgraph.store.sqlite import SqliteStore

    def cosine(a: bytes, b: bytes) -> float:
        x, y = from_blob(a), from_blob(b)
        dot = sum(p * q for p, q in zip(x, y, strict=True))
        norm = (sum(p * p for p in x) * sum(q * q for q in y)) ** 0.5
        return 1.0 - dot / norm if norm else 1.0

    pages = []
    for db_scored in (False, True):
        conn = sqlite3.connect(str(tmp_path / f"{db_scored}.db"), check_same_thread=False)
        conn.create_function("vec_distance_cosine", 2, cosine, deterministic=True)
        store = SqliteStore(conn, index=index(fields=["text", "alt"]))
        store.setup()
        if db_scored:
            store._core.use_db_vectors("ag_store_vectors", "1.0 - vec_distance_cosine(v.embedding, ?)", to_blob)
        for key, text in DOCS.items():
            store.put(("docs", key[0]), key, {"text": text, "alt": key, "len": len(text)})
        store.put(("docs", "x"), "plain", {"text": "pets that purr"}, index=False)
        page = []
        for query, flt, limit, offset in [
            ("pets that purr", None, 3, 0),
            ("pets that purr", None, 4, 3),
            ("interest rates", {"len": {"$gt": 30}}, 10, 0),
            ("stocks", None, 10, 5),
        ]:
            found = store.search(("docs",), query=query, filter=flt, limit=limit, offset=offset)
            page.append([(r.key, None if r.score is None else round(r.score, 5)) for r in found])
        pages.append(page)
        conn.close()
    assert pages[0] == pages[1]
    assert pages[0][1][-1] == ("plain", None)  # the unscored item fills the short page


@pytest.mark.postgres
def test_postgres_store_on_a_connection_pool(store_pg_dsn: str) -> None:
    from asyncgraph.store.postgres import PostgresStore
    from tests.store.conftest import _truncate

    _truncate(store_pg_dsn)
    with PostgresStore.from_conn_string(store_pg_dsn, pool_config={"min_size": 1, "max_size": 2}) as store:
        store.put(("pool",), "k", {"v": 1})
        assert store.get(("pool",), "k").value == {"v": 1}  # type: ignore[union-attr]
        assert [r.key for r in store.search(("pool",), filter={"v": 1})] == ["k"]


@pytest.mark.postgres
async def test_async_postgres_store_on_a_connection_pool(store_pg_dsn: str) -> None:
    from asyncgraph.store.postgres import AsyncPostgresStore
    from tests.store.conftest import _truncate

    _truncate(store_pg_dsn)
    async with AsyncPostgresStore.from_conn_string(store_pg_dsn, pool_config={"min_size": 1, "max_size": 2}) as store:
        await store.aput(("pool",), "k", {"v": 1})
        assert (await store.aget(("pool",), "k")).value == {"v": 1}  # type: ignore[union-attr]
        assert [r.key for r in await store.asearch(("pool",), filter={"v": 1})] == ["k"]
