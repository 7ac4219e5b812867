"""LangGraph's private names that code written against LangGraph imports: they exist
at LangGraph's paths and behave as there."""

from __future__ import annotations

import asyncio
import gc
import operator
import warnings
from typing import Annotated, TypedDict

import pytest
from langchain_core.callbacks import AsyncCallbackManager, BaseCallbackHandler

from asyncgraph import constants
from asyncgraph._internal import _constants
from asyncgraph._internal._config import get_async_callback_manager_for_config
from asyncgraph._internal._queue import AsyncQueue
from asyncgraph.channels.binop import BinaryOperatorAggregate
from asyncgraph.channels.last_value import LastValue
from asyncgraph.graph import START, StateGraph
from asyncgraph.graph.state import _get_channel, _get_node_name, _is_field_channel, _warn_invalid_state_schema
from asyncgraph.managed import ManagedValue, RemainingSteps
from asyncgraph.pregel._loop import AsyncPregelLoop, PregelLoop, SyncPregelLoop, _Loop


def test_constants_are_the_engine_strings() -> None:
    for name in ("ERROR", "INTERRUPT", "TASKS", "PULL", "PUSH", "CONF", "NO_WRITES", "RESUME"):
        assert getattr(_constants, name) == getattr(constants, name)
    assert _constants.OVERWRITE == "__overwrite__"
    assert _constants.CONFIG_KEY_RUNTIME == "__pregel_runtime"
    assert set(_constants.__all__) <= set(dir(_constants))


def test_async_manager_merges_tags_and_keeps_a_given_manager() -> None:
    manager = get_async_callback_manager_for_config({"callbacks": None, "tags": ["a"]}, tags=["b"])
    assert isinstance(manager, AsyncCallbackManager)
    assert manager.inheritable_tags == ["a", "b"]
    given = AsyncCallbackManager(handlers=[BaseCallbackHandler()])
    same = get_async_callback_manager_for_config({"callbacks": given, "metadata": {"m": 1}}, tags=["x"])
    assert same is given
    assert "x" in same.inheritable_tags and same.inheritable_metadata == {"m": 1}


def test_async_queue_wait_does_not_take_the_item() -> None:
    async def go() -> list[str]:
        q = AsyncQueue()
        seen = []

        async def waiter() -> None:
            await q.wait()
            seen.append("woke")

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        assert not task.done()
        q.put_nowait(1)
        await task
        await q.wait()  # not empty: returns at once
        seen.append(str(q.get_nowait()))
        return seen

    assert asyncio.run(go()) == ["woke", "1"]


def test_get_channel_and_field_channel() -> None:
    ch = _get_channel("total", Annotated[int, operator.add])
    assert isinstance(ch, BinaryOperatorAggregate) and ch.key == "total"
    plain = _get_channel("x", str)
    assert isinstance(plain, LastValue) and plain.key == "x"
    managed = _get_channel("steps", RemainingSteps)
    assert isinstance(managed, type) and issubclass(managed, ManagedValue)
    with pytest.raises(ValueError, match="not allowed"):
        _get_channel("steps", RemainingSteps, allow_managed=False)
    assert isinstance(_is_field_channel(Annotated[int, LastValue]), LastValue)
    assert _is_field_channel(Annotated[int, operator.add]) is None
    assert _is_field_channel(int) is None


def test_node_names_and_schema_warnings() -> None:
    class Callable_:
        def __call__(self, state: dict) -> dict:
            return state

        def method(self, state: dict) -> dict:
            return state

    assert _get_node_name(lambda s: s) == "<lambda>"
    assert _get_node_name(Callable_()) == "Callable_"
    assert _get_node_name(Callable_().method) == "method"
    with pytest.warns(UserWarning, match="Invalid state_schema"):
        _warn_invalid_state_schema({"a": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_invalid_state_schema(dict)
        _warn_invalid_state_schema(Annotated[list, operator.add])


class _S(TypedDict):
    n: int


def test_no_loop_outlives_its_run() -> None:
    assert PregelLoop is SyncPregelLoop is AsyncPregelLoop is _Loop
    graph = StateGraph(_S).add_node("a", lambda s: {"n": s["n"] + 1}).add_edge(START, "a").compile()
    gc.collect()
    # Loops other tests left alive (a kept exception, a fixture) are not this test's:
    # held here, so no new loop can take one of their ids.
    before = [o for o in gc.get_objects() if isinstance(o, PregelLoop)]
    for _ in range(3):
        assert graph.invoke({"n": 0}) == {"n": 1}
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, PregelLoop) and not any(o is b for b in before)]
