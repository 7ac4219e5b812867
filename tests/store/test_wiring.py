"""The store passed to ``compile(store=...)`` reaches every place a graph can use it:
``get_store()``, the ``store`` node parameter, ``Runtime.store``, tools with
``InjectedStore``, and subgraphs (which share the parent's store)."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool

from asyncgraph.config import get_store
from asyncgraph.graph import END, START, MessagesState, StateGraph
from asyncgraph.prebuilt import InjectedStore, ToolNode
from asyncgraph.runtime import Runtime
from asyncgraph.store.base import BaseStore
from asyncgraph.store.memory import InMemoryStore
from asyncgraph.store.sqlite import SqliteStore


class State(TypedDict):
    seen: list[str]


def build(store: BaseStore) -> Any:
    def by_get_store(state: State) -> dict[str, Any]:
        get_store().put(("wiring",), "get_store", {"v": 1})
        return {"seen": [*state["seen"], "get_store"]}

    async def by_param(state: State, *, store: BaseStore) -> dict[str, Any]:
        await store.aput(("wiring",), "param", {"v": 2})
        return {"seen": [*state["seen"], "param"]}

    def by_runtime(state: State, runtime: Runtime) -> dict[str, Any]:
        assert runtime.store is not None
        runtime.store.put(("wiring",), "runtime", {"v": 3})
        return {"seen": [*state["seen"], "runtime"]}

    def child_node(state: State, *, store: BaseStore) -> dict[str, Any]:
        found = store.get(("wiring",), "runtime")  # written by the parent's node
        store.put(("wiring",), "subgraph", {"saw_parent": found is not None})
        return {"seen": [*state["seen"], "subgraph"]}

    child = StateGraph(State)
    child.add_node("child_node", child_node)
    child.add_edge(START, "child_node")
    child.add_edge("child_node", END)

    g = StateGraph(State)
    g.add_node("by_get_store", by_get_store)
    g.add_node("by_param", by_param)
    g.add_node("by_runtime", by_runtime)
    g.add_node("sub", child.compile())
    g.add_edge(START, "by_get_store")
    g.add_edge("by_get_store", "by_param")
    g.add_edge("by_param", "by_runtime")
    g.add_edge("by_runtime", "sub")
    g.add_edge("sub", END)
    return g.compile(store=store)


def stored(store: BaseStore) -> dict[str, Any]:
    return {item.key: item.value for item in store.search(("wiring",), limit=100)}


EXPECTED = {
    "get_store": {"v": 1},
    "param": {"v": 2},
    "runtime": {"v": 3},
    "subgraph": {"saw_parent": True},
}


async def test_nodes_runtime_and_subgraphs_share_the_compiled_store() -> None:
    store = InMemoryStore()
    out = await build(store).ainvoke({"seen": []})
    assert out["seen"] == ["get_store", "param", "runtime", "subgraph"]
    assert stored(store) == EXPECTED


def test_sync_invoke_with_a_sqlite_store(tmp_path: Any) -> None:
    with SqliteStore.from_conn_string(str(tmp_path / "wiring.db")) as store:
        out = build(store).invoke({"seen": []})
        assert out["seen"] == ["get_store", "param", "runtime", "subgraph"]
        assert stored(store) == EXPECTED


async def test_tool_with_injected_store_sees_the_graph_store() -> None:
    store = InMemoryStore()
    await store.aput(("prefs", "u1"), "color", {"value": "green"})

    @tool
    async def remember(fact: str, store: Annotated[Any, InjectedStore()]) -> str:
        """Save a fact and report the user's favourite colour."""
        await store.aput(("facts",), fact, {"fact": fact})
        item = await store.aget(("prefs", "u1"), "color")
        return item.value["value"] if item else "unknown"

    def model(state: MessagesState) -> dict[str, Any]:
        call = {"name": "remember", "args": {"fact": "likes tea"}, "id": "c1", "type": "tool_call"}
        return {"messages": [AIMessage("", tool_calls=[call])]}

    g = StateGraph(MessagesState)
    g.add_node("model", model)
    g.add_node("tools", ToolNode([remember]))
    g.add_edge(START, "model")
    g.add_edge("model", "tools")
    g.add_edge("tools", END)
    out = await g.compile(store=store).ainvoke({"messages": [("user", "hi")]})
    reply = out["messages"][-1]
    assert isinstance(reply, ToolMessage) and reply.content == "green"
    assert (await store.aget(("facts",), "likes tea")).value == {"fact": "likes tea"}  # type: ignore[union-attr]
    # The injected parameter is hidden from the model's view of the tool.
    assert "store" not in remember.tool_call_schema.model_json_schema()["properties"]


async def test_no_store_gives_none() -> None:
    def node(state: State, runtime: Runtime) -> dict[str, Any]:
        return {"seen": [repr(runtime.store), repr(get_store())]}

    g = StateGraph(State)
    g.add_node("node", node)
    g.add_edge(START, "node")
    g.add_edge("node", END)
    assert (await g.compile().ainvoke({"seen": []}))["seen"] == ["None", "None"]
