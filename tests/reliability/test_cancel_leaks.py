"""Cancelling a run leaves nothing behind: no asyncio task, no thread, no file handle,
and the writes of tasks that had finished are kept for a resume."""

from __future__ import annotations

import asyncio
import operator
import os
import threading
from pathlib import Path
from typing import Annotated, Any, TypedDict

from asyncgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from asyncgraph.graph import START, StateGraph


class S(TypedDict):
    log: Annotated[list[str], operator.add]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _graph(started: asyncio.Event, finished: list[str]) -> Any:
    async def fast(state: S) -> dict[str, list[str]]:
        return {"log": ["fast"]}

    async def slow(state: S) -> dict[str, list[str]]:
        started.set()
        try:
            await asyncio.sleep(30)
        finally:
            finished.append("slow cleaned up")
        return {"log": ["slow"]}

    g = StateGraph(S)
    g.add_node("fast", fast)
    g.add_node("slow", slow)
    g.add_edge(START, "fast")
    g.add_edge(START, "slow")
    return g


async def test_cancel_leaves_no_task_thread_or_fd_and_keeps_finished_writes(tmp_path: Path) -> None:
    started = asyncio.Event()
    finished: list[str] = []
    tasks0, threads0, fds0 = len(asyncio.all_tasks()), threading.active_count(), _open_fds()
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "t.db")) as saver:
        app = _graph(started, finished).compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "t"}}
        run = asyncio.create_task(app.ainvoke({"log": []}, config))
        await started.wait()
        await asyncio.sleep(0.05)  # "fast" has finished and saved its writes
        run.cancel()
        try:
            await run
        except asyncio.CancelledError:
            pass
        assert finished == ["slow cleaned up"]  # the node's finally ran
        state = await app.aget_state(config)
        assert state.next == ("slow",)  # only the cancelled node is left to run
        assert state.values == {"log": ["fast"]}
    await asyncio.sleep(0.05)
    assert len(asyncio.all_tasks()) == tasks0
    assert threading.active_count() <= threads0
    assert _open_fds() <= fds0
