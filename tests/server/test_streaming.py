"""SSE streaming: event names per stream mode, subgraph namespaces, ids, Last-Event-ID replay."""

from __future__ import annotations

import asyncio

HI = {"messages": [{"role": "user", "content": "hi"}]}


async def test_stream_modes_event_names_and_payloads(client):
    tid = (await client.threads.create())["thread_id"]
    parts = [
        p
        async for p in client.runs.stream(
            tid, "agent", input=HI, stream_mode=["values", "updates", "messages-tuple", "custom", "debug"]
        )
    ]
    events = [p.event for p in parts]
    assert events[0] == "metadata" and parts[0].data["run_id"]
    assert set(events) == {"metadata", "values", "updates", "messages", "custom", "debug"}
    assert next(p.data for p in parts if p.event == "custom") == {"progress": "calling model"}
    updates = [p.data for p in parts if p.event == "updates"]
    assert updates[0]["agent"]["messages"][0]["content"] == "hello from the seed agent"
    tokens = [p.data for p in parts if p.event == "messages"]
    chunk, meta = tokens[0]
    assert chunk["type"] == "AIMessageChunk" and meta["langgraph_node"] == "agent"
    assert "".join(t[0]["content"] for t in tokens) == "hello from the seed agent"
    assert {p.data["type"] for p in parts if p.event == "debug"} >= {"checkpoint", "task", "task_result"}
    # Event ids count up from 1: what Last-Event-ID refers to.
    assert [int(p.id) for p in parts] == list(range(1, len(parts) + 1))


async def test_single_mode_default_is_values(client):
    events = [p.event async for p in client.runs.stream(None, "agent", input=HI)]
    assert events == ["metadata", "values", "values"]


async def test_subgraph_events_carry_namespace(client):
    parts = [
        p async for p in client.runs.stream(None, "parent", input=HI, stream_mode="updates", stream_subgraphs=True)
    ]
    names = [p.event for p in parts]
    assert "updates" in names
    sub = [n for n in names if n.startswith("updates|child:")]
    assert sub, names
    without = [p.event async for p in client.runs.stream(None, "parent", input=HI, stream_mode="updates")]
    assert all("|" not in n for n in without)


async def test_on_run_created_and_join_stream_filters_modes(client):
    tid = (await client.threads.create())["thread_id"]
    created = []
    async for _ in client.runs.stream(
        tid, "agent", input=HI, stream_mode=["values", "updates"], on_run_created=created.append
    ):
        pass
    assert created[0]["thread_id"] == tid
    rid = created[0]["run_id"]
    replay = [p.event async for p in client.runs.join_stream(tid, rid, stream_mode="updates")]
    assert replay == ["metadata", "updates"]


async def test_last_event_id_replays_only_later_events(client):
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "agent", input=HI, stream_mode=["values", "updates"])
    full = [p async for p in client.runs.join_stream(tid, run["run_id"])]
    assert len(full) >= 4
    tail = [p async for p in client.runs.join_stream(tid, run["run_id"], last_event_id=full[1].id)]
    assert [(p.id, p.event, p.data) for p in tail] == [(p.id, p.event, p.data) for p in full[2:]]


async def test_reconnect_mid_run_misses_nothing(client):
    """A client drops after the first event of a running run and comes back with its id."""
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "slow", input={"steps": []}, stream_mode=["values", "debug"])
    seen = []
    stream = client.runs.join_stream(tid, run["run_id"])
    async for p in stream:
        seen.append(p)
        break
    await stream.aclose()  # the connection drops here
    assert (await client.runs.get(tid, run["run_id"]))["status"] in ("pending", "running")
    rest = [p async for p in client.runs.join_stream(tid, run["run_id"], last_event_id=seen[-1].id)]
    all_ids = [int(p.id) for p in seen + rest]
    assert all_ids == list(range(1, len(all_ids) + 1))
    assert rest[-1].event == "debug" or rest[-1].event == "values"
    assert (await client.runs.get(tid, run["run_id"]))["status"] == "success"


async def test_stream_disconnect_cancels_by_default(client, server):
    import httpx

    tid = (await client.threads.create())["thread_id"]
    async with httpx.AsyncClient(base_url=server, timeout=10) as http:
        async with http.stream(
            "POST", f"/threads/{tid}/runs/stream", json={"assistant_id": "slow", "input": {"steps": []}}
        ) as res:
            assert res.headers["content-type"].startswith("text/event-stream")
            rid = res.headers["content-location"].rsplit("/", 1)[-1]
            async for line in res.aiter_lines():
                if line.startswith("event: metadata"):
                    break
    for _ in range(300):
        if (await client.runs.get(tid, rid))["status"] not in ("pending", "running"):
            break
        await asyncio.sleep(0.01)
    assert (await client.runs.get(tid, rid))["status"] == "interrupted"


