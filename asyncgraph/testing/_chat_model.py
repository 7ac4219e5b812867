"""``ScriptedChatModel``: a chat model that answers from a script, for offline tests."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.tool import ToolCall, ToolCallChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, PrivateAttr, model_validator

__all__ = ["ScriptExhaustedError", "ScriptedChatModel"]

Response = AIMessage | str | BaseException
"""One scripted turn: a reply (a string is the reply's text) or an error to raise."""

# A word with the whitespace after it; leading whitespace stays with the first word.
_WORD = re.compile(r"\s*\S+\s*|\s+")


class _Progress:
    """Where a model is in its script. Mutable, shared by every binding of the model."""

    __slots__ = ("bound_tools", "calls", "lock", "taken")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.taken = 0
        self.calls: list[list[BaseMessage]] = []
        self.bound_tools: list[Any] = []


class ScriptExhaustedError(RuntimeError):
    """A ``ScriptedChatModel`` was called more times than it has responses.

    Attributes:
        scripted: How many responses the script holds.
        call: The 1-based number of the call that found none left.
    """

    def __init__(self, scripted: int, call: int) -> None:
        self.scripted = scripted
        self.call = call
        super().__init__(
            f"ScriptedChatModel has no response for call #{call}: {scripted} "
            f"response(s) were scripted and all were used. Script more responses, "
            f"or pass cycle=True to repeat them."
        )


class ScriptedChatModel(BaseChatModel):
    """A chat model whose answers are scripted, so graphs can be tested offline.

    Give it either ``responses`` (one per call, in call order) or ``respond`` (a
    function of the conversation). It streams real tokens: ``stream``/``astream``
    and streaming callbacks (``stream_mode="messages"``, ``astream_events``) see one
    ``AIMessageChunk`` per word, and tool calls arrive as ``tool_call_chunks``; the
    chunks add up to the message ``invoke`` returns.

    Example:
        ```python
        model = ScriptedChatModel(responses=[
            AIMessage("", tool_calls=[{"name": "search", "args": {"q": "x"}, "id": "1"}]),
            "Found it.",
        ])
        agent = create_react_agent(model, [search])
        ...
        assert len(model.calls) == 2
        ```

    Attributes:
        responses: The script. Each call takes the next item (calls are numbered in
            the order they start, also under concurrency): an ``AIMessage`` is
            returned (a copy), a string becomes ``AIMessage(content=...)``, an
            exception instance is raised. Tool calls without an id get
            ``call_<n>_<i>`` (call number, position).
        respond: Instead of a script, ``respond(messages)`` returns the reply
            (``AIMessage``, ``str`` or an exception to raise) for the conversation
            it is given; may be async (then only the async methods work). Use it
            when many conversations share one model.
        cycle: Start the script over when it runs out, instead of raising
            ``ScriptExhaustedError``.
        latency: Seconds each call waits before its reply or first token
            (``asyncio.sleep`` in async calls, ``time.sleep`` in sync ones).
        token_delay: Seconds between streamed chunks.
        chunking: How replies stream: ``"word"`` (a word and the spaces after it),
            ``"char"``, or ``"message"`` (one chunk).
        check_tool_names: When tools were bound with ``bind_tools``, raise
            ``ValueError`` if a reply calls a tool that is not among them.
        record_calls: Keep each call's messages in ``calls``. Turn off for long
            benchmarks, where the record would grow without bound.
        model_name: Reported in ``response_metadata`` and tracing.
    """

    responses: list[Any] = Field(default_factory=list)
    respond: Callable[[list[BaseMessage]], Any] | None = None
    cycle: bool = False
    latency: float = 0.0
    token_delay: float = 0.0
    chunking: Literal["word", "char", "message"] = "word"
    check_tool_names: bool = True
    record_calls: bool = True
    model_name: str = "scripted"

    _progress: _Progress = PrivateAttr(default_factory=_Progress)

    @model_validator(mode="after")
    def _check_script(self) -> ScriptedChatModel:
        if self.respond is not None and self.responses:
            msg = "ScriptedChatModel takes responses= or respond=, not both."
            raise ValueError(msg)
        if self.respond is None and not self.responses:
            msg = "ScriptedChatModel needs responses=[...] or respond=callable."
            raise ValueError(msg)
        for i, item in enumerate(self.responses):
            if not isinstance(item, AIMessage | str | BaseException):
                msg = (
                    f"ScriptedChatModel responses[{i}] is a {type(item).__name__}; "
                    "expected an AIMessage, a str or an exception instance."
                )
                raise TypeError(msg)
        return self

    # --- what tests look at --------------------------------------------------------

    @property
    def calls(self) -> list[list[BaseMessage]]:
        """The messages of each call, in the order the calls started."""
        return self._progress.calls

    @property
    def bound_tools(self) -> list[Any]:
        """The tools given to the latest ``bind_tools`` call, as they were passed."""
        return self._progress.bound_tools

    def reset(self) -> None:
        """Rewind the script to its first response and forget recorded calls."""
        progress = self._progress
        with progress.lock:
            progress.taken = 0
            progress.calls = []

    # --- BaseChatModel -------------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return "scripted-chat-model"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        # Skip the base class's attribute probing: this runs on every call.
        return LangSmithParams(
            ls_provider="scripted", ls_model_name=self.model_name, ls_model_type="chat"
        )

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools as a provider model does: the result passes ``tools=`` per call.

        The tools are converted to OpenAI tool schemas (so code that inspects a
        binding's ``kwargs["tools"]`` works) and remembered in ``bound_tools``.
        """
        self._progress.bound_tools = list(tools)
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._reply(self._next_sync(messages), messages, kwargs)
        if self.latency:
            time.sleep(self.latency)
        return ChatResult(generations=[ChatGeneration(message=_raise_or(reply))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._reply(await self._next_async(messages), messages, kwargs)
        if self.latency:
            await asyncio.sleep(self.latency)
        return ChatResult(generations=[ChatGeneration(message=_raise_or(reply))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        # The base class reports each chunk to the callbacks (on_llm_new_token).
        reply = self._reply(self._next_sync(messages), messages, kwargs)
        if self.latency:
            time.sleep(self.latency)
        delay = self.token_delay
        for i, chunk in enumerate(self._chunks(_raise_or(reply))):
            if delay and i:
                time.sleep(delay)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        reply = self._reply(await self._next_async(messages), messages, kwargs)
        if self.latency:
            await asyncio.sleep(self.latency)
        delay = self.token_delay
        for i, chunk in enumerate(self._chunks(_raise_or(reply))):
            if delay and i:
                await asyncio.sleep(delay)
            yield chunk

    # --- the script ----------------------------------------------------------------

    def _take(self, messages: list[BaseMessage]) -> tuple[int, Any]:
        """Record the call; return its number and, when scripted, its response."""
        # Read from the slot: pydantic's lookup of a private attribute costs more
        # than the rest of this method, and this runs on every call.
        progress: _Progress = self.__pydantic_private__["_progress"]  # type: ignore[index]
        with progress.lock:
            number = progress.taken
            progress.taken = number + 1
            if self.record_calls:
                progress.calls.append(list(messages))
        if self.respond is not None:
            return number, None
        scripted = len(self.responses)
        if number < scripted:
            return number, self.responses[number]
        if not self.cycle:
            raise ScriptExhaustedError(scripted, number + 1)
        return number, self.responses[number % scripted]

    def _next_sync(self, messages: list[BaseMessage]) -> tuple[int, Any]:
        number, item = self._take(messages)
        if self.respond is None:
            return number, item
        item = self.respond(messages)
        if inspect.isawaitable(item):
            if inspect.iscoroutine(item):
                item.close()  # never awaited: close it so Python does not warn
            msg = "ScriptedChatModel.respond is async: call the model with ainvoke/astream."
            raise TypeError(msg)
        return number, item

    async def _next_async(self, messages: list[BaseMessage]) -> tuple[int, Any]:
        number, item = self._take(messages)
        if self.respond is None:
            return number, item
        item = self.respond(messages)
        if inspect.isawaitable(item):
            item = await item
        return number, item

    def _reply(
        self, taken: tuple[int, Any], messages: list[BaseMessage], kwargs: dict[str, Any]
    ) -> AIMessage | BaseException:
        """Turn a scripted item into the reply of call ``number`` (a fresh message)."""
        number, item = taken
        if isinstance(item, BaseException):
            return item
        if isinstance(item, str):
            return AIMessage(
                content=item,
                response_metadata=self._metadata(finish_reason="stop"),
                usage_metadata=_usage(messages, item, ()),
            )
        if not isinstance(item, AIMessage):
            msg = (
                f"ScriptedChatModel.respond returned a {type(item).__name__}; "
                "expected an AIMessage, a str or an exception instance."
            )
            raise TypeError(msg)
        tool_calls = item.tool_calls
        if tool_calls:
            if any(tc["id"] is None for tc in tool_calls):
                tool_calls = [
                    tc if tc["id"] is not None else {**tc, "id": f"call_{number}_{i}"}
                    for i, tc in enumerate(tool_calls)
                ]
            if self.check_tool_names and kwargs.get("tools"):
                _check_tool_names(tool_calls, kwargs["tools"], number)
        # A shallow copy: the base class sets ids on what it returns, and a scripted
        # message may be returned again (cycle=True).
        update: dict[str, Any] = {
            "tool_calls": tool_calls,
            "response_metadata": {
                **self._metadata("tool_calls" if tool_calls else "stop"),
                **item.response_metadata,
            },
        }
        if item.usage_metadata is None:
            update["usage_metadata"] = _usage(messages, item.content, tool_calls)
        return item.model_copy(update=update)

    def _metadata(self, finish_reason: str) -> dict[str, Any]:
        return {"model_name": self.model_name, "finish_reason": finish_reason}

    def _chunks(self, message: AIMessage) -> list[ChatGenerationChunk]:
        """Split ``message`` into chunks that add up to it; metadata rides on the last."""
        split = self._split
        msg_id = message.id
        content = message.content
        pieces: list[AIMessageChunk] = []
        if isinstance(content, str):
            pieces.extend(AIMessageChunk(content=t, id=msg_id) for t in split(content))
        else:
            pieces.append(AIMessageChunk(content=content, id=msg_id))
        for index, call in enumerate(message.tool_calls):
            args = split(json.dumps(call["args"])) or [""]
            for n, part in enumerate(args):
                chunk: ToolCallChunk = {
                    "name": call["name"] if n == 0 else None,
                    "args": part,
                    "id": call["id"] if n == 0 else None,
                    "index": index,
                    "type": "tool_call_chunk",
                }
                pieces.append(AIMessageChunk(content="", id=msg_id, tool_call_chunks=[chunk]))
        if not pieces:
            pieces.append(AIMessageChunk(content="", id=msg_id))
        if message.name is not None:
            # Chunk addition keeps the first chunk's name.
            pieces[0] = pieces[0].model_copy(update={"name": message.name})
        # Adding chunks would concatenate repeated strings, so metadata rides once.
        pieces[-1] = pieces[-1].model_copy(
            update={
                "chunk_position": "last",
                "response_metadata": message.response_metadata,
                "usage_metadata": message.usage_metadata,
                "additional_kwargs": message.additional_kwargs,
            }
        )
        return [ChatGenerationChunk(message=p) for p in pieces]

    def _split(self, text: str) -> list[str]:
        if not text:
            return []
        if self.chunking == "word":
            return _WORD.findall(text)
        if self.chunking == "char":
            return list(text)
        return [text]


def _raise_or(reply: AIMessage | BaseException) -> AIMessage:
    if isinstance(reply, BaseException):
        raise reply
    return reply


def _check_tool_names(
    tool_calls: list[ToolCall], tools: list[dict[str, Any]], number: int
) -> None:
    names = {_tool_name(t) for t in tools}
    for call in tool_calls:
        if call["name"] not in names:
            msg = (
                f"ScriptedChatModel call #{number + 1} replies with a call to tool "
                f"{call['name']!r}, but the tools bound with bind_tools() are "
                f"{sorted(n for n in names if n)}. Fix the script, or pass "
                "check_tool_names=False."
            )
            raise ValueError(msg)


def _tool_name(tool: dict[str, Any]) -> str | None:
    name = tool["function"].get("name") if "function" in tool else tool.get("name")
    return name if isinstance(name, str) else None


def _usage(
    messages: list[BaseMessage], content: Any, tool_calls: Sequence[ToolCall]
) -> dict[str, int]:
    """Token counts for a reply: one token per whitespace-separated word."""
    inp = sum(_word_count(m.content) for m in messages)
    out = _word_count(content)
    out += sum(len(json.dumps(tc["args"]).split()) + 1 for tc in tool_calls)
    return {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out}


def _word_count(content: Any) -> int:
    if isinstance(content, str):
        return len(content.split())
    return sum(
        len(block.get("text", "").split()) if isinstance(block, dict) else len(str(block).split())
        for block in content
    )
