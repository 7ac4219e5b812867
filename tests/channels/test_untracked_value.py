"""UntrackedValue: kept for the run, never stored in a checkpoint."""

import operator
from typing import Annotated, Any, TypedDict

import pytest

from asyncgraph.channels import UntrackedValue
from asyncgraph.channels.base import MISSING
from asyncgraph.errors import EmptyChannelError, InvalidUpdateError


def test_keeps_the_last_write_but_checkpoints_nothing() -> None:
    ch = UntrackedValue(int, key="n").from_checkpoint(MISSING)
    assert ch.update([3]) is True
    assert ch.get() == 3
    assert ch.checkpoint() is MISSING
    assert ch.update([]) is False
    assert ch.get() == 3


def test_a_restored_channel_starts_empty_whatever_it_is_given() -> None:
    ch = UntrackedValue(int, key="n").from_checkpoint(5)
    assert not ch.is_available()
    with pytest.raises(EmptyChannelError):
        ch.get()


def test_copy_within_a_run_keeps_the_value() -> None:
    ch = UntrackedValue(int, key="n").from_checkpoint(MISSING)
    ch.update([4])
    copy = ch.copy()
    assert copy.get() == 4
    copy.update([5])
    assert ch.get() == 4


def test_guard_rejects_two_writes_in_a_step_naming_the_key() -> None:
    ch = UntrackedValue(int, key="counter").from_checkpoint(MISSING)
    with pytest.raises(InvalidUpdateError, match="'counter'"):
        ch.update([1, 2])
    unguarded = UntrackedValue(int, guard=False, key="counter").from_checkpoint(MISSING)
    unguarded.update([1, 2])
    assert unguarded.get() == 2


def _run(lib: str) -> list[Any]:
    """The same graph on asyncgraph or LangGraph: pause after `a`, inspect, resume."""
    if lib == "langgraph":
        from langgraph.channels.untracked_value import UntrackedValue as UV
        from langgraph.checkpoint.memory import InMemorySaver
        from langgraph.graph import START, StateGraph
    else:
        from asyncgraph.channels.untracked_value import UntrackedValue as UV  # type: ignore[assignment]
        from asyncgraph.checkpoint.memory import InMemorySaver  # type: ignore[assignment]
        from asyncgraph.graph import START, StateGraph  # type: ignore[assignment]

    class S(TypedDict, total=False):
        count: Annotated[int, UV]
        xs: Annotated[list[Any], operator.add]

    g: Any = StateGraph(S)
    g.add_node("a", lambda s: {"count": 7, "xs": ["a"]})
    g.add_node("b", lambda s: {"xs": [s.get("count")]})
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    app = g.compile(checkpointer=InMemorySaver(), interrupt_after=["a"])
    cfg: Any = {"configurable": {"thread_id": "t"}}
    out = [app.invoke({"xs": []}, cfg), app.get_state(cfg).values]
    out.append(sorted(app.checkpointer.get_tuple(cfg).checkpoint["channel_values"]))
    out.append(app.invoke(None, cfg))
    out.append(sorted(app.checkpointer.get_tuple(cfg).checkpoint["channel_values"]))
    return out


def test_in_a_graph_it_is_read_within_the_run_and_never_saved_as_in_langgraph() -> None:
    ours = _run("asyncgraph")
    assert ours == _run("langgraph")
    paused, state, stored, resumed, stored_after = ours
    assert paused == {"count": 7, "xs": ["a"]}
    assert "count" not in state and "count" not in stored and "count" not in stored_after
    assert resumed == {"xs": ["a", None]}  # the resumed run starts without it


class _Handle:
    """A live resource (a lock inside): no serializer can store it."""

    def __init__(self) -> None:
        import threading

        self.lock = threading.Lock()


def _run_with_handle(lib: str) -> list[Any]:
    """An unserializable value in an UntrackedValue channel, written by a task whose
    writes are saved as pending writes (a sibling pauses) and carried by a Send whose
    argument is the whole state: nothing of it reaches the saver."""
    if lib == "langgraph":
        from langgraph.channels.untracked_value import UntrackedValue as UV
        from langgraph.checkpoint.memory import InMemorySaver
        from langgraph.graph import START, StateGraph
        from langgraph.types import Command, Send, interrupt
    else:
        from asyncgraph.channels.untracked_value import UntrackedValue as UV  # type: ignore[assignment]
        from asyncgraph.checkpoint.memory import InMemorySaver  # type: ignore[assignment]
        from asyncgraph.graph import START, StateGraph  # type: ignore[assignment]
        from asyncgraph.types import Command, Send, interrupt  # type: ignore[assignment]

    class S(TypedDict, total=False):
        handle: Annotated[Any, UV]
        xs: Annotated[list[Any], operator.add]

    def opener(s: S) -> Any:
        return {"handle": _Handle(), "xs": ["opened"]}

    def asker(s: S) -> Any:
        return {"xs": [interrupt("go?")]}

    def use(s: S) -> Any:
        return {"xs": [type(s.get("handle")).__name__]}

    g: Any = StateGraph(S)
    g.add_node("opener", opener)
    g.add_node("asker", asker)
    g.add_node("use", use)
    g.add_edge(START, "opener")
    g.add_edge(START, "asker")
    g.add_conditional_edges("opener", lambda s: [Send("use", s)], ["use"])
    app = g.compile(checkpointer=InMemorySaver())
    cfg: Any = {"configurable": {"thread_id": "t"}}
    first = app.invoke({"xs": []}, cfg)
    saved = app.checkpointer.get_tuple(cfg)
    written = sorted({w[1] for w in saved.pending_writes})
    final = app.invoke(Command(resume="yes"), cfg)
    return [sorted(first["xs"]), written, sorted(final["xs"]), "handle" in app.get_state(cfg).values]


def test_an_unserializable_untracked_value_never_reaches_the_saver_as_in_langgraph() -> None:
    ours = _run_with_handle("asyncgraph")
    assert ours == _run_with_handle("langgraph")
    assert "handle" not in ours[1]
    assert ours[3] is False
