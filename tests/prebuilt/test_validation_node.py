"""``ValidationNode`` checks tool calls against schemas; LangGraph's is the oracle."""

from __future__ import annotations

import importlib
import json
import warnings
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.tools import tool
from pydantic import BaseModel, field_validator

from asyncgraph.graph import START, StateGraph
from asyncgraph.graph.message import add_messages


class Pick(BaseModel):
    """Pick a number."""

    n: int

    @field_validator("n")
    @classmethod
    def only_37(cls, v: int) -> int:
        if v != 37:
            raise ValueError("Only 37 is allowed")
        return v


def rate(score: int, reason: str) -> None:
    """Rate something."""


@tool
def lookup(query: str) -> str:
    """Look something up."""
    return query


# Imported here, not inside the async tests: a first import blocks the event loop.
PREBUILT = {pkg: importlib.import_module(f"{pkg}.prebuilt") for pkg in ("langgraph", "asyncgraph")}


def _node(pkg: str, schemas: list[Any], **kwargs: Any) -> Any:
    cls = PREBUILT[pkg].ValidationNode
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LangGraph deprecates it in favour of langchain's agents
        return cls(schemas, **kwargs)


def _ai() -> AIMessage:
    return AIMessage(
        "",
        tool_calls=[
            {"name": "Pick", "args": {"n": 37}, "id": "a"},
            {"name": "Pick", "args": {"n": 5}, "id": "b"},
            {"name": "rate", "args": {"score": "high", "reason": "x"}, "id": "c"},
            {"name": "lookup", "args": {"query": "q"}, "id": "d"},
        ],
    )


def _shape(messages: list[Any]) -> list[tuple[Any, ...]]:
    out = []
    for m in messages:
        err = bool(m.additional_kwargs.get("is_error"))
        out.append((m.tool_call_id, m.name, err, m.content if not err else m.content.splitlines()[0][:40]))
    return out


@pytest.mark.parametrize("as_dict", [True, False])
async def test_validation_node_matches_langgraph(as_dict: bool) -> None:
    results = {}
    for pkg in ("langgraph", "asyncgraph"):
        node = _node(pkg, [Pick, rate, lookup])
        inp: Any = {"messages": [HumanMessage("hi"), _ai()]} if as_dict else [HumanMessage("hi"), _ai()]
        out = await node.ainvoke(inp)
        messages = out["messages"] if as_dict else out
        assert node.invoke(inp) == out
        results[pkg] = _shape(messages)
    assert results["asyncgraph"] == results["langgraph"]
    valid = results["asyncgraph"][0]
    assert valid[:3] == ("a", "Pick", False) and json.loads(valid[3]) == {"n": 37}
    assert [r[2] for r in results["asyncgraph"]] == [False, True, True, False]


def test_custom_error_format_and_bad_inputs() -> None:
    node = _node("asyncgraph", [Pick], format_error=lambda exc, call, schema: f"{call['id']}: {schema.__name__} rejected")
    out = node.invoke([AIMessage("", tool_calls=[{"name": "Pick", "args": {"n": 1}, "id": "x"}])])
    assert out[0].content == "x: Pick rejected"
    with pytest.raises(ValueError, match="Last message is not an AIMessage"):
        node.invoke([HumanMessage("hi")])
    with pytest.raises(ValueError, match="No message found"):
        node.invoke({"messages": []})
    with pytest.raises(ValueError, match="Unsupported input to ValidationNode"):
        _node("asyncgraph", [42])


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


async def test_validation_node_in_a_graph() -> None:
    builder = StateGraph(State)
    builder.add_node("validation", _node("asyncgraph", [Pick]))
    builder.add_edge(START, "validation")
    out = await builder.compile().ainvoke({"messages": [AIMessage("", tool_calls=[{"name": "Pick", "args": {"n": 37}, "id": "ok"}])]})
    assert out["messages"][-1].tool_call_id == "ok" and json.loads(out["messages"][-1].content) == {"n": 37}
