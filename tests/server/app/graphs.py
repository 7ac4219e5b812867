"""Graphs the test server serves (named in app/langgraph.json)."""

from __future__ import annotations

import asyncio
import operator
import os
from typing import Annotated, Any

from typing_extensions import TypedDict

from asyncgraph.config import get_store, get_stream_writer
from asyncgraph.graph import END, START, MessagesState, StateGraph
from asyncgraph.testing import ScriptedChatModel
from asyncgraph.types import interrupt

model = ScriptedChatModel(responses=["hello from the seed agent"], cycle=True)


async def call_model(state: MessagesState) -> dict[str, Any]:
    get_stream_writer()({"progress": "calling model"})
    reply = await model.ainvoke(state["messages"])
    return {"messages": [reply]}


_agent = StateGraph(MessagesState)
_agent.add_node("agent", call_model)
_agent.add_edge(START, "agent")
_agent.add_edge("agent", END)
agent = _agent.compile()


async def ask(state: MessagesState) -> dict[str, Any]:
    answer = interrupt({"question": "approve?"})
    return {"messages": [("ai", f"answer was {answer}")]}


_hitl = StateGraph(MessagesState)
_hitl.add_node("ask", ask)
_hitl.add_edge(START, "ask")
hitl = _hitl  # a builder: the server compiles it


class Slow(TypedDict):
    steps: list[str]


async def step(state: Slow) -> dict[str, Any]:
    if "boom" in state.get("steps", []):
        raise ValueError("boom requested by the input")
    # Long enough for a test to cancel or double-text it, bounded.
    for _ in range(50):
        await asyncio.sleep(0.02)
    return {"steps": [*state.get("steps", []), "done"]}


_slow = StateGraph(Slow)
_slow.add_node("step", step)
_slow.add_edge(START, "step")
slow = _slow.compile()


_inner = StateGraph(MessagesState)
_inner.add_node("inner_agent", call_model)
_inner.add_edge(START, "inner_agent")
_outer = StateGraph(MessagesState)
_outer.add_node("child", _inner.compile())
_outer.add_edge(START, "child")
parent = _outer.compile()


def make_graph(config: dict[str, Any]) -> Any:
    """A factory: the server calls it with the run's config."""
    return _agent.compile()


ENV_SEEN = os.environ.get("ASYNCGRAPH_TEST_ENV")


async def remember(state: MessagesState) -> dict[str, Any]:
    await get_store().aput(("memories",), "last", {"text": state["messages"][-1].content})
    return {}


_remember = StateGraph(MessagesState)
_remember.add_node("remember", remember)
_remember.add_edge(START, "remember")
remember_graph = _remember.compile()


class Steps(TypedDict):
    log: Annotated[list[str], operator.add]
    hold: float


def _steps_node(name: str, *, slow: bool = False) -> Any:
    async def node(state: Steps) -> dict[str, Any]:
        # The pid tells the fault tests which worker process runs the node.
        get_stream_writer()({"node": name, "pid": os.getpid()})
        if slow:
            await asyncio.sleep(state.get("hold", 0.0))
        return {"log": [name]}

    return node


_steps = StateGraph(Steps)
_steps.add_node("first", _steps_node("first"))
_steps.add_node("second", _steps_node("second", slow=True))
_steps.add_node("third", _steps_node("third"))
_steps.add_edge(START, "first")
_steps.add_edge("first", "second")
_steps.add_edge("second", "third")
steps = _steps.compile()


class Chatty(TypedDict):
    count: int
    said: int


async def chatter(state: Chatty) -> dict[str, Any]:
    # A steady flow of stream events (each one a database write on serve + workers).
    writer = get_stream_writer()
    for i in range(state["count"]):
        writer({"i": i, "pid": os.getpid()})
        await asyncio.sleep(0.01)
    return {"said": state["count"]}


_chatty = StateGraph(Chatty)
_chatty.add_node("chatter", chatter)
_chatty.add_edge(START, "chatter")
chatty = _chatty.compile()
