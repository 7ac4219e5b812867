"""``client.threads.join_stream`` (GET /threads/{id}/stream): every run of the thread, one
after the other, each ending with a run_done event; ids resume with Last-Event-ID."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError

HI = {"messages": [{"role": "user", "content": "hi"}]}


async def _follow(client: Any, tid: str, *, until_done: int, **kwargs: Any) -> list[Any]:
    """The thread stream's parts until ``until_done`` run_done events have come."""
    parts = []
    done = 0
    async for p in await client.threads.join_stream(tid, **kwargs):
        parts.append(p)
        if p.event == "metadata" and p.data.get("status") == "run_done":
            done += 1
            if done == until_done:
                break
    return parts


async def _started(task: asyncio.Task[Any], client: Any, tid: str) -> None:
    # The stream is open once the server answered; give it a moment to subscribe.
    await asyncio.sleep(0.3)
    assert not task.done(), task


async def test_follows_each_new_run_with_run_done(client):
    tid = (await client.threads.create())["thread_id"]
    reader = asyncio.create_task(_follow(client, tid, until_done=2))
    await _started(reader, client, tid)
    r1 = await client.runs.create(tid, "agent", input=HI, stream_mode=["values", "updates"])
    r2 = await client.runs.create(tid, "agent", input=HI)  # (enqueued behind r1)
    parts = await asyncio.wait_for(reader, 30)
    by_run: dict[str, list[Any]] = {}
    for p in parts:
        run_id, _, seq = p.id.rpartition(":")
        by_run.setdefault(run_id, []).append((seq, p.event, p.data))
    assert list(by_run) == [r1["run_id"], r2["run_id"]]
    for run in (r1, r2):
        events = by_run[run["run_id"]]
        # The run's own stream (what join_stream of the run gives), then run_done.
        own = [(str(int(p.id)), p.event, p.data) async for p in client.runs.join_stream(tid, run["run_id"])]
        assert events[:-1] == own
        assert events[-1] == ("done", "metadata", {"status": "run_done", "run_id": run["run_id"]})
    assert {e for _, e, _ in by_run[r1["run_id"]]} == {"metadata", "values", "updates"}


async def test_joins_the_run_in_flight_from_its_start(client):
    tid = (await client.threads.create())["thread_id"]
    old = await client.runs.create(tid, "agent", input=HI)
    await client.runs.join(tid, old["run_id"])
    slow = await client.runs.create(tid, "slow", input={"steps": []})
    parts = await asyncio.wait_for(_follow(client, tid, until_done=1), 30)
    # The finished run is the past: the stream starts with the one still running.
    assert parts[0].id == f"{slow['run_id']}:1" and parts[0].event == "metadata"
    assert parts[-1].data == {"status": "run_done", "run_id": slow["run_id"]}
    assert (await client.runs.get(tid, slow["run_id"]))["status"] == "success"


async def test_last_event_id_resumes_exactly_after_it_and_dash_replays_all(client):
    tid = (await client.threads.create())["thread_id"]
    runs = []
    for _ in range(2):
        runs.append(await client.runs.create(tid, "agent", input=HI, stream_mode=["values", "updates"]))
        await client.runs.join(tid, runs[-1]["run_id"])
    everything = await asyncio.wait_for(_follow(client, tid, until_done=2, last_event_id="-"), 30)
    ids = [p.id for p in everything]
    assert ids[-1] == f"{runs[1]['run_id']}:done" and f"{runs[0]['run_id']}:done" in ids
    for cut in (1, ids.index(f"{runs[0]['run_id']}:done"), len(ids) - 2):
        rest = await asyncio.wait_for(
            _follow(client, tid, until_done=1 + (cut < ids.index(f"{runs[0]['run_id']}:done")), last_event_id=ids[cut]),
            30,
        )
        assert [(p.id, p.event, p.data) for p in rest] == [(p.id, p.event, p.data) for p in everything[cut + 1:]]


async def test_stream_modes_lifecycle_and_state_update(client):
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "agent", input=HI, stream_mode=["values", "updates", "custom"])
    await client.runs.join(tid, run["run_id"])
    life = await _follow(client, tid, until_done=1, last_event_id="-", stream_mode="lifecycle")
    assert [(p.event, p.data) for p in life] == [
        ("metadata", {"run_id": run["run_id"], "attempt": 1}),
        ("metadata", {"status": "run_done", "run_id": run["run_id"]}),
    ]
    reader = asyncio.create_task(
        _follow(client, tid, until_done=1, last_event_id="-", stream_mode=["state_update", "lifecycle"])
    )
    parts = await asyncio.wait_for(reader, 30)
    assert {p.event for p in parts} == {"metadata", "values", "updates"}
    assert "custom" in {p.event async for p in client.runs.join_stream(tid, run["run_id"])}


async def test_ends_when_the_thread_is_deleted(client):
    tid = (await client.threads.create())["thread_id"]

    async def read_all() -> list[Any]:
        return [p async for p in await client.threads.join_stream(tid)]

    reader = asyncio.create_task(read_all())
    await _started(reader, client, tid)
    await client.threads.delete(tid)
    assert await asyncio.wait_for(reader, 10) == []


async def test_bad_requests_are_refused(client):
    tid = (await client.threads.create())["thread_id"]
    with pytest.raises(NotFoundError):
        await _follow(client, "00000000-0000-0000-0000-000000000000", until_done=1)
    with pytest.raises(UnprocessableEntityError, match="thread stream mode"):
        await _follow(client, tid, until_done=1, stream_mode="values")
    with pytest.raises(UnprocessableEntityError, match="Last-Event-ID"):
        await _follow(client, tid, until_done=1, last_event_id="17")


@pytest.mark.postgres
async def test_a_run_created_through_another_api_process_reaches_the_thread_stream(pg_cluster):
    """serve on PostgreSQL: the thread stream of one API process follows a run created
    through another one (told by NOTIFY)."""
    import signal

    import httpx
    from langgraph_sdk import get_client

    other, other_url = pg_cluster.add_serve()
    try:
        for _ in range(300):
            try:
                if (await asyncio.to_thread(httpx.get, f"{other_url}/ok", timeout=1)).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        a = await asyncio.to_thread(get_client, url=pg_cluster.url)
        b = await asyncio.to_thread(get_client, url=other_url)
        async with a, b:
            tid = (await a.threads.create())["thread_id"]
            reader = asyncio.create_task(_follow(b, tid, until_done=1))
            await _started(reader, b, tid)
            run = await a.runs.create(tid, "agent", input=HI)
            parts = await asyncio.wait_for(reader, 30)
            assert parts[0].id == f"{run['run_id']}:1"
            assert parts[-1].data == {"status": "run_done", "run_id": run["run_id"]}
    finally:
        other.send_signal(signal.SIGTERM)
        await asyncio.to_thread(other.wait, 10)
