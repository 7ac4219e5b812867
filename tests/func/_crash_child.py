"""The child process of ``test_crash.py``: an entrypoint of three tasks on a SQLite file.

Run as a script::

    python _crash_child.py API DB THREAD_ID MODE SIDE_EFFECTS SIGNAL

API is ``async`` (``AsyncSqliteSaver``, async entrypoint and tasks, ``ainvoke``) or
``sync`` (``SqliteSaver``, plain functions, ``invoke``). MODE is ``kill`` (run; the
second task touches SIGNAL, then blocks forever so the parent can SIGKILL the process
while it runs) or ``resume`` (``invoke(None, config)``; print the result as JSON).

The workflow calls ``fetch`` (finishes before the kill), then ``slow`` (killed while it
runs in the first process), then ``finish``. Every task execution appends its name to
SIDE_EFFECTS (fsynced), so the parent counts executions across processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


class Hooks:
    side_effects: Path | None = None
    signal: Path | None = None
    block = False


def record(name: str) -> None:
    assert Hooks.side_effects is not None
    fd = os.open(Hooks.side_effects, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{name}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def build_async(saver: Any) -> Any:
    from asyncgraph.func import entrypoint, task

    @task
    async def fetch(x: int) -> int:
        record("fetch")
        return x + 1

    @task
    async def slow(x: int) -> int:
        record("slow")
        if Hooks.block:
            assert Hooks.signal is not None
            Hooks.signal.touch()
            await asyncio.sleep(3600)
        return x * 10

    @task
    async def finish(x: int) -> int:
        record("finish")
        return x + 5

    @entrypoint(checkpointer=saver)
    async def wf(x: int) -> list[int]:
        a = await fetch(x)
        b = await slow(a)
        return [a, b, await finish(b)]

    return wf


def build_sync(saver: Any) -> Any:
    from asyncgraph.func import entrypoint, task

    @task
    def fetch(x: int) -> int:
        record("fetch")
        return x + 1

    @task
    def slow(x: int) -> int:
        record("slow")
        if Hooks.block:
            assert Hooks.signal is not None
            Hooks.signal.touch()
            time.sleep(3600)
        return x * 10

    @task
    def finish(x: int) -> int:
        record("finish")
        return x + 5

    @entrypoint(checkpointer=saver)
    def wf(x: int) -> list[int]:
        a = fetch(x).result()
        b = slow(a).result()
        return [a, b, finish(b).result()]

    return wf


def main(api: str, db: str, thread_id: str, mode: str, side_effects: str, signal: str) -> None:
    Hooks.side_effects = Path(side_effects)
    Hooks.signal = Path(signal)
    Hooks.block = mode == "kill"
    config = {"configurable": {"thread_id": thread_id}}
    inp = None if mode == "resume" else 1
    if api == "sync":
        from asyncgraph.checkpoint.sqlite import SqliteSaver

        with SqliteSaver.from_conn_string(db) as saver:
            out = build_sync(saver).invoke(inp, config)
    else:
        from asyncgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async def go() -> Any:
            async with AsyncSqliteSaver.from_conn_string(db) as saver:
                return await build_async(saver).ainvoke(inp, config)

        out = asyncio.run(go())
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:7])
