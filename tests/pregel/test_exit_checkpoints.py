"""``durability="exit"``: the one checkpoint a run saves, compared with LangGraph, for
runs that commit no step (they pause or fail in their first step): a resume of the
latest checkpoint adds its writes to that checkpoint (no copy under a new id, so the
next resume derives the same task ids and subgraph namespaces); a replay of an older
checkpoint saves a fork of it, as it does under the other durability modes.
"""

from __future__ import annotations

import json
import operator
import re
from typing import Annotated, Any, TypedDict

import pytest

from tests.differential._harness import modules

_IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class S(TypedDict):
    log: Annotated[list[str], operator.add]


def _history(graph: Any, config: dict[str, Any]) -> list[str]:
    """The thread's history, oldest first, with checkpoint ids numbered in that order."""
    ids: dict[str, str] = {}
    out = []
    for h in reversed(list(graph.get_state_history(config))):
        row = [h.config["configurable"]["checkpoint_id"],
               (h.parent_config or {}).get("configurable", {}).get("checkpoint_id"),
               h.metadata["source"], h.metadata["step"], h.values, h.next,
               [(t.name, len(t.interrupts), t.error is not None) for t in h.tasks]]
        out.append(_IDS.sub(lambda m: ids.setdefault(m.group(0), f"<{len(ids)}>"), json.dumps(row, default=str)))
    return out


def _replay(pkg: str, then: str) -> list[Any]:
    m = modules(pkg)
    saver = __import__(f"{pkg}.checkpoint.memory", fromlist=["InMemorySaver"]).InMemorySaver()
    runs: list[str] = []

    def b(state: S) -> dict[str, Any]:
        runs.append("b")
        if len(runs) > 1 and then == "interrupt":
            return {"log": ["b" + m.types.interrupt("q")]}
        if len(runs) > 1 and then == "fail":
            raise ValueError("b failed on the replay")
        return {"log": ["b"]}

    g = m.graph.StateGraph(S)
    g.add_node("a", lambda s: {"log": ["a"]})
    g.add_node("b", b)
    g.add_node("c", lambda s: {"log": ["c"]})
    g.add_edge(m.graph.START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    app = g.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "t"}}
    app.invoke({"log": []}, config)
    before_b = next(h for h in app.get_state_history(config) if h.next == ("b",))
    out: list[Any] = []
    try:
        out.append(app.invoke(None, before_b.config, durability="exit").get("log"))
    except ValueError as exc:
        out.append(str(exc))
    out.append(_history(app, config))
    if then == "interrupt":
        out.append(app.invoke(m.types.Command(resume="!"), config, durability="exit"))
        out.append(_history(app, config))
    return out


@pytest.mark.parametrize("then", ["interrupt", "fail"])
def test_a_replay_that_commits_no_step_saves_a_fork_like_langgraph(then: str) -> None:
    ours = _replay("asyncgraph", then)
    assert ours == _replay("langgraph", then)
    assert '"fork", 2' in ours[1][-1]  # the fork of the replayed checkpoint (step 1)
