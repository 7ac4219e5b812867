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
from asyncgraph.constants import NS_SEP, TAG_HIDDEN, TAG_NOSTREAM
from asyncgraph._context import META_NODE, META_NS


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
    """Messages in a node's input or output: a message, a list, a dict of state keys,
    or a ``Command`` (or a list of them) carrying an update."""
    if isinstance(value, BaseMessage):
        return [value]
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
            out.append(v)
        elif isinstance(v, (list, tuple)) or getattr(v, "update", None) is not None:
            out.extend(_messages_in(v))
    return out


StreamFn = Callable[[tuple[tuple[str, ...], str, Any]], None]
"""Takes ``(namespace, mode, payload)``, as LangGraph's handlers' ``stream`` argument."""


def _graph_ns(metadata: dict[str, Any]) -> tuple[str, ...]:
    """The namespace of the graph a task runs in: its checkpoint namespace without the
    task's own segment."""
    ns = metadata.get(META_NS) or ""
    return tuple(ns.split(NS_SEP))[:-1] if ns else ()


class _Handler(BaseCallbackHandler):
    """Where events go: ``stream`` when given (``(ns, mode, payload)``), else the running
    task's custom stream writer, as a :class:`Carried`. ``subgraphs=False`` keeps only
    events of the root graph (and of ``parent_ns``)."""

    run_inline = True  # in the calling task, so its stream writer is the right one

    def __init__(self, stream: StreamFn | None = None, subgraphs: bool = True, *,
                 parent_ns: tuple[str, ...] | None = None) -> None:
        self.stream = stream
        self.subgraphs = subgraphs
        self.parent_ns = parent_ns

    def _where(self, metadata: dict[str, Any] | None, tags: list[str] | None, hide: str) -> tuple[str, ...] | None:
        if not metadata or _hidden(tags, hide):
            return None
        ns = _graph_ns(metadata)
        if not self.subgraphs and ns and ns != self.parent_ns:
            return None
        return ns

    def _put(self, ns: tuple[str, ...], mode: str, payload: Any) -> None:
        if self.stream is not None:
            self.stream((ns, mode, payload))
        else:
            get_stream_writer()(Carried(mode, payload))


class MessagesV3Handler(_Handler, _V2StreamingCallbackHandler):
    """Chat-model calls as content-block protocol events, and messages returned by nodes
    (LangGraph's ``StreamMessagesHandlerV2``).

    Being a ``_V2StreamingCallbackHandler``, its presence makes a chat model called in a
    node emit ``on_stream_event`` (``message-start`` ... ``message-finish``) rather than
    v1 tokens; those carry the call's metadata plus its ``run_id``. A message streamed so
    is not sent again when the node returns it; tool results are not sent at all.
    """

    def __init__(self, stream: StreamFn | None = None, subgraphs: bool = True, *,
                 parent_ns: tuple[str, ...] | None = None) -> None:
        super().__init__(stream, subgraphs, parent_ns=parent_ns)
        self.metadata: dict[UUID, tuple[tuple[str, ...], dict[str, Any]]] = {}  # model and node runs
        self.seen: set[Any] = set()
        self._streamed_run_ids: set[UUID] = set()

    def tap_output_aiter(self, run_id: UUID, output: AsyncIterator[Any]) -> AsyncIterator[Any]:
        return output

    def tap_output_iter(self, run_id: UUID, output: Iterator[Any]) -> Iterator[Any]:
        return output

    def _emit(self, where: tuple[tuple[str, ...], dict[str, Any]], message: BaseMessage) -> None:
        if isinstance(message, ToolMessage) or (message.id is not None and message.id in self.seen):
            return
        if message.id is None:
            message.id = str(uuid4())
        self.seen.add(message.id)
        self._put(where[0], "messages", (message, where[1]))

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
                            tags: list[str] | None = None, metadata: dict[str, Any] | None = None, **kw: Any) -> Any:
        ns = self._where(metadata, tags, TAG_NOSTREAM)
        if ns is not None and metadata is not None:
            self.metadata[run_id] = (ns, metadata)

    def on_stream_event(self, event: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
                        tags: list[str] | None = None, **kw: Any) -> Any:
        where = self.metadata.get(run_id)
        if where is None:
            return
        if event.get("event") == "message-start":
            self._streamed_run_ids.add(run_id)
            if event.get("message_id"):
                self.seen.add(event["message_id"])
        self._put(where[0], "messages", (event, {**where[1], "run_id": str(run_id)}))

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kw: Any) -> Any:
        where = self.metadata.pop(run_id, None)
        streamed = run_id in self._streamed_run_ids
        self._streamed_run_ids.discard(run_id)
        if where is None or not (response.generations and response.generations[0]):
            return
        gen = response.generations[0][0]
        if not isinstance(gen, ChatGeneration):
            return
        if streamed:  # already out as events; its final id may differ from the start's
            if gen.message.id is None:
                gen.message.id = str(uuid4())
            self.seen.add(gen.message.id)
        else:
            self._emit(where, gen.message)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> Any:
        self.metadata.pop(run_id, None)
        self._streamed_run_ids.discard(run_id)

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
                       tags: list[str] | None = None, metadata: dict[str, Any] | None = None, **kw: Any) -> Any:
        if not metadata or kw.get("name") != metadata.get(META_NODE):
            return
        if parent_run_id is not None and parent_run_id in self.metadata:
            return  # a Runnable used as the node runs under the node's own run
        ns = self._where(metadata, tags, TAG_HIDDEN)
        if ns is None:
            return
        self.metadata[run_id] = (ns, metadata)
        for msg in _messages_in(inputs):
            if msg.id is not None:
                self.seen.add(msg.id)  # input, or streamed already

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kw: Any) -> Any:
        where = self.metadata.pop(run_id, None)
        if where is not None:
            for msg in _messages_in(outputs):
                self._emit(where, msg)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> Any:
        self.metadata.pop(run_id, None)


