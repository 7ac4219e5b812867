"""How a subgraph's checkpoints are addressed, compared with LangGraph: their metadata
names the enclosing runs' checkpoints (``parents``), their snapshots and ``debug``
checkpoint events carry the ``checkpoint_map`` built from it, and a task that runs a
subgraph shows the config of the subgraph's checkpoints as its ``state``.
"""

from __future__ import annotations

import json
import operator
import re
from types import SimpleNamespace
from typing import Annotated, Any, TypedDict

import pytest

from tests.differential._harness import modules

_IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class S(TypedDict):
    log: Annotated[list[str], operator.add]


def _nested(m: SimpleNamespace, depth: int, saver: Any) -> Any:
    """``depth`` graphs inside each other, each level a node then the next level."""

    def node(name: str) -> Any:
        return lambda state: {"log": [name]}

    inner = m.graph.StateGraph(S)
    inner.add_node("c_one", node("c_one"))
    inner.add_node("c_two", node("c_two"))
    inner.add_edge(m.graph.START, "c_one")
    inner.add_edge("c_one", "c_two")
    graph = inner
    for level in range(depth):
        outer = m.graph.StateGraph(S)
        outer.add_node(f"l{level}_one", node(f"l{level}_one"))
        outer.add_node(f"l{level}_sub", graph.compile())
        outer.add_edge(m.graph.START, f"l{level}_one")
        outer.add_edge(f"l{level}_one", f"l{level}_sub")
        graph = outer
    return graph.compile(checkpointer=saver)


def _shape(x: Any) -> Any:
    """``x`` with every id replaced by ``<id>`` (dict keys too), as JSON text."""
    return _IDS.sub("<id>", json.dumps(x, sort_keys=True, default=repr))


def _events(pkg: str, depth: int, durability: str) -> tuple[list[Any], Any]:
    saver = __import__(f"{pkg}.checkpoint.memory", fromlist=["InMemorySaver"]).InMemorySaver()
    graph = _nested(modules(pkg), depth, saver)
    config = {"configurable": {"thread_id": "t"}}
    events = []
    for ns, ev in graph.stream({"log": []}, config, stream_mode="debug", subgraphs=True, durability=durability):
        if ev["type"] == "checkpoint":
            p = ev["payload"]
            events.append((ns, {k: p[k] for k in ("config", "parent_config", "metadata", "next", "tasks")}))
    return events, graph


@pytest.mark.parametrize("durability", ["sync", "exit"])
@pytest.mark.parametrize("depth", [1, 2])
def test_debug_checkpoints_of_subgraphs_like_langgraph(depth: int, durability: str) -> None:
    ours, _ = _events("asyncgraph", depth, durability)
    theirs, _ = _events("langgraph", depth, durability)
    assert [_shape([ns, e]) for ns, e in ours] == [_shape([ns, e]) for ns, e in theirs]
    # Each subgraph event leads back to the checkpoints it runs under: the map names its
    # ancestors' checkpoints (those of the steps that ran it) and its own.
    step_of: dict[str, str] = {}  # namespace -> id of its latest checkpoint event
    for ns, ev in ours:
        conf = ev["config"]["configurable"]
        own_ns = "|".join(ns)
        assert conf["checkpoint_ns"] == own_ns
        if ns:
            cmap = conf["checkpoint_map"]
            assert cmap[own_ns] == conf["checkpoint_id"]
            assert {k: v for k, v in cmap.items() if k != own_ns} == ev["metadata"]["parents"]
            parent_ns = "|".join(ns[:-1])
            assert ev["metadata"]["parents"][parent_ns] == step_of[parent_ns]
        step_of[own_ns] = conf["checkpoint_id"]
        for task in ev["tasks"]:
            if task["name"].endswith("_sub"):
                sub_ns = f"{own_ns}|{task['name']}:{task['id']}" if own_ns else f"{task['name']}:{task['id']}"
                assert task["state"] == {"configurable": {"thread_id": "t", "checkpoint_ns": sub_ns}}
            else:
                assert task["state"] is None


def test_subgraph_snapshots_and_history_carry_the_map_like_langgraph() -> None:
    def views(pkg: str) -> list[str]:
        m = modules(pkg)
        saver = __import__(f"{pkg}.checkpoint.memory", fromlist=["InMemorySaver"]).InMemorySaver()
        inner = m.graph.StateGraph(S)
        inner.add_node("a", lambda s: {"log": ["a"]})
        inner.add_node("b", lambda s: {"log": ["b"]})
        inner.add_edge(m.graph.START, "a")
        inner.add_edge("a", "b")
        g = m.graph.StateGraph(S)
        g.add_node("sub", inner.compile(interrupt_before=["b"]))
        g.add_edge(m.graph.START, "sub")
        graph = g.compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "t"}}
        graph.invoke({"log": []}, config)
        sub = graph.get_state(config, subgraphs=True).tasks[0].state
        out = [sub.config, sub.metadata, sub.parent_config]
        history = list(graph.get_state_history(graph.get_state(config).tasks[0].state))
        out.append([(h.config, h.metadata, h.parent_config) for h in history])
        graph.update_state(sub.config, {"log": ["edited"]})
        sub = graph.get_state(config, subgraphs=True).tasks[0].state
        out.append([sub.values, sub.config, sub.metadata])
        return [_shape(x) for x in out]

    ours = views("asyncgraph")
    assert ours == views("langgraph")
    assert '"parents": {"": "<id>"}' in ours[1]
