"""A graph whose schemas or drawing take long to make does not stall the server."""

from __future__ import annotations

import asyncio
import json
import time
import warnings
from pathlib import Path

from langgraph_sdk import get_client

from asyncgraph.server import create_app
from tests.server.conftest import serve

# The input model's JSON schema takes SLOW seconds to generate (standing in for a large,
# deeply nested state schema); asking for it must leave the event loop free.
GRAPH = '''
import time
from typing import Any
from pydantic import BaseModel
from asyncgraph.graph import StateGraph, START, END


class Big(BaseModel):
    text: str = ""

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> Any:
        time.sleep({slow})
        return handler(core_schema)


def echo(state: Big) -> dict:
    return {{"text": state.text}}


inner = StateGraph(Big).add_node("echo", echo).add_edge(START, "echo").add_edge("echo", END).compile()
graph = StateGraph(Big).add_node("inner", inner).add_edge(START, "inner").add_edge("inner", END).compile()
'''
SLOW = 0.6


def _app(tmp_path: Path):
    (tmp_path / "big.py").write_text(GRAPH.format(slow=SLOW))
    (tmp_path / "langgraph.json").write_text(json.dumps({"graphs": {"big": "./big.py:graph"}}))
    return create_app(tmp_path / "langgraph.json")


async def test_schemas_and_subgraphs_are_made_off_the_event_loop(tmp_path):
    app = _app(tmp_path)
    async with serve(app) as url, get_client(url=url) as client:
        stalls: list[float] = []
        done = False

        async def ticker() -> None:
            last = time.perf_counter()
            while not done:
                await asyncio.sleep(0.01)
                now = time.perf_counter()
                stalls.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        try:
            schemas = await client.assistants.get_schemas("big")
            subs = await client.assistants.get_subgraphs("big")
        finally:
            done = True
            await tick
        assert schemas["input_schema"]["title"] == "Big"
        assert schemas["state_schema"] == schemas["input_schema"]
        assert list(subs) == ["inner"] and subs["inner"]["input_schema"]["title"] == "Big"
        # Each schema sleeps SLOW s in a worker thread; on the loop that would be one
        # stall of at least SLOW s (the watchdog of this test suite would report it too).
        assert max(stalls) < SLOW


async def test_config_schema_is_answered_without_leaving_a_warning_filter(tmp_path):
    app = _app(tmp_path)
    before = list(warnings.filters)
    async with serve(app) as url, get_client(url=url) as client:
        results = await asyncio.gather(*(client.assistants.get_schemas("big") for _ in range(3)))
    assert all(r["config_schema"] is not None for r in results)
    assert warnings.filters == before
