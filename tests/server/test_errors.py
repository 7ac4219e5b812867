"""Bad input: clear 4xx errors in the SDK's shape, and nothing stored."""

from __future__ import annotations

import httpx
import pytest
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError


async def _raw(server, method, path, **kw):
    async with httpx.AsyncClient(base_url=server, timeout=10) as http:
        return await http.request(method, path, **kw)


async def test_malformed_json_is_400_and_stores_nothing(server, client):
    res = await _raw(server, "POST", "/threads", content=b"{not json", headers={"content-type": "application/json"})
    assert res.status_code == 400
    assert "not valid JSON" in res.json()["detail"]
    res = await _raw(server, "POST", "/assistants", content=b"[1, 2]")
    assert res.status_code == 422 and "JSON object" in res.json()["detail"]
    assert await client.threads.count() == 0
    assert await client.assistants.count() == 8  # the system assistants only (one per graph)


async def test_oversized_body_is_413(server, client):
    big = b'{"metadata": {"x": "' + b"a" * (70 * 1024) + b'"}}'
    res = await _raw(server, "POST", "/threads", content=big, headers={"content-type": "application/json"})
    assert res.status_code == 413 and "limit" in res.json()["detail"]
    assert await client.threads.count() == 0


async def test_unknown_ids(client):
    with pytest.raises(NotFoundError, match="thread 'missing-thread' not found"):
        await client.threads.get("missing-thread")
    with pytest.raises(NotFoundError, match="thread"):
        await client.threads.get_state("missing-thread")
    tid = (await client.threads.create())["thread_id"]
    with pytest.raises(NotFoundError, match="run 'nope' not found"):
        await client.runs.get(tid, "nope")
    with pytest.raises(NotFoundError, match="assistant 'ghost' not found"):
        await client.runs.create(tid, "ghost", input={})
    assert await client.runs.list(tid) == []
    with pytest.raises(NotFoundError, match="graph 'ghost' not found in langgraph.json"):
        await client.assistants.create("ghost")


async def test_bad_run_arguments(client):
    tid = (await client.threads.create())["thread_id"]
    with pytest.raises(UnprocessableEntityError, match="stream_mode 'bogus'"):
        await client.runs.create(tid, "agent", input={}, stream_mode="bogus")  # type: ignore[arg-type]
    with pytest.raises(UnprocessableEntityError, match="multitask_strategy"):
        await client.runs.create(tid, "agent", input={}, multitask_strategy="sometimes")  # type: ignore[arg-type]
    with pytest.raises(UnprocessableEntityError, match="assistant_id"):
        await client.http.post(f"/threads/{tid}/runs", json={"input": {}})
    with pytest.raises(UnprocessableEntityError, match="'input' or 'command'"):
        await client.runs.create(tid, "agent", input={}, command={"resume": 1})
    assert await client.runs.list(tid) == []
