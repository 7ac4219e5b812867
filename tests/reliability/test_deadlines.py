"""Run deadlines (``timeout=`` per call) and step deadlines (``graph.step_timeout``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, TypedDict

import pytest

from asyncgraph.checkpoint.memory import InMemorySaver
from asyncgraph.errors import GraphTimeoutError, InvalidInputError, NodeTimeoutError
from asyncgraph.graph import START, StateGraph


class S(TypedDict):
    x: int


def _graph(slow_for: list[float], calls: list[str], **compile_kw: Any) -> Any:
    async def quick(state: S) -> dict[str, int]:
        calls.append("quick")
        return {"x": 1}

    async def slow(state: S) -> dict[str, int]:
        calls.append("slow")
        await asyncio.sleep(slow_for.pop(0) if slow_for else 0)
        return {"x": 2}

    g = StateGraph(S)
    g.add_node("quick", quick)
    g.add_node("slow", slow)
    g.add_edge(START, "quick")
    g.add_edge("quick", "slow")
    return g.compile(**compile_kw)


async def test_run_deadline_cancels_the_running_node_and_names_it() -> None:
    calls: list[str] = []
    app = _graph([5.0], calls)
    tasks_before = len(asyncio.all_tasks())
    start = time.perf_counter()
    with pytest.raises(GraphTimeoutError) as info:
        await app.ainvoke({"x": 0}, timeout=0.1)
    assert time.perf_counter() - start < 2  # cancelled at the deadline, not after 5 s
    err = info.value
    assert isinstance(err, TimeoutError)
    assert err.nodes == ("slow",) and err.step == 2 and err.timeout == 0.1
    assert "'slow'" in str(err)
    assert len(asyncio.all_tasks()) == tasks_before


async def test_after_a_run_deadline_the_thread_resumes_without_redoing_finished_steps() -> None:
    calls: list[str] = []
    app = _graph([5.0], calls, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    with pytest.raises(GraphTimeoutError):
        await app.ainvoke({"x": 0}, config, timeout=0.1)
    assert (await app.aget_state(config)).next == ("slow",)
    assert await app.ainvoke(None, config) == {"x": 2}
    assert calls == ["quick", "slow", "slow"]


async def test_step_timeout_bounds_each_step() -> None:
    calls: list[str] = []
    app = _graph([5.0], calls)
    app.step_timeout = 0.1
    with pytest.raises(GraphTimeoutError) as info:
        await app.ainvoke({"x": 0})
    assert info.value.scope == "step" and info.value.nodes == ("slow",)
    # Steps that finish in time are unaffected.
    assert await app.ainvoke({"x": 0}) == {"x": 2}


async def test_a_nodes_own_timeout_is_not_reported_as_the_runs() -> None:
    async def hang(state: S) -> dict[str, int]:
        await asyncio.sleep(5)
        return {"x": 1}

    g = StateGraph(S)
    g.add_node("hang", hang, timeout=0.05)
    g.add_edge(START, "hang")
    with pytest.raises(NodeTimeoutError) as info:
        await g.compile().ainvoke({"x": 0}, timeout=3)
    assert info.value.node == "hang"


def test_sync_invoke_takes_the_deadline_too() -> None:
    calls: list[str] = []
    app = _graph([5.0], calls)
    with pytest.raises(GraphTimeoutError):
        app.invoke({"x": 0}, timeout=0.1)


@pytest.mark.parametrize("bad", [0, -1, "3"])
async def test_a_bad_deadline_is_an_input_error(bad: Any) -> None:
    with pytest.raises(InvalidInputError, match="timeout"):
        await _graph([], []).ainvoke({"x": 0}, timeout=bad)


async def test_retry_policy_retries_a_node_timeout_when_it_says_so() -> None:
    from asyncgraph.types import RetryPolicy

    attempts: list[int] = []

    async def flaky(state: S) -> dict[str, int]:
        attempts.append(1)
        if len(attempts) < 3:
            await asyncio.sleep(5)  # hangs: cut off by the node's timeout
        return {"x": len(attempts)}

    def build(policy: RetryPolicy) -> Any:
        g = StateGraph(S)
        g.add_node("flaky", flaky, timeout=0.05, retry_policy=policy)
        g.add_edge(START, "flaky")
        return g.compile()

    retrying = RetryPolicy(retry_on=NodeTimeoutError, initial_interval=0, jitter=False, max_attempts=3)
    assert await build(retrying).ainvoke({"x": 0}) == {"x": 3}
    assert len(attempts) == 3

    # The default policy retries timeouts too (as LangGraph's does, although
    # NodeTimeoutError is a TimeoutError, which is an OSError).
    attempts.clear()
    assert await build(RetryPolicy(initial_interval=0, jitter=False)).ainvoke({"x": 0}) == {"x": 3}
    assert len(attempts) == 3

    # Out of attempts: the error names the node.
    attempts.clear()
    with pytest.raises(NodeTimeoutError) as info:
        await build(RetryPolicy(initial_interval=0, jitter=False, max_attempts=2)).ainvoke({"x": 0})
    assert len(attempts) == 2 and info.value.node == "flaky" and info.value.kind == "run"
