"""Callback handlers that feed a v3 run its ``messages`` and ``tools`` events.

They ride on the engine's ``custom`` stream: each event is written with the running
task's stream writer, wrapped in a :class:`Carried` so the run stream can tell it from
the user's own custom data and re-label it. The writer puts it in the task's
namespace and in order with everything else the task streams, so the engine needs no
v3-specific code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass, is_dataclass
from typing import Any, Callable
from uuid import UUID, uuid4

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.tracers._streaming import _V2StreamingCallbackHandler

from asyncgraph.config import get_stream_writer
from asyncgraph.constants import TAG_HIDDEN, TAG_NOSTREAM
from asyncgraph.pregel._context import META_NODE


@dataclass(frozen=True, slots=True)
class Carried:
    """A ``messages`` / ``tools`` event travelling on the ``custom`` stream."""

    method: str
    data: Any


def _send(method: str, data: Any) -> None:
    get_stream_writer()(Carried(method, data))


def _hidden(tags: list[str] | None, *names: str) -> bool:
    return bool(tags) and any(n in tags for n in names)  # type: ignore[operator]


def _messages_in(value: Any) -> list[BaseMessage]:
    """Messages (not tool results) in a node's output: a message, a list, a dict of
    state keys, or a ``Command`` (or a list of them) carrying an update."""
    if isinstance(value, BaseMessage):
        return [] if isinstance(value, ToolMessage) else [value]
    update = getattr(value, "update", None)
    if update is not None and not isinstance(value, dict):
        return _messages_in(update)
    if isinstance(value, dict):
        value = list(value.values())
    elif is_dataclass(value) or hasattr(type(value), "model_fields"):
        value = list(vars(value).values())
    if not isinstance(value, (list, tuple)):
        return []
    out: list[BaseMessage] = []
    for v in value:
        if isinstance(v, BaseMessage):
            out.extend(_messages_in(v))
        elif isinstance(v, (list, tuple)) or getattr(v, "update", None) is not None:
            out.extend(_messages_in(v))
    return out


class MessagesV3Handler(BaseCallbackHandler, _V2StreamingCallbackHandler):
    """Chat-model calls as content-block protocol events, and messages returned by nodes.

    Being a ``_V2StreamingCallbackHandler``, its presence makes a chat model called in a
    node emit ``on_stream_event`` (``message-start`` ... ``message-finish``) rather than
    v1 tokens. Events carry the call's metadata plus its ``run_id``.
    """

    run_inline = True  # in the calling task, so its stream writer is the right one

    def __init__(self) -> None:
        self.calls: dict[UUID, dict[str, Any]] = {}
        self.streamed: set[UUID] = set()
        self.nodes: dict[UUID, dict[str, Any]] = {}
        self.seen: set[str] = set()

    def tap_output_aiter(self, run_id: UUID, output: AsyncIterator[Any]) -> AsyncIterator[Any]:
        return output

    def tap_output_iter(self, run_id: UUID, output: Iterator[Any]) -> Iterator[Any]:
        return output

    def _emit(self, meta: dict[str, Any], message: BaseMessage) -> None:
        if message.id is not None and message.id in self.seen:
            return
        if message.id is None:
            message.id = str(uuid4())
        self.seen.add(message.id)
        _send("messages", (message, meta))

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
                            tags: list[str] | None = None, metadata: dict[str, Any] | None = None, **kw: Any) -> Any:
        if metadata and META_NODE in metadata and not _hidden(tags, TAG_NOSTREAM):
            self.calls[run_id] = dict(metadata)

    def on_stream_event(self, event: dict[str, Any], *, run_id: UUID, **kw: Any) -> Any:
        meta = self.calls.get(run_id)
        if meta is None:
            return
        if event.get("event") == "message-start":
            self.streamed.add(run_id)
            if event.get("message_id"):
                self.seen.add(event["message_id"])
        _send("messages", (event, {**meta, "run_id": str(run_id)}))

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kw: Any) -> Any:
        meta = self.calls.pop(run_id, None)
        streamed = run_id in self.streamed
        self.streamed.discard(run_id)
        if meta is None or not (response.generations and response.generations[0]):
            return
        gen = response.generations[0][0]
        if not isinstance(gen, ChatGeneration):
            return
        if streamed:
            if gen.message.id is None:
                gen.message.id = str(uuid4())
            self.seen.add(gen.message.id)
        else:
            self._emit(meta, gen.message)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> Any:
        self.calls.pop(run_id, None)
        self.streamed.discard(run_id)

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
                       tags: list[str] | None = None, metadata: dict[str, Any] | None = None, **kw: Any) -> Any:
        if not metadata or kw.get("name") != metadata.get(META_NODE) or _hidden(tags, TAG_HIDDEN):
            return
        if parent_run_id in self.nodes:
            return  # a Runnable used as the node runs under the node's own run
        self.nodes[run_id] = dict(metadata)
        for msg in _messages_in(inputs):
            if msg.id is not None:
                self.seen.add(msg.id)  # input, or streamed already

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kw: Any) -> Any:
        meta = self.nodes.pop(run_id, None)
        if meta is not None:
            for msg in _messages_in(outputs):
                self._emit(meta, msg)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> Any:
        self.nodes.pop(run_id, None)


ToolCallWriter = Callable[[Any], None]

_tool_call_writer: ContextVar[ToolCallWriter | None] = ContextVar("asyncgraph_tool_call_writer", default=None)
"""The ``tool-output-delta`` writer of the tool call running now, if a v3 run streams
``tools``."""


class ToolsV3Handler(BaseCallbackHandler):
    """``stream_mode="tools"``: ``tool-started`` / ``tool-output-delta`` /
    ``tool-finished`` / ``tool-error`` per tool call, keyed by ``tool_call_id``. An
    interrupted tool is paused, not failed: it reports again when resumed."""

    run_inline = True

    def __init__(self) -> None:
        self.calls: dict[UUID, tuple[str, ToolCallWriter, Token[ToolCallWriter | None]]] = {}

    def on_tool_start(self, serialized: Any, input_str: str, *, run_id: UUID, parent_run_id: UUID | None = None,
                      tags: list[str] | None = None, metadata: dict[str, Any] | None = None,
                      inputs: dict[str, Any] | None = None, **kw: Any) -> Any:
        if not metadata or _hidden(tags, TAG_NOSTREAM):
            return
        call_id = kw.get("tool_call_id") or str(run_id)
        name = (serialized or {}).get("name") or kw.get("name") or ""
        write = get_stream_writer()

        def delta(chunk: Any) -> None:
            write(Carried("tools", {"event": "tool-output-delta", "tool_call_id": call_id, "delta": chunk}))

        self.calls[run_id] = (call_id, write, _tool_call_writer.set(delta))
        payload: dict[str, Any] = {"event": "tool-started", "tool_call_id": call_id, "tool_name": name}
        if inputs is not None:
            payload["input"] = inputs
        write(Carried("tools", payload))

    def _end(self, run_id: UUID, event: str | None, key: str = "", value: Any = None) -> None:
        info = self.calls.pop(run_id, None)
        if info is None:
            return
        call_id, write, token = info
        try:
            _tool_call_writer.reset(token)
        except ValueError:  # ended in another context than it started in
            pass
        if event is not None:
            write(Carried("tools", {"event": event, "tool_call_id": call_id, key: value}))

    def on_tool_end(self, output: Any, *, run_id: UUID, **kw: Any) -> Any:
        self._end(run_id, "tool-finished", "output", output)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> Any:
        from asyncgraph.errors import GraphDrained, GraphInterrupt

        paused = isinstance(error, (GraphInterrupt, GraphDrained))
        self._end(run_id, None if paused else "tool-error", "message", str(error))
