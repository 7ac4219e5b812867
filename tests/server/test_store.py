"""``/store``: put, get, delete, search and list namespaces through langgraph_sdk."""

from __future__ import annotations

import pytest
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError


async def test_put_get_search_delete(client):
    await client.store.put_item(["users", "ann"], "prefs", {"theme": "dark", "size": 3})
    await client.store.put_item(["users", "bob"], "prefs", {"theme": "light", "size": 5})
    await client.store.put_item(["docs"], "d1", {"title": "x"})
    item = await client.store.get_item(["users", "ann"], "prefs")
    assert item["value"] == {"theme": "dark", "size": 3}
    assert item["namespace"] == ["users", "ann"] and item["created_at"]
    found = await client.store.search_items(["users"], filter={"theme": "light"})
    assert [i["namespace"] for i in found["items"]] == [["users", "bob"]]
    assert len((await client.store.search_items(["users"]))["items"]) == 2
    ns = await client.store.list_namespaces(prefix=["users"])
    assert sorted(ns["namespaces"]) == [["users", "ann"], ["users", "bob"]]
    assert sorted((await client.store.list_namespaces(max_depth=1))["namespaces"]) == [["docs"], ["users"]]
    await client.store.delete_item(["users", "ann"], "prefs")
    with pytest.raises(NotFoundError, match="prefs"):
        await client.store.get_item(["users", "ann"], "prefs")


async def test_bad_store_input(client):
    with pytest.raises(UnprocessableEntityError, match="value"):
        await client.http.put("/store/items", json={"namespace": ["a"], "key": "k", "value": [1, 2]})
    with pytest.raises(UnprocessableEntityError, match="namespace"):
        await client.http.put("/store/items", json={"namespace": "a", "key": "k", "value": {}})
    assert (await client.store.search_items(["a"]))["items"] == []


async def test_graph_nodes_share_the_server_store(client):
    """The store behind /store is the one the graphs' nodes get."""
    await client.runs.wait(None, "remember", input={"messages": [{"role": "user", "content": "note this"}]})
    item = await client.store.get_item(["memories"], "last")
    assert item["value"] == {"text": "note this"}
