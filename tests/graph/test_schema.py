"""State schemas and reducers: TypedDict (class and functional), dataclass, Pydantic,
input/output schemas, private node input schemas."""

from __future__ import annotations

import dataclasses
import operator
from typing import Annotated, Any, TypedDict

import pydantic
import pytest
import typing_extensions
from langchain_core.messages import AnyMessage

from asyncgraph.constants import END, START
from asyncgraph.errors import InvalidInputError, InvalidUpdateError, UndeclaredKeyWarning
from asyncgraph.graph import StateGraph
from asyncgraph.graph.message import add_messages
from asyncgraph.types import Overwrite

# --- TypedDict -------------------------------------------------------------------------


class Counter(TypedDict):
    total: Annotated[int, operator.add]
    log: Annotated[list[str], operator.add]
    last: str


def test_typeddict_reducers_and_last_value() -> None:
    g = StateGraph(Counter)
    g.add_node("a", lambda s: {"total": 1, "log": ["a"], "last": "a"})
    g.add_node("b", lambda s: {"total": 10, "log": ["b"], "last": "b"})
    g.add_sequence([("c", lambda s: {"log": [f"c saw {s['total']}"]})])
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    out = g.compile().invoke({"total": 100, "log": ["in"], "last": "in"})
    assert out == {"total": 111, "log": ["in", "a", "b", "c saw 111"], "last": "b"}


def test_input_goes_through_the_reducer() -> None:
    g = StateGraph(Counter)
    g.add_node("a", lambda s: None)
    g.add_edge(START, "a")
    assert g.compile().invoke({"log": ["x"]}) == {"total": 0, "log": ["x"]}


def test_functional_typeddict() -> None:
    Fn = TypedDict("Fn", {"items": Annotated[list[int], operator.add], "n": int})
    g = StateGraph(Fn)
    g.add_node("a", lambda s: {"items": [s["n"]], "n": s["n"] + 1})
    g.add_edge(START, "a")
    assert g.compile().invoke({"items": [0], "n": 5}) == {"items": [0, 5], "n": 6}


def test_keys_never_written_are_absent_from_output() -> None:
    g = StateGraph(Counter)
    g.add_node("a", lambda s: {"last": "a"})
    g.add_edge(START, "a")
    # Reducer keys have a starting value; plain keys have none until written.
    assert g.compile().invoke({}) == {"total": 0, "log": [], "last": "a"}


def test_node_returning_none_writes_nothing() -> None:
    g = StateGraph(Counter)
    g.add_node("a", lambda s: None)
    g.add_edge(START, "a")
    assert g.compile().invoke({"last": "kept"})["last"] == "kept"


def _keep_longest(left: str, right: str) -> str:
    return right if len(right) > len(left) else left


class Longest(TypedDict):
    word: Annotated[str, _keep_longest]


def test_custom_reducer_folds_parallel_writes() -> None:
    g = StateGraph(Longest)
    for name, word in (("a", "ab"), ("b", "abcd"), ("c", "abc")):
        g.add_node(name, lambda s, w=word: {"word": w})
        g.add_edge(START, name)
    assert g.compile().invoke({"word": "x"}) == {"word": "abcd"}


def test_overwrite_replaces_a_reducer_value() -> None:
    g = StateGraph(Counter)
    g.add_node("a", lambda s: {"log": ["a"]})
    g.add_node("reset", lambda s: {"log": Overwrite(["fresh"])})
    g.add_edge(START, "a")
    g.add_edge("a", "reset")
    assert g.compile().invoke({"log": ["in"]})["log"] == ["fresh"]


def test_overwrite_wins_over_sibling_writes_of_the_same_step() -> None:
    # LangGraph: an Overwrite in a step discards that step's other writes to the key,
    # whatever the node names (here the appender "z" sorts after the overwriter "a").
    g = StateGraph(Counter)
    g.add_node("a", lambda s: {"log": Overwrite(["over"])})
    g.add_node("z", lambda s: {"log": ["z"]})
    g.add_edge(START, "a")
    g.add_edge(START, "z")
    assert g.compile().invoke({"log": ["in"]})["log"] == ["over"]


