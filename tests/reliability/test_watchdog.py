"""BlockingWatchdog: code that holds the event loop is reported with its node and line."""

# These tests block their event loop on purpose, with time.sleep in async functions.
# ruff: noqa: ASYNC251

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

from asyncgraph.config import get_config
from asyncgraph.graph import END, START, StateGraph
from asyncgraph.testing import BlockingReport, BlockingWatchdog

HERE = Path(__file__)


def line_of(marker: str) -> int:
    """The line of this file that carries ``# <marker>``."""
    for n, text in enumerate(HERE.read_text().splitlines(), 1):
        if text.rstrip().endswith(f"# {marker}"):
            return n
    raise LookupError(marker)


def watchdog_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "asyncgraph-watchdog"]


def concat(a: list[str], b: list[str]) -> list[str]:
    return a + b


class State(TypedDict, total=False):
    log: Annotated[list[str], concat]
    step: int


async def blocking_node(state: State) -> State:
    step = get_config()["metadata"]["langgraph_step"]
    time.sleep(0.3)  # blocks-in-node
    return {"log": ["slow"], "step": step}


async def polite_node(state: State) -> State:
    await asyncio.sleep(0.3)
    return {"log": ["polite"]}


def sync_sleeper(state: State) -> State:
    time.sleep(0.3)  # asyncgraph runs a sync node in a worker thread under ainvoke
    return {"log": ["sync"]}


def chain(*nodes: tuple[str, Any]) -> Any:
    g: StateGraph[State, None, State, State] = StateGraph(State)
    prev = START
    for name, fn in nodes:
        g.add_node(name, fn)
        g.add_edge(prev, name)
        prev = name
    g.add_edge(prev, END)
    return g.compile()


# -- what is reported -------------------------------------------------------------


@pytest.mark.allow_blocking
async def test_async_node_that_blocks_is_reported_with_node_step_and_line() -> None:
    app = chain(("fast", polite_node), ("slow", blocking_node))
    with BlockingWatchdog(threshold=0.1) as watchdog:
        out = await app.ainvoke({"log": []})
    assert out["log"] == ["polite", "slow"]
    assert len(watchdog.reports) == 1
    report = watchdog.reports[0]
    assert report.node == "slow"
    assert report.step == out["step"]
    assert report.path == ("slow",)
    assert 0.2 <= report.duration < 1.0
    assert report.location.filename == str(HERE)
    assert report.location.lineno == line_of("blocks-in-node")
    assert report.location.name == "blocking_node"
    assert report.location.line == "time.sleep(0.3)  # blocks-in-node"
    # The stack starts at the node's function: no engine frames in the way.
    assert report.stack[0].name == "blocking_node"
    text = str(report)
    assert f"in node 'slow' (step {out['step']})" in text
    assert f"{HERE}:{line_of('blocks-in-node')} in blocking_node" in text


@pytest.mark.allow_blocking
async def test_block_inside_a_library_call_points_at_the_users_line() -> None:
    # The innermost frames are the standard library's; the report names the user's call.
    lock = threading.Lock()
    lock.acquire()
    threading.Timer(0.3, lock.release).start()

    async def waits_on_lock(state: State) -> State:
        threading.Event().wait(0.3)  # library-call
        return {}

    app = chain(("waiter", waits_on_lock))
    with BlockingWatchdog(threshold=0.1) as watchdog:
        await app.ainvoke({"log": []})
    [report] = watchdog.reports
    assert report.node == "waiter"
    assert report.location.lineno == line_of("library-call")
    assert report.stack[-1].filename != str(HERE)  # sampled inside threading.py


@pytest.mark.allow_blocking
async def test_of_concurrent_siblings_the_one_that_blocks_is_named() -> None:
    g: StateGraph[State, None, State, State] = StateGraph(State)
    g.add_node("polite", polite_node)
    g.add_node("sync", sync_sleeper)
    g.add_node("hog", blocking_node)
    for name in ("polite", "sync", "hog"):
        g.add_edge(START, name)
        g.add_edge(name, END)
    app = g.compile()
    with BlockingWatchdog(threshold=0.1) as watchdog:
        out = await app.ainvoke({"log": []})
    assert sorted(out["log"]) == ["polite", "slow", "sync"]
    assert [r.node for r in watchdog.reports] == ["hog"]


