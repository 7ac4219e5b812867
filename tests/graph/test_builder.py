"""StateGraph builder: what ``add_*`` and ``compile()`` reject, and with which message."""

from __future__ import annotations

import asyncio
import re
from typing import Any, TypedDict

import pytest

from asyncgraph.constants import END, START
from asyncgraph.errors import InvalidGraphError
from asyncgraph.graph import StateGraph
from asyncgraph.types import TimeoutPolicy


class State(TypedDict):
    x: int


def node(state: State) -> dict[str, Any]:
    return {"x": state["x"] + 1}


def _graph(*names: str) -> StateGraph[Any, Any, Any, Any]:
    g: StateGraph[Any, Any, Any, Any] = StateGraph(State)
    for n in names:
        g.add_node(n, node)
    return g


def test_invalid_graph_error_is_a_value_error() -> None:
    # LangGraph raises ValueError for all of these; user `except ValueError` must work.
    assert issubclass(InvalidGraphError, ValueError)


def test_edge_to_unknown_node_names_it() -> None:
    g = _graph("a")
    g.add_edge(START, "a")
    g.add_edge("a", "ghost")
    with pytest.raises(InvalidGraphError, match="unknown node `ghost`"):
        g.compile()


def test_edge_from_unknown_node_names_it() -> None:
    g = _graph("a")
    g.add_edge(START, "a")
    g.add_edge("ghost", "a")
    with pytest.raises(InvalidGraphError, match="unknown node 'ghost'"):
        g.compile()


def test_join_from_unknown_node_names_it() -> None:
    g = _graph("a", "b")
    g.add_edge(START, "a")
    g.add_edge(["a", "ghost"], "b")
    with pytest.raises(InvalidGraphError, match="ghost"):
        g.compile()


def test_graph_without_entry_point() -> None:
    g = _graph("a")
    g.add_edge("a", END)
    with pytest.raises(InvalidGraphError, match="entrypoint"):
        g.compile()


def test_conditional_entry_point_counts_as_entry() -> None:
    g = _graph("a")
    g.set_conditional_entry_point(lambda s: "a")
    assert g.compile().invoke({"x": 1}) == {"x": 2}


def test_node_named_like_a_state_key_runs_and_pauses_like_any_node() -> None:
    # LangGraph 1.x accepts a node named after a state key (its trigger channel is
    # not the key's channel); so does asyncgraph, breakpoints and resume included.
    from asyncgraph.checkpoint.memory import InMemorySaver

    g = _graph("x")
    g.add_edge(START, "x")
    assert g.compile().invoke({"x": 1}) == {"x": 2}
    app = g.compile(checkpointer=InMemorySaver(), interrupt_before=["x"])
    config = {"configurable": {"thread_id": "t"}}
    assert app.invoke({"x": 1}, config) == {"x": 1}
    assert app.get_state(config).next == ("x",)
    assert app.invoke(None, config) == {"x": 2}


@pytest.mark.parametrize("name", [START, END, "__pregel_tasks", "__interrupt__"])
def test_reserved_node_names(name: str) -> None:
    g = _graph()
    with pytest.raises(InvalidGraphError, match=re.escape(f"`{name}` is reserved")):
        g.add_node(name, node)


@pytest.mark.parametrize("char", ["|", ":"])
def test_reserved_characters_in_node_names(char: str) -> None:
    g = _graph()
    with pytest.raises(
        InvalidGraphError, match=re.escape(f"'{char}' is a reserved character")
    ):
        g.add_node(f"a{char}b", node)


def test_duplicate_node() -> None:
    g = _graph("a")
    with pytest.raises(InvalidGraphError, match="Node `a` already present"):
        g.add_node("a", node)


def test_duplicate_node_in_a_sequence() -> None:
    g = _graph()
    with pytest.raises(InvalidGraphError, match="`a` already present"):
        g.add_sequence([("a", node), ("a", node)])


def test_edge_out_of_end() -> None:
    g = _graph("a")
    with pytest.raises(InvalidGraphError, match="END cannot be a start node"):
        g.add_edge(END, "a")
    with pytest.raises(InvalidGraphError, match="END cannot be a start node"):
        g.add_edge(["a", END], "a")
    with pytest.raises(InvalidGraphError, match="END cannot be a start node"):
        g.add_conditional_edges(END, lambda s: "a")


def test_edge_into_start() -> None:
    g = _graph("a")
    with pytest.raises(InvalidGraphError, match="START cannot be an end node"):
        g.add_edge("a", START)


@pytest.mark.parametrize("path_map", [{"go": "nowhere"}, ["nowhere"]])
def test_path_map_to_unknown_node(path_map: Any) -> None:
    g = _graph("a")
    g.add_edge(START, "a")
    g.add_conditional_edges("a", lambda s: "go", path_map)
    with pytest.raises(
        InvalidGraphError,
        match="'a' node, 'condition' branch found unknown target 'nowhere'",
    ):
        g.compile()


def test_two_branches_with_the_same_name() -> None:
    def route(state: State) -> str:
        return END

    g = _graph("a")
    g.add_conditional_edges("a", route)
    with pytest.raises(InvalidGraphError, match="`route` already exists for node `a`"):
        g.add_conditional_edges("a", route)


@pytest.mark.parametrize("timeout", [0, -1, "5", float("nan")])
def test_bad_timeout(timeout: Any) -> None:
    g = _graph()
    with pytest.raises(
        InvalidGraphError, match="Node 'a': run_timeout must be"
    ):
        g.add_node("a", node, timeout=timeout)


def test_timeout_policy_is_accepted() -> None:
    async def anode(state: State) -> State:
        return node(state)

    g = _graph()
    g.add_node("a", anode, timeout=TimeoutPolicy(run_timeout=2))
    g.add_edge(START, "a")
    assert g.compile().invoke({"x": 0}) == {"x": 1}


