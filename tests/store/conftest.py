"""Fixtures for the store tests: every back end, and a throwaway PostgreSQL database.

PostgreSQL tests need the server on 127.0.0.1:5432; they fail (never skip) without it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from asyncgraph.store.base import BaseStore

PG_ADMIN_DSN = os.environ.get("ASYNCGRAPH_TEST_PG", "postgresql://root@127.0.0.1:5432/postgres")

STORE_KINDS = [
    "memory",
    "sqlite",
    "sqlite_aio",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("postgres_aio", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="session")
def store_pg_dsn() -> Iterator[str]:
    """A fresh database for this session's store tests, dropped afterwards."""
    import psycopg

    name = f"asyncgraph_store_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_DSN} ({exc})", pytrace=False)
    with admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _truncate(dsn: str) -> None:
    import psycopg

    from asyncgraph.store.postgres import PostgresStore

    with psycopg.connect(dsn, autocommit=True) as conn:
        PostgresStore(conn).setup()
        conn.execute("TRUNCATE ag_store, ag_store_vectors")


StoreFactory = Callable[..., AbstractAsyncContextManager[BaseStore]]


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(store_kind: str, request: pytest.FixtureRequest, tmp_path: Any) -> StoreFactory:
    """``async with make_store(index=..., ttl=...) as store`` for the parametrized kind.

    Stores made in one test share one database (a second store sees the first one's
    items), and each test starts from an empty one.
    """
    dsn = request.getfixturevalue("store_pg_dsn") if store_kind.startswith("postgres") else ""
    if dsn:
        _truncate(dsn)
    path = str(tmp_path / "store.db")

    @asynccontextmanager
    async def factory(**kwargs: Any) -> AsyncIterator[BaseStore]:
        if store_kind == "memory":
            from asyncgraph.store.memory import InMemoryStore

            yield InMemoryStore(**kwargs)
        elif store_kind == "sqlite":
            from asyncgraph.store.sqlite import SqliteStore

            with SqliteStore.from_conn_string(path, **kwargs) as store:
                yield store
        elif store_kind == "sqlite_aio":
            from asyncgraph.store.sqlite import AsyncSqliteStore

            async with AsyncSqliteStore.from_conn_string(path, **kwargs) as astore:
                yield astore
        elif store_kind == "postgres":
            from asyncgraph.store.postgres import PostgresStore

            with PostgresStore.from_conn_string(dsn, **kwargs) as pstore:
                yield pstore
        else:
            from asyncgraph.store.postgres import AsyncPostgresStore

            async with AsyncPostgresStore.from_conn_string(dsn, **kwargs) as apstore:
                yield apstore

    return factory
