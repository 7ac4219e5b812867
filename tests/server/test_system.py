"""``/ok`` and ``/info``."""

from __future__ import annotations

import asyncgraph


async def test_ok_and_info(client):
    assert await client.http.get("/ok") == {"ok": True}
    info = await client.http.get("/info")
    assert info["version"] == asyncgraph.__version__
    assert info["flags"]["assistants"] is True and info["flags"]["crons"] is True


async def test_unknown_route_is_404_in_the_sdk_shape(client):
    import pytest
    from langgraph_sdk.errors import NotFoundError

    with pytest.raises(NotFoundError, match="Not Found"):
        await client.http.get("/no/such/route")
