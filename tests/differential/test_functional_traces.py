"""The functional API as callbacks see it, on LangGraph and asyncgraph side by side:
``astream_events`` of an entrypoint calling tasks (one of which fails and is caught)
gives the same events in the same order, with the same names, tags, nesting, payloads
(the entrypoint's run shows the function's argument and return value, not the channels
that carry them) and task metadata (a call's own node name, triggers and path)."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest

PACKAGES = ("langgraph", "asyncgraph")
_META = ("langgraph_step", "langgraph_node", "langgraph_triggers", "langgraph_path", "thread_id")


def _workflow(pkg: str, checkpointer: bool) -> Any:
    F = importlib.import_module(f"{pkg}.func")
    M = importlib.import_module(f"{pkg}.checkpoint.memory")

    @F.task()
    async def double(number: int) -> int:
        await asyncio.sleep(0.01)
        return number * 2

    @F.task()
    async def fail(number: int) -> int:
        await asyncio.sleep(0.01)
        raise ValueError("task failed")

    @F.entrypoint(checkpointer=M.InMemorySaver() if checkpointer else None)
    async def workflow(number: int) -> str:
        await double(number)
        try:
            await fail(number)
        except ValueError:
            pass
        return f"done {await double(number + 1)}"

    return workflow


async def _events(pkg: str, checkpointer: bool) -> list[tuple[Any, ...]]:
    app = _workflow(pkg, checkpointer)
    cfg: Any = {"configurable": {"thread_id": "1"}} if checkpointer else None
    out = []
    async for e in app.astream_events(3, cfg):
        meta = {k: e["metadata"][k] for k in _META if k in e["metadata"]}
        out.append((e["event"], e["name"], e["tags"], len(e["parent_ids"]), e["data"], meta))
    return out


@pytest.mark.parametrize("checkpointer", [False, True])
def test_entrypoint_events_match_langgraph(checkpointer: bool) -> None:
    expected, got = (asyncio.run(_events(pkg, checkpointer)) for pkg in PACKAGES)
    assert got == expected
    node_start = next(e for e in got if e[0] == "on_chain_start" and e[1] == "workflow")
    assert node_start[4] == {"input": 3}  # the argument, not the input channels
    call_start = next(e for e in got if e[0] == "on_chain_start" and e[1] == "double")
    assert call_start[2] == ["seq:step:1"] and call_start[5]["langgraph_node"] == "double"


def test_a_cache_key_function_gets_the_entrypoint_argument() -> None:
    from asyncgraph.cache.memory import InMemoryCache
    from asyncgraph.func import entrypoint
    from asyncgraph.types import CachePolicy

    seen: list[Any] = []

    def key(arg: Any) -> str:
        seen.append(arg)
        return str(arg["n"] % 2)

    calls = []

    @entrypoint(cache=InMemoryCache(), cache_policy=CachePolicy(key_func=key))
    def parity(arg: dict[str, int]) -> int:
        calls.append(arg["n"])
        return arg["n"] % 2

    assert [parity.invoke({"n": n}) for n in (1, 3, 2)] == [1, 1, 0]
    assert seen == [{"n": 1}, {"n": 3}, {"n": 2}]
    assert calls == [1, 2]  # 3 had the same key as 1
