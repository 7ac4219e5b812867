"""A task sent by ``Send`` to a plain async node is awaited by the loop itself (as
create_agent sends each tool call to its ToolNode); a Send's own timeout still applies."""

import asyncio
import operator
from typing import Annotated, Any, TypedDict

import pytest

from asyncgraph.checkpoint.memory import InMemorySaver
from asyncgraph.errors import NodeTimeoutError
from asyncgraph.graph import START, StateGraph
from asyncgraph.types import Command, Send, interrupt


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


async def work(arg: dict[str, Any]) -> State:
    await asyncio.sleep(arg.get("sleep", 0))
    return {"log": [arg["name"]]}


def _graph(timeout: Any = None, node: Any = work) -> Any:
    g = StateGraph(State)
    g.add_node("work", node)
    g.add_conditional_edges(START, lambda s: [Send("work", {"name": "a", "sleep": 0.2}, timeout=timeout)])
    return g


@pytest.mark.parametrize("config", [None, {"configurable": {"thread_id": "t"}}])
async def test_a_lone_send_runs_and_a_send_timeout_still_applies(config: Any) -> None:
    saver = InMemorySaver() if config else None
    assert await _graph().compile(checkpointer=saver).ainvoke({"log": []}, config) == {"log": ["a"]}
    with pytest.raises(NodeTimeoutError) as info:
        await _graph(timeout=0.05).compile(checkpointer=saver).ainvoke({"log": []}, config)
    assert info.value.node == "work"


async def test_an_interrupt_in_a_sent_task_resumes_with_the_answer() -> None:
    async def ask(arg: dict[str, Any]) -> State:
        return {"log": [f"{arg['name']}:{interrupt('ok?')}"]}

    app = _graph(node=ask).compile(checkpointer=InMemorySaver())
    cfg: Any = {"configurable": {"thread_id": "t"}}
    out = await app.ainvoke({"log": []}, cfg)
    assert [i.value for i in out["__interrupt__"]] == ["ok?"]
    assert await app.ainvoke(Command(resume="yes"), cfg) == {"log": ["a:yes"]}
    assert [t.name for t in (await app.aget_state(cfg)).tasks] == []
