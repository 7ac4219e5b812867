"""A subgraph that pauses pauses its parent, compared with LangGraph.

A subgraph compiled with ``interrupt_before`` / ``interrupt_after`` stops at its
breakpoint; the parent's task running it pauses too (the parent's step does not
commit, a sibling's finished writes are kept), and resuming the parent
(``invoke(None)``) resumes the subgraph from its checkpoint instead of starting it
again with the parent's state. The same holds for a subgraph paused by ``interrupt()``
and resumed with ``None``: the interrupt is raised again, the subgraph is not rerun.
"""

from __future__ import annotations

import operator
import re
from types import SimpleNamespace
from typing import Annotated, Any, TypedDict

import pytest

from tests.differential._harness import modules

_IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Inner(TypedDict):
    log: Annotated[str, operator.add]
    seen: str


class Outer(TypedDict):
    log: Annotated[str, operator.add]


def _graph(m: SimpleNamespace, pause: str, saver: Any, **compile_kw: Any) -> Any:
    """``sub`` (``first`` -> ``second``, paused by ``pause``) beside ``side``, then ``join``."""

    def first(state: Inner) -> dict[str, Any]:
        return {"log": "first", "seen": state["log"]}

    def second(state: Inner) -> dict[str, Any]:
        answer = m.types.interrupt("why?") if pause == "interrupt" else ""
        return {"log": f" second{answer}", "seen": state["log"]}

    inner = m.graph.StateGraph(Inner)
    inner.add_node("first", first)
    inner.add_node("second", second)
    inner.add_edge(m.graph.START, "first")
    inner.add_edge("first", "second")
    kw = {"before": {"interrupt_before": ["second"]}, "after": {"interrupt_after": ["first"]}}.get(pause, {})
    g = m.graph.StateGraph(Outer)
    g.add_node("sub", inner.compile(**kw))
    g.add_node("side", lambda s: {"log": " side"})
    g.add_node("join", lambda s: {"log": " join"})
    g.add_edge(m.graph.START, "sub")
    g.add_edge(m.graph.START, "side")
    g.add_edge(["sub", "side"], "join")
    return g.compile(checkpointer=saver, **compile_kw)


def _plain(x: Any) -> Any:
    """Comparable across the two packages: ids and interrupts replaced by their shape."""
    if isinstance(x, str):
        return _IDS.sub("<id>", x)
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    if type(x).__name__ == "Interrupt":
        return ("Interrupt", x.value)
    return x


def _run(pkg: str, pause: str, durability: str) -> list[Any]:
    m = modules(pkg)
    saver = __import__(f"{pkg}.checkpoint.memory", fromlist=["InMemorySaver"]).InMemorySaver()
    app = _graph(m, pause, saver)
    seen: list[Any] = []
    config = {"configurable": {"thread_id": "invoke"}}
    seen.append(app.invoke({"log": ""}, config, durability=durability))
    state = app.get_state(config, subgraphs=True)
    sub = state.tasks[0].state if state.tasks else None
    seen.append((state.values, state.next, [(t.name, t.interrupts) for t in state.tasks],
                 sub and (sub.values, sub.next)))
    ids = [i.id for i in state.interrupts]
    seen.append(app.invoke(None, config, durability=durability))
    if pause == "interrupt":
        # Resumed without an answer: the same interrupt again, nothing run twice.
        seen.append([i.id for i in app.get_state(config).interrupts] == ids)
        seen.append(app.invoke(m.types.Command(resume="!"), config, durability=durability))
    config = {"configurable": {"thread_id": "stream"}}
    chunks = list(app.stream({"log": ""}, config, subgraphs=True, durability=durability))
    # `side` and the subgraph run at once: their chunks in either order, the pause last.
    seen.append((sorted(map(repr, _plain(chunks[:-1]))), chunks[-1]))
    seen.append(list(app.stream(None, config, durability=durability)))
    config = {"configurable": {"thread_id": "values"}}
    seen.append(list(app.stream({"log": ""}, config, stream_mode="values", durability=durability)))
    seen.append(list(app.stream(None, config, stream_mode="values", durability=durability)))
    return _plain(seen)


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
@pytest.mark.parametrize("pause", ["before", "after", "interrupt"])
def test_a_paused_subgraph_pauses_its_parent_like_langgraph(pause: str, durability: str) -> None:
    ours = _run("asyncgraph", pause, durability)
    assert ours == _run("langgraph", pause, durability)
    # The first run stops with the sibling's update only; the resume finishes the subgraph.
    assert ours[0] == ({"log": " side"} if pause != "interrupt"
                       else {"log": " side", "__interrupt__": [("Interrupt", "why?")]})
    if pause == "interrupt":
        assert ours[3] is True  # the same interrupt again
        assert ours[4] == {"log": " sidefirst second! join"}  # `first` ran once
    else:
        assert ours[2] == {"log": " sidefirst second join"}


@pytest.mark.parametrize("durability", ["sync", "exit"])
def test_a_root_breakpoint_before_a_paused_subgraph_like_langgraph(durability: str) -> None:
    # The root pauses before `side`; the subgraph then pauses inside the resumed step;
    # each resume goes on from where the last one stopped.
    def run(pkg: str) -> list[Any]:
        m = modules(pkg)
        saver = __import__(f"{pkg}.checkpoint.memory", fromlist=["InMemorySaver"]).InMemorySaver()
        app = _graph(m, "before", saver, interrupt_before=["side"])
        config = {"configurable": {"thread_id": "t"}}
        out = [list(app.stream({"log": ""}, config, stream_mode="values", durability=durability))]
        for _ in range(3):
            out.append(list(app.stream(None, config, stream_mode="values", durability=durability)))
        return out

    ours = run("asyncgraph")
    assert ours == run("langgraph")
    assert ours[2][-1]["log"].endswith(" join")


def test_lifecycle_callbacks_of_a_subgraph_pause_like_langgraph() -> None:
    # The root reports the pause (no interrupts, status "pending"); the resume is
    # reported by the root and by the subgraph that goes on from its checkpoint.
    def events(pkg: str) -> list[Any]:
        m = modules(pkg)
        callbacks = __import__(f"{pkg}.callbacks", fromlist=["GraphCallbackHandler"])
        saver = __import__(f"{pkg}.checkpoint.memory", fromlist=["InMemorySaver"]).InMemorySaver()
        seen: list[Any] = []

        class Recorder(callbacks.GraphCallbackHandler):  # type: ignore[misc,name-defined]
            def on_interrupt(self, e: Any) -> None:
                seen.append(("interrupt", e.status, e.checkpoint_ns, e.interrupts))

            def on_resume(self, e: Any) -> None:
                seen.append(("resume", e.status, e.checkpoint_ns))

        app = _graph(m, "before", saver)
        config = {"configurable": {"thread_id": "t"}, "callbacks": [Recorder()]}
        outs = [app.invoke({"log": ""}, config), app.invoke(None, config)]
        return _plain([outs, seen])

    ours = events("asyncgraph")
    assert ours == events("langgraph")
    assert ours[1][0] == ("interrupt", "pending", (), ())
