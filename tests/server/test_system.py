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


async def test_openapi_document_lists_every_route(client, dev_app):
    from starlette.routing import Route

    doc = await client.http.get("/openapi.json")
    assert doc["openapi"].startswith("3.") and doc["info"]["version"] == asyncgraph.__version__
    served = {
        (m.lower(), r.path)
        for r in (dev_app.routes if dev_app is not None else [])
        if isinstance(r, Route)
        for m in r.methods or ()
        if m != "HEAD"
    }
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert served <= documented
    run = doc["paths"]["/threads/{thread_id}/runs/stream"]["post"]
    assert run["parameters"][0]["name"] == "thread_id"
    assert "text/event-stream" in run["responses"]["200"]["content"]
    assert doc["paths"]["/threads/{thread_id}"]["delete"]["responses"]["204"]
