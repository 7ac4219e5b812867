"""The stores' fast paths answer exactly as their general paths (and LangGraph) do.

- In memory, an item's timestamps are kept as epoch seconds and become datetimes when
  first read: what a user sees (values, types, time zone, equality, order, pickling) is
  what LangGraph's eager datetimes give.
- Stored JSON is parsed with orjson unless it might lose an integer: the same values as
  ``json.loads`` for every tricky input.
- ``PostgresStore.get`` reads through libpq when it can: the same item, to the repr, as
  through a psycopg cursor, in every situation where it steps aside (a transaction,
  prepared statements off, a custom JSONB loader, statements deallocated, NUL in a key).
"""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from asyncgraph.store.base import Item, PutOp, SearchItem
from asyncgraph.store.memory import InMemoryStore

# -- in memory: lazy timestamps ----------------------------------------------------------


def _both() -> tuple[Any, Any]:
    from langgraph.store.memory import InMemoryStore as LGStore

    return InMemoryStore(), LGStore()


def test_memory_item_timestamps_look_like_langgraphs() -> None:
    ours, theirs = _both()
    before = datetime.now(timezone.utc)
    for store in (ours, theirs):
        store.put(("a",), "k", {"v": 1})
    after = datetime.now(timezone.utc)
    mine, lg = ours.get(("a",), "k"), theirs.get(("a",), "k")
    for item in (mine, lg):
        assert type(item.created_at) is datetime and type(item.updated_at) is datetime
        assert item.created_at.tzinfo is timezone.utc
        assert before <= item.created_at <= item.updated_at <= after
        assert set(item.dict()) == {"namespace", "key", "value", "created_at", "updated_at"}
    assert mine.created_at.utcoffset() == lg.created_at.utcoffset()
    # Read once, the datetime is kept: the same object on every read.
    assert mine.created_at is mine.created_at and mine.updated_at is mine.updated_at
    assert repr(mine).startswith("Item(namespace=['a'], key='k', value={'v': 1}, created_at='")


def test_memory_overwrite_and_search_keep_the_timestamps() -> None:
    store = InMemoryStore()
    store.put(("a",), "k", {"v": 1})
    first = store.get(("a",), "k")
    assert first is not None
    time.sleep(0.002)
    store.put(("a",), "k", {"v": 2})
    second = store.get(("a",), "k")
    assert second is not None
    assert second.created_at == first.created_at and second.updated_at > first.updated_at
    (found,) = store.search(("a",))
    assert isinstance(found, SearchItem) and found.score is None
    assert (found.created_at, found.updated_at) == (second.created_at, second.updated_at)
    assert found == second  # Item equality compares value, address and timestamps


def test_item_timestamps_set_and_read_as_plain_attributes() -> None:
    stamp = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    item = Item(value={}, key="k", namespace=("a",), created_at=stamp, updated_at=stamp.isoformat())  # type: ignore[arg-type]
    assert item.created_at is stamp and item.updated_at == stamp  # ISO strings are parsed
    later = datetime(2025, 1, 1, tzinfo=timezone.utc)
    item.updated_at = later
    assert item.updated_at is later
    # LangGraph stores what it is given; a float given by a user stays a float.
    odd = Item(value={}, key="k", namespace=("a",), created_at=1.5, updated_at=2.5)  # type: ignore[arg-type]
    assert odd.created_at == 1.5 and type(odd.created_at) is float


def test_memory_items_pickle_and_compare_before_and_after_reading() -> None:
    store = InMemoryStore()
    store.put(("a",), "k", {"v": [1, 2]})
    unread = store.get(("a",), "k")
    copy = pickle.loads(pickle.dumps(unread))
    assert copy == unread and hash(copy) == hash(unread)
    assert type(copy.created_at) is datetime and copy.created_at == unread.created_at  # type: ignore[union-attr]
    store.put(("a",), "k2", {"v": 0})
    items = [store.get(("a",), "k2"), store.get(("a",), "k")]
    assert sorted(items, key=lambda i: i.updated_at)[0].key == "k"  # type: ignore[union-attr]


# -- stored JSON: orjson where it is exact ---------------------------------------------------

TRICKY = [
    {"big": 2**70, "neg": -(2**63) - 1, "u64": 2**64 - 1, "i64": -(2**63)},
    {"nested": [{"deep": [2**64]}], "ok": 1},
    {"float": 1e19, "neg": -1e300, "small": 5e-324, "digits": "1234567890123456789012"},
    {"text": "héllo ✓ 日本", "zero": -0.0, "list": [], "dict": {}},
]


@pytest.mark.parametrize("value", [*TRICKY, {"surrogate": "\ud800"}])
def test_stored_json_parses_as_json_does(value: dict[str, Any]) -> None:
    from asyncgraph.store._sql import loads

    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    parsed = loads(text)
    assert parsed == json.loads(text) and repr(parsed) == repr(json.loads(text))
    if "surrogate" not in value:  # bytes come from PostgreSQL, which holds valid UTF-8 only
        assert repr(loads(text.encode())) == repr(json.loads(text))


def test_sqlite_get_matches_the_batch_path(tmp_path: Any) -> None:
    from asyncgraph.store.base import GetOp
    from asyncgraph.store.sqlite import SqliteStore

    with SqliteStore.from_conn_string(str(tmp_path / "s.db")) as store:
        for n, value in enumerate(TRICKY):
            store.put(("t", str(n)), "k", value)
        for n in range(len(TRICKY)):
            fast = store.get(("t", str(n)), "k")
            (slow,) = store.batch([GetOp(("t", str(n)), "k")])
            assert fast == slow and repr(fast) == repr(slow)
            assert fast is not None and fast.created_at.tzinfo is timezone.utc


