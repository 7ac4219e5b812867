"""The child process of the crash tests (``test_crash.py``); also importable for its graph.

Run as a script::

    python _crash_child.py BACKEND TARGET THREAD_ID MODE SIDE_EFFECTS SIGNAL [DURABILITY]

BACKEND is ``sqlite`` (TARGET a file path, ``AsyncSqliteSaver``), ``sqlite_sync`` (TARGET a
file path, ``SqliteSaver`` driven by the sync ``invoke``) or ``postgres`` (TARGET a DSN,
``AsyncPostgresSaver``). MODE is one of:

``mid``
    start the run; the ``slow`` node of the fan-out step touches SIGNAL and then blocks
    forever, so the parent can SIGKILL the process inside that superstep.
``between``
    start the run with ``stream_mode="values"``; after the chunk of the fan-out step the
    reader touches SIGNAL and stops pulling, so the run waits between two steps (no node
    running) until the parent kills it.
``resume``
    ``ainvoke(None, config)`` on the thread, then print the final state as JSON.
``full``
    an uninterrupted run; print the final state as JSON.

Every node execution appends one line, the node's name, to SIDE_EFFECTS (opened in append
mode and fsynced per execution), so the parent counts executions across processes.
"""

from __future__ import annotations

import asyncio
import json
import operator
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

from asyncgraph.graph import END, START, StateGraph
from asyncgraph.types import Send

FAN_OUT = ("a", "b", "slow")  # static parallel nodes of the fan-out step
N_WORKERS = 2  # Send("worker", ...) tasks in the same step
INPUT = {"log": ["input"], "base": 10}


class State(TypedDict):
    log: Annotated[list[str], operator.add]
    base: int
    total: Annotated[int, operator.add]


class Hooks:
    """Where this process records executions and whether ``slow`` blocks."""

    side_effects: Path | None = None
    signal: Path | None = None
    block_slow = False


def record(name: str) -> None:
    """One execution of ``name``: append it to the side-effect log, durably."""
    if Hooks.side_effects is None:
        return
    fd = os.open(Hooks.side_effects, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{name}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def signal() -> None:
    assert Hooks.signal is not None
    Hooks.signal.touch()


async def prepare(state: State) -> dict[str, Any]:
    record("prepare")
    return {"log": ["prepare"], "base": state["base"] + 1}


def fan_out(state: State) -> list[Any]:
    return [
        *FAN_OUT,
        *(Send("worker", {"i": i, "base": state["base"]}) for i in range(N_WORKERS)),
    ]


async def a(state: State) -> dict[str, Any]:
    record("a")
    return {"log": ["a"], "total": state["base"]}


def b(state: State) -> dict[str, Any]:
    # A sync node: under ainvoke it runs in a worker thread.
    record("b")
    return {"log": ["b"], "total": 2 * state["base"]}


async def slow(state: State) -> dict[str, Any]:
    record("slow")
    if Hooks.block_slow:
        signal()
        await asyncio.Event().wait()  # until SIGKILL
    return {"log": ["slow"], "total": 100}


async def worker(arg: dict[str, Any]) -> dict[str, Any]:
    name = f"worker{arg['i']}"
    record(name)
    return {"log": [name], "total": 1000 * (arg["i"] + 1) + arg["base"]}


async def join(state: State) -> dict[str, Any]:
    record("join")
    return {"log": [f"join:{state['total']}"]}


async def finish(state: State) -> dict[str, Any]:
    record("finish")
    return {"log": ["finish"], "total": len(state["log"])}


def builder() -> StateGraph[Any, Any, Any, Any]:
    g: StateGraph[Any, Any, Any, Any] = StateGraph(State)
    g.add_node("prepare", prepare)
    g.add_node("a", a)
    g.add_node("b", b)
    g.add_node("slow", slow)
    g.add_node("worker", worker)
    g.add_node("join", join)
    g.add_node("finish", finish)
    g.add_edge(START, "prepare")
    g.add_conditional_edges("prepare", fan_out, ["a", "b", "slow", "worker"])
    g.add_edge([*FAN_OUT, "worker"], "join")
    g.add_edge("join", "finish")
    g.add_edge("finish", END)
    return g


def config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


async def drive(graph: Any, mode: str, thread_id: str, durability: str | None) -> Any:
    cfg = config(thread_id)
    kw = {"durability": durability} if durability else {}
    if mode == "mid":
        Hooks.block_slow = True
        await graph.ainvoke(INPUT, cfg, **kw)
        raise AssertionError("the run should have been killed inside the fan-out step")
    if mode == "between":
        async for chunk in graph.astream(INPUT, cfg, stream_mode="values", **kw):
            if "slow" in chunk["log"]:  # the state after the fan-out step
                signal()
                # Until SIGKILL; meanwhile the run waits for its reader, between steps.
                await asyncio.Event().wait()
        raise AssertionError("the run should have been killed between two steps")
    if mode == "resume":
        return await graph.ainvoke(None, cfg, **kw)
    if mode == "full":
        return await graph.ainvoke(INPUT, cfg, **kw)
    raise ValueError(mode)


def drive_sync(graph: Any, mode: str, thread_id: str, durability: str | None) -> Any:
    cfg = config(thread_id)
    kw = {"durability": durability} if durability else {}
    if mode == "mid":
        Hooks.block_slow = True
        graph.invoke(INPUT, cfg, **kw)
        raise AssertionError("the run should have been killed inside the fan-out step")
    if mode == "between":
        for chunk in graph.stream(INPUT, cfg, stream_mode="values", **kw):
            if "slow" in chunk["log"]:
                signal()
                while True:  # until SIGKILL
                    time.sleep(3600)
        raise AssertionError("the run should have been killed between two steps")
    if mode == "resume":
        return graph.invoke(None, cfg, **kw)
    if mode == "full":
        return graph.invoke(INPUT, cfg, **kw)
    raise ValueError(mode)


async def amain(
    backend: str, target: str, thread_id: str, mode: str, durability: str | None
) -> Any:
    if backend == "sqlite":
        from asyncgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with AsyncSqliteSaver.from_conn_string(target) as saver:
            return await drive(
                builder().compile(checkpointer=saver), mode, thread_id, durability
            )
    if backend == "postgres":
        from asyncgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        async with AsyncPostgresSaver.from_conn_string(target) as saver:
            await saver.setup()
            return await drive(
                builder().compile(checkpointer=saver), mode, thread_id, durability
            )
    raise ValueError(backend)


def main(argv: list[str]) -> None:
    backend, target, thread_id, mode, side_effects, signal_path, *rest = argv
    durability = rest[0] if rest else None
    Hooks.side_effects = Path(side_effects)
    Hooks.signal = Path(signal_path)
    if backend == "sqlite_sync":
        from asyncgraph.checkpoint.sqlite import SqliteSaver

        with SqliteSaver.from_conn_string(target) as saver:
            result = drive_sync(
                builder().compile(checkpointer=saver), mode, thread_id, durability
            )
    else:
        result = asyncio.run(amain(backend, target, thread_id, mode, durability))
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1:])