async def test_messages_mode_sends_metadata_then_growing_partials(client):
    tid = (await client.threads.create())["thread_id"]
    parts = [p async for p in client.runs.stream(tid, "agent", input=HI, stream_mode="messages")]
    names = [p.event for p in parts]
    assert names[0] == "metadata"
    assert names[1] == "messages/metadata" and set(names[2:]) <= {"messages/partial", "messages/complete"}
    [(mid, info)] = parts[1].data.items()
    assert info["metadata"]["langgraph_node"] == "agent"
    partials = [p.data[0] for p in parts if p.event == "messages/partial"]
    assert len(partials) > 1 and {m["id"] for m in partials} == {mid}
    # Each partial holds the whole message so far: the last one is the full answer.
    contents = [m["content"] for m in partials]
    assert all(later.startswith(earlier) for earlier, later in zip(contents, contents[1:]))
    assert contents[-1] == "hello from the seed agent"
    # messages-tuple keeps the engine's (chunk, metadata) pairs under the event "messages".
    both = [p.event async for p in client.runs.stream(tid, "agent", input=HI, stream_mode=["messages", "messages-tuple"])]
    assert "messages" in both and "messages/partial" in both


async def test_events_mode_forwards_astream_events_with_the_run_as_root(client):
    """stream_mode="events": the run's astream_events(v2) as `events` chunks, the root run
    being the server's run (its id, the graph id as name); the other modes come as their
    own events, never as the root's on_chain_stream (as LangGraph's server sends them)."""
    tid = (await client.threads.create())["thread_id"]
    created = []
    parts = [
        p async for p in client.runs.stream(
            tid, "agent", input=HI, stream_mode=["events", "values"], on_run_created=created.append
        )
    ]
    rid = created[0]["run_id"]
    assert {p.event for p in parts} == {"metadata", "events", "values"}
    events = [p.data for p in parts if p.event == "events"]
    root_start, root_end = events[0], events[-1]
    assert (root_start["event"], root_start["name"], root_start["run_id"], root_start["parent_ids"]) == (
        "on_chain_start", "agent", rid, []
    )
    assert root_start["data"]["input"] == HI
    assert (root_end["event"], root_end["run_id"]) == ("on_chain_end", rid)
    assert root_end["data"]["output"]["messages"][-1]["content"] == "hello from the seed agent"
    assert not [e for e in events if e["event"] == "on_chain_stream" and not e["parent_ids"]]
    tokens = [e["data"]["chunk"]["content"] for e in events if e["event"] == "on_chat_model_stream"]
    assert "".join(tokens) == "hello from the seed agent"
    model_start = next(e for e in events if e["event"] == "on_chat_model_start")
    assert model_start["metadata"]["langgraph_node"] == "agent" and model_start["parent_ids"][0] == rid
    assert model_start["metadata"]["thread_id"] == tid
    values = [p.data for p in parts if p.event == "values"]
    assert values[-1]["messages"][-1]["content"] == "hello from the seed agent"
    # Only events asked for: no values chunk rides along.
    only = [p.event async for p in client.runs.stream(tid, "agent", input=HI, stream_mode="events")]
    assert set(only) == {"metadata", "events"}
    # And join_stream filters on it like any mode.
    replay = [p.event async for p in client.runs.join_stream(tid, rid, stream_mode="values")]
    assert set(replay) == {"metadata", "values"}


async def test_events_mode_subgraph_events_name_their_namespace_in_metadata(client):
    """A subgraph's events come as `events` too (no `|namespace` in the event name, as
    LangGraph's server), with or without stream_subgraphs; their metadata names it."""
    for subgraphs in (True, False):
        parts = [
            p async for p in client.runs.stream(
                None, "parent", input=HI, stream_mode=["events", "updates"], stream_subgraphs=subgraphs
            )
        ]
        names = {p.event for p in parts}
        assert "events" in names and not [n for n in names if n.startswith("events|")]
        inner = [p.data for p in parts if p.event == "events" and p.data["name"] == "inner_agent"]
        assert inner and all(e["metadata"]["langgraph_checkpoint_ns"].startswith("child:") for e in inner)
        assert any(n.startswith("updates|child:") for n in names) == subgraphs


async def test_cancelling_an_events_mode_run_stops_its_graph(client):
    """Cancelling a run streamed with astream_events stops its graph: the node never
    finishes and nothing is written after the run ended."""
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "slow", input={"steps": []}, stream_mode=["events"])
    async for p in client.runs.join_stream(tid, run["run_id"]):
        if p.event == "events" and p.data["event"] == "on_chain_start" and p.data["name"] == "step":
            break
    await client.runs.cancel(tid, run["run_id"], wait=True)
    assert (await client.runs.get(tid, run["run_id"]))["status"] == "interrupted"
    await asyncio.sleep(1.5)  # (the node would have finished by now)
    state = await client.threads.get_state(tid)
    assert "done" not in (state["values"].get("steps") or [])
