"""Runs: background, wait, join, list, cancel, delete, stateless, double texting, HITL."""

from __future__ import annotations

import asyncio

import httpx

import pytest
from langgraph_sdk.errors import ConflictError, NotFoundError

HI = {"messages": [{"role": "user", "content": "hi"}]}


async def _status(client, tid, rid, want, tries=300):
    for _ in range(tries):
        run = await client.runs.get(tid, rid)
        if run["status"] in want:
            return run
        await asyncio.sleep(0.01)
    raise AssertionError(f"run {rid} never reached {want}: {run['status']}")


async def test_background_join_get_list_delete(client):
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "agent", input=HI, metadata={"m": 1})
    assert run["status"] == "pending" and run["thread_id"] == tid
    result = await client.runs.join(tid, run["run_id"])
    assert result["messages"][-1]["content"] == "hello from the seed agent"
    got = await client.runs.get(tid, run["run_id"])
    assert got["status"] == "success" and got["metadata"] == {"m": 1}
    assert [r["run_id"] for r in await client.runs.list(tid)] == [run["run_id"]]
    assert await client.runs.list(tid, status="error") == []
    await client.runs.delete(tid, run["run_id"])
    with pytest.raises(NotFoundError):
        await client.runs.get(tid, run["run_id"])


async def test_stateless_wait_and_stream_leave_no_thread(client):
    out = await client.runs.wait(None, "agent", input=HI)
    assert out["messages"][-1]["type"] == "ai"
    events = [p.event async for p in client.runs.stream(None, "agent", input=HI)]
    assert events[0] == "metadata" and events.count("values") == 2
    assert await client.threads.count() == 0
    kept = await client.runs.create(None, "agent", input=HI, on_completion="keep")
    await asyncio.sleep(0)
    assert await client.threads.count() == 1
    await client.runs.join(kept["thread_id"], kept["run_id"])


async def test_if_not_exists(client):
    # runs.wait goes through the SDK's reconnecting request, which raises httpx's error.
    with pytest.raises(httpx.HTTPStatusError, match="404") as info:
        await client.runs.wait("00000000-0000-0000-0000-000000000001", "agent", input=HI)
    assert "not found" in info.value.response.json()["detail"]
    out = await client.runs.wait("00000000-0000-0000-0000-000000000002", "agent", input=HI, if_not_exists="create")
    assert len(out["messages"]) == 2
    assert (await client.threads.get("00000000-0000-0000-0000-000000000002"))["status"] == "idle"


async def test_interrupt_and_resume_with_command(client):
    tid = (await client.threads.create())["thread_id"]
    out = await client.runs.wait(tid, "hitl", input=HI)
    assert out["__interrupt__"][0]["value"] == {"question": "approve?"}
    thread = await client.threads.get(tid)
    assert thread["status"] == "interrupted"
    assert list(thread["interrupts"].values())[0][0]["value"] == {"question": "approve?"}
    state = await client.threads.get_state(tid)
    assert state["next"] == ["ask"] and state["interrupts"]
    out = await client.runs.wait(tid, "hitl", command={"resume": "yes"})
    assert out["messages"][-1]["content"] == "answer was yes"
    assert (await client.threads.get(tid))["status"] == "idle"


async def test_interrupt_before_and_continue(client):
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "agent", input=HI, interrupt_before=["agent"])
    state = await client.threads.get_state(tid)
    assert state["next"] == ["agent"]
    assert (await client.threads.get(tid))["status"] == "interrupted"
    out = await client.runs.wait(tid, "agent", input=None)
    assert out["messages"][-1]["type"] == "ai"


async def test_checkpoint_time_travel(client):
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "agent", input=HI)
    await client.runs.wait(tid, "agent", input=HI)
    history = await client.threads.get_history(tid, limit=20)
    # The checkpoint before the second input: the first run's end.
    first_end = next(s for s in history if len(s["values"].get("messages", [])) == 2 and not s["next"])
    out = await client.runs.wait(tid, "agent", input=HI, checkpoint_id=first_end["checkpoint"]["checkpoint_id"])
    assert len(out["messages"]) == 4  # forked from 2 messages, not 4


