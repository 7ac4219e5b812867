"""``asyncgraph dev`` keeps threads, runs, state and store items in its SQLite files."""

from __future__ import annotations

import asyncio

from langgraph_sdk import get_client

from asyncgraph.server import create_app

from tests.server.conftest import APP, serve

HI = {"messages": [{"role": "user", "content": "hi"}]}


async def test_restart_keeps_everything(tmp_path):
    # Clients are closed explicitly: an httpx client left to the garbage collector reports
    # through the unraisable hook, whose traceback formatting can trip Python 3.11's AST
    # recursion counter mid-parse (SystemError at a later ast.parse).
    # The apps are built in a thread: loading the graphs' module is blocking work.
    app = await asyncio.to_thread(create_app, APP, data_dir=tmp_path)
    async with serve(app) as url, get_client(url=url) as client:
        a = await client.assistants.create("agent", name="kept")
        tid = (await client.threads.create(metadata={"k": "v"}))["thread_id"]
        await client.runs.wait(tid, a["assistant_id"], input=HI)
        run_id = (await client.runs.list(tid))[0]["run_id"]
        await client.store.put_item(["n"], "k", {"v": 1})
        events = [(p.id, p.event) async for p in client.runs.join_stream(tid, run_id)]
    assert {p.name for p in tmp_path.iterdir()} >= {"server.sqlite", "checkpoints.sqlite", "store.sqlite"}
    app = await asyncio.to_thread(create_app, APP, data_dir=tmp_path)
    async with serve(app) as url, get_client(url=url) as client:
        assert (await client.assistants.get(a["assistant_id"]))["name"] == "kept"
        thread = await client.threads.get(tid)
        assert thread["metadata"]["k"] == "v" and thread["status"] == "idle"
        assert len((await client.threads.get_state(tid))["values"]["messages"]) == 2
        assert (await client.runs.get(tid, run_id))["status"] == "success"
        assert [(p.id, p.event) async for p in client.runs.join_stream(tid, run_id)] == events
        assert (await client.store.get_item(["n"], "k"))["value"] == {"v": 1}
        out = await client.runs.wait(tid, "agent", input=HI)
        assert len(out["messages"]) == 4
