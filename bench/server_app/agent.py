"""The bench's seed agent: one model call on a scripted model with 50 ms latency."""

from __future__ import annotations

from typing import Any

from asyncgraph.graph import END, START, MessagesState, StateGraph
from asyncgraph.testing import ScriptedChatModel

model = ScriptedChatModel(responses=["a short scripted answer"], cycle=True, latency=0.05, record_calls=False)


async def call_model(state: MessagesState) -> dict[str, Any]:
    return {"messages": [await model.ainvoke(state["messages"])]}


_b = StateGraph(MessagesState)
_b.add_node("agent", call_model)
_b.add_edge(START, "agent")
_b.add_edge("agent", END)
agent = _b.compile()