def test_unknown_key_returned_by_a_node_is_dropped_with_a_warning() -> None:
    # As in LangGraph the key is dropped (the rest of the update applies); asyncgraph
    # also warns, naming the node and the key.
    g = StateGraph(Counter)
    g.add_node("writer", lambda s: {"last": "ok", "typo": 1})
    g.add_edge(START, "writer")
    with pytest.warns(UndeclaredKeyWarning, match="'writer'.*'typo'"):
        out = g.compile().invoke({})
    assert out["last"] == "ok" and "typo" not in out


def test_unknown_key_returned_by_a_node_is_an_error_when_strict() -> None:
    g = StateGraph(Counter)
    g.add_node("writer", lambda s: {"last": "ok", "typo": 1})
    g.add_edge(START, "writer")
    with pytest.raises(InvalidUpdateError) as info:
        g.compile(strict=True).invoke({})
    assert info.value.key == "typo"
    assert info.value.nodes == ("writer",)
    assert "writer" in str(info.value) and "'typo'" in str(info.value)


@pytest.mark.parametrize("value", [[1], "str", 5])
def test_non_dict_return_is_an_error_naming_the_node(value: Any) -> None:
    g = StateGraph(Counter)
    g.add_node("oops", lambda s: value)
    g.add_edge(START, "oops")
    with pytest.raises(InvalidUpdateError, match="Expected dict") as info:
        g.compile().invoke({})
    assert "oops" in str(info.value)


# --- dataclass -------------------------------------------------------------------------


@dataclasses.dataclass
class DC:
    n: int
    tag: str = "default"
    items: Annotated[list[int], operator.add] = dataclasses.field(default_factory=list)


def test_dataclass_state_nodes_get_instances_with_defaults() -> None:
    seen: list[Any] = []

    def a(state: DC) -> dict[str, Any]:
        seen.append(state)
        return {"n": state.n + 1, "items": [state.n]}

    g = StateGraph(DC)
    g.add_node("a", a)
    g.add_edge(START, "a")
    out = g.compile().invoke({"n": 1})
    assert isinstance(seen[0], DC) and seen[0].tag == "default" and seen[0].items == []
    # Like LangGraph, a default that no one wrote is not part of the output.
    assert out == {"n": 2, "items": [1]}


def test_dataclass_instance_as_input() -> None:
    g = StateGraph(DC)
    g.add_node("a", lambda s: {"tag": f"n={s.n}"})
    g.add_edge(START, "a")
    assert g.compile().invoke(DC(n=3, items=[7]))["tag"] == "n=3"


# --- Pydantic --------------------------------------------------------------------------


class PState(pydantic.BaseModel):
    n: int
    tag: str = "default"
    log: Annotated[list[str], operator.add] = []


def test_pydantic_state_nodes_get_validated_models() -> None:
    seen: list[Any] = []

    def a(state: PState) -> dict[str, Any]:
        seen.append(state)
        return {"n": state.n + 1, "log": [state.tag]}

    g = StateGraph(PState)
    g.add_node("a", a)
    g.add_edge(START, "a")
    out = g.compile().invoke({"n": "41"})  # coerced by the model
    assert isinstance(seen[0], PState)
    assert seen[0].n == 41
    assert out["n"] == 42 and out["log"] == ["default"]


def test_pydantic_validation_error_names_the_node_and_keeps_the_cause() -> None:
    g = StateGraph(PState)
    g.add_node("bad", lambda s: {"n": "not a number"})
    g.add_node("reader", lambda s: {"tag": "unreachable"})
    g.add_edge(START, "bad")
    g.add_edge("bad", "reader")
    with pytest.raises(InvalidUpdateError) as info:
        g.compile().invoke({"n": 1})
    # The node that wrote the bad value is blamed (not the next node reading state).
    assert "Node 'bad'" in str(info.value) and "'not a number'" in str(info.value)
    assert "PState.n" in str(info.value)
    assert info.value.nodes == ("bad",) and info.value.key == "n"
    assert isinstance(info.value.__cause__, pydantic.ValidationError)


