"""The one fake chat model and tool that every side of the agent workloads uses.

LangGraph, asyncgraph and the plain-Python floor all drive this same
langchain-core ``BaseChatModel``, so the only thing that differs between them is
the orchestration around the model call.

The dialogue is fixed: while the conversation holds no ``ToolMessage`` the model
asks for the ``lookup`` tool; once it sees the tool's answer it replies with
a final answer. Each call waits ``latency`` seconds (``asyncio.sleep``, so
thousands of concurrent runs overlap) and, when streamed, yields ``tokens``
chunks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.messages.tool import ToolCallChunk, tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import tool

FINAL_ANSWER = "The answer is 42."
TOOL_NAME = "lookup"


@tool
async def lookup(query: str) -> str:
    """Look a query up (fake: answers instantly)."""
    return f"result for {query}"


TOOLS = [lookup]


def _wants_tool(messages: Sequence[BaseMessage]) -> bool:
    return not any(isinstance(m, ToolMessage) for m in messages)


def _tool_call(messages: Sequence[BaseMessage]) -> dict[str, Any]:
    # The id depends on the conversation length so it is deterministic per run.
    return {
        "name": TOOL_NAME,
        "args": {"query": "meaning"},
        "id": f"call_{len(messages)}",
    }


class FakeAgentModel(BaseChatModel):
    """Scripted chat model: a tool call first, then a final answer.

    Attributes:
        latency: Seconds each call waits before answering (simulated network).
        tokens: Number of chunks a streamed call yields.
    """

    latency: float = 0.05
    tokens: int = 50

    @property
    def _llm_type(self) -> str:
        return "bench-fake-agent"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> FakeAgentModel:
        # The script does not depend on the tool schemas; returning the model itself
        # keeps the prebuilt agents on exactly the same call path as the hand-built one.
        return self

    def _reply(self, messages: Sequence[BaseMessage]) -> AIMessage:
        if _wants_tool(messages):
            return AIMessage(content="", tool_calls=[_tool_call(messages)])
        return AIMessage(content=FINAL_ANSWER)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency:
            time.sleep(self.latency)
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency:
            await asyncio.sleep(self.latency)
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages))])

    def _chunks(self, messages: Sequence[BaseMessage]) -> Iterator[AIMessageChunk]:
        # ``tokens`` chunks per call; a tool call rides on the last chunk.
        wants_tool = _wants_tool(messages)
        for i in range(self.tokens):
            last = i == self.tokens - 1
            text = "" if wants_tool else f"tok{i} "
            if last and not wants_tool:
                text = FINAL_ANSWER
            call_chunks: list[ToolCallChunk] = []
            if last and wants_tool:
                call = _tool_call(messages)
                args = '{"query": "meaning"}'
                call_chunks = [
                    tool_call_chunk(
                        name=call["name"], args=args, id=call["id"], index=0
                    )
                ]
            yield AIMessageChunk(
                content=text,
                tool_call_chunks=call_chunks,
                chunk_position="last" if last else None,
            )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if self.latency:
            time.sleep(self.latency)
        # langchain-core reports each chunk to the callbacks itself.
        for chunk in self._chunks(messages):
            yield ChatGenerationChunk(message=chunk)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if self.latency:
            await asyncio.sleep(self.latency)
        for chunk in self._chunks(messages):
            yield ChatGenerationChunk(message=chunk)
