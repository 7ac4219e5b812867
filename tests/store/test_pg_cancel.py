"""A store batch cancelled at any await never leaves its connection in libpq pipeline
mode: a pool given such a connection back would fail every later multi-statement query."""

from __future__ import annotations

import asyncio

import pytest

from asyncgraph.store._sql import Stmt
from asyncgraph.store.postgres.aio import aexecute_pg

pytestmark = pytest.mark.postgres


async def test_a_batch_cancelled_at_any_await_leaves_its_connection_usable_or_closed(
    store_pg_dsn: str,
) -> None:
    import psycopg
    from psycopg.pq import PipelineStatus

    batch = [Stmt("SELECT pg_sleep(0.001)", fetch=True), Stmt("SELECT 2", fetch=True)]
    for ticks in range(40):
        conn = await psycopg.AsyncConnection.connect(store_pg_dsn, autocommit=True)
        try:
            task = asyncio.ensure_future(aexecute_pg(conn, batch))
            for _ in range(ticks):
                await asyncio.sleep(0)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            if not conn.closed:
                assert conn.pgconn.pipeline_status == PipelineStatus.OFF, ticks
                await conn.execute("SELECT 1; SELECT 2")
        finally:
            await conn.close()
