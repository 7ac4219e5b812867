"""The two ways a task runs behave the same.

A lone plain async node, in a run nobody observes task by task, is awaited by the loop
itself (``_loop.run_graph`` -> ``_runner.complete_inline``); every other task goes through
``_runner.run_task``. Both end through ``write_output`` and ``settle``. Each test runs the
same graph both ways (a callback handler in the config sends it the general way), checks which way it
took (the node looks at the frame awaiting it), and compares what a user sees: output,
errors and their notes, interrupts, cancellation. Retries always take the general way.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any, TypedDict

import pytest
from langchain_core.callbacks import BaseCallbackHandler

from asyncgraph.errors import InvalidUpdateError, ParentCommand
from asyncgraph.graph import END, START, StateGraph
from asyncgraph.types import Command, RetryPolicy, interrupt

INLINE = "run_graph"  # the frame awaiting the node on the inline way
WAYS = {"inline": None, "general": {"callbacks": [BaseCallbackHandler()]}}  # someone listens: general


class S(TypedDict):
    x: int
    route: str


def _graph(body: Callable[[S], Any], seen: list[str], retry: RetryPolicy | None = None) -> Any:
    async def node(state: S) -> Any:
        caller = sys._getframe(1).f_code.co_name
        seen.append("inline" if caller == INLINE else "general")
        return await body(state)

    g = StateGraph(S)
    g.add_node("n", node, retry_policy=retry)
    g.add_edge(START, "n")
    g.add_conditional_edges("n", lambda s: s.get("route", "end"), {"end": END, "again": "n"})
    return g.compile()


async def _both(body: Callable[[S], Any], inp: Any, retry: RetryPolicy | None = None) -> dict[str, Any]:
    """Run the graph both ways; returns way -> (result or exception)."""
    out: dict[str, Any] = {}
    for way, config in WAYS.items():
        seen: list[str] = []
        try:
            out[way] = await _graph(body, seen, retry).ainvoke(inp, config)
        except Exception as exc:
            out[way] = exc
        expected = "general" if retry is not None else way
        assert seen and set(seen) == {expected}, (way, seen)
    return out


async def test_same_output_and_edges() -> None:
    async def body(state: S) -> dict[str, Any]:
        return {"x": state["x"] + 1}

    out = await _both(body, {"x": 1})
    assert out["inline"] == out["general"] == {"x": 2}


async def test_same_error_and_notes() -> None:
    async def body(state: S) -> dict[str, Any]:
        raise ValueError("bad input")

    out = await _both(body, {"x": 1})
    inline, general = out["inline"], out["general"]
    assert type(inline) is type(general) is ValueError
    assert str(inline) == str(general) == "bad input"
    assert inline.__notes__ == general.__notes__ == ["During task with name 'n' at step 1"]


async def test_same_error_for_a_bad_return_value() -> None:
    async def body(state: S) -> Any:
        return 5

    out = await _both(body, {"x": 1})
    assert type(out["inline"]) is type(out["general"]) is InvalidUpdateError
    assert str(out["inline"]) == str(out["general"])
    assert out["inline"].__notes__ == out["general"].__notes__


async def test_same_error_for_a_parent_command_without_a_parent() -> None:
    async def body(state: S) -> Any:
        return Command(graph=Command.PARENT, update={"x": 0})

    out = await _both(body, {"x": 1})
    # Out of the root as itself (as in LangGraph), with a note naming the node.
    assert type(out["inline"]) is type(out["general"]) is ParentCommand
    assert out["inline"].args[0].update == out["general"].args[0].update == {"x": 0}
    assert out["inline"].__notes__ == out["general"].__notes__
    assert "'n'" in out["inline"].__notes__[0]


async def test_same_interrupt() -> None:
    async def body(state: S) -> dict[str, Any]:
        return {"x": interrupt({"question": state["x"]})}

    out = await _both(body, {"x": 1})
    assert out["inline"] == out["general"]
    [pause] = out["inline"]["__interrupt__"]
    assert pause.value == {"question": 1}


async def test_retries_take_the_general_way_and_succeed_alike() -> None:
    attempts: list[int] = []

    async def body(state: S) -> dict[str, Any]:
        attempts.append(1)
        if len(attempts) % 3:
            raise ConnectionError("flaky")
        return {"x": 7}

    out = await _both(body, {"x": 1}, RetryPolicy(initial_interval=0.0, jitter=False))
    assert out["inline"] == out["general"] == {"x": 7}
    assert len(attempts) == 6


@pytest.mark.parametrize("way", list(WAYS))
async def test_same_cancellation(way: str) -> None:
    started = asyncio.Event()
    cleaned: list[str] = []

    async def body(state: S) -> dict[str, Any]:
        started.set()
        try:
            await asyncio.sleep(30)
        finally:
            cleaned.append("finally ran")
        return {}

    seen: list[str] = []
    run = asyncio.ensure_future(_graph(body, seen).ainvoke({"x": 1}, WAYS[way]))
    await started.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert seen == [way]
    assert cleaned == ["finally ran"]


async def test_with_a_config_and_a_saver_the_loop_awaits_the_node_and_saves_alike() -> None:
    """A run with a thread, tags and a checkpointer (its config reaches the node's
    children) also takes the inline way: what a child runnable sees, the checkpoints and
    an interrupt's resume are the general way's."""
    from langchain_core.runnables import RunnableLambda
    from langchain_core.runnables.config import ensure_config

    from asyncgraph.checkpoint.memory import InMemorySaver
    from asyncgraph.config import get_config

    def _seen_config(_: Any) -> dict[str, Any]:
        cfg = ensure_config()
        return {"tags": cfg["tags"], "node": cfg["metadata"]["langgraph_node"],
                "step": cfg["metadata"]["langgraph_step"], "thread": cfg["configurable"]["thread_id"]}

    child = RunnableLambda(_seen_config)
    results = {}
    for way, extra in WAYS.items():
        seen: list[str] = []
        children: list[dict[str, Any]] = []

        async def node(state: S) -> dict[str, Any]:
            caller = sys._getframe(1).f_code.co_name
            seen.append("inline" if caller == INLINE else "general")
            children.append(await child.ainvoke(None))
            assert get_config()["configurable"]["thread_id"] == "t"
            answer = interrupt("more?") if state["x"] == 1 else "no"
            return {"x": state["x"] + 1, "route": "again" if answer == "yes" else "end"}

        g = StateGraph(S)
        g.add_node("n", node)
        g.add_edge(START, "n")
        g.add_conditional_edges("n", lambda s: s.get("route", "end"), {"end": END, "again": "n"})
        graph = g.compile(checkpointer=InMemorySaver())
        config: dict[str, Any] = {"configurable": {"thread_id": "t"}, "tags": ["mine"], **(extra or {})}
        paused = await graph.ainvoke({"x": 1, "route": "end"}, config)
        done = await graph.ainvoke(Command(resume="yes"), config)
        history = [(s.metadata["step"], s.metadata["source"], s.values, s.next)
                   async for s in graph.aget_state_history(config)]
        assert set(seen) == {way}
        results[way] = (paused, done, children, history)
    inline, general = results["inline"], results["general"]
    assert inline[0]["__interrupt__"][0].value == general[0]["__interrupt__"][0].value == "more?"
    assert inline[1] == general[1] == {"x": 3, "route": "end"}
    assert inline[2] == general[2]
    assert inline[2][0] == {"tags": ["mine"], "node": "n", "step": 1, "thread": "t"}
    assert inline[3] == general[3]
    assert [step for step, *_ in inline[3]] == [2, 1, 0, -1]
