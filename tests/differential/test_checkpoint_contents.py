"""What the engine hands the checkpointer, on LangGraph and asyncgraph side by side.

The same graph runs on each library's ``InMemorySaver`` subclassed to record every
``aput``; we compare what a user can read back or sees a saver receive: each stored
checkpoint's metadata (the run's ``metadata`` and simple ``configurable`` values are
copied in, LangGraph's own keys and private ones are not) and which channels have a
value in each checkpoint (only channels with a version: a reducer's initial value is
not stored).
"""

from __future__ import annotations

import importlib
import operator
from typing import Annotated, Any, TypedDict

import pytest

PACKAGES = ("langgraph", "asyncgraph")


class S(TypedDict):
    x: int
    log: Annotated[list, operator.add]
    note: str


def _recording_saver(pkg: str) -> Any:
    mem = importlib.import_module(f"{pkg}.checkpoint.memory")

    class Recording(mem.InMemorySaver):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.puts: list[tuple[str, list[str], list[str]]] = []

        async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
            self.puts.append((
                config["configurable"].get("checkpoint_ns", ""),
                sorted(checkpoint["channel_values"]),
                sorted(new_versions),
            ))
            return await super().aput(config, checkpoint, metadata, new_versions)

    return Recording()


def _graph(pkg: str, saver: Any, subgraph: bool) -> Any:
    graph = importlib.import_module(f"{pkg}.graph")

    async def a(state: S) -> dict[str, Any]:
        return {"x": state["x"] + 1}

    async def b(state: S) -> dict[str, Any]:
        return {"log": ["b"]}

    g = graph.StateGraph(S)
    g.add_node("a", a)
    if subgraph:
        inner = graph.StateGraph(S)
        inner.add_node("b", b)
        inner.add_edge(graph.START, "b")
        inner.add_edge("b", graph.END)
        g.add_node("sub", inner.compile())
    else:
        g.add_node("sub", b)
    g.add_edge(graph.START, "a")
    g.add_edge("a", "sub")
    g.add_edge("sub", graph.END)
    return g.compile(checkpointer=saver)


CONFIG = {
    "configurable": {
        "thread_id": "1",
        "user_id": "u7",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "nul": "a\x00b",
        "a_list": [1, 2],  # not a simple value: not copied
        "none": None,
        "__private": "x",
        "checkpoint_ns": "",
    },
    "metadata": {"tenant": "acme", "step": 99, "source": "mine", "langgraph_node": "n", "user_id": "meta wins"},
}


async def _observe(pkg: str, subgraph: bool) -> dict[str, Any]:
    saver = _recording_saver(pkg)
    g = _graph(pkg, saver, subgraph)
    out = await g.ainvoke({"x": 0}, CONFIG)
    thread = {"configurable": {"thread_id": "1"}}
    history = [s.metadata async for s in g.aget_state_history(thread)]
    await g.aupdate_state(
        {"configurable": {"thread_id": "1", "user_id": "u8"}, "metadata": {"tenant": "other"}}, {"note": "hi"}
    )
    updated = (await g.aget_state(thread)).metadata
    subs = [
        {k: v for k, v in tup.metadata.items()}
        for tup in saver.list(None)
        if tup.config["configurable"]["checkpoint_ns"]
    ]
    for m in subs:
        m.pop("parents", None)  # the parent's checkpoint id differs by design
    return {
        "out": out,
        "history": history,
        "updated": updated,
        "puts": [(bool(ns), values, new) for ns, values, new in saver.puts],
        "subgraph_metadata": sorted(map(repr, subs)),
    }


@pytest.mark.parametrize("subgraph", [False, True], ids=["flat", "subgraph"])
async def test_checkpoint_metadata_and_values_match_langgraph(subgraph: bool) -> None:
    lg, ag = [await _observe(pkg, subgraph) for pkg in PACKAGES]
    assert ag["out"] == lg["out"]
    assert ag["history"] == lg["history"]
    assert ag["updated"] == lg["updated"]
    assert ag["puts"] == lg["puts"]
    assert ag["subgraph_metadata"] == lg["subgraph_metadata"]
    # What the comparison covers, stated once on our side.
    assert ag["history"][0]["tenant"] == "acme" and ag["history"][0]["user_id"] == "meta wins"
    assert ag["history"][0]["nul"] == "ab" and "a_list" not in ag["history"][0]
    assert ag["updated"]["tenant"] == "other" and ag["updated"]["user_id"] == "u8"