@pytest.mark.allow_blocking
async def test_cpu_bound_node_is_reported() -> None:
    async def spins(state: State) -> State:
        end = time.monotonic() + 0.3
        n = 0
        while time.monotonic() < end:  # spinning
            n += 1
        return {}

    app = chain(("spin", spins))
    with BlockingWatchdog(threshold=0.1) as watchdog:
        await app.ainvoke({"log": []})
    [report] = watchdog.reports
    assert report.node == "spin"
    assert report.location.name == "spins"
    assert report.location.lineno in (line_of("spinning"), line_of("spinning") + 1)


@pytest.mark.allow_blocking
async def test_node_inside_a_subgraph_is_named_with_its_parent_node() -> None:
    inner = chain(("inner_slow", blocking_node))
    app = chain(("outer", inner))
    with BlockingWatchdog(threshold=0.1) as watchdog:
        await app.ainvoke({"log": []})
    [report] = watchdog.reports
    assert report.node == "inner_slow"
    assert report.path == ("outer", "inner_slow")
    assert "in node 'inner_slow' (step 1) of subgraph node 'outer'" in str(report)


@pytest.mark.allow_blocking
async def test_sync_conditional_edge_runs_on_the_loop_and_is_blamed_on_its_node() -> None:
    def route(state: State) -> str:
        time.sleep(0.3)  # blocking-route
        return END

    g: StateGraph[State, None, State, State] = StateGraph(State)
    g.add_node("decide", polite_node)
    g.add_edge(START, "decide")
    g.add_conditional_edges("decide", route)
    app = g.compile()
    with BlockingWatchdog(threshold=0.1) as watchdog:
        await app.ainvoke({"log": []})
    [report] = watchdog.reports
    assert report.node == "decide"
    assert (report.location.name, report.location.lineno) == ("route", line_of("blocking-route"))


@pytest.mark.allow_blocking
async def test_blocking_outside_a_node_is_reported_as_such() -> None:
    with BlockingWatchdog(threshold=0.1) as watchdog:
        time.sleep(0.3)  # outside-node
    [report] = watchdog.reports
    assert report.node is None and report.step is None and report.path == ()
    assert report.location.lineno == line_of("outside-node")
    assert str(report).startswith("The event loop was blocked for ")
    assert " outside a graph node, at " in str(report)


@pytest.mark.allow_blocking
async def test_each_block_is_reported_once() -> None:
    app = chain(("a", blocking_node), ("b", polite_node), ("c", blocking_node))
    with BlockingWatchdog(threshold=0.1) as watchdog:
        await app.ainvoke({"log": []})
    assert [r.node for r in watchdog.reports] == ["a", "c"]


# -- what is not reported ---------------------------------------------------------


async def test_well_behaved_graph_is_not_reported() -> None:
    g: StateGraph[State, None, State, State] = StateGraph(State)
    g.add_node("polite", polite_node)
    g.add_node("sync_a", sync_sleeper)
    g.add_node("sync_b", sync_sleeper)
    g.add_edge(START, "polite")
    g.add_edge("polite", "sync_a")
    g.add_edge("polite", "sync_b")  # two sync nodes in one step, each in its own thread
    g.add_edge(["sync_a", "sync_b"], END)
    app = g.compile()
    await app.ainvoke({"log": []})  # warm up: first-use imports are not the graph's doing
    with BlockingWatchdog(threshold=0.2) as watchdog:
        out = await app.ainvoke({"log": []})
    assert sorted(out["log"]) == ["polite", "sync", "sync"]
    assert list(watchdog.reports) == []
    watchdog.check()


