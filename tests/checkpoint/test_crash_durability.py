"""After a SIGKILL, ``get_state().next`` shows the node that was running, in every
durability mode that saves during the run.

The graph is ``first`` -> ``second``. A child process (this file run as a script) runs it
on a SQLite database, and ``second`` stops there: it waits until the checkpoint after
``first`` can be read from a second connection (bounded), touches a signal file and
blocks. The parent then kills the child with SIGKILL and opens the database:

* ``sync`` and ``async``: the checkpoint after ``first`` is saved, ``next`` is
  ``("second",)``, and ``invoke(None, config)`` finishes the run. Under ``async`` the
  checkpoint is written in the background, but it must not wait for the next node to
  return (a sync node run inline by ``invoke`` holds the event loop).
* ``exit``: nothing of the run is saved; the thread is as it was before the run.
"""

from __future__ import annotations

import asyncio
import operator
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

from asyncgraph.graph import END, START, StateGraph

WAIT_FOR_CHECKPOINT = 10.0  # seconds the blocked node waits to see the checkpoint
DEADLINE = 30.0  # seconds for the child to reach the kill point


class State(TypedDict):
    log: Annotated[list[str], operator.add]


def _saved_step(db: str, thread_id: str) -> int | None:
    """The step of the thread's latest checkpoint, read on a connection of our own."""
    from asyncgraph.checkpoint.sqlite import SqliteSaver

    with SqliteSaver.from_conn_string(db) as saver:
        tup = saver.get_tuple({"configurable": {"thread_id": thread_id}})
    return None if tup is None else int(tup.metadata["step"])


def builder(nodes: str, stop: tuple[str, str, str, str] | None = None) -> StateGraph:
    """``first`` -> ``second``; with ``stop`` = (db, thread, durability, signal file),
    ``second`` blocks forever once the checkpoint after ``first`` is visible."""

    def wait_then_block() -> None:
        assert stop is not None
        db, thread_id, durability, sig = stop
        if durability != "exit":
            deadline = time.monotonic() + WAIT_FOR_CHECKPOINT
            while (_saved_step(db, thread_id) or -1) < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
        Path(sig).touch()
        while True:
            time.sleep(1)

    def first_sync(state: State) -> dict[str, Any]:
        return {"log": ["first"]}

    def second_sync(state: State) -> dict[str, Any]:
        if stop is not None:
            wait_then_block()
        return {"log": ["second"]}

    async def first_async(state: State) -> dict[str, Any]:
        return {"log": ["first"]}

    async def second_async(state: State) -> dict[str, Any]:
        if stop is not None:
            await asyncio.to_thread(wait_then_block)
        return {"log": ["second"]}

    g = StateGraph(State)
    if nodes == "sync":
        g.add_node("first", first_sync)
        g.add_node("second", second_sync)
    else:
        g.add_node("first", first_async)
        g.add_node("second", second_async)
    g.add_edge(START, "first")
    g.add_edge("first", "second")
    g.add_edge("second", END)
    return g


# How the child drives the run: (API, node kind).
DRIVERS = {
    "invoke-sync-nodes": ("invoke", "sync"),
    "ainvoke-sync-nodes": ("ainvoke", "sync"),
    "ainvoke-async-nodes": ("ainvoke", "async"),
}


def child_main(db: str, thread_id: str, durability: str, driver: str, sig: str) -> None:
    api, nodes = DRIVERS[driver]
    g = builder(nodes, (db, thread_id, durability, sig))
    config = {"configurable": {"thread_id": thread_id}}
    inp = {"log": ["in"]}
    if api == "invoke":
        from asyncgraph.checkpoint.sqlite import SqliteSaver

        with SqliteSaver.from_conn_string(db) as saver:
            g.compile(checkpointer=saver).invoke(inp, config, durability=durability)
        return

    async def go() -> None:
        from asyncgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with AsyncSqliteSaver.from_conn_string(db) as saver:
            await g.compile(checkpointer=saver).ainvoke(inp, config, durability=durability)

    asyncio.run(go())


@pytest.mark.parametrize("driver", list(DRIVERS))
@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
def test_next_after_sigkill(durability: str, driver: str, tmp_path: Path) -> None:
    db = str(tmp_path / "checkpoints.db")
    sig = tmp_path / "signal"
    thread_id = f"dur-{durability}-{driver}"
    err_path = tmp_path / "stderr.txt"
    with err_path.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, __file__, db, thread_id, durability, driver, str(sig)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + DEADLINE
        while not sig.exists():
            if proc.poll() is not None:
                pytest.fail(f"the child exited ({proc.returncode}):\n{err_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail("the child did not reach the kill point")
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)

    from asyncgraph.checkpoint.sqlite import SqliteSaver

    _, nodes = DRIVERS[driver]
    config = {"configurable": {"thread_id": thread_id}}
    with SqliteSaver.from_conn_string(db) as saver:
        app = builder(nodes).compile(checkpointer=saver)
        snap = app.get_state(config)
        if durability == "exit":
            # The run is lost as a whole: the thread is as before it.
            assert snap.next == ()
            assert snap.values == {}
            out = app.invoke({"log": ["in"]}, config, durability="exit")
        else:
            assert snap.next == ("second",)
            assert snap.values == {"log": ["in", "first"]}
            out = app.invoke(None, config)
    assert out == {"log": ["in", "first", "second"]}


if __name__ == "__main__":
    child_main(*sys.argv[1:6])
