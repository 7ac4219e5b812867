"""What a run keeps alive for its running task while the node awaits (a model call,
say): the task alone. Thousands of runs wait at once; every object each one holds is
walked by every collection of the garbage collector.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any, TypedDict

import pytest

from asyncgraph.graph import END, START, StateGraph


class S(TypedDict):
    x: int


_seen: dict[str, Any] = {}


async def _node(state: S) -> dict[str, Any]:
    before = _seen.get("before")
    if before is None:  # the warm-up run
        return {"x": state["x"] + 1}
    gc.collect()
    new = [o for o in gc.get_objects() if id(o) not in before and type(o).__module__.startswith("asyncgraph")]
    _seen["types"] = sorted(type(o).__name__ for o in new)
    tasks = [o for o in new if type(o).__name__ == "Task"]
    _seen["tasks"] = len(tasks)
    # Lists that hold the running task (the step's task list): none while it awaits.
    mine = (id(new), id(tasks))
    _seen["lists"] = sum(type(r) is list and id(r) not in mine for t in tasks for r in gc.get_referrers(t))
    await asyncio.sleep(0)  # the node suspends, as one waiting on a model would
    return {"x": state["x"] + 1}


def _graph() -> Any:
    g = StateGraph(S)
    g.add_node("n", _node)
    g.add_edge(START, "n")
    g.add_edge("n", END)
    return g.compile()


@pytest.mark.allow_blocking  # full collections and a walk of the heap, on purpose
async def test_a_running_task_is_one_object_held_by_no_list() -> None:
    graph = _graph()
    assert await graph.ainvoke({"x": 0}) == {"x": 1}  # warm
    _seen.clear()
    gc.collect()
    _seen["before"] = {id(o) for o in gc.get_objects()}
    assert await graph.ainvoke({"x": 1}) == {"x": 2}
    # One task object (no separate task context beside it) ...
    assert _seen["tasks"] == 1, _seen["types"]
    assert "TaskContext" not in _seen["types"]
    # ... and the step's task list is not kept while the node runs.
    assert _seen["lists"] == 0
