"""Threads, their state and history, through langgraph_sdk."""

from __future__ import annotations

import pytest
from langgraph_sdk.errors import ConflictError, NotFoundError

HI = {"messages": [{"role": "user", "content": "hi"}]}


async def test_crud_search_count(client):
    t = await client.threads.create(metadata={"user": "ann"})
    assert t["status"] == "idle"
    assert (await client.threads.get(t["thread_id"]))["metadata"] == {"user": "ann"}
    with pytest.raises(ConflictError):
        await client.threads.create(thread_id=t["thread_id"])
    assert (await client.threads.create(thread_id=t["thread_id"], if_exists="do_nothing"))["thread_id"] == t["thread_id"]
    await client.threads.update(t["thread_id"], metadata={"tag": 1})
    assert (await client.threads.get(t["thread_id"]))["metadata"] == {"user": "ann", "tag": 1}
    await client.threads.create(metadata={"user": "bob"})
    assert [x["thread_id"] for x in await client.threads.search(metadata={"user": "ann"})] == [t["thread_id"]]
    assert await client.threads.count(metadata={"user": "bob"}) == 1
    assert await client.threads.count(status="idle") == 2
    await client.threads.delete(t["thread_id"])
    with pytest.raises(NotFoundError):
        await client.threads.get(t["thread_id"])


async def test_state_after_run_and_values_on_thread(client):
    t = await client.threads.create()
    tid = t["thread_id"]
    empty = await client.threads.get_state(tid)
    assert empty["values"] == {} and empty["next"] == []
    await client.runs.wait(tid, "agent", input=HI)
    state = await client.threads.get_state(tid)
    assert [m["type"] for m in state["values"]["messages"]] == ["human", "ai"]
    assert state["next"] == [] and state["checkpoint"]["checkpoint_id"]
    thread = await client.threads.get(tid)
    assert thread["status"] == "idle"
    assert thread["values"]["messages"][-1]["content"] == "hello from the seed agent"
    assert thread["metadata"]["graph_id"] == "agent"


async def test_update_state_history_and_time_travel(client):
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "agent", input=HI)
    history = await client.threads.get_history(tid)
    assert len(history) >= 3
    first_two = history[-2]  # after the input is written
    res = await client.threads.update_state(tid, {"messages": [{"role": "user", "content": "added"}]}, as_node="agent")
    assert res["checkpoint"]["checkpoint_id"]
    state = await client.threads.get_state(tid)
    assert state["values"]["messages"][-1]["content"] == "added"
    # Read an old checkpoint both ways the SDK offers.
    cid = first_two["checkpoint"]["checkpoint_id"]
    old = await client.threads.get_state(tid, checkpoint_id=cid)
    assert old["checkpoint"]["checkpoint_id"] == cid
    old2 = await client.threads.get_state(tid, checkpoint={"checkpoint_id": cid, "checkpoint_ns": ""})
    assert old2["values"] == old["values"]
    assert len(await client.threads.get_history(tid, limit=2)) == 2


async def test_copy_thread(client):
    tid = (await client.threads.create(metadata={"a": 1}))["thread_id"]
    await client.runs.wait(tid, "agent", input=HI)
    copy = await client.threads.copy(tid)
    assert copy["thread_id"] != tid
    src_state = await client.threads.get_state(tid)
    new_state = await client.threads.get_state(copy["thread_id"])
    assert new_state["values"] == src_state["values"]
    # The copy goes on independently.
    await client.runs.wait(copy["thread_id"], "agent", input=HI)
    assert len((await client.threads.get_state(copy["thread_id"]))["values"]["messages"]) == 4
    assert len((await client.threads.get_state(tid))["values"]["messages"]) == 2


async def test_ttl_deletes_an_idle_thread_with_its_state_and_runs(client):
    """A thread created with a ttl (minutes, as the SDK sends it) is deleted by the sweeper
    once idle that long (the test app sweeps every 0.6 s); threads without one stay."""
    import asyncio

    keep = (await client.threads.create())["thread_id"]
    later = (await client.threads.create())["thread_id"]
    tid = (await client.threads.create(ttl=0.02))["thread_id"]  # 1.2 s
    await client.runs.wait(tid, "agent", input=HI)
    await client.threads.update(later, metadata={}, ttl={"ttl": 0.02, "strategy": "delete"})
    for _ in range(300):
        try:
            await client.threads.get(tid)
            await client.threads.get(later)
        except NotFoundError:
            await asyncio.sleep(1.0)  # (both expire together; let the sweep finish)
            break
        await asyncio.sleep(0.05)
    for gone in (tid, later):
        with pytest.raises(NotFoundError):
            await client.threads.get(gone)
    with pytest.raises(NotFoundError):
        await client.threads.get_state(tid)
    assert (await client.threads.get(keep))["thread_id"] == keep


