"""The checkpoint a resumed run starts from, as ``checkpoints`` / ``debug`` chunks show
it, on LangGraph and asyncgraph side by side: its saved metadata (its source, the run's
own metadata) and its parent, as the thread's history has them; and
``update_state(config, None)`` on a checkpoint before a node re-runs that node from
there (an update as ``__start__`` with no input writes only START's edges)."""

from __future__ import annotations

import importlib
import operator
from typing import Annotated, Any, TypedDict

PACKAGES = ("langgraph", "asyncgraph")


class State(TypedDict):
    log: Annotated[list[str], operator.add]


def _graph(pkg: str, **compile_kw: Any) -> Any:
    G = importlib.import_module(f"{pkg}.graph")
    M = importlib.import_module(f"{pkg}.checkpoint.memory")
    g = G.StateGraph(State)
    g.add_node("one", lambda s: {"log": ["one"]})
    g.add_node("two", lambda s: {"log": ["two"]})
    g.add_edge(G.START, "one")
    g.add_edge("one", "two")
    return g.compile(checkpointer=M.InMemorySaver(), **compile_kw)


def _shape(app: Any, thread: dict[str, Any], events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Each checkpoint chunk: its metadata, values and next, and whether its config and
    parent config are the history's."""
    history = {s.config["configurable"]["checkpoint_id"]: s for s in app.get_state_history(thread)}
    out = []
    for e in events:
        cid = e["config"]["configurable"]["checkpoint_id"]
        snap = history[cid]
        parent = e["parent_config"]["configurable"]["checkpoint_id"] if e["parent_config"] else None
        saved_parent = snap.parent_config["configurable"]["checkpoint_id"] if snap.parent_config else None
        out.append((e["metadata"], e["values"], e["next"], parent == saved_parent))
    return out


def _resumed(pkg: str) -> list[Any]:
    app = _graph(pkg, interrupt_before=["two"])
    thread = {"configurable": {"thread_id": "1"}}
    first = list(app.stream({"log": []}, {**thread, "metadata": {"who": "me"}}, stream_mode="checkpoints"))
    resumed = list(app.stream(None, thread, stream_mode="checkpoints"))
    app.update_state(thread, {"log": ["edited"]}, as_node="one")
    after_update = list(app.stream(None, thread, stream_mode="checkpoints"))
    return [_shape(app, thread, events) for events in (first, resumed, after_update)]


def test_resumed_run_shows_its_checkpoint_as_saved() -> None:
    expected, got = (_resumed(pkg) for pkg in PACKAGES)
    assert got == expected
    resumed, after_update = got[1], got[2]
    assert resumed[0][0]["who"] == "me" and resumed[0][3]  # saved metadata, true parent
    assert after_update[0][0]["source"] == "update"


def _rerun_from_start(pkg: str) -> list[Any]:
    app = _graph(pkg)
    thread = {"configurable": {"thread_id": "1"}}
    app.invoke({"log": []}, thread)
    before_one = next(s.config for s in app.get_state_history(thread) if s.next == ("one",))
    updated = app.update_state(before_one, None)
    snap = app.get_state(updated)
    events = list(app.stream(None, updated, stream_mode="checkpoints"))
    return [snap.values, snap.next, snap.metadata, _shape(app, thread, events)]


def test_update_with_no_values_before_a_node_reruns_it() -> None:
    expected, got = (_rerun_from_start(pkg) for pkg in PACKAGES)
    assert got == expected
    assert got[1] == ("one",)
    assert got[3][-1][1] == {"log": ["one", "two"]}
