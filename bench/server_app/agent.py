"""The bench's seed agent: one model call on a scripted model with 50 ms latency.

The same file serves both servers of the comparison: ``BENCH_GRAPH_LIB=langgraph`` builds it
with LangGraph (for ``langgraph dev``), anything else with asyncgraph. The model is defined
here on langchain-core alone, so both sides call exactly the same code.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import AsyncIterator
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

ANSWER = "a short scripted answer"
_graph = importlib.import_module(f"{os.environ.get('BENCH_GRAPH_LIB', 'asyncgraph')}.graph")


class SlowScriptedModel(BaseChatModel):
    """Answers ``ANSWER`` after ``latency`` seconds; streams it word by word."""

    latency: float = 0.05

    @property
    def _llm_type(self) -> str:
        return "bench-scripted"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> ChatResult:
        raise NotImplementedError("the bench calls the model asynchronously")

    async def _agenerate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                         **kw: Any) -> ChatResult:
        await asyncio.sleep(self.latency)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(ANSWER))])

    async def _astream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                       **kw: Any) -> AsyncIterator[ChatGenerationChunk]:
        await asyncio.sleep(self.latency)
        words = ANSWER.split(" ")
        for i, word in enumerate(words):
            chunk = ChatGenerationChunk(message=AIMessageChunk(word if i == 0 else f" {word}"))
            if run_manager is not None:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk


model = SlowScriptedModel()


async def call_model(state: dict[str, Any]) -> dict[str, Any]:
    return {"messages": [await model.ainvoke(state["messages"])]}


_b = _graph.StateGraph(_graph.MessagesState)
_b.add_node("agent", call_model)
_b.add_edge(_graph.START, "agent")
_b.add_edge("agent", _graph.END)
agent = _b.compile()
