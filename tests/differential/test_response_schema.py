"""``interrupt(..., response_schema=...)`` (LangGraph 1.2): the schema reaches the
client on the interrupt, typed answers are validated, a bad answer leaves the
interrupt pending. Compared with LangGraph; asyncgraph also through SQLite."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from typing_extensions import TypedDict

from ._harness import modules


class Age(pydantic.BaseModel):
    age: int


class Name(TypedDict):
    name: str


class S(TypedDict, total=False):
    out: str


def _dialogue(pkg: str, saver: Any) -> list[Any]:
    m = modules(pkg)
    errors = __import__(f"{pkg}.errors", fromlist=["is_invalid_resume"])

    def ask(state: S) -> dict[str, Any]:
        age = m.types.interrupt("age?", response_schema=Age)
        name = m.types.interrupt("name?", response_schema=Name)
        raw = m.types.interrupt("raw?", response_schema={"type": "string"})
        return {"out": f"{age!r}|{name!r}|{raw!r}"}

    g = m.graph.StateGraph(S)
    g.add_node("ask", ask)
    g.add_edge(m.graph.START, "ask")
    graph = g.compile(checkpointer=saver)
    cfg = {"configurable": {"thread_id": "t"}}

    def shown(out: Any) -> Any:
        return [(i.value, i.response_schema) for i in out["__interrupt__"]]

    seen: list[Any] = [shown(graph.invoke({}, cfg))]
    with pytest.raises(pydantic.ValidationError) as info:
        graph.invoke(m.types.Command(resume={"age": "not a number"}), cfg)
    seen.append(errors.is_invalid_resume(info.value))
    state = graph.get_state(cfg)
    seen.append((state.next, [(i.value, i.response_schema) for i in state.tasks[0].interrupts]))
    seen.append(shown(graph.invoke(m.types.Command(resume={"age": "41"}), cfg)))
    seen.append(shown(graph.invoke(m.types.Command(resume={"name": "bo"}), cfg)))
    seen.append(graph.invoke(m.types.Command(resume=5), cfg))  # a dict schema: not validated
    return seen


def test_response_schemas_behave_as_in_langgraph(tmp_path: Any) -> None:
    from langgraph.checkpoint.memory import InMemorySaver as LGSaver

    from asyncgraph.checkpoint.memory import InMemorySaver
    from asyncgraph.checkpoint.sqlite import SqliteSaver

    oracle = _dialogue("langgraph", LGSaver())
    assert _dialogue("asyncgraph", InMemorySaver()) == oracle
    with SqliteSaver.from_conn_string(str(tmp_path / "rs.db")) as saver:
        assert _dialogue("asyncgraph", saver) == oracle
    assert oracle[1] is True
    assert oracle[-1] == {"out": "Age(age=41)|{'name': 'bo'}|5"}


def test_a_response_schema_that_is_not_a_schema_names_it() -> None:
    from asyncgraph.types import interrupt

    with pytest.raises(TypeError, match="takes a JSON Schema dict.*3 cannot be used"):
        interrupt("x", response_schema=3)


def _union_dialogue(pkg: str) -> list[Any]:
    from typing import Annotated, Literal, Union

    import importlib

    m = modules(pkg)
    saver = importlib.import_module(f"{pkg}.checkpoint.memory").InMemorySaver()

    class Approve(pydantic.BaseModel):
        type: Literal["approve"]

    class Edit(pydantic.BaseModel):
        type: Literal["edit"]
        text: str

    Decision = Annotated[Union[Approve, Edit], pydantic.Field(discriminator="type")]

    class S(TypedDict):
        out: str

    def review(state: S) -> dict[str, str]:
        answer = m.types.interrupt("review?", response_schema=Decision)
        return {"out": f"{type(answer).__name__}:{getattr(answer, 'text', '')}"}

    g = m.graph.StateGraph(S)
    g.add_node("review", review)
    g.add_edge(m.graph.START, "review")
    app = g.compile(checkpointer=saver)
    cfg = {"configurable": {"thread_id": "u"}}
    first = app.invoke({"out": ""}, cfg)
    pending = first["__interrupt__"][0]
    done = app.invoke(m.types.Command(resume={"type": "edit", "text": "shorter"}), cfg)
    return [pending.response_schema, done]


def test_an_annotated_union_response_schema_validates_as_in_langgraph() -> None:
    # LangChain's human-in-the-loop middleware passes one of these.
    oracle = _union_dialogue("langgraph")
    assert _union_dialogue("asyncgraph") == oracle
    assert oracle[1] == {"out": "Edit:shorter"}
