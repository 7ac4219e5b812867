"""What a task shows as its triggers (``tasks`` / ``debug`` chunks, its config's
``langgraph_triggers``), on LangGraph and asyncgraph side by side: every trigger of its
node, sorted, whichever fired (a node behind a waiting edge also has its own
``branch:to:`` channel), and ``('__pregel_push',)`` for a ``Send`` task."""

from __future__ import annotations

import importlib
import operator
from typing import Annotated, Any, TypedDict

import pytest

PACKAGES = ("langgraph", "asyncgraph")


class State(TypedDict, total=False):
    docs: Annotated[list[str], operator.add]


def _fan_in(pkg: str, defer: bool, waiting: bool) -> list[tuple[str, Any]]:
    G = importlib.import_module(f"{pkg}.graph")
    C = importlib.import_module(f"{pkg}.config")
    seen: list[tuple[str, Any]] = []

    def node(name: str) -> Any:
        def run(state: State) -> State:
            seen.append(("config", name, C.get_config()["metadata"]["langgraph_triggers"]))
            return {"docs": [name]}
        return run

    g = G.StateGraph(State)
    for n in ("start", "one", "two", "after_one"):
        g.add_node(n, node(n))
    g.add_node("join", node("join"), defer=defer)
    g.add_edge(G.START, "start")
    g.add_edge("start", "one")
    g.add_edge("start", "two")
    g.add_edge("one", "after_one")
    if waiting:
        g.add_edge(["one", "two"], "join")
    else:
        g.add_edge("one", "join")
        g.add_edge("two", "join")
    stream = [(c["name"], c["triggers"]) for c in g.compile().stream({"docs": []}, stream_mode="tasks")
              if "triggers" in c]
    return sorted(stream) + sorted(seen)


@pytest.mark.parametrize("defer", [False, True])
@pytest.mark.parametrize("waiting", [False, True])
def test_triggers_of_a_fan_in(defer: bool, waiting: bool) -> None:
    expected, got = (_fan_in(pkg, defer, waiting) for pkg in PACKAGES)
    assert got == expected
    if waiting:
        assert ("join", ("branch:to:join", "join:one+two:join")) in got


def _sent(pkg: str) -> list[Any]:
    G = importlib.import_module(f"{pkg}.graph")
    T = importlib.import_module(f"{pkg}.types")
    C = importlib.import_module(f"{pkg}.config")
    seen: list[Any] = []

    def worker(arg: str) -> State:
        seen.append(C.get_config()["metadata"]["langgraph_triggers"])
        return {"docs": [arg]}

    g = G.StateGraph(State)
    g.add_node("fan", lambda s: {"docs": ["fan"]})
    g.add_node("worker", worker)
    g.add_edge(G.START, "fan")
    g.add_conditional_edges("fan", lambda s: [T.Send("worker", "a"), T.Send("worker", "b")])
    chunks = [(c["name"], c["triggers"]) for c in g.compile().stream({"docs": []}, stream_mode="tasks")
              if "triggers" in c]
    return [chunks, seen]


def test_triggers_of_a_send_task() -> None:
    expected, got = (_sent(pkg) for pkg in PACKAGES)
    assert got == expected
    assert got[0][-1] == ("worker", ("__pregel_push",))
