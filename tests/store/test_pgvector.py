"""Where the Postgres stores keep vectors: pgvector when the server has it (and the
database has no portable vectors yet), else portably; the choice is logged with its
reason. pgvector is not installed on this machine's server, so the tests run the real
detection (portable), the real failure of CREATE EXTENSION (claimed available), and
the pure choice for the cases the server cannot show."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from asyncgraph.store.postgres import base as pg_base
from asyncgraph.store.postgres.base import choose_vectors
from asyncgraph.testing import DeterministicEmbeddings

DIMS = 16


def index() -> dict[str, Any]:
    return {"embed": DeterministicEmbeddings(DIMS), "dims": DIMS, "fields": ["text"]}


@pytest.mark.parametrize(
    ("available", "has_table", "portable_rows", "mode"),
    [
        (False, False, False, "portable"),
        (False, False, True, "portable"),
        (True, False, False, "create"),
        (True, False, True, "portable"),  # portable vectors exist: they stay usable
        (True, True, False, "pgvector"),
        (True, True, True, "pgvector"),
    ],
)
def test_the_choice(available: bool, has_table: bool, portable_rows: bool, mode: str) -> None:
    got, why = choose_vectors(available, has_table, portable_rows)
    assert got == mode and why


def _fresh(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS ag_store_vectors, ag_store CASCADE")


@pytest.mark.postgres
def test_without_pgvector_on_the_server_vectors_are_portable_and_it_says_why(
    store_pg_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    from asyncgraph.store.postgres import PostgresStore

    _fresh(store_pg_dsn)
    caplog.set_level(logging.INFO, logger="asyncgraph.store")
    with PostgresStore.from_conn_string(store_pg_dsn, index=index()) as store:
        store.setup()
        assert store.pgvector is False
        store.put(("docs",), "a", {"text": "apples and pears"})
        store.put(("docs",), "b", {"text": "rockets to the moon"})
        hits = store.search(("docs",), query="apples and pears", limit=1)
        assert [h.key for h in hits] == ["a"] and hits[0].score is not None
    messages = [r.getMessage() for r in caplog.records if r.name == "asyncgraph.store"]
    assert any("portably" in m and "no pgvector extension" in m for m in messages), messages
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "asyncgraph.store")


@pytest.mark.postgres
async def test_a_failed_create_extension_falls_back_to_portable_with_a_warning(
    store_pg_dsn: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The probe is told the server has pgvector; CREATE EXTENSION then really fails
    # (no control file on this server), as it would for a role without the privilege.
    from asyncgraph.store.postgres import AsyncPostgresStore, PostgresStore

    claim = pg_base.PGVECTOR_PROBE.replace(
        "EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')", "true"
    )
    assert claim != pg_base.PGVECTOR_PROBE
    monkeypatch.setattr(pg_base, "PGVECTOR_PROBE", claim)
    import asyncgraph.store.postgres.aio as pg_aio

    monkeypatch.setattr(pg_aio, "PGVECTOR_PROBE", claim)
    caplog.set_level(logging.INFO, logger="asyncgraph.store")
    for kind in ("sync", "async"):
        _fresh(store_pg_dsn)
        caplog.clear()
        if kind == "sync":
            with PostgresStore.from_conn_string(store_pg_dsn, index=index()) as store:
                store.setup()
                store.put(("docs",), "a", {"text": "apples and pears"})
                hits = store.search(("docs",), query="apples and pears", limit=1)
                assert store.pgvector is False
        else:
            async with AsyncPostgresStore.from_conn_string(store_pg_dsn, index=index()) as astore:
                await astore.setup()
                await astore.aput(("docs",), "a", {"text": "apples and pears"})
                hits = await astore.asearch(("docs",), query="apples and pears", limit=1)
                assert astore.pgvector is False
        assert [h.key for h in hits] == ["a"]
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("creating the pgvector extension failed" in m for m in warned), (kind, warned)
