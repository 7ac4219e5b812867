"""Custom auth (``langgraph.json`` ``auth.path``): who gets in, and who sees what.

The app in ``app_auth/`` authenticates "Bearer <name>" tokens and makes threads, runs and
crons belong to their creator (``@auth.on`` stamps ``metadata.owner`` and filters on it);
store items go under the user's own namespace. Every request goes through the unmodified
``langgraph_sdk`` client, as a user's app would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import NotFoundError, PermissionDeniedError

from asyncgraph.server import create_app
from asyncgraph.server._config import ConfigError, load_config
from tests.server.conftest import serve

APP = Path(__file__).parent / "app_auth" / "langgraph.json"


@pytest.fixture
def app() -> Any:
    return create_app(APP)  # (outside the event loop: it imports the app's modules)


@pytest.fixture
async def url(app: Any) -> AsyncIterator[str]:
    async with serve(app) as u:
        yield u


def _client(url: str, token: str) -> Any:
    return get_client(url=url, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
async def alice(url: str) -> AsyncIterator[Any]:
    c = _client(url, "alice")
    yield c
    await c.aclose()


@pytest.fixture
async def bob(url: str) -> AsyncIterator[Any]:
    c = _client(url, "bob")
    yield c
    await c.aclose()


async def test_requests_without_a_valid_token_are_refused_with_the_handlers_answer(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/ok")).status_code == 200  # health checks stay open
        r = await http.post("/threads", json={})
        assert r.status_code == 401
        assert r.json() == {"detail": "bad token for POST /threads"}
        r = await http.post("/threads", json={}, headers={"Authorization": "Bearer mallory"})
        assert r.status_code == 401


async def test_a_users_threads_are_invisible_to_another_user(alice: Any, bob: Any) -> None:
    mine = await alice.threads.create(metadata={"topic": "a"})
    assert mine["metadata"] == {"topic": "a", "owner": "alice"}
    theirs = await bob.threads.create()
    tid = mine["thread_id"]

    assert (await alice.threads.get(tid))["thread_id"] == tid
    with pytest.raises(NotFoundError):
        await bob.threads.get(tid)
    with pytest.raises(NotFoundError):
        await bob.threads.update(tid, metadata={"owner": "bob"})
    with pytest.raises(NotFoundError):
        await bob.threads.get_state(tid)
    with pytest.raises(NotFoundError):
        await bob.threads.get_history(tid)
    with pytest.raises(NotFoundError):
        await bob.threads.delete(tid)
    with pytest.raises(NotFoundError):
        await bob.runs.create(tid, "whoami", input={})
    with pytest.raises(NotFoundError):
        await bob.runs.list(tid)

    assert [t["thread_id"] for t in await alice.threads.search()] == [tid]
    assert [t["thread_id"] for t in await bob.threads.search()] == [theirs["thread_id"]]
    assert await alice.threads.count() == 1
    # Bob cannot take Alice's thread id for a thread of his own either.
    with pytest.raises(httpx.HTTPStatusError) as taken:
        await bob.threads.create(thread_id=tid)
    assert taken.value.response.status_code == 409
    assert (await alice.threads.get(tid))["metadata"]["owner"] == "alice"


async def test_runs_see_their_caller_and_a_client_cannot_claim_another_identity(alice: Any, bob: Any) -> None:
    thread = await alice.threads.create()
    out = await alice.runs.wait(
        thread["thread_id"], "whoami", input={},
        config={"configurable": {"langgraph_auth_user_id": "admin", "langgraph_auth_permissions": ["admin"]}},
    )
    assert out == {"user_id": "alice", "permissions": ["read", "write"], "display_name": "Alice"}
    run = (await alice.runs.list(thread["thread_id"]))[0]
    with pytest.raises(NotFoundError):
        await bob.runs.get(thread["thread_id"], run["run_id"])
    with pytest.raises(NotFoundError):
        await bob.runs.cancel(thread["thread_id"], run["run_id"])
    with pytest.raises(httpx.HTTPStatusError) as hidden:  # (the SDK's join raises httpx's own error)
        await bob.runs.join(thread["thread_id"], run["run_id"])
    assert hidden.value.response.status_code == 404


async def test_a_thread_a_run_creates_belongs_to_the_caller(alice: Any, bob: Any) -> None:
    tid = "3f1e0f8e-1111-4c1d-9a55-000000000001"
    await alice.runs.wait(tid, "whoami", input={}, if_not_exists="create")
    assert (await alice.threads.get(tid))["metadata"]["owner"] == "alice"
    with pytest.raises(NotFoundError):
        await bob.threads.get(tid)


async def test_a_handler_saying_no_is_403_and_changes_nothing(url: str, alice: Any) -> None:
    assistants = await alice.assistants.search(graph_id="whoami")
    assert assistants  # everyone may read the graph's assistant
    aid = assistants[0]["assistant_id"]
    with pytest.raises(PermissionDeniedError):
        await alice.assistants.delete(aid)
    assert (await alice.assistants.get(aid))["assistant_id"] == aid
    admin = _client(url, "admin")
    try:
        await admin.assistants.delete(aid)
        with pytest.raises(NotFoundError):
            await alice.assistants.get(aid)
    finally:
        await admin.aclose()


async def test_store_items_live_in_the_users_own_namespace(alice: Any, bob: Any) -> None:
    await alice.store.put_item(["notes"], "n1", {"text": "alice's"})
    await bob.store.put_item(["notes"], "n1", {"text": "bob's"})
    assert (await alice.store.get_item(["notes"], "n1"))["value"] == {"text": "alice's"}
    assert (await bob.store.get_item(["notes"], "n1"))["value"] == {"text": "bob's"}
    found = await alice.store.search_items(["notes"])
    assert [i["value"] for i in found["items"]] == [{"text": "alice's"}]
    await bob.store.delete_item(["notes"], "n1")
    assert (await alice.store.get_item(["notes"], "n1"))["value"] == {"text": "alice's"}


async def test_crons_belong_to_their_creator(alice: Any, bob: Any) -> None:
    thread = await alice.threads.create()
    cron = await alice.crons.create_for_thread(thread["thread_id"], "whoami", schedule="0 0 1 1 *", input={})
    assert [c["cron_id"] for c in await alice.crons.search()] == [cron["cron_id"]]
    assert await bob.crons.search() == []
    with pytest.raises(NotFoundError):
        await bob.crons.delete(cron["cron_id"])
    with pytest.raises(NotFoundError):  # nor on Alice's thread
        await bob.crons.create_for_thread(thread["thread_id"], "whoami", schedule="0 0 1 1 *", input={})


def test_a_bad_auth_path_names_the_problem(tmp_path: Path) -> None:
    (tmp_path / "g.py").write_text(
        "from asyncgraph.graph import StateGraph, START\nfrom typing_extensions import TypedDict\n"
        "class S(TypedDict):\n    x: int\n"
        "b = StateGraph(S)\nb.add_node('n', lambda s: s)\nb.add_edge(START, 'n')\ng = b.compile()\n"
        "not_auth = object()\n"
    )
    for auth, message in [
        ({"path": "./missing.py:auth"}, "does not exist"),
        ({"path": "./g.py:nope"}, "has no variable 'nope'"),
        ({"path": "./g.py:not_auth"}, "is not a langgraph_sdk.Auth object"),
        ("./g.py:auth", "'auth' must be an object"),
    ]:
        (tmp_path / "langgraph.json").write_text(
            __import__("json").dumps({"graphs": {"g": "./g.py:g"}, "auth": auth})
        )
        with pytest.raises(ConfigError, match=message):
            create_app(load_config(tmp_path / "langgraph.json"))