ToolCallWriter = Callable[[Any], None]

_tool_call_writer: ContextVar[ToolCallWriter | None] = ContextVar("asyncgraph_tool_call_writer", default=None)
"""The ``tool-output-delta`` writer of the tool call running now, if a v3 run streams
``tools``."""


class ToolsV3Handler(_Handler):
    """``stream_mode="tools"``: ``tool-started`` / ``tool-output-delta`` /
    ``tool-finished`` / ``tool-error`` per tool call, keyed by ``tool_call_id``. An
    interrupted tool is paused, not failed: it reports again when resumed."""

    def __init__(self, stream: StreamFn | None = None, subgraphs: bool = True, *,
                 parent_ns: tuple[str, ...] | None = None) -> None:
        super().__init__(stream, subgraphs, parent_ns=parent_ns)
        self.calls: dict[UUID, tuple[str, ToolCallWriter, Token[ToolCallWriter | None]]] = {}

    def on_tool_start(self, serialized: Any, input_str: str, *, run_id: UUID, parent_run_id: UUID | None = None,
                      tags: list[str] | None = None, metadata: dict[str, Any] | None = None,
                      inputs: dict[str, Any] | None = None, **kw: Any) -> Any:
        ns = self._where(metadata, tags, TAG_NOSTREAM)
        if ns is None:
            return
        call_id = kw.get("tool_call_id") or str(run_id)
        name = (serialized or {}).get("name") or kw.get("name") or ""
        if self.stream is not None:
            stream = self.stream

            def write(payload: Any) -> None:
                stream((ns, "tools", payload))
        else:
            writer = get_stream_writer()  # the tool's task's, kept for its deltas and end

            def write(payload: Any) -> None:
                writer(Carried("tools", payload))

        def delta(chunk: Any) -> None:
            write({"event": "tool-output-delta", "tool_call_id": call_id, "delta": chunk})

        self.calls[run_id] = (call_id, write, _tool_call_writer.set(delta))
        payload: dict[str, Any] = {"event": "tool-started", "tool_call_id": call_id, "tool_name": name}
        if inputs is not None:
            payload["input"] = inputs
        write(payload)

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
            write({"event": event, "tool_call_id": call_id, key: value})

    def on_tool_end(self, output: Any, *, run_id: UUID, **kw: Any) -> Any:
        self._end(run_id, "tool-finished", "output", output)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> Any:
        from asyncgraph.errors import GraphDrained, GraphInterrupt

        paused = isinstance(error, (GraphInterrupt, GraphDrained))
        self._end(run_id, None if paused else "tool-error", "message", str(error))
