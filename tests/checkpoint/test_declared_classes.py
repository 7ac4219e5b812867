"""A graph's declared state classes are stored without ``allow()``; others still are not."""

from __future__ import annotations

import operator
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from asyncgraph.checkpoint.memory import InMemorySaver
from asyncgraph.checkpoint.serde import MsgpackSerde, StoredObject
from asyncgraph.graph import START, StateGraph
from asyncgraph.types import Send


class _Depth(BaseModel):
    n: int = 0


class _Profile(BaseModel):
    depth: _Depth = _Depth()


class _DeclaredState(BaseModel):
    profile: _Profile = _Profile()
    log: Annotated[list[str], operator.add] = []
    extra: Any = None


class _Undeclared(BaseModel):
    secret: str = "x"


def _graph(saver: InMemorySaver) -> Any:
    def fan_out(state: _DeclaredState) -> list[Send]:
        return [Send("work", state)]  # the whole Pydantic state goes into a checkpoint write

    def work(state: _DeclaredState) -> dict[str, Any]:
        return {"log": [f"depth={state.profile.depth.n}"]}

    g = StateGraph(_DeclaredState)
    g.add_node("work", work)
    g.add_conditional_edges(START, fan_out, ["work"])
    return g.compile(checkpointer=saver)


def test_declared_pydantic_state_and_nested_models_round_trip() -> None:
    saver = InMemorySaver()
    app = _graph(saver)
    config = {"configurable": {"thread_id": "t"}}
    out = app.invoke({"profile": _Profile(depth=_Depth(n=3))}, config)
    assert out["log"] == ["depth=3"]
    # Read back through the serializer: the nested models come back as themselves.
    restored = _graph(saver).get_state(config).values["profile"]
    assert isinstance(restored, _Profile) and restored.depth == _Depth(n=3)


def test_a_model_the_graph_does_not_declare_still_needs_allow(caplog: pytest.LogCaptureFixture) -> None:
    app = _graph(InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    app.invoke({"extra": _Undeclared()}, config)  # the run goes on: warned, stored
    assert "Storing unregistered type" in caplog.text and "_Undeclared" in caplog.text
    # Read back, it is its stored fields, not the class (never imported from a row).
    assert type(app.get_state(config).values["extra"]) is StoredObject
    assert "Blocked deserialization" in caplog.text
    strict = _graph(InMemorySaver(serde=MsgpackSerde(strict=True)))
    with pytest.raises(TypeError, match="_Undeclared is not in the checkpoint serializer's allowlist"):
        strict.invoke({"extra": _Undeclared()}, config)


class _Unhashable:
    """Annotation metadata that cannot be hashed (as LangChain's ``OmitFromSchema``)."""

    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Unhashable)


class _Inner(BaseModel):
    v: int = 0


def test_unhashable_annotation_metadata_builds_and_still_allows_the_class() -> None:
    from typing_extensions import TypedDict

    class State(TypedDict, total=False):
        inner: Annotated[_Inner, _Unhashable()]
        out: int

    def node(state: State) -> dict[str, Any]:
        return {"out": state["inner"].v}

    g = StateGraph(State)
    g.add_node("node", node)
    g.add_edge(START, "node")
    saver = InMemorySaver()
    app = g.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "t"}}
    assert app.invoke({"inner": _Inner(v=4)}, config) == {"inner": _Inner(v=4), "out": 4}
    assert app.get_state(config).values["inner"] == _Inner(v=4)