async def test_factory_graph_config_and_context(client):
    out = await client.runs.wait(None, "factory", input=HI, config={"configurable": {"x": 1}}, context={"y": 2})
    assert out["messages"][-1]["content"] == "hello from the seed agent"


async def test_error_run_sets_statuses(client):
    tid = (await client.threads.create())["thread_id"]
    with pytest.raises(Exception, match="ValueError: boom requested by the input"):
        await client.runs.wait(tid, "slow", input={"steps": ["boom"]})
    out = await client.runs.wait(tid, "slow", input={"steps": ["boom"]}, raise_error=False)
    assert out["__error__"] == {"error": "ValueError", "message": "boom requested by the input"}
    run = (await client.runs.list(tid))[0]
    assert run["status"] == "error"
    assert (await client.threads.get(tid))["status"] == "error"


async def test_cancel_interrupt(client):
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "slow", input={"steps": []})
    await _status(client, tid, run["run_id"], {"running"})
    assert (await client.threads.get(tid))["status"] == "busy"
    await client.runs.cancel(tid, run["run_id"], wait=True)
    assert (await client.runs.get(tid, run["run_id"]))["status"] == "interrupted"
    assert (await client.threads.get(tid))["status"] != "busy"
    # A run still in flight cannot be deleted; cancel it first.
    r2 = await client.runs.create(tid, "slow", input={"steps": []})
    with pytest.raises(ConflictError, match="cancel it"):
        await client.runs.delete(tid, r2["run_id"])
    await client.runs.cancel(tid, r2["run_id"], wait=True)
    await client.runs.delete(tid, r2["run_id"])


async def test_double_texting_reject_enqueue_interrupt_rollback(client):
    tid = (await client.threads.create())["thread_id"]
    first = await client.runs.create(tid, "slow", input={"steps": []})
    with pytest.raises(ConflictError, match="busy"):
        await client.runs.create(tid, "slow", input={"steps": []}, multitask_strategy="reject")
    queued = await client.runs.create(tid, "slow", input={"steps": ["q"]}, multitask_strategy="enqueue")
    await client.runs.join(tid, queued["run_id"])
    assert (await client.runs.get(tid, first["run_id"]))["status"] == "success"
    # enqueue ran after the first: one run at a time per thread
    state = await client.threads.get_state(tid)
    assert state["values"]["steps"] == ["q", "done"]

    running = await client.runs.create(tid, "slow", input={"steps": ["a"]})
    await _status(client, tid, running["run_id"], {"running"})
    newer = await client.runs.create(tid, "slow", input={"steps": ["b"]}, multitask_strategy="interrupt")
    await client.runs.join(tid, newer["run_id"])
    assert (await client.runs.get(tid, running["run_id"]))["status"] == "interrupted"
    assert (await client.threads.get_state(tid))["values"]["steps"] == ["b", "done"]

    doomed = await client.runs.create(tid, "slow", input={"steps": ["c"]})
    await _status(client, tid, doomed["run_id"], {"running"})
    last = await client.runs.create(tid, "slow", input={"steps": ["d"]}, multitask_strategy="rollback")
    await client.runs.join(tid, last["run_id"])
    with pytest.raises(NotFoundError):
        await client.runs.get(tid, doomed["run_id"])  # rolled back: the run is gone
    history = await client.threads.get_history(tid, limit=50)
    assert all(s["metadata"].get("run_id") != doomed["run_id"] for s in history)
    assert (await client.threads.get_state(tid))["values"]["steps"] == ["d", "done"]


async def test_concurrent_rejects_admit_one_run(client):
    tid = (await client.threads.create())["thread_id"]
    results = await asyncio.gather(
        *(client.runs.create(tid, "slow", input={"steps": []}, multitask_strategy="reject") for _ in range(20)),
        return_exceptions=True,
    )
    admitted = [r for r in results if isinstance(r, dict)]
    assert len(admitted) == 1
    assert all(isinstance(r, ConflictError) for r in results if not isinstance(r, dict))
    await client.runs.join(tid, admitted[0]["run_id"])