def test_pydantic_invalid_graph_input_raises_pydantics_error() -> None:
    calls: list[Any] = []
    g = StateGraph(PState)
    g.add_node("a", lambda s: calls.append(s))
    g.add_edge(START, "a")
    with pytest.raises(pydantic.ValidationError) as info:  # as LangGraph raises it
        g.compile().invoke({"n": "not a number"})
    assert "the graph input, validated as PState" in info.value.__notes__[0]
    assert calls == []


def test_pydantic_node_may_return_a_model() -> None:
    g = StateGraph(PState)
    g.add_node("a", lambda s: PState(n=s.n * 2, tag="set"))
    g.add_edge(START, "a")
    out = g.compile().invoke({"n": 4})
    assert out["n"] == 8 and out["tag"] == "set"


# --- input / output schemas, private state ------------------------------------------


class In(TypedDict):
    question: str


class Out(TypedDict):
    answer: str


class Full(TypedDict):
    question: str
    answer: str
    scratch: str


class Private(TypedDict):
    secret: str


def _io_graph(strict: bool = False) -> Any:
    def plan(state: In) -> dict[str, Any]:
        return {"scratch": state["question"] + "?"}

    def answer(state: Full) -> dict[str, Any]:
        return {"answer": state["scratch"] * 2}

    g = StateGraph(Full, input_schema=In, output_schema=Out)
    g.add_node("plan", plan)
    g.add_node("respond", answer)
    g.add_edge(START, "plan")
    g.add_edge("plan", "respond")
    g.add_edge("respond", END)
    return g.compile(strict=strict)


def test_output_schema_filters_the_result() -> None:
    assert _io_graph().invoke({"question": "why"}) == {"answer": "why?why?"}


async def test_output_schema_filters_values_stream() -> None:
    chunks = [
        c async for c in _io_graph().astream({"question": "q"}, stream_mode="values")
    ]
    assert chunks[-1] == {"answer": "q?q?"}
    assert all(set(c) <= {"answer"} for c in chunks)


def test_input_schema_drops_keys_outside_it_with_a_warning() -> None:
    # LangGraph drops 'answer' here without a word; asyncgraph drops it and warns.
    with pytest.warns(UndeclaredKeyWarning, match="'answer'"):
        out = _io_graph().invoke({"question": "q", "answer": "injected"})
    assert out == {"answer": "q?q?"}


def test_input_schema_rejects_keys_outside_it_when_strict() -> None:
    with pytest.raises(InvalidInputError, match="'answer'"):
        _io_graph(strict=True).invoke({"question": "q", "answer": "injected"})


def test_node_input_schema_from_annotation_sees_only_its_keys() -> None:
    seen: list[dict[str, Any]] = []

    def plan(state: In) -> dict[str, Any]:
        seen.append(dict(state))
        return {"scratch": "s"}

    g = StateGraph(Full)
    g.add_node("plan", plan)
    g.add_edge(START, "plan")
    g.compile().invoke({"question": "q", "answer": "a", "scratch": "old"})
    assert seen == [{"question": "q"}]


def test_private_state_passes_between_nodes_but_not_out() -> None:
    def write(state: Full) -> Private:
        return {"secret": "s3cr3t"}

    def read(state: Private) -> dict[str, Any]:
        return {"answer": state["secret"]}

    g = StateGraph(Full)
    g.add_node("write", write)
    g.add_node("read", read)
    g.add_edge(START, "write")
    g.add_edge("write", "read")
    assert g.compile().invoke({"question": "q"}) == {
        "question": "q",
        "answer": "s3cr3t",
    }


def test_explicit_input_schema_on_add_node() -> None:
    seen: list[dict[str, Any]] = []

    def read(state: Any) -> None:
        seen.append(dict(state))

    g = StateGraph(Full)
    g.add_node("read", read, input_schema=In)
    g.add_edge(START, "read")
    g.compile().invoke({"question": "q", "scratch": "x"})
    assert seen == [{"question": "q"}]


# --- typing_extensions.TypedDict -----------------------------------------------------


class ExtState(typing_extensions.TypedDict):
    log: Annotated[list[str], operator.add]


