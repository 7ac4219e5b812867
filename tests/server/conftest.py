"""The dev server on 127.0.0.1 (a free port), in the test's event loop, and an SDK client."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from langgraph_sdk import get_client

from asyncgraph.server import create_app

APP = Path(__file__).parent / "app" / "langgraph.json"

# Import everything the test app needs now, outside any event loop: a cold import inside a
# test's loop can take long enough under load to trip the blocking watchdog.
create_app(APP)
import asyncgraph.checkpoint.sqlite.aio  # noqa: E402,F401
import asyncgraph.server._sqlite_storage  # noqa: E402,F401
import asyncgraph.store.sqlite.aio  # noqa: E402,F401


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Run ``app`` on uvicorn on 127.0.0.1 (a free port) in this event loop; yield its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(srv.serve(sockets=[sock]))
    for _ in range(200):
        if srv.started:
            break
        await asyncio.sleep(0.01)
    assert srv.started, "the test server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


@pytest.fixture(params=["memory", "sqlite"])
async def server(request: Any, tmp_path: Path) -> AsyncIterator[str]:
    """The test app on each storage back end: in memory, and SQLite files in tmp_path."""
    data_dir = tmp_path / "data" if request.param == "sqlite" else None
    async with serve(create_app(APP, max_body_bytes=64 * 1024, data_dir=data_dir)) as url:
        yield url


@pytest.fixture
async def client(server: str) -> Any:
    c = get_client(url=server)
    try:
        yield c
    finally:
        await c.aclose()