def test_a_timeout_on_a_sync_node_is_refused_at_compile() -> None:
    # As in LangGraph: the engine could stop waiting, but not stop the thread.
    from langchain_core.runnables import RunnableLambda

    for action in (node, RunnableLambda(node)):
        g = _graph()
        g.add_node("a", action, timeout=1)
        g.add_edge(START, "a")
        with pytest.raises(InvalidGraphError, match="only supported for async nodes.*Node 'a' is sync"):
            g.compile()
    g = _graph()
    g.add_node("a", node)
    g.add_edge(START, "a")
    g.set_node_defaults(timeout=1)  # a default applies to the sync node too
    with pytest.raises(InvalidGraphError, match="Node 'a' is sync"):
        g.compile()


def test_action_that_is_not_callable() -> None:
    g = _graph()
    with pytest.raises(TypeError, match="Node 'a' must be a callable or a Runnable"):
        g.add_node("a", 42)


@pytest.mark.parametrize("use_async", [False, True])
def test_a_dict_of_runnables_is_a_parallel_node(use_async: bool) -> None:
    # As LangGraph: each entry gets the node's input, the dict of their results is
    # the node's update.
    g = _graph()
    g.add_node("a", {"x": lambda s: s["x"] * 10})
    g.add_edge(START, "a")
    app = g.compile()
    out = asyncio.run(app.ainvoke({"x": 4})) if use_async else app.invoke({"x": 4})
    assert out == {"x": 40}


def test_empty_sequence() -> None:
    with pytest.raises(InvalidGraphError, match="at least one node"):
        _graph().add_sequence([])


def test_interrupt_before_unknown_node() -> None:
    g = _graph("a")
    g.add_edge(START, "a")
    with pytest.raises(InvalidGraphError, match="Interrupt node `zz` not found"):
        g.compile(interrupt_before=["zz"])


def test_state_schema_must_be_a_schema_class_or_a_type() -> None:
    # A type that is not a schema class is a root state (see tests/graph/test_root_state.py);
    # anything else (an instance passed by mistake) is an error.
    with pytest.raises(InvalidGraphError, match="TypedDict, dataclass or Pydantic"):
        StateGraph(42)  # type: ignore[arg-type]


def test_a_builder_changed_after_compile_warns_and_compiled_graphs_keep_their_shape() -> None:
    # As in LangGraph: allowed (compile again to use it), with a warning.
    g = _graph("a")
    g.add_edge(START, "a")
    first = g.compile()
    with pytest.warns(UserWarning, match=r"add_node\(\) on a StateGraph that was already compiled"):
        g.add_node("b", node)
    with pytest.warns(UserWarning, match=r"add_edge\(\) on a StateGraph that was already compiled"):
        g.add_edge("a", "b")
    with pytest.warns(UserWarning, match=r"add_conditional_edges\(\) on a StateGraph that was already compiled"):
        g.add_conditional_edges("b", lambda s: END)
    second = g.compile()
    assert set(first.get_graph().nodes) == {"__start__", "a", "__end__"}
    assert set(second.get_graph().nodes) == {"__start__", "a", "b", "__end__"}


def test_a_builder_compiles_more_than_once() -> None:
    g = _graph("a")
    g.add_edge(START, "a")
    one, two = g.compile(), g.compile(name="second")
    assert one.invoke({"x": 1}) == two.invoke({"x": 1}) == {"x": 2}
    assert two.get_name() == "second"


def test_node_name_inferred_from_function() -> None:
    def my_step(state: State) -> dict[str, Any]:
        return {"x": 7}

    g = _graph()
    g.add_node(my_step)
    g.add_edge(START, "my_step")
    assert "my_step" in g.nodes
    assert g.compile().invoke({"x": 0}) == {"x": 7}


def test_add_sequence_chains_nodes_in_order() -> None:
    calls: list[str] = []

    def step(tag: str) -> Any:
        def run(state: State) -> dict[str, Any]:
            calls.append(tag)
            return {"x": state["x"] * 10 + int(tag)}

        run.__name__ = f"s{tag}"
        return run

    g = _graph()
    g.add_sequence([step("1"), ("two", step("2")), step("3")])
    g.set_entry_point("s1")
    g.set_finish_point("s3")
    assert g.compile().invoke({"x": 0}) == {"x": 123}
    assert calls == ["1", "2", "3"]
    assert {"s1", "two", "s3"} == set(g.nodes)


def test_set_entry_and_finish_point_are_edges() -> None:
    g = _graph("a")
    g.set_entry_point("a")
    g.set_finish_point("a")
    assert (START, "a") in g.edges and ("a", END) in g.edges
    assert g.compile().invoke({"x": 4}) == {"x": 5}


def test_compile_rejects_something_that_is_not_a_checkpointer() -> None:
    from asyncgraph.graph import START, StateGraph

    class S(TypedDict):
        x: int

    g = StateGraph(S)
    g.add_node("a", lambda s: {})
    g.add_edge(START, "a")
    with pytest.raises(TypeError, match="Invalid checkpointer provided: str is not a checkpoint saver"):
        g.compile(checkpointer="memory")  # type: ignore[arg-type]


def test_stream_part_types_are_importable_and_subscriptable() -> None:
    from asyncgraph.types import CheckpointPayload, StreamPart, ValuesStreamPart

    assert ValuesStreamPart.__required_keys__ >= {"type", "ns", "data", "interrupts"}
    assert CheckpointPayload[dict].__origin__ is CheckpointPayload  # type: ignore[attr-defined]
    assert StreamPart.__name__ == "StreamPart"
