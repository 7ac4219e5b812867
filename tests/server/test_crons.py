"""Crons: create (thread and stateless), search, count, update, delete, and firing."""

from __future__ import annotations

import asyncio

import pytest
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError

HI = {"messages": [{"role": "user", "content": "hi"}]}
EVERY_SECOND = "* * * * * *"  # croniter's sixth field is the second


async def _wait_for(predicate, tries=200):
    for _ in range(tries):
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("condition never became true")


async def test_thread_cron_fires_runs_until_deleted(client):
    tid = (await client.threads.create())["thread_id"]
    cron = await client.crons.create_for_thread(tid, "agent", schedule=EVERY_SECOND, input=HI, metadata={"k": 1})
    assert cron["thread_id"] == tid and cron["enabled"] is True and cron["next_run_date"]
    runs = await _wait_for(lambda: client.runs.list(tid))
    await client.runs.join(tid, runs[-1]["run_id"])
    assert (await client.threads.get_state(tid))["values"]["messages"][-1]["type"] == "ai"
    assert [c["cron_id"] for c in await client.crons.search(thread_id=tid)] == [cron["cron_id"]]
    assert await client.crons.count(assistant_id=cron["assistant_id"]) == 1
    await client.crons.delete(cron["cron_id"])
    assert await client.crons.search(thread_id=tid) == []
    await asyncio.sleep(1.2)  # a firing claimed just before the delete may still start
    before = len(await client.runs.list(tid, limit=100))
    await asyncio.sleep(1.5)
    assert len(await client.runs.list(tid, limit=100)) == before
    with pytest.raises(NotFoundError, match="cron"):
        await client.crons.delete(cron["cron_id"])


async def test_stateless_cron_and_update(client):
    cron = await client.crons.create("agent", schedule=EVERY_SECOND, input=HI, on_run_completed="keep")
    assert cron["thread_id"] is None
    await _wait_for(lambda: client.threads.count())
    updated = await client.crons.update(cron["cron_id"], enabled=False, schedule="0 0 1 1 *")
    assert updated["enabled"] is False and updated["schedule"] == "0 0 1 1 *"
    assert await client.crons.search(enabled=True) == []
    await asyncio.sleep(1.2)
    n = await client.threads.count()
    await asyncio.sleep(1.5)
    assert await client.threads.count() == n


async def test_bad_cron_input(client):
    with pytest.raises(UnprocessableEntityError, match="schedule"):
        await client.crons.create("agent", schedule="not a schedule")
    with pytest.raises(NotFoundError, match="assistant"):
        await client.crons.create("ghost", schedule="* * * * *")
    with pytest.raises(NotFoundError, match="thread"):
        await client.crons.create_for_thread("no-such-thread", "agent", schedule="* * * * *")
    with pytest.raises(UnprocessableEntityError, match="timezone"):
        await client.crons.create("agent", schedule="* * * * *", timezone="Mars/Olympus")
    assert await client.crons.count() == 0
