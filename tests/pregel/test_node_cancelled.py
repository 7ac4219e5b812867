"""A node that raises ``asyncio.CancelledError`` itself fails with ``NodeCancelledError``
(as in LangGraph); cancelling the run from outside still cancels it."""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

import pytest

from asyncgraph.errors import NodeCancelledError
from langchain_core.runnables import RunnableConfig

from asyncgraph.graph import START, StateGraph
from asyncgraph.types import RetryPolicy


class S(TypedDict):
    x: int


def _graph(fn: Any, **kw: Any) -> Any:
    g = StateGraph(S)
    g.add_node("bad", fn, **kw)
    g.add_edge(START, "bad")
    return g.compile()


async def _own_cancel(state: S) -> dict[str, Any]:
    raise asyncio.CancelledError()


def _sync_own_cancel(state: S) -> dict[str, Any]:
    raise asyncio.CancelledError()


async def _own_cancel_with_config(state: S, config: RunnableConfig) -> dict[str, Any]:
    raise asyncio.CancelledError()


@pytest.mark.parametrize("fn", [_own_cancel, _sync_own_cancel, _own_cancel_with_config])
async def test_a_node_raising_cancelled_error_fails_the_run(fn: Any) -> None:
    with pytest.raises(NodeCancelledError, match="'bad'") as info:
        await _graph(fn).ainvoke({"x": 1})
    assert info.value.node == "bad"
    assert isinstance(info.value.__cause__, asyncio.CancelledError)


def test_under_sync_invoke_too() -> None:
    with pytest.raises(NodeCancelledError):
        _graph(_sync_own_cancel).invoke({"x": 1})


async def test_not_retried() -> None:
    calls: list[int] = []

    async def bad(state: S) -> dict[str, Any]:
        calls.append(1)
        raise asyncio.CancelledError()

    policy = RetryPolicy(max_attempts=3, initial_interval=0, jitter=False, retry_on=NodeCancelledError)
    with pytest.raises(NodeCancelledError):
        await _graph(bad, retry_policy=policy).ainvoke({"x": 1})
    assert calls == [1]


async def test_cancelling_the_run_is_still_cancellation() -> None:
    started = asyncio.Event()

    async def slow(state: S) -> dict[str, Any]:
        started.set()
        await asyncio.sleep(30)
        return {}

    run = asyncio.ensure_future(_graph(slow).ainvoke({"x": 1}))
    await started.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
