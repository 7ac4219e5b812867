"""``version="v2"`` output shows a Pydantic / dataclass state as that type, as in
LangGraph: ``invoke``'s ``GraphOutput.value``, the graph's own ``values`` items and the
state in ``checkpoints`` / ``debug`` checkpoint payloads (not the input's checkpoint,
whose state may be incomplete). A TypedDict state stays a dict; v1 is unchanged."""

# No ``from __future__ import annotations``: the schemas are read at run time.
import dataclasses
import importlib
import operator
from typing import Annotated, Any, TypedDict

import pytest
from pydantic import BaseModel

PACKAGES = ("langgraph", "asyncgraph")


class PState(BaseModel):
    value: str
    items: Annotated[list[str], operator.add]


@dataclasses.dataclass
class DState:
    value: str
    items: Annotated[list[str], operator.add]


class TState(TypedDict):
    value: str
    items: Annotated[list[str], operator.add]


def _type(x: Any) -> str:
    return type(x).__name__


def _run(pkg: str, schema: Any) -> Any:
    G = importlib.import_module(f"{pkg}.graph")
    T = importlib.import_module(f"{pkg}.types")
    M = importlib.import_module(f"{pkg}.checkpoint.memory")

    def node(state: Any) -> dict[str, Any]:
        v = state["value"] if isinstance(state, dict) else state.value
        answer = T.interrupt("name?")
        return {"value": f"{v}_{answer}", "items": ["a"]}

    app = G.StateGraph(schema).add_node("node", node).add_edge(G.START, "node").compile(checkpointer=M.InMemorySaver())
    cfg = {"configurable": {"thread_id": "1"}}
    inp = {"value": "x", "items": []}
    seen: list[Any] = []
    for part in app.stream(inp, cfg, stream_mode=["values", "checkpoints", "debug", "updates"], version="v2"):
        data = part["data"]
        if part["type"] == "values":
            seen.append(("values", _type(data), len(part["interrupts"])))
        elif part["type"] == "checkpoints":
            seen.append(("checkpoints", _type(data["values"])))
        elif part["type"] == "debug" and data["type"] == "checkpoint":
            seen.append(("debug", _type(data["payload"]["values"])))
        else:
            seen.append((part["type"], _type(data)))
    out = app.invoke(T.Command(resume="bob"), cfg, version="v2")
    v1 = app.invoke(inp, {"configurable": {"thread_id": "2"}})
    return seen, _type(out.value), out.value == schema(value="x_bob", items=["a"]) if schema is not TState else out.value, _type(v1)


@pytest.mark.parametrize("schema", [PState, DState, TState], ids=["pydantic", "dataclass", "typeddict"])
def test_v2_items_show_the_state_schema_type(schema: Any) -> None:
    got = {pkg: _run(pkg, schema) for pkg in PACKAGES}
    assert got["asyncgraph"] == got["langgraph"]
    if schema is not TState:
        assert ("values", schema.__name__, 1) in got["asyncgraph"][0]


def test_a_subgraphs_values_items_keep_their_dicts() -> None:
    """The root's items are the root schema's type; a subgraph's (another schema) are
    not forced into it."""
    from asyncgraph.graph import START, StateGraph

    class Inner(BaseModel):
        inner: str

    class Outer(BaseModel):
        value: str
        inner: str = ""

    sub = StateGraph(Inner).add_node("i", lambda s: {"inner": "done"}).add_edge(START, "i").compile()
    app = StateGraph(Outer).add_node("sub", sub).add_edge(START, "sub").compile()
    parts = list(app.stream({"value": "x"}, stream_mode="values", subgraphs=True, version="v2"))
    assert {type(p["data"]).__name__ for p in parts if p["ns"] == ()} == {"Outer"}
    assert {type(p["data"]).__name__ for p in parts if p["ns"] != ()} == {"dict"}
