"""A run stream's first event (``metadata``) leaves with the response headers: it waits
neither for the run's event log to be read back nor for the worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from langgraph_sdk import get_client

from asyncgraph.server import create_app
from asyncgraph.server._storage import MemoryStorage, RunEvent

from tests.server.conftest import APP, serve

HI = {"messages": [{"role": "user", "content": "hi"}]}


class SlowLogStorage(MemoryStorage):
    """Reading a run's event log takes ``delay`` seconds before the first batch (a slow
    or distant back end)."""

    delay = 0.0

    async def read_event_batches(self, run_id: str, after: int = 0) -> AsyncIterator[list[RunEvent]]:
        await asyncio.sleep(self.delay)
        async for batch in super().read_event_batches(run_id, after):
            yield batch


@pytest.fixture
def slow_app() -> tuple[Any, SlowLogStorage]:
    storage = SlowLogStorage()
    return create_app(APP, storage=storage), storage


async def test_metadata_event_does_not_wait_for_the_log(slow_app: tuple[Any, SlowLogStorage]) -> None:
    app, storage = slow_app
    async with serve(app) as url:
        client = get_client(url=url)
        try:
            tid = (await client.threads.create())["thread_id"]
            storage.delay = 30.0
            async with asyncio.timeout(10):
                async for part in client.runs.stream(tid, "agent", input=HI):
                    first = part
                    break
            assert first.event == "metadata" and first.id == "1"
            run = await client.runs.get(tid, first.data["run_id"])
            assert run["thread_id"] == tid
        finally:
            await client.aclose()


async def test_after_the_metadata_event_the_log_follows_once(slow_app: tuple[Any, SlowLogStorage]) -> None:
    app, storage = slow_app
    storage.delay = 0.2
    async with serve(app) as url:
        client = get_client(url=url)
        try:
            parts = [p async for p in client.runs.stream(None, "agent", input=HI, stream_mode=["values", "updates"])]
        finally:
            await client.aclose()
    assert [p.event for p in parts].count("metadata") == 1
    assert [int(p.id) for p in parts] == list(range(1, len(parts) + 1))
    assert parts[-1].event == "values"