# -- Postgres: the libpq get -------------------------------------------------------------


class _Off:
    """A reader that always steps aside: the cursor path, for comparison."""

    def fetch_one(self, conn: Any, params: Any) -> Any:
        from asyncgraph.store.postgres._libpq import UNAVAILABLE

        return UNAVAILABLE


@pytest.fixture
def pg(store_pg_dsn: str) -> Iterator[str]:
    from tests.store.conftest import _truncate

    _truncate(store_pg_dsn)
    yield store_pg_dsn


def _same_through_cursor(store: Any, namespace: tuple[str, ...], key: str) -> Any:
    fast = store.get(namespace, key)
    reader, store._get_reader = store._get_reader, _Off()
    try:
        slow = store.get(namespace, key)
    finally:
        store._get_reader = reader
    assert fast == slow and repr(fast) == repr(slow)
    if fast is not None:
        assert fast.created_at.tzinfo == slow.created_at.tzinfo
    return fast


@pytest.mark.postgres
def test_postgres_get_through_libpq_matches_the_cursor(pg: str) -> None:
    from asyncgraph.store.postgres import PostgresStore

    with PostgresStore.from_conn_string(pg, ttl={"default_ttl": None}) as store:
        for n, value in enumerate(TRICKY):
            store.put(("t", str(n)), "k", value)
        store.put(("t", "ttl"), "k", {"v": 1}, ttl=5)
        store.put(("t", "upd"), "k", {"v": 1})
        store.put(("t", "upd"), "k", {"v": 2})
        for n in range(len(TRICKY)):
            item = _same_through_cursor(store, ("t", str(n)), "k")
            # jsonb keeps numbers as numerics: 1e19 comes back as the integer 10**19.
            assert item.value == (TRICKY[n] if n != 2 else {**TRICKY[n], "neg": -(10**300), "float": 10**19})
        _same_through_cursor(store, ("t", "ttl"), "k")
        updated = _same_through_cursor(store, ("t", "upd"), "k")
        assert updated.updated_at > updated.created_at
        assert _same_through_cursor(store, ("t", "0"), "missing") is None
        assert store._get_reader is not None and store.conn in store._get_reader._prepared


@pytest.mark.postgres
def test_postgres_get_in_the_sessions_time_zone(pg: str) -> None:
    import psycopg

    from asyncgraph.store.postgres import PostgresStore

    with psycopg.connect(pg, autocommit=True, options="-c TimeZone=America/New_York") as conn:
        store = PostgresStore(conn)
        store.put(("tz",), "k", {"v": 1})
        item = _same_through_cursor(store, ("tz",), "k")
        assert str(item.created_at.tzinfo) == "America/New_York"
        conn.execute("SET TIME ZONE 'Asia/Kolkata'")
        assert str(_same_through_cursor(store, ("tz",), "k").created_at.tzinfo) == "Asia/Kolkata"


@pytest.mark.postgres
def test_postgres_get_steps_aside_where_libpq_cannot_answer_alike(pg: str) -> None:
    import psycopg
    from psycopg.types.json import set_json_loads

    from asyncgraph.store.postgres import PostgresStore

    with psycopg.connect(pg, autocommit=True) as conn:
        store = PostgresStore(conn)
        store.put(("x",), "k", {"n": 1.5})
        assert store.get(("x",), "k").value == {"n": 1.5}  # type: ignore[union-attr]
        conn.execute("DEALLOCATE ALL")  # our prepared statement is gone: prepared again
        assert store.get(("x",), "k").value == {"n": 1.5}  # type: ignore[union-attr]
        assert store.get(("x",), "k").value == {"n": 1.5}  # type: ignore[union-attr]
        with conn.transaction():  # inside the user's transaction: the cursor, in it
            store.put(("x",), "t", {"n": 2})
            assert store.get(("x",), "t").value == {"n": 2}  # type: ignore[union-attr]
        with pytest.raises(psycopg.DataError, match="NUL"):
            store.get(("x",), "k\x00")
    # A connection that decodes JSON its own way keeps doing so.
    with psycopg.connect(pg, autocommit=True) as conn:
        set_json_loads(lambda text: {"decoded": json.loads(text)}, conn)
        assert PostgresStore(conn).get(("x",), "k").value == {"decoded": {"n": 1.5}}  # type: ignore[union-attr]
    with psycopg.connect(pg, autocommit=True, prepare_threshold=None) as conn:  # e.g. PgBouncer
        store = PostgresStore(conn)
        assert store.get(("x",), "k").value == {"n": 1.5}  # type: ignore[union-attr]
        assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)
    with psycopg.connect(pg) as conn:  # not autocommit
        assert PostgresStore(conn).get(("x",), "k").value == {"n": 1.5}  # type: ignore[union-attr]


@pytest.mark.postgres
def test_postgres_get_on_a_pool_prepares_per_connection(pg: str) -> None:
    from asyncgraph.store.postgres import PostgresStore

    with PostgresStore.from_conn_string(pg, pool_config={"min_size": 2, "max_size": 2}) as store:
        store.batch([PutOp(("p",), f"k{i}", {"i": i}) for i in range(5)])
        for i in range(5):
            assert store.get(("p",), f"k{i}").value == {"i": i}  # type: ignore[union-attr]
        assert 1 <= len(store._get_reader._prepared) <= 2  # type: ignore[union-attr]
