"""Thread state operations, run on LangGraph (the oracle) and asyncgraph side by side.

Each scenario drives a thread with each library's in-memory saver and compares what a
user sees: returned values, stream chunks, ``get_state`` and the state history (values,
next, step, source, each task's name, path, error, interrupts and result). Ids
(checkpoints, tasks, interrupts) differ by design and are left out.
"""

from __future__ import annotations

import importlib
import operator
import types
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

import pytest
from pydantic import BaseModel, Field

PACKAGES = ("langgraph", "asyncgraph")


def _mods(pkg: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        graph=importlib.import_module(f"{pkg}.graph"),
        types=importlib.import_module(f"{pkg}.types"),
        memory=importlib.import_module(f"{pkg}.checkpoint.memory"),
    )


def _plain(x: Any) -> Any:
    """Interrupts as their values; containers as lists and dicts."""
    if type(x).__name__ == "Interrupt":
        return ("Interrupt", _plain(x.value))
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def _snap(s: Any) -> dict[str, Any]:
    return {
        "values": _plain(s.values),
        "next": list(s.next),
        "step": (s.metadata or {}).get("step"),
        "source": (s.metadata or {}).get("source"),
        "tasks": [(t.name, list(t.path), t.error, _plain(t.interrupts), _plain(t.result)) for t in s.tasks],
        "interrupts": _plain(s.interrupts),
    }


def _history(graph: Any, config: dict[str, Any]) -> list[dict[str, Any]]:
    return [_snap(s) for s in graph.get_state_history(config)]


def _both(scenario: Callable[[types.SimpleNamespace], Any]) -> Any:
    """The scenario's observations on LangGraph and on asyncgraph, asserted equal."""
    oracle, ours = (scenario(_mods(pkg)) for pkg in PACKAGES)
    assert ours == oracle
    return ours


def _cfg(thread: str = "1") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


class Foo(TypedDict):
    foo: str


class Tasks(TypedDict):
    foo: str
    tasks: Annotated[list[int], operator.add]


# -- update_state(as_node="__input__") ----------------------------------------------


def _agent_tool(m: Any) -> Any:
    return (
        m.graph.StateGraph(Foo)
        .add_node("agent", lambda s: {"foo": "agent"})
        .add_node("tool", lambda s: {"foo": "tool"})
        .add_edge("__start__", "agent")
        .add_edge("agent", "tool")
        .compile(checkpointer=m.memory.InMemorySaver())
    )


@pytest.mark.parametrize("durability", ["sync", "exit"])
def test_a_thread_rebuilt_by_updates_as_input_has_the_history_of_a_run(durability: str) -> None:
    def scenario(m: Any) -> Any:
        graph = _agent_tool(m)
        graph.invoke({"foo": "in"}, _cfg("run"), durability=durability)
        graph.invoke({"foo": "in"}, _cfg("run"), durability=durability)
        su = m.types.StateUpdate
        turn = [[su({"foo": "in"}, "__input__")], [su({"foo": "in"}, "__start__")],
                [su({"foo": "agent"}, "agent")], [su({"foo": "tool"}, "tool")]]
        graph.bulk_update_state(_cfg("built"), turn + turn)
        return _history(graph, _cfg("run")), _history(graph, _cfg("built"))

    ran, built = _both(scenario)
    if durability == "sync":
        assert [(h["step"], h["values"], h["next"]) for h in built] == [
            (h["step"], h["values"], h["next"]) for h in ran
        ]
    assert built[-1]["source"] == "input" and built[-1]["step"] == -1


def test_an_update_as_input_is_the_next_input_of_a_finished_thread() -> None:
    def scenario(m: Any) -> Any:
        graph = _agent_tool(m)
        graph.invoke({"foo": "in"}, _cfg())
        graph.update_state(_cfg(), {"foo": "again"}, as_node="__input__")
        pending = _snap(graph.get_state(_cfg()))
        return pending, graph.invoke(None, _cfg()), _history(graph, _cfg())

    pending, out, _ = _both(scenario)
    assert pending["next"] == ["__start__"] and pending["source"] == "input"
    assert out == {"foo": "tool"}


