"""``webhook=``: a finished run is POSTed to the URL the client gave."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.server.conftest import serve


class Receiver:
    """A webhook endpoint that records what it gets; it answers 500 to the first
    ``fail_first`` deliveries."""

    def __init__(self, fail_first: int = 0) -> None:
        self.got: list[dict[str, Any]] = []
        self.refused = 0
        self.fail_first = fail_first
        self.arrived = asyncio.Event()

    async def hook(self, request: Request) -> JSONResponse:
        if self.refused < self.fail_first:
            self.refused += 1
            return JSONResponse({"no": "not now"}, status_code=500)
        self.got.append(await request.json())
        self.arrived.set()
        return JSONResponse({"ok": True})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])


@pytest.mark.parametrize("backend", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_a_finished_run_is_posted_to_its_webhook(client: Any) -> None:
    receiver = Receiver()
    async with serve(receiver.app()) as hook_url:
        thread = await client.threads.create()
        run = await client.runs.create(
            thread["thread_id"], "agent", input={"messages": [{"role": "user", "content": "hi"}]},
            webhook=f"{hook_url}/hook",
        )
        await asyncio.wait_for(receiver.arrived.wait(), 10)
    [payload] = receiver.got
    assert payload["run_id"] == run["run_id"]
    assert payload["thread_id"] == thread["thread_id"]
    assert payload["status"] == "success"
    assert payload["values"]["messages"][-1]["content"] == "hello from the seed agent"


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_a_refused_delivery_is_retried(client: Any) -> None:
    receiver = Receiver(fail_first=1)
    async with serve(receiver.app()) as hook_url:
        thread = await client.threads.create()
        run = await client.runs.create(thread["thread_id"], "slow", input={"steps": ["boom"]},
                                       webhook=f"{hook_url}/hook")
        await asyncio.wait_for(receiver.arrived.wait(), 15)
    assert receiver.refused == 1
    [payload] = receiver.got
    assert payload["run_id"] == run["run_id"]
    assert payload["status"] == "error"
    assert payload["error"]["message"] == "boom requested by the input"


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
async def test_a_webhook_that_is_not_an_http_url_is_refused(client: Any) -> None:
    thread = await client.threads.create()
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await client.runs.create(thread["thread_id"], "agent", input={}, webhook="file:///etc/passwd")
    assert refused.value.response.status_code == 422
    assert "'webhook' must be an http(s) URL" in refused.value.response.text
    assert await client.runs.list(thread["thread_id"]) == []
