"""How runs fail: recursion limit, bad writes, node errors, sibling cancellation, bad
input. Each error must say what went wrong and where."""

from __future__ import annotations

import asyncio
import operator
import time
from typing import Annotated, Any, TypedDict

import pytest

from asyncgraph.constants import END, START
from asyncgraph.errors import (
    UndeclaredKeyWarning,
    EmptyInputError,
    GraphRecursionError,
    InvalidInputError,
    InvalidUpdateError,
    NodeTimeoutError,
)
from asyncgraph.graph import StateGraph


class State(TypedDict):
    n: Annotated[int, operator.add]
    last: str


def _chain(length: int, calls: list[str] | None = None, strict: bool = False) -> Any:
    g = StateGraph(State)
    prev = START
    for i in range(length):
        name = f"n{i}"

        def step(state: State, name: str = name) -> dict[str, Any]:
            if calls is not None:
                calls.append(name)
            return {"n": 1}

        g.add_node(name, step)
        g.add_edge(prev, name)
        prev = name
    g.add_edge(prev, END)
    return g.compile(strict=strict)


def _loop(calls: list[int]) -> Any:
    def inc(state: State) -> dict[str, Any]:
        calls.append(state["n"])
        return {"n": 1}

    g = StateGraph(State)
    g.add_node("inc", inc)
    g.add_edge(START, "inc")
    g.add_edge("inc", "inc")
    return g.compile()


# --- recursion limit ------------------------------------------------------------------
# LangGraph's boundary (checked against 1.2.24): with recursion_limit=r, a run may take
# r steps counting the START step, i.e. a chain of r - 1 nodes succeeds and a chain of
# r nodes fails.


@pytest.mark.parametrize("limit", [2, 3, 5, 8])
def test_recursion_limit_boundary_matches_langgraph(limit: int) -> None:
    assert _chain(limit - 1).invoke({"n": 0}, {"recursion_limit": limit}) == {
        "n": limit - 1
    }
    with pytest.raises(GraphRecursionError) as info:
        _chain(limit).invoke({"n": 0}, {"recursion_limit": limit})
    assert f"Recursion limit of {limit} reached" in str(info.value)
    assert info.value.limit == limit


def test_recursion_error_is_a_recursion_error() -> None:
    # LangGraph users catch it as RecursionError.
    assert issubclass(GraphRecursionError, RecursionError)


def test_recursion_limit_stops_before_running_the_step_past_it() -> None:
    # asyncgraph raises before the step past the limit runs (LangGraph runs that step
    # first, then raises).
    calls: list[int] = []
    with pytest.raises(GraphRecursionError):
        _loop(calls).invoke({"n": 0}, {"recursion_limit": 4})
    assert calls == [0, 1, 2]


async def test_recursion_limit_async_and_default_is_large() -> None:
    calls: list[int] = []
    with pytest.raises(GraphRecursionError):
        await _loop(calls).ainvoke({"n": 0}, {"recursion_limit": 10})
    assert len(calls) == 9
    # Without a limit in the config, a 30-step chain is fine.
    assert (await _chain(30).ainvoke({"n": 0}))["n"] == 30


@pytest.mark.parametrize("limit", [0, -1, "10", 2.5])
def test_bad_recursion_limit(limit: Any) -> None:
    with pytest.raises(InvalidInputError, match="recursion_limit"):
        _chain(1).invoke({"n": 0}, {"recursion_limit": limit})


# --- concurrent writes ----------------------------------------------------------------


def test_two_parallel_writes_to_a_last_value_key() -> None:
    g = StateGraph(State)
    g.add_node("left", lambda s: {"last": "L"})
    g.add_node("right", lambda s: {"last": "R"})
    g.add_edge(START, "left")
    g.add_edge(START, "right")
    with pytest.raises(InvalidUpdateError) as info:
        g.compile().invoke({"n": 0})
    err = info.value
    assert err.key == "last"
    assert set(err.nodes) == {"left", "right"}
    msg = str(err)
    assert "'last'" in msg and "left" in msg and "right" in msg
    assert "INVALID_CONCURRENT_GRAPH_UPDATE" in msg


def test_parallel_writes_to_a_reducer_key_are_fine() -> None:
    g = StateGraph(State)
    g.add_node("left", lambda s: {"n": 1})
    g.add_node("right", lambda s: {"n": 2})
    g.add_edge(START, "left")
    g.add_edge(START, "right")
    assert g.compile().invoke({"n": 0}) == {"n": 3}


# --- node errors --------------------------------------------------------------------


class Boom(Exception):
    pass