async def test_ttl_keep_latest_prunes_an_idle_thread_to_its_latest_checkpoint(client):
    """A thread whose ttl has the ``keep_latest`` strategy is kept when it expires, with
    its runs and its latest state: the older checkpoints go, and a new run goes on from
    the kept state. ``include=["ttl"]`` shows its ttl and when it expires."""
    import asyncio
    from datetime import datetime, timedelta

    tid = (await client.threads.create(ttl={"ttl": 0.02, "strategy": "keep_latest"}))["thread_id"]  # 1.2 s
    other = (await client.threads.create())["thread_id"]
    for t in (tid, other):
        await client.runs.wait(t, "agent", input=HI)
        await client.runs.wait(t, "agent", input=HI)
    before = await client.threads.get_state(tid)
    assert len(before["values"]["messages"]) == 4
    assert len(await client.threads.get_history(tid, limit=50)) > 1
    thread = await client.threads.get(tid, include=["ttl"])
    assert thread["ttl"] == {
        "strategy": "keep_latest", "ttl_minutes": 0.02,
        "expires_at": (datetime.fromisoformat(thread["updated_at"]) + timedelta(minutes=0.02)).isoformat(),
    }
    assert "ttl" not in await client.threads.get(tid)
    assert (await client.threads.get(other, include=["ttl"]))["ttl"] is None  # (the app has no default_ttl)
    for _ in range(600):
        history = await client.threads.get_history(tid, limit=50)
        if len(history) == 1:
            break
        await asyncio.sleep(0.05)
    assert len(history) == 1
    assert history[0]["checkpoint"] == before["checkpoint"]
    assert (await client.threads.get_state(tid))["values"] == before["values"]
    assert (await client.threads.get(tid))["status"] == "idle"
    assert len(await client.runs.list(tid)) == 2
    assert len(await client.threads.get_history(other, limit=50)) > 1  # (no ttl: untouched)
    await client.runs.wait(tid, "agent", input=HI)
    assert len((await client.threads.get_state(tid))["values"]["messages"]) == 6


async def test_ttl_strategy_and_minutes_are_changed_by_update(client):
    tid = (await client.threads.create(ttl=30))["thread_id"]
    assert (await client.threads.get(tid, include=["ttl"]))["ttl"]["strategy"] == "delete"
    updated = await client.threads.update(tid, metadata={}, ttl={"ttl": 60, "strategy": "keep_latest"})
    assert (updated["ttl"]["strategy"], updated["ttl"]["ttl_minutes"]) == ("keep_latest", 60)
    thread = await client.threads.get(tid, include=["ttl"])
    assert (thread["ttl"]["strategy"], thread["ttl"]["ttl_minutes"]) == ("keep_latest", 60)
    assert all("ttl" not in t for t in await client.threads.search())


async def test_bad_ttl_is_refused_and_nothing_is_stored(client):
    from langgraph_sdk.errors import UnprocessableEntityError

    before = await client.threads.count()
    for bad in ({"ttl": "soon"}, {"ttl": -5}, {"ttl": 5, "strategy": "archive"}, {"strategy": "delete"}):
        with pytest.raises(UnprocessableEntityError, match="ttl"):
            await client.threads.create(ttl=bad)
    assert await client.threads.count() == before


async def test_default_ttl_keep_latest_of_langgraph_json_prunes_threads_without_their_own(tmp_path):
    """``checkpointer.ttl`` with ``strategy: keep_latest`` and a ``default_ttl``: a thread
    created without a ttl shows the default (``include=["ttl"]``), and once expired it
    is pruned to its latest checkpoint, not deleted; one with its own ``delete`` ttl is
    deleted."""
    import json
    from datetime import datetime, timedelta, timezone

    from langgraph_sdk import get_client

    from asyncgraph.server import create_app
    from asyncgraph.server._crons import CronScheduler

    from tests.server.conftest import APP, serve

    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({
        "graphs": {"agent": f"{APP.parent / 'graphs.py'}:agent"},
        "checkpointer": {"ttl": {"strategy": "keep_latest", "default_ttl": 60, "sweep_interval_minutes": 600}},
    }))
    app = create_app(config)
    async with serve(app) as url:
        client = get_client(url=url)
        try:
            kept = (await client.threads.create())["thread_id"]
            gone = (await client.threads.create(ttl=30))["thread_id"]
            for t in (kept, gone):
                await client.runs.wait(t, "agent", input=HI)
                await client.runs.wait(t, "agent", input=HI)
            assert (await client.threads.get(kept, include=["ttl"]))["ttl"]["strategy"] == "keep_latest"
            assert (await client.threads.get(kept, include=["ttl"]))["ttl"]["ttl_minutes"] == 60
            state = await client.threads.get_state(kept)
            sweeper = CronScheduler(app.state.runs)
            assert await sweeper.sweep_threads(datetime.now(timezone.utc) + timedelta(minutes=20)) == []
            swept = await sweeper.sweep_threads(datetime.now(timezone.utc) + timedelta(minutes=61))
            assert sorted(swept) == sorted([kept, gone])
            with pytest.raises(NotFoundError):
                await client.threads.get(gone)
            history = await client.threads.get_history(kept, limit=50)
            assert [h["checkpoint"] for h in history] == [state["checkpoint"]]
            assert (await client.threads.get_state(kept))["values"] == state["values"]
            # Pruned once: the next sweep leaves it alone until something updates it.
            assert await sweeper.sweep_threads(datetime.now(timezone.utc) + timedelta(minutes=122)) == []
        finally:
            await client.aclose()
