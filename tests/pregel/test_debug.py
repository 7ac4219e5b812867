"""``asyncgraph.pregel.debug``: the ``tasks`` stream's payloads, and what the engine
streams with them (compared with LangGraph)."""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from typing import Any

from typing_extensions import TypedDict

from asyncgraph.constants import TAG_HIDDEN
from asyncgraph.pregel.debug import (
    map_debug_task_results,
    map_debug_tasks,
    map_task_result_writes,
    rm_pregel_keys,
)
from asyncgraph.types import Interrupt


def _task(config: Any, name: str = "tools") -> Any:
    return SimpleNamespace(id="t1", name=name, input={"x": 1}, triggers=("x",), config=config)


def test_a_task_payload_carries_the_users_metadata_and_tags_only() -> None:
    md = {"lc_agent_name": "weather", "mine": 1, "langgraph_node": "tools", "langgraph_step": 2,
          "thread_id": "t", "checkpoint_ns": "", "langgraph_checkpoint_ns": "tools:1"}
    config = {"metadata": md, "tags": ["seq:step:1", "team-a"]}
    (payload,) = map_debug_tasks([_task(config)])
    assert payload == {"id": "t1", "name": "tools", "input": {"x": 1}, "triggers": ("x",),
                       "metadata": {"lc_agent_name": "weather", "mine": 1, "tags": ["team-a"]}}
    md["mine"] = 2  # the payload holds its own copy
    assert payload["metadata"]["mine"] == 1


def test_no_metadata_key_without_user_metadata() -> None:
    for config in (None, {}, {"metadata": {}}, {"metadata": {"langgraph_step": 1}, "tags": ["seq:step:3"]}):
        (payload,) = map_debug_tasks([_task(config)])
        assert "metadata" not in payload
    (payload,) = map_debug_tasks([_task({"tags": ["t"]})])
    assert payload["metadata"] == {"tags": ["t"]}


def test_hidden_tasks_are_left_out() -> None:
    assert [p["name"] for p in map_debug_tasks([_task({"tags": [TAG_HIDDEN]}, "h"), _task({}, "v")])] == ["v"]


def test_task_results_fold_repeated_writes() -> None:
    assert map_task_result_writes([("a", 1), ("b", 2), ("a", 3), ("a", 4)]) == {"a": {"$writes": [1, 3, 4]}, "b": 2}
    writes = [("a", 1), ("hidden", 2), ("__interrupt__", [Interrupt(value="q", id="i")]), ("__error__", "boom")]
    (payload,) = map_debug_task_results((_task({}), writes), ["a"])
    assert payload == {"id": "t1", "name": "tools", "error": "boom", "result": {"a": 1},
                       "interrupts": [{"value": "q", "id": "i", "response_schema": None}]}


def test_rm_pregel_keys_keeps_the_configurable_without_engine_keys() -> None:
    cfg = {"tags": ["x"], "configurable": {"thread_id": "t", "__pregel_send": 1}}
    assert rm_pregel_keys(cfg) == {"configurable": {"thread_id": "t"}}
    assert rm_pregel_keys(None) is None


class S(TypedDict):
    a: int


def _streamed_task_metadata(pkg: str) -> list[Any]:
    g = importlib.import_module(f"{pkg}.graph")
    mem = importlib.import_module(f"{pkg}.checkpoint.memory")
    inner = g.StateGraph(S)
    inner.add_node("inner", lambda s: {"a": 2}, metadata={"level": "inner"})
    inner.set_entry_point("inner")
    outer = g.StateGraph(S)
    outer.add_node("outer", inner.compile(), metadata={"level": "outer", "owner": "me"})
    outer.add_node("plain", lambda s: {"a": 3})
    outer.set_entry_point("outer")
    outer.add_edge("outer", "plain")
    app = outer.compile(checkpointer=mem.InMemorySaver())
    out = []
    for config in (
        {"configurable": {"thread_id": "1"}, "metadata": {"lc_agent_name": "agent"}, "tags": ["t1"]},
        {"configurable": {"thread_id": "2"}},
    ):
        for ns, chunk in app.stream({"a": 0}, config, stream_mode="tasks", subgraphs=True):
            if "input" in chunk:
                out.append((len(ns), chunk["name"], chunk.get("metadata")))
    return out


def test_the_tasks_stream_carries_task_metadata_as_on_langgraph() -> None:
    ours = _streamed_task_metadata("asyncgraph")
    assert ours == _streamed_task_metadata("langgraph")
    assert (0, "outer", {"lc_agent_name": "agent", "level": "outer", "owner": "me", "tags": ["t1"]}) in ours
