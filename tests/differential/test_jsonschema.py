"""``get_input_jsonschema`` / ``get_output_jsonschema`` / ``get_context_jsonschema``,
``graph.channels`` and default node names, on LangGraph and on asyncgraph."""

from __future__ import annotations

import dataclasses
import importlib
import operator
from typing import Annotated, Any, Optional

import pydantic
import pytest
from typing_extensions import NotRequired, Required, TypedDict


class Parent(TypedDict):
    a: str


class Partial(Parent, total=False):
    b: int
    c: Required[Annotated[list, operator.add]]
    d: NotRequired[str]


@dataclasses.dataclass
class DC:
    x: str
    y: Optional[int]  # noqa: UP045  (the Optional spelling is what is tested)
    z: int = 3
    w: str = dataclasses.field(default=...)  # type: ignore[assignment]
    v: list[int] = dataclasses.field(default_factory=list)


class PM(pydantic.BaseModel):
    q: str
    r: int = 1


@dataclasses.dataclass
class Ctx:
    user: str
    n: int = 0


SCHEMAS = [Partial, DC, PM, Annotated[list, operator.add], list[str]]


@pytest.mark.parametrize("schema", SCHEMAS, ids=["typeddict", "dataclass", "pydantic", "root-reducer", "root"])
def test_state_graph_json_schemas(schema: Any) -> None:
    seen = {}
    for pkg in ("langgraph", "asyncgraph"):
        graph_mod = importlib.import_module(f"{pkg}.graph")
        b = graph_mod.StateGraph(schema, context_schema=Ctx)
        b.add_node("n", lambda s: None)
        b.add_edge(graph_mod.START, "n")
        g = b.compile()
        seen[pkg] = (g.get_input_jsonschema(), g.get_output_jsonschema(), g.get_context_jsonschema())
    assert seen["asyncgraph"] == seen["langgraph"]


class _Callable:
    def __call__(self, state: dict) -> dict:
        return {}


def test_channels_and_callable_object_names() -> None:
    # (LangGraph's graph.nodes also lists __start__; asyncgraph's lists the user's nodes.)
    seen = {}
    for pkg in ("langgraph", "asyncgraph"):
        graph_mod = importlib.import_module(f"{pkg}.graph")
        binop = importlib.import_module(f"{pkg}.channels").BinaryOperatorAggregate
        b = graph_mod.StateGraph(Partial)
        b.add_node(_Callable())
        b.add_edge(graph_mod.START, "_Callable")
        g = b.compile()
        seen[pkg] = ([n for n in g.nodes if n != "__start__"], isinstance(g.channels["c"], binop), "a" in g.channels)
    assert seen["asyncgraph"] == seen["langgraph"]
