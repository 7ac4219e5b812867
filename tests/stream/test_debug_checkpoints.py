"""``stream_mode="debug"`` checkpoint events, differential against LangGraph.

With ``durability="exit"`` a run saves one checkpoint at its end, but the debug stream
still shows a checkpoint event before every step (its id is the one the run's checkpoint
is saved under at the end), as LangGraph's does. A resumed run's first checkpoint event
shows the interrupts its tasks are waiting on.
"""

from __future__ import annotations

import importlib
import re
import uuid
from typing import Any

import pytest
from typing_extensions import TypedDict

PACKAGES = ("langgraph", "asyncgraph")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|^[0-9a-f]{32}$")


def _mod(pkg: str, name: str) -> Any:
    return importlib.import_module(f"{pkg}.{name}")


def _normalize(chunks: list[dict[str, Any]]) -> list[Any]:
    """The stream with ids numbered in order of appearance and timestamps dropped."""
    seen: dict[str, str] = {}

    def walk(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items() if k != "timestamp"}
        if isinstance(x, (list, tuple)):
            return type(x)(walk(v) for v in x)
        if isinstance(x, str) and _UUID.match(x):
            return seen.setdefault(x, f"id{len(seen)}")
        if isinstance(x, uuid.UUID):
            return "uuid-object"
        return x

    return [walk(c) for c in chunks]


class S(TypedDict):
    a: int


def _graph(pkg: str) -> Any:
    graph = _mod(pkg, "graph")
    b = graph.StateGraph(S)
    b.add_node("one", lambda s: {"a": s["a"] + 1})
    b.add_node("two", lambda s: {"a": s["a"] * 2})
    b.add_edge("__start__", "one")
    b.add_edge("one", "two")
    return b.compile(checkpointer=_mod(pkg, "checkpoint.memory").InMemorySaver())


@pytest.mark.parametrize("durability", ["exit", "async", "sync"])
def test_debug_checkpoints_of_a_graph_match(durability: str) -> None:
    out = {}
    for pkg in PACKAGES:
        g = _graph(pkg)
        cfg = {"configurable": {"thread_id": uuid.uuid4()}}  # not a str: shown as one
        chunks = list(g.stream({"a": 1}, cfg, stream_mode="debug", durability=durability))
        last = [c for c in chunks if c["type"] == "checkpoint"][-1]["payload"]["config"]
        saved = g.get_state(cfg).config
        assert last["configurable"]["checkpoint_id"] == saved["configurable"]["checkpoint_id"]
        out[pkg] = _normalize(chunks)
    assert out["asyncgraph"] == out["langgraph"]


@pytest.mark.parametrize("durability", ["exit", "async"])
def test_debug_checkpoints_of_an_interrupted_entrypoint_match(durability: str) -> None:
    out = {}
    for pkg in PACKAGES:
        func, types = _mod(pkg, "func"), _mod(pkg, "types")

        @func.task
        def falsy() -> bool:
            return False

        @func.entrypoint(checkpointer=_mod(pkg, "checkpoint.memory").InMemorySaver())
        def flow(state: dict) -> None:
            falsy().result()
            types.interrupt("why?")

        cfg = {"configurable": {"thread_id": str(uuid.uuid4())}}
        first = list(flow.stream({"a": 5}, cfg, stream_mode="debug", durability=durability))
        second = list(flow.stream(types.Command(resume="because"), cfg, stream_mode="debug", durability=durability))
        waiting = [c for c in second if c["type"] == "checkpoint"][0]["payload"]["tasks"][0]["interrupts"]
        assert [i["value"] for i in waiting] == ["why?"]
        out[pkg] = _normalize(first + second)
    assert out["asyncgraph"] == out["langgraph"]
