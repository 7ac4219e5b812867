"""Assistants through the unmodified langgraph_sdk client."""

from __future__ import annotations

import pytest
from langgraph_sdk.errors import ConflictError, NotFoundError


async def test_graph_id_works_as_assistant_id(client):
    a = await client.assistants.get("agent")
    assert a["graph_id"] == "agent"
    assert a["metadata"] == {"created_by": "system"}
    assert (await client.assistants.get(a["assistant_id"]))["assistant_id"] == a["assistant_id"]


async def test_create_get_update_delete(client):
    a = await client.assistants.create("agent", name="mine", metadata={"team": "x"}, config={"configurable": {"k": 1}})
    assert (await client.assistants.get(a["assistant_id"]))["name"] == "mine"
    with pytest.raises(ConflictError):
        await client.assistants.create("agent", assistant_id=a["assistant_id"])
    same = await client.assistants.create("agent", assistant_id=a["assistant_id"], if_exists="do_nothing")
    assert same["name"] == "mine"
    updated = await client.assistants.update(a["assistant_id"], name="renamed", metadata={"extra": 1})
    assert updated["name"] == "renamed" and updated["version"] == 2
    assert updated["metadata"] == {"team": "x", "extra": 1}
    await client.assistants.delete(a["assistant_id"])
    with pytest.raises(NotFoundError):
        await client.assistants.get(a["assistant_id"])


async def test_search_and_count(client):
    await client.assistants.create("slow", name="s1", metadata={"kind": "slow"})
    await client.assistants.create("slow", name="s2", metadata={"kind": "slow"})
    found = await client.assistants.search(metadata={"kind": "slow"})
    assert sorted(a["name"] for a in found) == ["s1", "s2"]
    assert await client.assistants.count(metadata={"kind": "slow"}) == 2
    assert await client.assistants.count(graph_id="slow") == 3  # with the system assistant
    assert len(await client.assistants.search(limit=2)) == 2


async def test_unknown_graph_and_assistant(client):
    with pytest.raises(NotFoundError, match="missing"):
        await client.assistants.create("missing")
    with pytest.raises(NotFoundError, match="nope"):
        await client.assistants.get("nope")
    assert await client.assistants.count(graph_id="missing") == 0


async def test_get_graph_and_schemas(client):
    drawing = await client.assistants.get_graph("agent")
    ids = {n["id"] for n in drawing["nodes"]}
    assert {"__start__", "agent", "__end__"} <= ids
    schemas = await client.assistants.get_schemas("agent")
    assert schemas["graph_id"] == "agent"
    assert "messages" in str(schemas["input_schema"])


async def test_versions_and_set_latest(client):
    a = await client.assistants.create("agent", name="v1", config={"configurable": {"k": 1}})
    aid = a["assistant_id"]
    await client.assistants.update(aid, name="v2", config={"configurable": {"k": 2}})
    await client.assistants.update(aid, name="v3")
    versions = await client.assistants.get_versions(aid)
    assert [(v["version"], v["name"]) for v in versions] == [(3, "v3"), (2, "v2"), (1, "v1")]
    assert versions[2]["config"] == {"configurable": {"k": 1}}
    back = await client.assistants.set_latest(aid, 1)
    assert (back["version"], back["name"], back["config"]) == (1, "v1", {"configurable": {"k": 1}})
    assert (await client.assistants.get(aid))["name"] == "v1"
    assert "_versions" not in back and all("_versions" not in x for x in await client.assistants.search())
    # A later update is a new version after the highest, not version 2 again.
    assert (await client.assistants.update(aid, name="v4"))["version"] == 4
    with pytest.raises(NotFoundError):
        await client.assistants.set_latest(aid, 9)
    assert len(await client.assistants.get_versions(aid, limit=2)) == 2


async def test_subgraphs(client):
    subs = await client.assistants.get_subgraphs("parent")
    assert list(subs) == ["child"]
    assert subs["child"]["input_schema"]["type"] == "object"
    assert await client.assistants.get_subgraphs("agent") == {}
    assert list(await client.assistants.get_subgraphs("parent", namespace="child")) == ["child"]
