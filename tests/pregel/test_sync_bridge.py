"""The sync API called while an event loop runs in the calling thread (an ``async def``
test, a Jupyter cell, a nested ``invoke`` inside a node): the run happens in the calling
thread on a private loop, the caller's loop is back in place afterwards (and between a
stream's items), and no helper thread is started and joined (a blocking-call detector
such as LangChain's ``blockbuster`` reports that join as a lock taken on the loop)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, TypedDict

import pytest

from asyncgraph.checkpoint.memory import InMemorySaver
from asyncgraph.graph import START, StateGraph
from asyncgraph.types import Command, interrupt


class S(TypedDict, total=False):
    log: list[str]


def _graph(*nodes: Any, checkpointer: Any = None) -> Any:
    g = StateGraph(S)
    prev = START
    for i, fn in enumerate(nodes):
        g.add_node(f"n{i}", fn)
        g.add_edge(prev, f"n{i}")
        prev = f"n{i}"
    return g.compile(checkpointer=checkpointer)


@pytest.fixture
def no_new_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    started: list[str] = []
    real = threading.Thread.start

    def start(self: threading.Thread) -> None:
        started.append(self.name)
        real(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    return started


async def test_sync_invoke_inside_a_running_loop_runs_in_the_calling_thread(no_new_threads: list[str]) -> None:
    outer = asyncio.get_running_loop()
    me = threading.get_ident()
    seen: list[Any] = []

    async def a(state: S) -> S:
        seen.append((threading.get_ident() == me, asyncio.get_running_loop() is not outer))
        await asyncio.sleep(0)
        return {"log": state["log"] + ["a"]}

    app = _graph(a, a)
    assert app.invoke({"log": []}) == {"log": ["a", "a"]}
    assert seen == [(True, True), (True, True)]
    assert asyncio.get_running_loop() is outer  # the caller's loop is put back
    assert no_new_threads == []
    await asyncio.sleep(0)  # and it still runs


async def test_sync_stream_inside_a_running_loop_restores_the_loop_between_items(no_new_threads: list[str]) -> None:
    outer = asyncio.get_running_loop()

    async def a(state: S) -> S:
        return {"log": state["log"] + ["a"]}

    app = _graph(a, a, a)
    got = []
    for chunk in app.stream({"log": []}, stream_mode="updates"):
        assert asyncio.get_running_loop() is outer
        got.append(chunk)
    assert [list(c) for c in got] == [["n0"], ["n1"], ["n2"]]
    # Leaving early closes the run; the loop is still the caller's.
    it = app.stream({"log": []}, stream_mode="updates")
    assert next(it) == {"n0": {"log": ["a"]}}
    it.close()
    assert asyncio.get_running_loop() is outer
    assert no_new_threads == []


async def test_sync_invoke_from_async_code_with_a_checkpointer_and_resume() -> None:
    def ask(state: S) -> S:
        return {"log": state["log"] + [interrupt("name?")]}

    app = _graph(ask, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    first = app.invoke({"log": []}, config)
    assert first["__interrupt__"][0].value == "name?"
    assert app.invoke(Command(resume="bo"), config) == {"log": ["bo"]}
    assert app.get_state(config).values == {"log": ["bo"]}


def test_nested_sync_invoke_inside_a_node_under_sync_invoke() -> None:
    inner = _graph(lambda s: {"log": s["log"] + ["inner"]})

    def outer_node(state: S) -> S:
        return {"log": inner.invoke({"log": state["log"]})["log"] + ["outer"]}

    async def outer_async(state: S) -> S:
        # A sync call from async node code: the node's loop is set aside for it.
        return {"log": inner.invoke({"log": state["log"]})["log"]}

    app = _graph(outer_node, outer_async)
    assert app.invoke({"log": []}) == {"log": ["inner", "outer", "inner"]}
    assert [c for c in app.stream({"log": []}, stream_mode="updates")][-1] == {
        "n1": {"log": ["inner", "outer", "inner"]}}


async def test_nested_sync_invoke_inside_a_node_under_ainvoke() -> None:
    inner = _graph(lambda s: {"log": s["log"] + ["inner"]})

    async def outer_async(state: S) -> S:
        return {"log": inner.invoke({"log": state["log"]})["log"] + ["outer"]}

    assert await _graph(outer_async).ainvoke({"log": []}) == {"log": ["inner", "outer"]}


async def test_a_sync_node_under_ainvoke_still_leaves_the_loop_free() -> None:
    ticks: list[float] = []

    def slow(state: S) -> S:
        time.sleep(0.2)
        return {"log": ["slow"]}

    async def ticker() -> None:
        for _ in range(5):
            ticks.append(time.monotonic())
            await asyncio.sleep(0.02)

    t = asyncio.create_task(ticker())
    assert await _graph(slow).ainvoke({"log": []}) == {"log": ["slow"]}
    await t
    assert len(ticks) == 5 and ticks[-1] - ticks[0] < 0.19  # the ticker ran during the node


def test_sync_invoke_from_plain_code_reuses_the_threads_loop(no_new_threads: list[str]) -> None:
    loops: list[Any] = []

    async def a(state: S) -> S:
        loops.append(asyncio.get_running_loop())
        return {"log": ["a"]}

    app = _graph(a)
    app.invoke({"log": []})
    app.invoke({"log": []})
    assert loops[0] is loops[1]
    assert no_new_threads == []
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


async def test_an_error_in_a_nested_sync_run_reaches_the_caller_and_the_loop_is_restored() -> None:
    outer = asyncio.get_running_loop()

    async def boom(state: S) -> S:
        raise ValueError("boom in node")

    with pytest.raises(ValueError, match="boom in node"):
        _graph(boom).invoke({"log": []})
    assert asyncio.get_running_loop() is outer


def test_a_loop_bound_saver_called_synchronously_from_its_own_thread_raises_not_hangs() -> None:
    from asyncgraph._sync import run_on_loop, run_sync

    async def main() -> None:
        loop = asyncio.get_running_loop()

        async def work() -> int:
            return 1

        def nested() -> None:
            # Under run_sync the loop is set aside in this thread, not running elsewhere.
            coro = work()
            with pytest.raises(RuntimeError, match="deadlock"):
                run_on_loop(loop, coro, "Saver.get()", "`await saver.aget()`")

        async def call() -> None:
            nested()

        run_sync(call)

    asyncio.run(main())
