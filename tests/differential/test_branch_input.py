"""What a conditional edge's path function receives, on LangGraph and asyncgraph side
by side: the state with the node's writes applied; without a schema annotated on the
path function, also the other keys of a dict the node returned (data a node hands its
edge without saving it), under the state's values; the source node's input schema's
keys when the node declares one; the graph's input keys on an edge out of START."""

from __future__ import annotations

import importlib
import operator
import warnings
from typing import Annotated, Any, TypedDict

import pydantic
import pytest

PACKAGES = ("langgraph", "asyncgraph")


class State(TypedDict):
    a: Annotated[list[int], operator.add]
    b: str


class Part(TypedDict):
    b: str


class PState(pydantic.BaseModel):
    a: Annotated[list[int], operator.add]
    b: str


def _seen(pkg: str, *, returns: Any = None, path_schema: Any = None, node_schema: Any = None,
          from_start: bool = False, state: Any = State, inp: Any = None) -> list[Any]:
    G = importlib.import_module(f"{pkg}.graph")
    T = importlib.import_module(f"{pkg}.types")
    if callable(returns):
        returns = returns(T)
    seen: list[Any] = []

    def path(data):  # type: ignore[no-untyped-def]
        seen.append(dict(data) if isinstance(data, dict) else (type(data).__name__, data.model_dump()))
        return G.END

    if path_schema is not None:
        path.__annotations__ = {"data": path_schema}

    def node(s: Any) -> Any:
        return returns

    g = G.StateGraph(state)
    g.add_node("n", node, input_schema=node_schema)
    if from_start:
        g.add_conditional_edges(G.START, path, ["n", G.END])
    else:
        g.add_edge(G.START, "n")
        g.add_conditional_edges("n", path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # asyncgraph names the undeclared keys
        g.compile().invoke(inp or {"a": [1], "b": "x"})
    return seen


CASES = {
    "extra key": dict(returns={"a": [2], "extra": 1}),
    "state wins over the output": dict(returns={"a": [2], "b": "y"}),
    "annotated dict": dict(returns={"a": [2], "extra": 1}, path_schema=dict),
    "annotated state schema": dict(returns={"a": [2], "extra": 1}, path_schema=State),
    "annotated other schema": dict(returns={"a": [2], "extra": 1}, path_schema=Part),
    "node input schema": dict(returns={"a": [2], "extra": 1}, node_schema=Part),
    "command": dict(returns=lambda T: T.Command(update={"a": [2]})),
    "none": dict(returns=None),
    "from START": dict(from_start=True, inp={"a": [1], "b": "x", "zz": 3}),
    "pydantic state": dict(returns={"a": [2], "extra": 1}, state=PState),
}


@pytest.mark.parametrize("case", CASES)
def test_path_function_input(case: str) -> None:
    expected, got = (_seen(pkg, **CASES[case]) for pkg in PACKAGES)
    assert got == expected
    assert len(got) == 1


def test_extra_key_reaches_the_edge_but_not_the_state() -> None:
    G = importlib.import_module("asyncgraph.graph")

    def agent(s: State) -> dict[str, Any]:
        return {"a": [2], "verdict": "stop"}

    def route(data: dict) -> str:  # type: ignore[type-arg]
        return G.END if data["verdict"] == "stop" else "agent"

    g = G.StateGraph(State)
    g.add_node("agent", agent)
    g.add_edge(G.START, "agent")
    g.add_conditional_edges("agent", route)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert g.compile().invoke({"a": [1], "b": "x"}) == {"a": [1, 2], "b": "x"}