def test_several_updates_as_input_in_one_step_are_refused() -> None:
    for pkg in PACKAGES:
        m = _mods(pkg)
        graph = _agent_tool(m)
        su = m.types.StateUpdate
        with pytest.raises(Exception, match="input"):
            graph.bulk_update_state(_cfg(), [[su({"foo": "a"}, "__input__"), su({"foo": "b"}, "__input__")]])


def test_updates_as_a_send_fan_out_show_each_task_result_in_history() -> None:
    def scenario(m: Any) -> Any:
        Command, Send, su = m.types.Command, m.types.Send, m.types.StateUpdate

        def fan(s: Any) -> Any:
            return Command(goto=[Send("task", {"index": i}) for i in range(3)], update={"foo": "map"})

        graph = (
            m.graph.StateGraph(Tasks)
            .add_node("agent", lambda s: {"foo": "agent"})
            .add_node("map", fan)
            .add_node("task", lambda s: {"tasks": [s["index"]]})
            .add_edge("__start__", "agent")
            .add_edge("agent", "map")
            .compile(checkpointer=m.memory.InMemorySaver())
        )
        graph.invoke({"foo": "in"}, _cfg("run"))
        graph.bulk_update_state(_cfg("built"), [
            [su({"foo": "in"}, "__input__")],
            [su({"foo": "in"}, "__start__")],
            [su({"foo": "agent", "tasks": []}, "agent")],
            [su(Command(goto=[Send("task", {"index": i}) for i in range(3)], update={"foo": "map"}), "map")],
            [su({"tasks": [i]}, "task") for i in range(3)],
        ])
        return _history(graph, _cfg("run")), _history(graph, _cfg("built"))

    ran, built = _both(scenario)
    fan_out = built[1]
    assert [t[1] for t in fan_out["tasks"]] == [["__pregel_push", i, False] for i in range(3)]
    assert [t[4] for t in fan_out["tasks"]] == [{"tasks": [i]} for i in range(3)]
    assert [t[4] for t in ran[1]["tasks"]] == [{"tasks": [i]} for i in range(3)]


# -- Command(update=..., goto=...) continuing a thread ---------------------------------


class Log(TypedDict):
    my_key: Annotated[str, operator.add]


@pytest.mark.parametrize("style", ["plain", "by_id"])
def test_a_resume_with_an_update_continues_the_paused_step(style: str) -> None:
    def scenario(m: Any) -> Any:
        interrupt, Command = m.types.interrupt, m.types.Command

        def node(s: Any) -> Any:
            return {"my_key": interrupt("first") + " " + interrupt("second")}

        graph = (
            m.graph.StateGraph(Log).add_node("node", node).add_edge("__start__", "node")
            .compile(checkpointer=m.memory.InMemorySaver())
        )
        seen = [_plain(list(graph.stream({"my_key": "DE"}, _cfg())))]
        for answer, update in (("one", {"my_key": " upd "}), ("two", None)):
            ask = graph.get_state(_cfg()).interrupts[0]
            resume = answer if style == "plain" else {ask.id: answer}
            seen.append(_plain(list(graph.stream(Command(resume=resume, update=update), _cfg(), stream_mode="values"))))
            seen.append(_snap(graph.get_state(_cfg())))
        return seen, _history(graph, _cfg())

    seen, history = _both(scenario)
    assert seen[-1]["values"] == {"my_key": "DE upd one two"}
    # the update made no checkpoint of its own: input, the paused step, the end
    assert [h["source"] for h in history] == ["loop", "loop", "input"]


