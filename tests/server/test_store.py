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


async def test_store_index_from_langgraph_json_ranks_by_meaning(tmp_path):
    import json

    from langgraph_sdk import get_client

    from asyncgraph.server import create_app
    from tests.server.conftest import APP, serve

    (tmp_path / "embed.py").write_text(
        "from asyncgraph.testing import DeterministicEmbeddings\nembeddings = DeterministicEmbeddings(dims=64)\n"
    )
    config = json.loads(APP.read_text())
    config["graphs"] = {k: str(APP.parent / v.removeprefix("./")) for k, v in config["graphs"].items()}
    config["dependencies"] = [str(APP.parent)]
    config["store"] = {"index": {"embed": "./embed.py:embeddings", "dims": 64, "fields": ["text"]}}
    (tmp_path / "langgraph.json").write_text(json.dumps(config))
    async with serve(create_app(tmp_path / "langgraph.json")) as url, get_client(url=url) as client:
        await client.store.put_item(["m"], "a", {"text": "the cat sat on the mat"})
        await client.store.put_item(["m"], "b", {"text": "stock prices fell sharply today"})
        found = await client.store.search_items(["m"], query="a cat on a mat")
        assert [i["key"] for i in found["items"]] == ["a", "b"]
        assert found["items"][0]["score"] > found["items"][1]["score"]


def test_a_bad_store_index_fails_at_start(tmp_path):
    import json

    from asyncgraph.server import create_app
    from asyncgraph.server._config import ConfigError, load_config
    from tests.server.conftest import APP

    config = json.loads(APP.read_text())
    config["graphs"] = {"agent": str(APP.parent / "graphs.py") + ":agent"}
    config["dependencies"] = [str(APP.parent)]
    for store, message in [({"index": {"embed": "./nope.py:e", "dims": 8}}, "does not exist"),
                           ({"index": {"embed": "x:y"}}, "integer 'dims'"),
                           ([1], "'store' must be an object")]:
        config["store"] = store
        (tmp_path / "langgraph.json").write_text(json.dumps(config))
        with pytest.raises(ConfigError, match=message):
            create_app(load_config(tmp_path / "langgraph.json"))