def test_typing_extensions_typeddict_state() -> None:
    # Common in user code (and what pydantic recommends before Python 3.12).
    g = StateGraph(ExtState)
    g.add_node("a", lambda s: {"log": ["a"]})
    g.add_edge(START, "a")
    assert g.compile().invoke({"log": ["in"]}) == {"log": ["in", "a"]}


def test_messages_state_is_a_usable_schema() -> None:
    from langchain_core.messages import AIMessage, HumanMessage

    from asyncgraph.graph import MessagesState

    g = StateGraph(MessagesState)
    g.add_node("reply", lambda s: {"messages": [AIMessage("hello", id="a1")]})
    g.add_edge(START, "reply")
    out = g.compile().invoke({"messages": [HumanMessage("hi", id="h1")]})
    assert [(type(m).__name__, m.content) for m in out["messages"]] == [
        ("HumanMessage", "hi"),
        ("AIMessage", "hello"),
    ]


def test_pydantic_state_takes_reducer_input_as_an_update() -> None:
    # ("user", "hi") is not a message, but it is a valid add_messages update: the
    # input validates as what the reducer makes of it (as in LangGraph).
    class Chat(pydantic.BaseModel):
        messages: Annotated[list[AnyMessage], add_messages]
        n: int = 0

    def count(state: Chat) -> dict[str, Any]:
        return {"n": len(state.messages)}

    g = StateGraph(Chat)
    g.add_node("count", count)
    g.add_edge(START, "count")
    app = g.compile()
    out = app.invoke({"messages": [("user", "hi"), {"role": "ai", "content": "yo"}]})
    assert [(m.type, m.content) for m in out["messages"]] == [("human", "hi"), ("ai", "yo")]
    assert out["n"] == 2
    with pytest.raises(pydantic.ValidationError, match="Chat"):
        app.invoke({"messages": [], "n": "not a number"})


class _PlainAnnotated:
    log: Annotated[list[str], operator.add]
    name: str


def test_a_plain_annotated_class_is_a_dict_state_schema() -> None:
    seen: list[Any] = []

    def node(state: Any) -> dict[str, Any]:
        seen.append(state)
        return {"log": ["node"], "name": "done"}

    g = StateGraph(_PlainAnnotated)
    g.add_node("node", node)
    g.add_edge(START, "node")
    assert g.compile().invoke({"log": ["in"]}) == {"log": ["in", "node"], "name": "done"}
    assert seen == [{"log": ["in"]}]  # a dict, never an instance of the class


def test_a_value_that_is_not_a_type_is_refused_as_a_schema() -> None:
    with pytest.raises(ValueError, match="State schema must be a TypedDict"):
        StateGraph(42)  # type: ignore[arg-type]


def test_pydantic_input_may_leave_out_a_required_reducer_key() -> None:
    class State(pydantic.BaseModel):
        log: Annotated[list[str], operator.add]
        name: str = "anon"

    seen: list[Any] = []

    def node(state: State) -> dict[str, Any]:
        seen.append(state.log)
        return {"log": ["node"]}

    g = StateGraph(State)
    g.add_node("node", node)
    g.add_edge(START, "node")
    assert g.compile().invoke({"name": "x"})["log"] == ["node"]
    assert seen == [[]]  # the reducer channel's starting value


def test_pydantic_input_missing_a_required_plain_key_still_fails() -> None:
    class State(pydantic.BaseModel):
        name: str

    g = StateGraph(State)
    g.add_node("node", lambda s: {})
    g.add_edge(START, "node")
    with pytest.raises(pydantic.ValidationError, match="name"):
        g.compile().invoke({})


def test_pydantic_validators_run_once_per_read_of_the_input() -> None:
    class State(pydantic.BaseModel):
        name: str
        count: int = 0

        @pydantic.field_validator("name", mode="after")
        @classmethod
        def title(cls, value: str) -> str:
            return "Dr. " + value

    seen: list[tuple[str, int]] = []

    def node(state: State) -> dict[str, Any]:
        seen.append((state.name, state.count))
        return {}

    g = StateGraph(State)
    g.add_node("node", node)
    g.add_edge(START, "node")
    g.compile().invoke({"name": "Who", "count": "3"})
    assert seen == [("Dr. Who", 3)]  # not "Dr. Dr. Who": the input is stored as given
