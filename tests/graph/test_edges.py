"""Control flow: conditional edges, Send fan-out, Command, joins."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any, Literal, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig

from asyncgraph.constants import END, START
from asyncgraph.errors import InvalidUpdateError, TaskNotFound
from asyncgraph.graph import StateGraph
from asyncgraph.types import Command, Send


class State(TypedDict):
    n: int
    log: Annotated[list[str], operator.add]


def visit(name: str) -> Any:
    def run(state: State) -> dict[str, Any]:
        return {"log": [name]}

    return run


def _graph(*names: str) -> StateGraph[Any, Any, Any, Any]:
    g: StateGraph[Any, Any, Any, Any] = StateGraph(State)
    for n in names:
        g.add_node(n, visit(n))
    return g


# --- conditional edges -------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"), [(1, ["start", "small"]), (5, ["start", "big"])]
)
def test_path_returns_a_node_name(n: int, expected: list[str]) -> None:
    def route(state: State) -> str:
        return "small" if state["n"] < 3 else "big"

    g = _graph("start", "small", "big")
    g.add_edge(START, "start")
    g.add_conditional_edges("start", route)
    assert g.compile().invoke({"n": n})["log"] == expected


def test_path_returns_a_list_of_nodes_run_in_parallel() -> None:
    g = _graph("start", "x", "y", "after")
    g.add_edge(START, "start")
    g.add_conditional_edges("start", lambda s: ["x", "y"])
    g.add_edge("x", "after")
    g.add_edge("y", "after")
    out = g.compile().invoke({"n": 0})
    assert out["log"] == ["start", "x", "y", "after"]


def test_path_returns_end() -> None:
    g = _graph("start", "never")
    g.add_edge(START, "start")
    g.add_conditional_edges("start", lambda s: END)
    g.add_edge("never", END)
    assert g.compile().invoke({"n": 0})["log"] == ["start"]


def test_path_map_dict_maps_results_to_nodes_and_end() -> None:
    g = _graph("start", "yes")
    g.add_edge(START, "start")
    g.add_conditional_edges("start", lambda s: s["n"] > 0, {True: "yes", False: END})
    graph = g.compile()
    assert graph.invoke({"n": 1})["log"] == ["start", "yes"]
    assert graph.invoke({"n": 0})["log"] == ["start"]


def test_path_map_list() -> None:
    g = _graph("start", "a", "b")
    g.add_edge(START, "start")
    g.add_conditional_edges("start", lambda s: "b", ["a", "b"])
    assert g.compile().invoke({"n": 0})["log"] == ["start", "b"]


def test_result_missing_from_path_map_names_edge_and_value() -> None:
    g = _graph("start", "a")
    g.add_edge(START, "start")
    g.add_conditional_edges("start", lambda s: "zzz", {"k": "a"})
    with pytest.raises(InvalidUpdateError, match="'zzz'") as info:
        g.compile().invoke({"n": 0})
    assert "start" in str(info.value)


def test_path_to_unknown_node_is_dropped_with_a_warning_naming_it_and_strict_refuses_it() -> None:
    # LangGraph logs a warning and drops the edge: working code keeps working.
    g = _graph("start")
    g.add_edge(START, "start")
    g.add_conditional_edges("start", lambda s: "ghost")
    with pytest.warns(UserWarning, match="Unknown node 'ghost' \\(from node 'start'\\).*Ignored"):
        assert g.compile().invoke({"n": 0}) == {"n": 0, "log": ["start"]}
    with pytest.raises(TaskNotFound, match="ghost") as info:
        g.compile(strict=True).invoke({"n": 0})
    assert info.value.node == "ghost"


def test_command_goto_an_unknown_node_is_dropped_with_a_warning_and_strict_refuses_it() -> None:
    g = _graph()
    g.add_node("a", lambda s: Command(update={"n": 5}, goto=["ghost", Send("nobody", s)]))
    g.add_edge(START, "a")
    with pytest.warns(UserWarning, match="Unknown node 'ghost'"), pytest.warns(UserWarning, match="Unknown node 'nobody'"):
        assert g.compile().invoke({"n": 0}) == {"n": 5, "log": []}
    with pytest.raises(TaskNotFound, match="ghost"):
        g.compile(strict=True).invoke({"n": 0})


async def test_async_path_function() -> None:
    async def route(state: State) -> str:
        await asyncio.sleep(0)
        return "b"

    g = _graph("start", "a", "b")
    g.add_edge(START, "start")
    g.add_conditional_edges("start", route)
    assert (await g.compile().ainvoke({"n": 0}))["log"] == ["start", "b"]


def test_path_function_taking_config() -> None:
    def route(state: State, config: RunnableConfig) -> str:
        return str(config["configurable"]["target"])

    g = _graph("start", "a", "b")
    g.add_edge(START, "start")
    g.add_conditional_edges("start", route)
    out = g.compile().invoke({"n": 0}, {"configurable": {"target": "a"}})
    assert out["log"] == ["start", "a"]


def test_path_sees_the_state_with_its_own_nodes_writes() -> None:
    seen: list[int] = []

    def route(state: State) -> str:
        seen.append(state["n"])
        return END

    g = _graph()
    g.add_node("inc", lambda s: {"n": s["n"] + 1})
    g.add_edge(START, "inc")
    g.add_conditional_edges("inc", route)
    g.compile().invoke({"n": 1})
    assert seen == [2]


def test_conditional_entry_point() -> None:
    g = _graph("a", "b")
    g.set_conditional_entry_point(lambda s: "b" if s["n"] else "a")
    assert g.compile().invoke({"n": 1})["log"] == ["b"]


def test_cycle_with_conditional_exit() -> None:
    g = _graph()
    g.add_node("inc", lambda s: {"n": s["n"] + 1, "log": [str(s["n"])]})
    g.add_edge(START, "inc")
    g.add_conditional_edges("inc", lambda s: "inc" if s["n"] < 4 else END)
    assert g.compile().invoke({"n": 0}) == {"n": 4, "log": ["0", "1", "2", "3"]}


# --- Send ---------------------------------------------------------------------------


class MapState(TypedDict):
    subjects: list[str]
    jokes: Annotated[list[str], operator.add]


def _map_reduce() -> Any:
    def fan_out(state: MapState) -> list[Send]:
        return [Send("joke", {"subject": s}) for s in state["subjects"]]

    async def joke(arg: dict[str, Any]) -> dict[str, Any]:
        # Finish in reverse order, to show completion order does not matter.
        await asyncio.sleep(0.001 * (5 - len(arg["subject"])))
        return {"jokes": [f"joke about {arg['subject']}"]}

    g = StateGraph(MapState)
    g.add_node("joke", joke)
    g.add_node("done", lambda s: {"jokes": [f"{len(s['jokes'])} jokes"]})
    g.add_conditional_edges(START, fan_out)
    g.add_edge("joke", "done")
    return g.compile()


async def test_send_fan_out_collects_in_send_order() -> None:
    out = await _map_reduce().ainvoke({"subjects": ["a", "bb", "ccc", "dddd"]})
    assert out["jokes"] == [
        "joke about a",
        "joke about bb",
        "joke about ccc",
        "joke about dddd",
        "4 jokes",
    ]


async def test_send_node_receives_the_packet_not_the_state() -> None:
    seen: list[Any] = []

    def worker(arg: Any) -> None:
        seen.append(arg)

    g = StateGraph(MapState)
    g.add_node("worker", worker)
    g.add_conditional_edges(START, lambda s: [Send("worker", 7)])
    await g.compile().ainvoke({"subjects": []})
    assert seen == [7]


async def test_send_with_empty_list_runs_nothing() -> None:
    out = await _map_reduce().ainvoke({"subjects": []})
    assert out == {"subjects": [], "jokes": []}


async def test_send_to_unknown_node_is_dropped_with_a_warning_and_strict_refuses_it() -> None:
    g = StateGraph(MapState)
    g.add_node("worker", lambda a: None)
    g.add_conditional_edges(START, lambda s: [Send("nobody", 1)])
    with pytest.warns(UserWarning, match="Unknown node 'nobody'"):
        assert await g.compile().ainvoke({"subjects": []}) == {"subjects": [], "jokes": []}
    with pytest.raises(TaskNotFound, match="nobody"):
        await g.compile(strict=True).ainvoke({"subjects": []})


async def test_send_and_plain_edge_in_one_step() -> None:
    g = StateGraph(MapState)
    g.add_node("worker", lambda a: {"jokes": [f"w{a}"]})
    g.add_node("plain", lambda s: {"jokes": ["plain"]})
    g.add_conditional_edges(
        START, lambda s: [Send("worker", 2), "plain", Send("worker", 1)]
    )
    out = await g.compile().ainvoke({"subjects": []})
    # Pull tasks (by name) then push tasks (by Send order).
    assert out["jokes"] == ["plain", "w2", "w1"]


# --- Command ------------------------------------------------------------------------


def test_command_update_and_goto() -> None:
    def decide(state: State) -> Command[Literal["b", "c"]]:
        return Command(update={"n": 10, "log": ["decide"]}, goto="c")

    g = _graph("b", "c")
    g.add_node("decide", decide)
    g.add_edge(START, "decide")
    out = g.compile().invoke({"n": 0})
    assert out == {"n": 10, "log": ["decide", "c"]}


def test_command_goto_list_and_send() -> None:
    def decide(state: State) -> Command[Any]:
        return Command(goto=["b", Send("c", {"n": 1, "log": []})])

    g = _graph("b", "c")
    g.add_node("decide", decide)
    g.add_edge(START, "decide")
    assert g.compile().invoke({"n": 0})["log"] == ["b", "c"]


def test_command_goto_end_stops() -> None:
    g = _graph("b")
    g.add_node("decide", lambda s: Command(update={"log": ["d"]}, goto=END))
    g.add_edge(START, "decide")
    assert g.compile().invoke({"n": 0})["log"] == ["d"]


def test_command_goto_adds_to_static_edges() -> None:
    g = _graph("b", "c")
    g.add_node("decide", lambda s: Command(goto="c"))
    g.add_edge(START, "decide")
    g.add_edge("decide", "b")
    assert g.compile().invoke({"n": 0})["log"] == ["b", "c"]


def test_command_goto_missing_node_names_it_when_strict() -> None:
    g = _graph()
    g.add_node("decide", lambda s: Command(update={"n": 1}, goto="nowhere"))
    g.add_edge(START, "decide")
    with pytest.raises(TaskNotFound) as info:
        g.compile(strict=True).invoke({"n": 0})
    assert info.value.node == "nowhere"
    assert "nowhere" in str(info.value) and "decide" in str(info.value)


def test_command_as_graph_input_with_goto() -> None:
    g = _graph("a", "b")
    g.add_edge(START, "a")
    out = g.compile().invoke(Command(update={"n": 3, "log": ["in"]}, goto="b"))
    assert out["n"] == 3 and out["log"][0] == "in" and "b" in out["log"]


# --- joins --------------------------------------------------------------------------


def test_join_waits_for_branches_finishing_in_different_steps() -> None:
    g = _graph("a", "b1", "b2", "c")
    g.add_edge(START, "a")
    g.add_edge(START, "b1")
    g.add_edge("b1", "b2")
    g.add_edge(["a", "b2"], "c")
    chunks = list(g.compile().stream({"n": 0}, stream_mode="updates"))
    names = [next(iter(c)) for c in chunks]
    assert names.count("c") == 1
    assert names[-1] == "c"
    assert names.index("c") > names.index("b2")


def test_join_versus_plain_edges() -> None:
    # Plain edges: c runs once per step in which a or b2 ran. Join: once, after both.
    g = _graph("a", "b1", "b2", "c")
    g.add_edge(START, "a")
    g.add_edge(START, "b1")
    g.add_edge("b1", "b2")
    g.add_edge("a", "c")
    g.add_edge("b2", "c")
    assert g.compile().invoke({"n": 0})["log"].count("c") == 2


def test_join_fires_again_in_a_loop() -> None:
    def route(state: State) -> str:
        return "fork" if state["log"].count("join") < 2 else END

    g = _graph("fork", "x", "y", "join")
    g.add_edge(START, "fork")
    g.add_edge("fork", "x")
    g.add_edge("fork", "y")
    g.add_edge(["x", "y"], "join")
    g.add_conditional_edges("join", route)
    assert g.compile().invoke({"n": 0})["log"] == ["fork", "x", "y", "join"] * 2