async def test_lone_sync_node_under_ainvoke_runs_in_a_thread_and_is_not_reported() -> None:
    app = chain(("sync", sync_sleeper))
    await app.ainvoke({"log": []})
    with BlockingWatchdog(threshold=0.2) as watchdog:
        out = await app.ainvoke({"log": []})
    assert out["log"] == ["sync"]
    assert list(watchdog.reports) == []


async def test_block_shorter_than_threshold_is_not_reported() -> None:
    with BlockingWatchdog(threshold=0.3) as watchdog:
        for _ in range(5):
            time.sleep(0.02)
            await asyncio.sleep(0)
    assert list(watchdog.reports) == []


def test_loop_that_is_not_running_is_idle_not_blocked() -> None:
    loop = asyncio.new_event_loop()
    try:
        watchdog = BlockingWatchdog(threshold=0.1).start(loop)
        try:
            time.sleep(0.3)  # the loop is not running: nothing to report
            loop.run_until_complete(asyncio.sleep(0.05))
            assert list(watchdog.reports) == []

            async def blocks() -> None:
                await asyncio.sleep(0.05)  # let the heartbeat learn the loop's thread
                time.sleep(0.3)  # explicit-loop

            loop.run_until_complete(blocks())
        finally:
            watchdog.stop()
        [report] = watchdog.reports
        assert report.location.lineno == line_of("explicit-loop")
    finally:
        loop.close()


async def test_time_the_loop_spends_inside_stop_is_not_a_block() -> None:
    # On a loaded machine the loop's thread can be held inside stop() (here: a slow Event.set)
    # long enough for the watchdog to sample it there; that is the watchdog's own shutdown.
    watchdog = BlockingWatchdog(threshold=0.1).start()
    await asyncio.sleep(0.05)  # the first heartbeat is answered
    real_set = watchdog._stopping.set

    def slow_set() -> None:
        time.sleep(0.4)
        real_set()

    watchdog._stopping.set = slow_set  # type: ignore[method-assign]
    watchdog.stop()
    assert list(watchdog.reports) == []


# -- delivery, lifecycle ------------------------------------------------------------


@pytest.mark.allow_blocking
async def test_on_block_receives_reports_on_the_watchdog_thread() -> None:
    got: list[tuple[BlockingReport, str]] = []
    with BlockingWatchdog(threshold=0.1, on_block=lambda r: got.append((r, threading.current_thread().name))):
        time.sleep(0.3)
    [(report, thread_name)] = got
    assert report.node is None
    assert thread_name == "asyncgraph-watchdog"


@pytest.mark.allow_blocking
async def test_without_on_block_reports_are_logged_as_warnings(caplog: pytest.LogCaptureFixture) -> None:
    app = chain(("slow", blocking_node))
    with caplog.at_level(logging.WARNING, logger="asyncgraph.watchdog"), BlockingWatchdog(threshold=0.1):
        await app.ainvoke({"log": []})
    [record] = [r for r in caplog.records if r.name == "asyncgraph.watchdog"]
    assert record.levelno == logging.WARNING
    assert "in node 'slow'" in record.getMessage()
    assert f"{HERE}:{line_of('blocks-in-node')}" in record.getMessage()