def _failing_graph(fail_in: str, *, parallel: bool) -> Any:
    def ok(state: State) -> dict[str, Any]:
        return {"n": 1}

    def bad(state: State) -> dict[str, Any]:
        raise Boom("kaboom")

    g = StateGraph(State)
    g.add_node("first", ok)
    g.add_node(fail_in, bad)
    g.add_edge(START, "first")
    if parallel:
        g.add_node("sibling", ok)
        g.add_edge("first", "sibling")
    g.add_edge("first", fail_in)
    return g.compile()


@pytest.mark.parametrize("parallel", [False, True])
async def test_node_error_surfaces_as_itself_with_a_note(parallel: bool) -> None:
    with pytest.raises(Boom, match="kaboom") as info:
        await _failing_graph("exploder", parallel=parallel).ainvoke({"n": 0})
    assert type(info.value) is Boom  # not an ExceptionGroup, not wrapped
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "exploder" in notes
    assert "step 2" in notes


def test_node_error_from_sync_invoke() -> None:
    with pytest.raises(Boom) as info:
        _failing_graph("exploder", parallel=True).invoke({"n": 0})
    assert "exploder" in "\n".join(info.value.__notes__)


async def test_node_error_in_stream_after_earlier_chunks() -> None:
    chunks: list[Any] = []
    with pytest.raises(Boom):
        async for c in _failing_graph("exploder", parallel=False).astream(
            {"n": 0}, stream_mode="updates"
        ):
            chunks.append(c)
    assert chunks == [{"first": {"n": 1}}]


async def test_failing_node_cancels_running_siblings_promptly() -> None:
    cancelled = asyncio.Event()
    finished: list[str] = []

    async def slow(state: State) -> dict[str, Any]:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        finished.append("slow")
        return {"n": 1}

    async def bad(state: State) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        raise Boom("fail fast")

    g = StateGraph(State)
    g.add_node("slow", slow)
    g.add_node("bad", bad)
    g.add_edge(START, "slow")
    g.add_edge(START, "bad")
    t0 = time.monotonic()
    with pytest.raises(Boom):
        await g.compile().ainvoke({"n": 0})
    assert time.monotonic() - t0 < 2
    assert cancelled.is_set()
    assert finished == []


async def test_two_failing_siblings_neither_error_is_dropped() -> None:
    async def bad_a(state: State) -> None:
        raise Boom("from a")

    async def bad_b(state: State) -> None:
        raise ValueError("from b")

    g = StateGraph(State)
    g.add_node("a", bad_a)
    g.add_node("b", bad_b)
    g.add_edge(START, "a")
    g.add_edge(START, "b")
    with pytest.raises((Boom, ValueError)) as info:
        await g.compile().ainvoke({"n": 0})
    text = str(info.value) + "\n".join(info.value.__notes__)
    assert "from a" in text and "from b" in text


async def test_node_timeout() -> None:
    async def sleepy(state: State) -> None:
        await asyncio.sleep(10)

    g = StateGraph(State)
    g.add_node("sleepy", sleepy, timeout=0.05)
    g.add_edge(START, "sleepy")
    t0 = time.monotonic()
    with pytest.raises(NodeTimeoutError) as info:
        await g.compile().ainvoke({"n": 0})
    assert time.monotonic() - t0 < 2
    assert info.value.node == "sleepy"
    assert isinstance(info.value, TimeoutError)


# --- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize("value", [[1], "text", 5, ("n", 1)])
async def test_non_dict_input(value: Any) -> None:
    with pytest.raises(InvalidInputError, match="must be a dict"):
        await _chain(1).ainvoke(value)


async def test_input_with_unknown_keys_is_dropped_with_a_warning_naming_them() -> None:
    # As in LangGraph the key is dropped; asyncgraph also says so.
    with pytest.warns(UndeclaredKeyWarning, match="'bogus'.*strict=True"):
        assert await _chain(1).ainvoke({"n": 1, "bogus": 2}) == {"n": 2}


async def test_input_with_unknown_keys_names_them_when_strict() -> None:
    with pytest.raises(InvalidInputError, match="'bogus'"):
        await _chain(1, strict=True).ainvoke({"n": 1, "bogus": 2})


async def test_no_input_without_checkpointer() -> None:
    with pytest.raises(EmptyInputError):
        await _chain(1).ainvoke(None)


async def test_bad_input_runs_no_node() -> None:
    calls: list[str] = []
    with pytest.raises(InvalidInputError):
        await _chain(2, calls, strict=True).ainvoke({"bogus": 1})
    assert calls == []


async def test_bad_config_type() -> None:
    with pytest.raises(InvalidInputError, match="configurable"):
        await _chain(1).ainvoke({"n": 0}, {"configurable": 5})


async def test_unknown_stream_mode() -> None:
    with pytest.raises(InvalidInputError, match="stream_mode"):
        async for _ in _chain(1).astream({"n": 0}, stream_mode="bogus"):
            pass
