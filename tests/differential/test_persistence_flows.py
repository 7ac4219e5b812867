"""Human-in-the-loop and time travel, run on LangGraph and asyncgraph side by side.

Each scenario drives a thread through interrupts, resumes, state updates and replays
with each library's in-memory saver, and compares everything a user sees: the values
returned, ``next``, the interrupts' values, the state history (step, source, next)
and which nodes executed how often. Interrupt ids differ by design and are not
compared.
"""

from __future__ import annotations

import importlib
import operator
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

import pytest

PACKAGES = ("langgraph", "asyncgraph")


class S(TypedDict):
    x: int
    log: Annotated[list, operator.add]


def _mods(pkg: str) -> tuple[Any, Any, Any]:
    return (
        importlib.import_module(f"{pkg}.graph"),
        importlib.import_module(f"{pkg}.types"),
        importlib.import_module(f"{pkg}.checkpoint.memory"),
    )


def _clean(value: Any) -> Any:
    """Interrupts as their values (ids are implementation-specific)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if type(value).__name__ == "Interrupt":
        return ("Interrupt", value.value)
    return value


def _history(app: Any, config: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(h.metadata["step"], h.metadata["source"], h.next) for h in app.get_state_history(config)]


def _both(scenario: Callable[[Any, Any, Any], list[Any]]) -> None:
    lg, ag = (scenario(*_mods(pkg)) for pkg in PACKAGES)
    assert _clean(ag) == _clean(lg)


def test_interrupt_with_a_sibling_then_two_resumes() -> None:
    def scenario(G: Any, T: Any, M: Any) -> list[Any]:
        calls: list[str] = []

        def a(s: S) -> dict[str, Any]:
            calls.append("a")
            return {"x": 1, "log": ["a"]}

        def ask(s: S) -> dict[str, Any]:
            calls.append("ask")
            first = T.interrupt({"q": "ok?"})
            second = T.interrupt({"q": "sure?"})
            return {"log": [f"ans={first},{second}"]}

        def b(s: S) -> dict[str, Any]:
            calls.append("b")
            return {"log": ["b"]}

        g = G.StateGraph(S)
        g.add_node("a", a)
        g.add_node("ask", ask)
        g.add_node("b", b)
        g.add_edge(G.START, "a")
        g.add_edge("a", "ask")
        g.add_edge("a", "b")
        app = g.compile(checkpointer=M.InMemorySaver())
        cfg = {"configurable": {"thread_id": "1"}}
        out = [app.invoke({"x": 0}, cfg)]
        st = app.get_state(cfg)
        out += [st.next, st.values, [i.value for i in st.interrupts]]
        out.append(app.invoke(T.Command(resume="yes"), cfg))
        out.append(app.invoke(T.Command(resume="sure"), cfg))
        out += [calls, _history(app, cfg)]
        app.update_state(cfg, {"x": 42}, as_node="b")
        st = app.get_state(cfg)
        out += [st.values, st.metadata["source"], st.metadata["step"], st.next]
        return out

    _both(scenario)


def test_breakpoints_replay_and_fork() -> None:
    def scenario(G: Any, T: Any, M: Any) -> list[Any]:
        calls: list[str] = []

        def a(s: S) -> dict[str, Any]:
            calls.append("a")
            return {"x": s["x"] + 1, "log": ["a"]}

        def b(s: S) -> dict[str, Any]:
            calls.append("b")
            return {"x": s["x"] * 10, "log": ["b"]}

        def c(s: S) -> dict[str, Any]:
            calls.append("c")
            return {"log": ["c"]}

        g = G.StateGraph(S)
        g.add_sequence([a, b, c])
        g.add_edge(G.START, "a")
        app = g.compile(checkpointer=M.InMemorySaver(), interrupt_before=["b"])
        cfg = {"configurable": {"thread_id": "1"}}
        out = [app.invoke({"x": 1}, cfg), app.get_state(cfg).next, app.invoke(None, cfg), list(calls)]
        target = next(h for h in app.get_state_history(cfg) if h.next == ("b",))
        calls.clear()
        out += [app.invoke(None, target.config), list(calls)]
        calls.clear()
        forked = app.update_state(target.config, {"x": 100})
        out += [app.get_state(forked).next, app.invoke(None, forked), list(calls), _history(app, cfg)]
        return out

    _both(scenario)


def test_interrupt_after() -> None:
    def scenario(G: Any, T: Any, M: Any) -> list[Any]:
        g = G.StateGraph(S)
        g.add_node("a", lambda s: {"x": s["x"] + 1})
        g.add_node("b", lambda s: {"x": s["x"] * 10})
        g.add_edge(G.START, "a")
        g.add_edge("a", "b")
        app = g.compile(checkpointer=M.InMemorySaver(), interrupt_after=["a"])
        cfg = {"configurable": {"thread_id": "1"}}
        return [app.invoke({"x": 1}, cfg), app.get_state(cfg).next, app.invoke(None, cfg), _history(app, cfg)]

    _both(scenario)


@pytest.mark.parametrize("resumes", [["yes"], ["yes", "again"]])
def test_interrupt_inside_a_subgraph_is_resumed_from_the_parent(resumes: list[str]) -> None:
    def scenario(G: Any, T: Any, M: Any) -> list[Any]:
        calls: list[str] = []

        def ask(s: S) -> dict[str, Any]:
            calls.append("ask")
            answers = [T.interrupt(f"question {i}") for i in range(len(resumes))]
            return {"log": [f"sub:{'/'.join(answers)}"]}

        def after(s: S) -> dict[str, Any]:
            calls.append("after")
            return {"log": ["after"]}

        def pre(s: S) -> dict[str, Any]:
            calls.append("pre")
            return {"log": ["pre"]}

        sub = G.StateGraph(S)
        sub.add_node("ask", ask)
        sub.add_node("after_sub", after)
        sub.add_edge(G.START, "ask")
        sub.add_edge("ask", "after_sub")
        g = G.StateGraph(S)
        g.add_node("pre", pre)
        g.add_node("sub", sub.compile())
        g.add_edge(G.START, "pre")
        g.add_edge("pre", "sub")
        app = g.compile(checkpointer=M.InMemorySaver())
        cfg = {"configurable": {"thread_id": "1"}}
        out = [app.invoke({"log": []}, cfg)]
        for answer in resumes:
            st = app.get_state(cfg)
            out += [st.next, [i.value for i in st.interrupts]]
            out.append(app.invoke(T.Command(resume=answer), cfg))
        out.append(calls)
        return out

    _both(scenario)


def test_two_parallel_interrupts_resumed_by_id() -> None:
    def scenario(G: Any, T: Any, M: Any) -> list[Any]:
        def left(s: S) -> dict[str, Any]:
            return {"log": [f"left:{T.interrupt('L?')}"]}

        def right(s: S) -> dict[str, Any]:
            return {"log": [f"right:{T.interrupt('R?')}"]}

        g = G.StateGraph(S)
        g.add_node("left", left)
        g.add_node("right", right)
        g.add_edge(G.START, "left")
        g.add_edge(G.START, "right")
        app = g.compile(checkpointer=M.InMemorySaver())
        cfg = {"configurable": {"thread_id": "1"}}
        first = app.invoke({"log": []}, cfg)
        pending = app.get_state(cfg).interrupts
        answers = {i.id: f"answer to {i.value}" for i in pending}
        return [first, sorted(i.value for i in pending), app.invoke(T.Command(resume=answers), cfg)]

    _both(scenario)


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
def test_durability_modes_keep_the_same_history(durability: str) -> None:
    def scenario(G: Any, T: Any, M: Any) -> list[Any]:
        g = G.StateGraph(S)
        g.add_node("a", lambda s: {"log": ["a"]})
        g.add_node("b", lambda s: {"log": ["b"]})
        g.add_edge(G.START, "a")
        g.add_edge("a", "b")
        app = g.compile(checkpointer=M.InMemorySaver())
        cfg = {"configurable": {"thread_id": "1"}}
        return [app.invoke({"log": []}, cfg, durability=durability), _history(app, cfg)]

    _both(scenario)


def test_exit_durability_saves_a_paused_step_for_the_resume() -> None:
    def scenario(G: Any, T: Any, M: Any) -> list[Any]:
        calls: list[str] = []

        def a(s: S) -> dict[str, Any]:
            calls.append("a")
            return {"log": ["a"]}

        def ask(s: S) -> dict[str, Any]:
            calls.append("ask")
            return {"log": [f"ask:{T.interrupt('?')}"]}

        def sib(s: S) -> dict[str, Any]:
            calls.append("sib")
            return {"log": ["sib"]}

        g = G.StateGraph(S)
        g.add_node("a", a)
        g.add_node("ask", ask)
        g.add_node("sib", sib)
        g.add_edge(G.START, "a")
        g.add_edge("a", "ask")
        g.add_edge("a", "sib")
        app = g.compile(checkpointer=M.InMemorySaver())
        cfg = {"configurable": {"thread_id": "1"}}
        first = app.invoke({"log": []}, cfg, durability="exit")
        nxt = app.get_state(cfg).next
        second = app.invoke(T.Command(resume="yes"), cfg, durability="exit")
        # The sibling that finished before the pause is not run again on resume.
        return [first, nxt, second, calls, _history(app, cfg)]

    _both(scenario)


def _two_step(G: Any, M: Any) -> Any:
    def a(s: S) -> dict[str, Any]:
        return {"log": ["a"]}

    def b(s: S) -> dict[str, Any]:
        return {"log": ["b"]}

    g = G.StateGraph(S)
    g.add_node("a", a)
    g.add_node("b", b)
    g.add_edge(G.START, "a")
    g.add_edge("a", "b")
    return g.compile(checkpointer=M.InMemorySaver(), interrupt_before=["b"])


def test_bulk_update_state_applies_each_superstep_as_one_step() -> None:
    def scenario(G: Any, T: Any, M: Any) -> list[Any]:
        app = _two_step(G, M)
        config = {"configurable": {"thread_id": "1"}}
        app.bulk_update_state(
            config,
            [
                [T.StateUpdate({"log": ["x"]}, "a"), T.StateUpdate({"x": 3}, "b")],
                [T.StateUpdate({"log": ["y"]}, "a")],
            ],
        )
        state = app.get_state(config)
        out: list[Any] = [state.values, state.next, _history(app, config)]
        out.append(app.invoke(None, config))
        for bad in ([], [[]], [[T.StateUpdate({"x": 1}), T.StateUpdate({"x": 2})]]):
            try:
                app.bulk_update_state(config, bad)
            except ValueError as exc:  # InvalidUpdateError is not one: keep the class
                out.append(("ValueError", str(exc)))
            except Exception as exc:
                out.append((type(exc).__name__, str(exc)))
        return out

    _both(scenario)


def test_update_state_copy_and_clear() -> None:
    def scenario(G: Any, T: Any, M: Any) -> list[Any]:
        app = _two_step(G, M)
        config = {"configurable": {"thread_id": "1"}}
        app.invoke({"x": 0, "log": []}, config)
        before = app.get_state(config)
        copied = app.get_state(app.update_state(config, None, as_node="__copy__"))
        out: list[Any] = [copied.values, copied.next, copied.metadata["source"], copied.metadata["step"]]
        out.append(copied.parent_config == before.parent_config)
        cleared = app.get_state(app.update_state(config, None, as_node=G.END))
        out += [cleared.values, cleared.next, _history(app, config)]
        out.append(app.invoke(None, config))
        return out

    _both(scenario)


def test_subgraph_state_through_the_parent() -> None:
    # get_subgraphs, get_state(subgraphs=True) down two levels, and get_state /
    # get_state_history / the resume addressed by a subgraph checkpoint's config.
    def scenario(G: Any, T: Any, M: Any) -> list[Any]:
        def step_a(s: S) -> dict[str, Any]:
            return {"log": ["a"]}

        def ask(s: S) -> dict[str, Any]:
            return {"log": [T.interrupt("q?")]}

        inner = G.StateGraph(S)
        inner.add_node("step_a", step_a)
        inner.add_node("ask", ask)
        inner.add_edge(G.START, "step_a")
        inner.add_edge("step_a", "ask")
        mid = G.StateGraph(S)
        mid.add_node("inner", inner.compile(checkpointer=True))
        mid.add_edge(G.START, "inner")
        g = G.StateGraph(S)
        g.add_node("r", lambda s: {"log": ["r"]})
        g.add_node("mid", mid.compile())
        g.add_edge(G.START, "r")
        g.add_edge("r", "mid")
        app = g.compile(checkpointer=M.InMemorySaver())
        out: list[Any] = [
            [n for n, _ in app.get_subgraphs(**kw)]
            for kw in ({}, {"recurse": True}, {"namespace": "mid|inner"}, {"namespace": "mid|inner", "recurse": True})
        ]
        config = {"configurable": {"thread_id": "1"}}
        app.invoke({"x": 0, "log": []}, config)
        flat = app.get_state(config)
        out.append([(t.name, sorted(t.state["configurable"])) for t in flat.tasks])
        deep = app.get_state(config, subgraphs=True)
        mid_state = deep.tasks[0].state
        inner_state = mid_state.tasks[0].state
        out += [mid_state.values, mid_state.next, inner_state.values, inner_state.next]
        sub = app.get_state(inner_state.config)
        out += [sub.values, sub.next, [h.next for h in app.get_state_history(inner_state.config)]]
        out.append(app.invoke(T.Command(resume="answer"), config))
        return out

    _both(scenario)


def test_update_as_a_pending_task_shows_as_its_result_in_history() -> None:
    """update_state(as_node=X) while X is one of the checkpoint's next tasks: the
    history shows the update as that task's result on the checkpoint (plain update,
    and a __copy__ fork updated as __start__)."""

    def scenario(G: Any, T: Any, M: Any) -> list[Any]:
        app = (
            G.StateGraph(S)
            .add_node("a", lambda s: {"log": ["a"]})
            .add_node("b", lambda s: {"log": ["b"]})
            .add_node("c", lambda s: {"log": ["c"]})
            .add_edge(G.START, "a")
            .add_edge("a", "b")
            .add_edge("a", "c")
            .compile(checkpointer=M.InMemorySaver(), interrupt_before=["b"])
        )
        config = {"configurable": {"thread_id": "t"}}
        app.invoke({"x": 0, "log": []}, config)
        app.update_state(config, {"log": ["B"]}, as_node="b")
        first = [s for s in app.get_state_history(config) if s.metadata["source"] == "input"][0]
        fork = app.update_state(first.config, [T.StateUpdate({"x": 5, "log": ["*"]}, "__start__")], as_node="__copy__")
        app.invoke(None, fork)
        return [
            (h.metadata["source"], h.metadata["step"], h.values, [(t.name, t.result) for t in h.tasks])
            for h in app.get_state_history(config)
        ]

    _both(scenario)


def _resumed_history(pkg: str) -> list[Any]:
    g = importlib.import_module(f"{pkg}.graph")
    t = importlib.import_module(f"{pkg}.types")
    mem = importlib.import_module(f"{pkg}.checkpoint.memory")

    class S(TypedDict, total=False):
        a: int
        answer: str

    def ask(s: S) -> S:
        return {"answer": t.interrupt("question?")}

    b = g.StateGraph(S)
    b.add_node("first", lambda s: {"a": 1})
    b.add_node("ask", ask)
    b.add_edge(g.START, "first")
    b.add_edge("first", "ask")
    app = b.compile(checkpointer=mem.InMemorySaver())
    cfg: Any = {"configurable": {"thread_id": "1"}}
    app.invoke({"a": 0}, cfg)
    app.invoke(t.Command(resume="yes"), cfg)
    return [(s.next, [(x.name, x.result, [i.value for i in x.interrupts]) for x in s.tasks])
            for s in app.get_state_history(cfg)]


def test_a_resumed_tasks_result_shows_in_history_beside_its_interrupt() -> None:
    ours = _resumed_history("asyncgraph")
    assert ours == _resumed_history("langgraph")
    assert (("ask",), [("ask", {"answer": "yes"}, ["question?"])]) in ours