def test_a_goto_at_a_static_breakpoint_runs_with_the_paused_step() -> None:
    def scenario(m: Any) -> Any:
        graph = (
            m.graph.StateGraph(Log)
            .add_node("node1", lambda s: {"my_key": "|node-1"})
            .add_node("node2", lambda s: {"my_key": "|node-2"})
            .add_edge("__start__", "node1")
            .add_edge("node1", "node2")
            .compile(checkpointer=m.memory.InMemorySaver(), interrupt_before=["node1"])
        )
        graph.invoke({"my_key": "abc"}, _cfg())
        out = graph.invoke(m.types.Command(goto=["node2"]), _cfg())
        return out, _history(graph, _cfg())

    out, _ = _both(scenario)
    assert out == {"my_key": "abc|node-1|node-2|node-2"}


def test_a_plain_resume_value_is_refused_while_several_interrupts_wait() -> None:
    class Two(TypedDict):
        a: str
        b: str

    def scenario(m: Any) -> Any:
        interrupt = m.types.interrupt
        graph = (
            m.graph.StateGraph(Two)
            .add_node("one", lambda s: {"a": interrupt(s["a"])})
            .add_node("two", lambda s: {"b": interrupt(s["b"])})
            .add_edge("__start__", "one")
            .add_edge("__start__", "two")
            .compile(checkpointer=m.memory.InMemorySaver())
        )
        graph.invoke({"a": "A", "b": "B"}, _cfg())
        with pytest.raises(RuntimeError, match="multiple pending interrupts"):
            graph.invoke(m.types.Command(resume="same for both"), _cfg())
        answers = {i.id: f"answer to {i.value}" for i in graph.get_state(_cfg()).interrupts}
        return graph.invoke(m.types.Command(resume=answers), _cfg())

    assert _both(scenario) == {"a": "answer to A", "b": "answer to B"}


class Child(BaseModel):
    prompt: str
    human_input: str | None = None
    human_inputs: Annotated[list[str], operator.add] = Field(default_factory=list)


class Parent(BaseModel):
    prompts: list[str]
    human_inputs: Annotated[list[str], operator.add] = Field(default_factory=list)


def test_parallel_subgraph_interrupts_answered_one_id_at_a_time() -> None:
    def scenario(m: Any) -> Any:
        interrupt, Send, Command = m.types.interrupt, m.types.Send, m.types.Command

        def ask(state: Child) -> Any:
            answer = interrupt(state.prompt)
            return {"human_input": answer, "human_inputs": [answer]}

        child = m.graph.StateGraph(Child).add_node("ask", ask).add_edge("__start__", "ask").compile()
        graph = (
            m.graph.StateGraph(Parent)
            .add_node("child", child)
            .add_node("done", lambda s: None)
            .add_conditional_edges("__start__", lambda s: [Send("child", {"prompt": p}) for p in s.prompts], ["child"])
            .add_edge("child", "done")
            .compile(checkpointer=m.memory.InMemorySaver())
        )
        runs = []
        inp: Any = {"prompts": ["a", "b"]}
        for n in range(1, 5):
            events = list(graph.stream(inp, _cfg()))
            runs.append(sorted(repr(_plain(e)) for e in events))
            waiting = sorted((i for e in events for i in e.get("__interrupt__", ())), key=lambda i: i.value)
            if not waiting:
                break
            inp = Command(resume={waiting[0].id: f"answer {n}"})
        return runs, _plain(graph.get_state(_cfg()).values)

    runs, values = _both(scenario)
    assert len(runs) == 3 and sorted(values["human_inputs"]) == ["answer 1", "answer 2"]


# -- errors, as LangGraph stores them ---------------------------------------------------


class Count(TypedDict):
    value: Annotated[int, operator.add]


