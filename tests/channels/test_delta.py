"""DeltaChannel: a reducer over a whole step's writes; overwrites; replay; in a graph."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage

from asyncgraph.channels.base import MISSING
from asyncgraph.channels.binop import BinaryOperatorAggregate, _get_overwrite
from asyncgraph.channels.delta import DeltaChannel
from asyncgraph.checkpoint.memory import InMemorySaver
from asyncgraph.checkpoint.serde.types import _DeltaSnapshot
from asyncgraph.errors import InvalidUpdateError
from asyncgraph.graph import START, StateGraph
from asyncgraph.graph.message import _messages_delta_reducer
from asyncgraph.types import Overwrite


def _extend(state: list, writes: list) -> list:
    out = list(state)
    for w in writes:
        out.extend(w)
    return out


def test_the_reducer_gets_the_step_writes_in_one_call() -> None:
    calls = []

    def reducer(state: list, writes: list) -> list:
        calls.append(list(writes))
        return _extend(state, writes)

    ch = DeltaChannel(reducer, list, key="k").from_checkpoint(MISSING)
    assert ch.get() == []  # an empty channel starts from typ()
    assert ch.update([[1], [2, 3]]) is True
    assert calls == [[[1], [2, 3]]]
    assert ch.get() == [1, 2, 3]
    assert ch.update([]) is False


def test_an_overwrite_replaces_the_value_and_two_are_an_error() -> None:
    ch = DeltaChannel(_extend, list, key="k").from_checkpoint([1])
    assert ch.update([[2], Overwrite([9])]) is True
    assert ch.get() == [9]
    assert ch.update([{"__overwrite__": None}]) is True  # the dict form; None: empty
    assert ch.get() == []
    with pytest.raises(InvalidUpdateError, match="only one Overwrite value per super-step"):
        ch.update([Overwrite([1]), Overwrite([2])])


def test_checkpoints_hold_the_value_and_read_a_snapshot() -> None:
    spec = DeltaChannel(_extend, list, key="k")
    ch = spec.from_checkpoint(MISSING)
    ch.update([[1, 2]])
    assert spec.from_checkpoint(ch.checkpoint()).get() == [1, 2]
    assert spec.from_checkpoint(_DeltaSnapshot([7])).get() == [7]
    assert spec.from_checkpoint(None).get() is None  # None is a value, not "empty"


def test_replay_folds_writes_after_the_last_overwrite() -> None:
    ch = DeltaChannel(_extend, list, key="k").from_checkpoint([0])
    ch.replay_writes([("t1", "k", [1]), ("t2", "k", Overwrite([5])), ("t3", "k", [6])])
    assert ch.get() == [5, 6]


def test_snapshot_frequency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        DeltaChannel(_extend, snapshot_frequency=0)


def test_get_overwrite_forms() -> None:
    assert _get_overwrite(Overwrite(1)) == (True, 1)
    assert _get_overwrite({"__overwrite__": 2}) == (True, 2)
    assert _get_overwrite({"type": "__overwrite__", "value": 3}) == (True, 3)
    assert _get_overwrite({"a": 1}) == (False, None)
    # The dict forms overwrite a BinaryOperatorAggregate too.
    ch = BinaryOperatorAggregate(list, operator.add, key="k").from_checkpoint([1])
    ch.update([[2], {"type": "__overwrite__", "value": [7]}])
    assert ch.get() == [7]


def test_messages_delta_reducer_dedupes_replaces_and_removes() -> None:
    state = _messages_delta_reducer([], [[HumanMessage("a", id="1"), AIMessage("b", id="2")]])
    state = _messages_delta_reducer(state, [AIMessage("B", id="2"), RemoveMessage(id="1"), ("user", "c")])
    assert [(m.id, m.content) for m in state] == [("2", "B"), (None, "c")]
    # Batching does not change the result.
    writes = [[HumanMessage("x", id="x")], [AIMessage("y", id="x")], [RemoveMessage(id="nope")]]
    one = _messages_delta_reducer([], writes)
    two = _messages_delta_reducer(_messages_delta_reducer([], writes[:1]), writes[1:])
    assert one == two


def merge(state: dict, writes: list) -> dict:
    out = dict(state)
    for w in writes:
        out.update(w)
    return out


class FilesState(TypedDict):
    files: Annotated[dict[str, str], DeltaChannel(merge)]


def test_a_state_key_accumulates_across_runs_of_a_thread() -> None:
    State = FilesState
    turn = {"n": 0}

    def write(state: State) -> dict:
        turn["n"] += 1
        return {"files": {f"f{turn['n']}": str(turn["n"])}}

    graph = StateGraph(State).add_node("write", write).add_edge(START, "write").compile(checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "t"}}
    for _ in range(3):
        graph.invoke({"files": {}}, cfg)
    assert graph.get_state(cfg).values["files"] == {"f1": "1", "f2": "2", "f3": "3"}
    # The type comes from the annotation: an empty channel starts from dict().
    assert graph.builder.channels["files"].typ is dict


def _append(value: list[Any], writes: list[Any]) -> list[Any]:
    out = list(value)
    for w in writes:
        out.extend(w) if isinstance(w, list) else out.append(w)
    return out


def test_messages_written_without_an_id_get_one_before_the_reducer() -> None:
    ch = DeltaChannel(_append).from_checkpoint(MISSING)
    given = [{"role": "user", "content": "hi"}, AIMessage("kept", id="a1"), {"kind": "not a message"}]
    bare = HumanMessage("bare")
    ch.update([given, bare, 7])
    first, second, other, third, seven = ch.get()
    assert isinstance(first, HumanMessage) and first.id  # a message dict became a message
    assert second.id == "a1" and other == {"kind": "not a message"} and seven == 7
    assert third is bare and bare.id  # a message object gets its id in place
    assert given[0] == {"role": "user", "content": "hi"}  # the written list is unchanged


def test_delta_channel_message_ids_are_stored_so_every_read_shows_the_same_one() -> None:
    State = TypedDict("State", {"messages": Annotated[list, DeltaChannel(_append)]})  # type: ignore[misc]  # noqa: UP013
    app = StateGraph(State).add_node("n", lambda s: {}).add_edge(START, "n").compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "t"}}
    app.invoke({"messages": [{"role": "user", "content": "hi"}]}, config)
    ids = {app.get_state(config).values["messages"][0].id for _ in range(3)}
    assert len(ids) == 1 and None not in ids
    assert isinstance(app.get_state(config).values["messages"][0], HumanMessage)