@pytest.mark.allow_blocking
async def test_failing_on_block_is_logged_and_watching_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    def broken(report: BlockingReport) -> None:
        raise ValueError("callback bug")

    with BlockingWatchdog(threshold=0.1, on_block=broken) as watchdog:
        time.sleep(0.3)
        await asyncio.sleep(0.1)
        time.sleep(0.3)
    assert len(watchdog.reports) == 2
    errors = [r for r in caplog.records if r.name == "asyncgraph.watchdog" and r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert errors[0].exc_info is not None and "callback bug" in str(errors[0].exc_info[1])


@pytest.mark.allow_blocking
async def test_check_raises_naming_every_block() -> None:
    app = chain(("slow", blocking_node))
    with BlockingWatchdog(threshold=0.1) as watchdog:
        await app.ainvoke({"log": []})
        await asyncio.sleep(0.1)  # without it, both would be one block
        time.sleep(0.3)
    with pytest.raises(AssertionError, match=r"blocked 2 times for longer than 0\.1 s") as info:
        watchdog.check()
    assert "in node 'slow'" in str(info.value)
    assert "outside a graph node" in str(info.value)


async def test_thread_is_gone_after_stop_and_stop_is_idempotent() -> None:
    before = len(watchdog_threads())
    watchdog = BlockingWatchdog(threshold=0.1).start()
    assert len(watchdog_threads()) == before + 1
    await asyncio.sleep(0.15)
    watchdog.stop()
    watchdog.stop()
    assert len(watchdog_threads()) == before
    with pytest.raises(RuntimeError, match="already started"):
        watchdog.start()


@pytest.mark.allow_blocking
def test_stop_from_another_thread_reports_a_block_still_in_progress() -> None:
    before = watchdog_threads()
    loop = asyncio.new_event_loop()
    watchdog = BlockingWatchdog(threshold=0.1)

    async def blocks() -> None:
        watchdog.start()
        await asyncio.sleep(0.05)
        threading.Timer(0.3, watchdog.stop).start()
        time.sleep(0.6)  # still-blocked

    try:
        loop.run_until_complete(blocks())
    finally:
        loop.close()
    assert watchdog_threads() == before
    [report] = watchdog.reports
    assert report.location.lineno == line_of("still-blocked")
    assert report.duration < 0.55  # reported when stopped, not when the block ended


async def test_watchdog_stops_when_its_loop_is_closed() -> None:
    before = watchdog_threads()  # this folder's own watchdog

    def in_thread() -> None:
        loop = asyncio.new_event_loop()
        BlockingWatchdog(threshold=0.05).start(loop)
        loop.run_until_complete(asyncio.sleep(0.1))
        loop.close()

    t = threading.Thread(target=in_thread)
    t.start()
    t.join()
    deadline = time.monotonic() + 2
    while watchdog_threads() != before and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert watchdog_threads() == before


async def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="positive number of seconds"):
        BlockingWatchdog(threshold=0)

    def outside_loop() -> None:
        BlockingWatchdog().start()

    with pytest.raises(RuntimeError, match="needs a running event loop"):
        await asyncio.to_thread(outside_loop)


# -- the conftest fixture -------------------------------------------------------------


@pytest.mark.slow
def test_conftest_fixture_fails_a_blocking_test_unless_marked(tmp_path: Path) -> None:
    """The suite's root conftest fixture, run on a sample test module."""
    shutil.copy(HERE.parent.parent / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_sample.py").write_text(
        "import asyncio, time\n"
        "import pytest\n"
        "from asyncgraph.graph import StateGraph, START, END\n"
        "from typing import TypedDict\n"
        "class S(TypedDict):\n"
        "    x: int\n"
        "async def hog(state):\n"
        "    time.sleep(0.8)\n"
        "    return {'x': 1}\n"
        "def app():\n"
        "    g = StateGraph(S)\n"
        "    g.add_node('hog', hog)\n"
        "    g.add_edge(START, 'hog')\n"
        "    g.add_edge('hog', END)\n"
        "    return g.compile()\n"
        "async def test_blocks():\n"
        "    await app().ainvoke({'x': 0})\n"
        "@pytest.mark.allow_blocking\n"
        "async def test_blocks_on_purpose():\n"
        "    await app().ainvoke({'x': 0})\n"
        "async def test_polite():\n"
        "    await asyncio.sleep(0.6)\n"
        "def test_sync():\n"
        "    time.sleep(0.6)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
         "-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function",
         "-o", "markers=allow_blocking: blocks on purpose",
         "--strict-markers", "--import-mode=importlib", str(tmp_path)],
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "4 passed, 1 error" in out, out  # the failing test's call passed, its teardown errs
    assert "ERROR at teardown of test_blocks " in out, out
    assert "in node 'hog' (step 1)" in out, out
    assert f"{tmp_path / 'test_sample.py'}:8 in hog: time.sleep(0.8)" in out, out