def test_a_failed_task_shows_its_error_as_langgraph_saves_it() -> None:
    def scenario(m: Any) -> Any:
        def bad(s: Any) -> Any:
            raise ConnectionError("not good")

        saver = m.memory.InMemorySaver()
        graph = (
            m.graph.StateGraph(Count)
            .add_node("one", lambda s: {"value": 2})
            .add_node("two", bad)
            .add_edge("__start__", "one")
            .add_edge("__start__", "two")
            .compile(checkpointer=saver)
        )
        with pytest.raises(ConnectionError):
            graph.invoke({"value": 1}, _cfg())
        latest = graph.get_state(_cfg())
        as_saved = graph.get_state(latest.config)  # chosen by id: no pending writes applied
        writes = sorted((c, v) for _, c, v in saver.get_tuple(_cfg()).pending_writes)
        return _snap(latest), _snap(as_saved), writes

    latest, as_saved, writes = _both(scenario)
    assert latest["tasks"][1][2] == "ConnectionError('not good')"
    assert latest["values"] == {"value": 3} and as_saved["values"] == {"value": 1}
    assert ("__error__", "ConnectionError('not good')") in writes


# -- forks ---------------------------------------------------------------------------


class Name(TypedDict):
    name: Annotated[str, lambda a, b: f"{a} > {b}" if a else b]


def test_a_copy_of_a_forked_update_reads_back_what_it_copied() -> None:
    def scenario(m: Any) -> Any:
        su = m.types.StateUpdate
        graph = (
            m.graph.StateGraph(Name)
            .add_node("one", lambda s: {"name": "one"})
            .add_node("two", lambda s: {"name": "two"})
            .add_edge("__start__", "one")
            .add_edge("one", "two")
            .compile(checkpointer=m.memory.InMemorySaver())
        )
        graph.invoke({"name": "start"}, _cfg())
        first = list(graph.get_state_history(_cfg()))[-1]  # the input checkpoint
        graph.invoke(None, graph.update_state(first.config, [su({"name": "start*"}, "__start__")], "__copy__"))
        forked = next(s for s in graph.get_state_history(_cfg()) if s.values == {"name": "start*"})
        graph.invoke(None, graph.update_state(forked.config, [su({"name": "one*"}, "one")], "__copy__"))
        return _history(graph, _cfg())

    history = _both(scenario)
    assert history[0]["values"] == {"name": "start* > one* > two"}


def test_a_task_that_wrote_nothing_shows_an_empty_result_in_history() -> None:
    def scenario(m: Any) -> Any:
        graph = (
            m.graph.StateGraph(Foo)
            .add_node("quiet", lambda s: None)
            .add_node("loud", lambda s: {"foo": "x"})
            .add_edge("__start__", "quiet")
            .add_edge("quiet", "loud")
            .compile(checkpointer=m.memory.InMemorySaver())
        )
        graph.invoke({"foo": "in"}, _cfg())
        return _history(graph, _cfg())

    history = _both(scenario)
    assert history[2]["tasks"][0][4] == {}


# -- update_state on a paused step -------------------------------------------------------


@pytest.mark.parametrize("durability", ["sync", "exit"])
def test_clearing_a_paused_step_keeps_the_writes_of_its_finished_tasks(durability: str) -> None:
    def scenario(m: Any) -> Any:
        def pauses(s: Any) -> Any:
            m.types.interrupt("why")
            return {"my_key": " two"}

        graph = (
            m.graph.StateGraph(Log)
            .add_node("one", lambda s: {"my_key": " one"})
            .add_node("two", pauses)
            .add_edge("__start__", "one")
            .add_edge("__start__", "two")
            .compile(checkpointer=m.memory.InMemorySaver())
        )
        graph.invoke({"my_key": "v"}, _cfg(), durability=durability)
        graph.update_state(_cfg(), None, as_node="__end__")
        return _snap(graph.get_state(_cfg()))

    cleared = _both(scenario)
    assert cleared["values"] == {"my_key": "v one"} and cleared["next"] == []


class Docs(TypedDict):
    query: str
    docs: Annotated[list[str], operator.add]
    answer: str


