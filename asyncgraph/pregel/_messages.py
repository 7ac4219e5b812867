"""``stream_mode="messages"``: LLM tokens and node-returned messages, as they happen.

A callback handler attached to the run only when this mode is requested: it sees
every chat model run inside any node (and inside subgraphs, through inherited
callbacks) and pushes ``(message_chunk, metadata)`` to the run's stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, LLMResult

from asyncgraph.constants import NS_SEP, TAG_HIDDEN, TAG_NOSTREAM
from asyncgraph.errors import StreamClosedError
from asyncgraph._context import META_NODE, META_NS
from asyncgraph.pregel._context import RunContext


def _ns_of(metadata: dict[str, Any]) -> tuple[str, ...]:
    ns = metadata.get(META_NS) or ""
    parts = tuple(ns.split(NS_SEP)) if ns else ()
    return parts[:-1]  # drop the node's own task: chunks belong to the graph it ran in


class StreamMessagesHandler(BaseCallbackHandler):
    """Pushes chat-model tokens and messages returned by nodes to a run's stream."""

    run_inline = True  # called in the callback's own thread/loop, in order

    def __init__(self, rc: RunContext) -> None:
        self.rc = rc
        self.llm_runs: dict[UUID, tuple[tuple[str, ...], dict[str, Any], bool]] = {}
        self.node_runs: dict[UUID, tuple[tuple[str, ...], dict[str, Any]]] = {}
        self.seen: set[str] = set()

    # These two make the handler a langchain-core streaming handler (a runtime-checked
    # protocol): chat models called with ``ainvoke`` inside a node then stream their
    # tokens instead of returning one message at the end.
    def tap_output_aiter(self, run_id: UUID, output: AsyncIterator[Any]) -> AsyncIterator[Any]:
        return output

    def tap_output_iter(self, run_id: UUID, output: Iterator[Any]) -> Iterator[Any]:
        return output

    def _emit(self, ns: tuple[str, ...], message: BaseMessage, metadata: dict[str, Any], dedupe: bool) -> None:
        mid = message.id
        if dedupe and mid is not None:
            if mid in self.seen:
                return
            self.seen.add(mid)
        sink = self.rc.sink
        if sink is not None:
            try:
                sink.push(ns, "messages", (message, metadata))
            except StreamClosedError:
                pass  # nobody reads: the node learns it from its own stream writes


    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID,
                            parent_run_id: UUID | None = None, tags: list[str] | None = None,
                            metadata: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if metadata and META_NODE in metadata and not (tags and (TAG_NOSTREAM in tags or TAG_HIDDEN in tags)):
            self.llm_runs[run_id] = (_ns_of(metadata), dict(metadata), False)

    def on_llm_new_token(self, token: str | list[str | dict[str, Any]], *, chunk: Any = None, run_id: UUID,
                         parent_run_id: UUID | None = None, **kwargs: Any) -> Any:
        info = self.llm_runs.get(run_id)
        if info is None or not isinstance(chunk, ChatGenerationChunk):
            return
        ns, meta, _ = info
        self.llm_runs[run_id] = (ns, meta, True)
        self._emit(ns, chunk.message, meta, dedupe=False)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any) -> Any:
        info = self.llm_runs.pop(run_id, None)
        if info is None:
            return
        ns, meta, streamed = info
        gens = response.generations
        if gens and gens[0]:
            msg = getattr(gens[0][0], "message", None)
            if isinstance(msg, BaseMessage):
                if streamed:
                    if msg.id is not None:
                        self.seen.add(msg.id)
                else:
                    self._emit(ns, msg, meta, dedupe=True)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> Any:
        self.llm_runs.pop(run_id, None)

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID,
                       parent_run_id: UUID | None = None, tags: list[str] | None = None,
                       metadata: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if (
            metadata
            and kwargs.get("name") == metadata.get(META_NODE)
            and not (tags and TAG_HIDDEN in tags)
            # A Runnable used as a node runs inside the node's run under the same
            # name: only the outer run is the node's.
            and parent_run_id not in self.node_runs
        ):
            self.node_runs[run_id] = (_ns_of(metadata), dict(metadata))
            # Messages a node received as input were already streamed (or were input).
            for msg in _messages_in(inputs):
                if msg.id is not None:
                    self.seen.add(msg.id)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> Any:
        info = self.node_runs.pop(run_id, None)
        if info is None:
            return
        ns, meta = info
        for msg in _messages_in(outputs):
            self._emit(ns, msg, meta, dedupe=True)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> Any:
        self.node_runs.pop(run_id, None)


def _messages_in(value: Any) -> list[BaseMessage]:
    if isinstance(value, BaseMessage):
        return [value]
    out: list[BaseMessage] = []
    values: Iterable[Any]
    if isinstance(value, dict):
        values = value.values()
    elif isinstance(value, (list, tuple)):
        values = value
    else:
        update = getattr(value, "update", None)  # Command
        return _messages_in(update) if isinstance(update, (dict, list)) else []
    for v in values:
        if isinstance(v, BaseMessage):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            out.extend(m for m in v if isinstance(m, BaseMessage))
    return out


def attach_messages_handler(rc: RunContext) -> None:
    """Add a :class:`StreamMessagesHandler` to the run's callbacks."""
    handler = StreamMessagesHandler(rc)
    callbacks = rc.config.get("callbacks")
    if callbacks is None:
        callbacks = [handler]
    elif isinstance(callbacks, list):
        callbacks = [*callbacks, handler]
    else:
        callbacks = callbacks.copy()
        callbacks.add_handler(handler, inherit=True)
    rc.config = {**rc.config, "callbacks": callbacks}
    rc.callbacks = True
    rc.propagate = True