def test_an_update_before_a_join_breakpoint_keeps_the_join_next() -> None:
    def scenario(m: Any) -> Any:
        w = m.graph.StateGraph(Docs)
        w.add_node("rewrite", lambda s: {"query": "q"})
        w.add_node("analyze", lambda s: {"query": "a"})
        w.add_node("one", lambda s: {"docs": ["d1"]})
        w.add_node("two", lambda s: {"docs": ["d2"]})
        w.add_node("qa", lambda s: {"answer": ",".join(s["docs"])})
        w.add_edge("__start__", "rewrite")
        w.add_edge("rewrite", "analyze")
        w.add_edge("analyze", "one")
        w.add_edge("rewrite", "two")
        w.add_edge(["one", "two"], "qa")
        graph = w.compile(checkpointer=m.memory.InMemorySaver(), interrupt_before=["qa"])
        graph.invoke({"query": "w"}, _cfg())
        graph.update_state(_cfg(), {"docs": ["d5"]})
        return _snap(graph.get_state(_cfg())), graph.invoke(None, _cfg())

    snap, out = _both(scenario)
    assert snap["next"] == ["qa"] and out["answer"] == "d2,d1,d5"


def test_a_thread_id_that_is_not_text_is_kept_as_its_text() -> None:
    import uuid

    tid = uuid.UUID(int=7)

    def scenario(m: Any) -> Any:
        saver = m.memory.InMemorySaver()
        graph = _agent_tool_on(m, saver)
        graph.invoke({"foo": "in"}, {"configurable": {"thread_id": tid}})
        return ([c.config["configurable"]["thread_id"] for c in saver.list(None)],
                _snap(graph.get_state({"configurable": {"thread_id": tid}})))

    ids, snap = _both(scenario)
    assert set(ids) == {str(tid)} and snap["values"] == {"foo": "tool"}


def _agent_tool_on(m: Any, saver: Any) -> Any:
    return (
        m.graph.StateGraph(Foo)
        .add_node("agent", lambda s: {"foo": "agent"})
        .add_node("tool", lambda s: {"foo": "tool"})
        .add_edge("__start__", "agent")
        .add_edge("agent", "tool")
        .compile(checkpointer=saver)
    )


def test_stream_with_debug_prints_and_yields_what_it_would_without(capsys: pytest.CaptureFixture[str]) -> None:
    def scenario(m: Any) -> Any:
        graph = _agent_tool_on(m, m.memory.InMemorySaver())
        chunks = list(graph.stream({"foo": "in"}, _cfg(), debug=True))
        printed = capsys.readouterr().out
        return chunks, ["[updates]" in printed, "[values]" in printed]

    chunks, printed = _both(scenario)
    assert chunks == [{"agent": {"foo": "agent"}}, {"tool": {"foo": "tool"}}] and printed == [True, True]


def test_task_results_stream_as_langgraph_streams_them() -> None:
    def scenario(m: Any) -> Any:
        def asks(s: Any) -> Any:
            m.types.interrupt("q")
            return {"foo": "y"}

        def bad(s: Any) -> Any:
            raise ValueError("boom")

        graph = (
            m.graph.StateGraph(Foo)
            .add_node("quiet", lambda s: None)
            .add_node("loud", lambda s: {"foo": "x"})
            .add_node("asks", asks)
            .add_edge("__start__", "quiet")
            .add_edge("quiet", "loud")
            .add_edge("loud", "asks")
            .compile(checkpointer=m.memory.InMemorySaver())
        )
        seen = []
        for chunk in graph.stream({"foo": "in"}, _cfg("1"), stream_mode="tasks"):
            if "result" in chunk:
                seen.append((chunk["name"], chunk["error"], chunk["result"],
                             [{k: v for k, v in i.items() if k != "id"} for i in chunk["interrupts"]]))
        failing = m.graph.StateGraph(Foo).add_node("bad", bad).add_edge("__start__", "bad").compile()
        errors = []
        with pytest.raises(ValueError):
            for chunk in failing.stream({"foo": "in"}, stream_mode="tasks"):
                if "error" in chunk:
                    errors.append(chunk["error"])
        return seen, [(type(e).__name__, str(e)) for e in errors]

    seen, errors = _both(scenario)
    assert seen[0] == ("quiet", None, {}, []) and errors == [("ValueError", "boom")]
