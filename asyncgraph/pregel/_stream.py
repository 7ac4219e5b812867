"""Streaming: where a run's chunks go, what they look like, how the reader gets them.

* :class:`StreamSink`, the buffer between a run and its reader, with its bounds (a
  subgraph streams into its parent's only with ``subgraphs=True``).
* The emitters the loop calls: ``values`` / ``updates`` chunks, ``tasks`` /
  ``checkpoints`` and their ``debug`` wrappers.
* The reader's side: :func:`consume` is ``astream``'s loop (runs the run, hands its
  chunks to the reader, cancels the run when the reader leaves); :func:`shape_item`
  turns ``(namespace, mode, chunk)`` into what ``astream`` yields (v1 tuples or v2
  dicts); :func:`print_chunk` is ``print_mode``.
* ``stream_mode="messages"``: :class:`StreamMessagesHandler`, a callback handler that
  forwards chat-model tokens and messages returned by nodes
  (:func:`with_messages_handler` adds it to a run's config).

A new stream mode: add its name to ``STREAM_MODES``, emit it from the loop or the runner
through ``RunContext.emit``, and shape it here if it needs a shape of its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import warnings
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, LLMResult

from asyncgraph._context import META_NODE, META_NS
from asyncgraph.constants import CONF, ERROR, INTERRUPT, NS_SEP, START, TAG_HIDDEN, TAG_NOSTREAM
from asyncgraph.errors import InvalidInputError, StreamClosedError
from asyncgraph.pregel._algo import SPECIAL, RunState, Task, read_state, task_result
from asyncgraph.pregel._nested import node_graph, task_state, with_map
from asyncgraph.pregel._schema import SchemaInfo
from asyncgraph.pregel.debug import task_metadata
from asyncgraph.stream._handlers import ToolsV3Handler
from asyncgraph.types import Command, GraphOutput

if TYPE_CHECKING:
    from asyncgraph.pregel._context import RunContext
    from asyncgraph.pregel._plan import Plan
    from asyncgraph.pregel._saving import Saver

STREAM_MODES = frozenset({"values", "updates", "custom", "messages", "debug", "checkpoints", "tasks", "tools"})

# Chunks a stream holds for its reader before a producer on another thread (a sync node
# in a worker thread, a sync chat model's token callbacks) waits for the reader.
STREAM_BUFFER = 1024


class StreamSink:
    """Where a run's stream chunks go: a buffer the consumer drains.

    ``push`` may be called from any thread; chunks keep the order they were pushed in.
    Each item is ``(namespace, mode, chunk)``.

    Bounds: a producer on another thread (a sync node in a worker thread) waits while
    ``maxsize`` chunks are waiting for the reader, and gets
    :class:`~asyncgraph.errors.StreamClosedError` once the reader has gone away (the
    thread cannot be cancelled, so its next write stops it). Code on the event loop's
    thread (async nodes) cannot wait inside a sync ``push``: its chunks are bounded by
    the step, since the run does not start the next step until the reader took them.
    """

    __slots__ = ("buf", "waiter", "modes", "subgraphs", "loop", "thread", "drained",
                 "maxsize", "closed", "cond", "blocked")

    def __init__(self, modes: frozenset[str], subgraphs: bool, loop: asyncio.AbstractEventLoop,
                 maxsize: int = STREAM_BUFFER) -> None:
        self.buf: deque[tuple[tuple[str, ...], str, Any]] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.modes = modes
        self.subgraphs = subgraphs
        self.loop = loop
        self.thread = threading.get_ident()
        # Runs waiting for the consumer to take what they streamed (backpressure:
        # a stream does not run ahead of its reader by more than one step).
        self.drained: list[asyncio.Future[None]] = []
        self.maxsize = maxsize
        self.closed = False
        # Producers on other threads waiting for room (``blocked``), guarded by ``cond``.
        self.cond = threading.Condition()
        self.blocked = 0

    def push(self, ns: tuple[str, ...], mode: str, chunk: Any) -> None:
        if threading.get_ident() != self.thread:
            self._push_from_thread(ns, mode, chunk)
        else:
            self._push(ns, mode, chunk)

    def _push(self, ns: tuple[str, ...], mode: str, chunk: Any) -> None:
        self.buf.append((ns, mode, chunk))
        self.wake()

    def _push_from_thread(self, ns: tuple[str, ...], mode: str, chunk: Any) -> None:
        cond = self.cond
        with cond:
            while not self.closed and len(self.buf) >= self.maxsize:
                self.blocked += 1
                try:
                    # Woken by ``taken``; the timeout only guards against a wake-up
                    # that raced with this producer's check.
                    cond.wait(0.05)
                finally:
                    self.blocked -= 1
            if self.closed:
                raise StreamClosedError()
            # Into the buffer at once, not when the loop gets to it: a sync node run
            # inline holds the loop while a graph it invokes streams from a helper
            # thread, and those chunks come before the node's own update.
            self.buf.append((ns, mode, chunk))
        try:
            self.loop.call_soon_threadsafe(self.wake)
        except RuntimeError:  # the loop is closed: nobody reads any more
            raise StreamClosedError() from None

    def taken(self) -> None:
        """Called by the consumer after it took chunks: lets waiting producers go on."""
        if self.blocked:
            with self.cond:
                self.cond.notify_all()

    def close(self) -> None:
        """The reader has gone away: producers on other threads get
        :class:`~asyncgraph.errors.StreamClosedError` from now on."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def wait_drained(self) -> None:
        """Wait until the consumer has taken every chunk pushed so far. Not from a run
        on another thread's loop (its producer is bounded in ``push``), nor from one on
        a private loop of the reader's thread (a sync ``invoke`` inside a sync node run
        inline: the reader's loop waits for that node, so it cannot take them yet)."""
        if not self.buf or threading.get_ident() != self.thread or asyncio.get_running_loop() is not self.loop:
            return
        fut = self.loop.create_future()
        self.drained.append(fut)
        self.wake()
        await fut

    def release(self) -> None:
        """Called by the consumer when the buffer is empty."""
        self.taken()
        waiting = self.drained
        if waiting:
            self.drained = []
            for fut in waiting:
                if not fut.done():
                    fut.set_result(None)


# -- emitters: what the loop streams --------------------------------------------


def output_values(plan: Plan, run: RunState) -> dict[str, Any]:
    return read_state(run.channels, plan.output_info.keys or plan.state_keys)


def state_values(rc: RunContext, run: RunState) -> Any:
    """The output or a ``values`` chunk: the output schema's keys, or under the call's
    ``output_keys`` a dict of those keys in that order (the bare value when one key
    was given as a str)."""
    if rc.out_select is None:
        return output_values(rc.plan, run)
    keys, single = rc.out_select
    values = read_state(run.channels, keys)
    return values.get(keys[0]) if single else values


def selected_update(rc: RunContext, update: Any) -> Any:
    """A node's ``updates`` chunk under the call's ``output_keys`` (None when the node
    wrote none of them)."""
    assert rc.out_select is not None
    keys, single = rc.out_select
    if not update:
        return None
    if isinstance(update, list):  # several updates (a list of Commands): each one
        parts = [p for p in (selected_update(rc, u) for u in update) if p is not None]
        return parts if len(parts) > 1 else parts[0] if parts else None
    if single:
        return update.get(keys[0])
    picked = {k: v for k, v in update.items() if k in keys}
    return picked or None


def wants(rc: RunContext, *modes: str) -> bool:
    sink = rc.sink
    return sink is not None and any(m in sink.modes for m in modes)


def emit_debug(rc: RunContext, mode: str, kind: str, step: int, payload: dict[str, Any]) -> None:
    """Emit a ``tasks`` / ``checkpoints`` chunk and its ``debug`` wrapper."""
    rc.emit(mode, payload)
    sink = rc.sink
    if sink is not None and "debug" in sink.modes:
        rc.emit("debug", {"type": kind, "timestamp": datetime.now(UTC).isoformat(),
                          "step": step, "payload": payload})


# Keys of a task's config metadata a ``tasks`` chunk leaves out: the engine's own (the
# chunk and its namespace say them already), as LangGraph.
def task_start_payload(rc: RunContext, t: Task) -> dict[str, Any]:
    """A ``tasks`` start chunk. Its ``metadata`` is the user's part of the task's config
    metadata (the run's, then the node's, and the run's tags but ``seq:step:*``), as
    LangGraph: LangChain's v3 subagent projection reads ``lc_agent_name`` there."""
    payload: dict[str, Any] = {"id": t.id, "name": t.name, "input": t.input, "triggers": t.triggers}
    md = task_metadata(rc.config.get("metadata"), rc.config.get("tags"), t.node.metadata)
    if md is not None:
        payload["metadata"] = md
    return payload


def emit_task_starts(rc: RunContext, tasks: list[Task], step: int) -> None:
    for t in tasks:
        if t.name != START:
            emit_debug(rc, "tasks", "task", step, task_start_payload(rc, t))


def emit_task_result(rc: RunContext, t: Task, step: int, error: BaseException | None = None) -> None:
    if t.name != START:
        # As LangGraph streams it: the exception itself, ``{}`` for no state writes
        # (a failure, a pause, a node that returned nothing), interrupts as dicts.
        result = task_result(rc.plan, t.writes) if isinstance(t.update, list) else t.update
        emit_debug(rc, "tasks", "task_result", step, {
            "id": t.id, "name": t.name, "error": error,
            # Several updates (a key written twice): the writes, repeats as {"$writes": [...]}.
            "result": {} if result is None else result,
            "interrupts": [dataclasses.asdict(i) for i in t.interrupts]})  # plain dicts, as LangGraph's


async def emit_checkpoint(rc: RunContext, saver: Saver, run: RunState, tasks: list[Task], step: int,
                          pending: Sequence[tuple[str, str, Any]] = ()) -> None:
    """The ``checkpoints`` / ``debug`` event of the checkpoint a step starts from: its
    config (with a subgraph's ``checkpoint_map``, as its snapshot has), and for each
    task running a subgraph the config of that subgraph's checkpoints. Under
    ``durability="exit"`` the checkpoint is not saved yet: its id is the one it will be
    saved under if it is the run's last, and it has no parent config (LangGraph's too).
    ``pending``: the writes saved with the checkpoint a resumed run starts from (its
    tasks show their interrupts, results and errors, as ``get_state()`` does)."""
    parents = saver.parents
    metadata = None
    if saver.durability == "exit":
        cfg: Any = {CONF: {**saver.thread_config[CONF], "checkpoint_id": rc.progress.checkpoint_id}}
        parent_cfg = None
    else:
        await saver.flush()
        cfg, parent_cfg = saver.config, saver.parent_config
        loaded = saver.loaded
        if loaded is not None and cfg is loaded.config:
            # The checkpoint the run resumed from (None input): as it was saved.
            parent_cfg, metadata = loaded.parent_config, dict(loaded.metadata)
    if parents:
        cfg = with_map(cfg, parents)
        parent_cfg = parent_cfg and with_map(parent_cfg, parents)
    thread_id = saver.thread_config[CONF]["thread_id"]
    states = []
    for t in tasks:
        child = node_graph(t.node)
        states.append(None if child is None or child is rc.graph else task_state(thread_id, rc.ns, t.name, t.id, child))
    saved: dict[str, list[tuple[str, Any]]] = {}
    for task_id, channel, value in pending:
        saved.setdefault(task_id, []).append((channel, value))
    emit_debug(rc, "checkpoints", "checkpoint", step, {
        "config": cfg,
        "parent_config": parent_cfg,
        "values": output_values(rc.plan, run),
        "metadata": metadata if metadata is not None else {
            "source": "loop" if step >= 0 else "input", "step": step, "parents": dict(parents)},
        "next": [t.name for t in tasks],
        "tasks": [_task_entry(rc, t, saved.get(t.id), state) for t, state in zip(tasks, states)],
    })


def _task_entry(rc: RunContext, t: Task, writes: list[tuple[str, Any]] | None, state: Any) -> dict[str, Any]:
    if not writes:
        return {"id": t.id, "name": t.name, "interrupts": (), "state": state}
    error = next((v for c, v in writes if c == ERROR), None)
    if error is not None:
        return {"id": t.id, "name": t.name, "error": error, "state": state}
    entry: dict[str, Any] = {"id": t.id, "name": t.name}
    result = task_result(rc.plan, [(c, v) for c, v in writes if c not in SPECIAL])
    if result:
        entry["result"] = result
    entry["interrupts"] = tuple(dataclasses.asdict(i) for c, v in writes if c == INTERRUPT for i in v)
    entry["state"] = state
    return entry


# -- the reader's side ------------------------------------------------------------


def stream_modes(mode: str | Sequence[str]) -> tuple[set[str], bool]:
    if isinstance(mode, str):
        modes, single = {mode}, True
    else:
        modes, single = set(mode), False
        if not modes:
            # LangGraph runs the graph and streams nothing (invoke returns []); do the same,
            # but say so: an empty list is almost always a bug in the caller.
            warnings.warn(
                "stream_mode is an empty list: the graph runs and nothing is streamed "
                "(invoke returns []). Pass one or more of " + ", ".join(sorted(STREAM_MODES)) + ".",
                stacklevel=4,
            )
    bad = modes - STREAM_MODES
    if bad:
        raise InvalidInputError(
            f"Unknown stream_mode {', '.join(map(repr, sorted(bad)))}; expected one of {', '.join(sorted(STREAM_MODES))}"
        )
    return modes, single


def v2_item(ns: tuple[str, ...], mode: str, chunk: Any) -> dict[str, Any]:
    """A stream chunk in the v2 shape. A paused run's ``values`` chunk carries its
    interrupts in ``interrupts`` rather than under ``"__interrupt__"``."""
    if mode != "values":
        return {"type": mode, "ns": ns, "data": chunk}
    interrupts: tuple[Any, ...] = ()
    if isinstance(chunk, dict) and INTERRUPT in chunk:
        interrupts = tuple(chunk[INTERRUPT])
        chunk = {k: v for k, v in chunk.items() if k != INTERRUPT}
    return {"type": mode, "ns": ns, "data": chunk, "interrupts": interrupts}


def print_chunk(ns: tuple[str, ...], mode: str, chunk: Any) -> None:
    """``print_mode``: one chunk on stdout, its mode in bold, a subgraph's namespace
    after it."""
    where = f" \033[1;33m[graph={ns}]\033[0m" if ns else ""
    print(f"\033[1m[{mode}]\033[0m{where} {chunk}", flush=True)


class Shape(NamedTuple):
    """What the reader of one ``astream`` call asked for: which modes it gets, which are
    printed, and the shape of its items (see :func:`consume`)."""

    modes: frozenset[str]
    printing: frozenset[str]
    single: bool  # one mode given as a str: bare chunks, no mode in the item
    subgraphs: bool  # the namespace comes first
    v2: bool  # v2 dicts instead of tuples
    # v2 only: the graph's output / state as its schema's type (see ``v2_mapper``),
    # for the streamed graph's own ``values`` items and checkpoint payloads.
    out_map: Callable[[dict[str, Any]], Any] | None = None
    state_map: Callable[[dict[str, Any]], Any] | None = None


def v2_mapper(info: SchemaInfo) -> Callable[[dict[str, Any]], Any] | None:
    """How v2 items show a state dict of a schema ``info``: an instance of a Pydantic
    model (built as LangGraph builds it, so a value it rejects is its ValidationError)
    or of a dataclass; None for a TypedDict or a root state (the dict / value as is)."""
    if info.kind == "pydantic":
        schema = info.schema
        return lambda values: schema(**values)
    if info.kind == "dataclass":
        return lambda values: info.coerce(values, "a v2 stream item")
    return None


def _mapped_v2(shape: Shape, mode: str, item: dict[str, Any]) -> dict[str, Any]:
    """A v2 item of the streamed graph itself with its state dicts as the schema's type."""
    data = item["data"]
    if mode == "values":
        if shape.out_map is not None and isinstance(data, dict):
            item["data"] = shape.out_map(data)
        return item
    state_map = shape.state_map
    if state_map is None or mode not in ("checkpoints", "debug") or not isinstance(data, dict):
        return item
    if mode == "debug":
        inner = data.get("payload")
        if data.get("type") == "checkpoint" and isinstance(inner, dict):
            item["data"] = {**data, "payload": _mapped_values(inner, state_map)}
    else:
        item["data"] = _mapped_values(data, state_map)
    return item


def _mapped_values(payload: dict[str, Any], state_map: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    # Not the input's checkpoint: the state may still miss required keys there.
    values = payload.get("values")
    if not isinstance(values, dict) or START in payload.get("next", ()):
        return payload
    return {**payload, "values": state_map(values)}


def shape_item(shape: Shape, ns: tuple[str, ...], mode: str, chunk: Any) -> Any:
    """One chunk as ``astream`` yields it."""
    if shape.v2:
        item = v2_item(ns, mode, chunk)
        if ns or (shape.out_map is None and shape.state_map is None):
            return item  # a subgraph's chunks keep their dicts: its schema may differ
        return _mapped_v2(shape, mode, item)
    if shape.subgraphs:
        return (ns, chunk) if shape.single else (ns, mode, chunk)
    return chunk if shape.single else (mode, chunk)


async def consume(sink: StreamSink, run: Coroutine[Any, Any, Any], shape: Shape,
                  after: Callable[[Any], None]) -> AsyncGenerator[Any, None]:
    """The reader's loop: run ``run`` (the whole run, returning its outcome) as a task
    and yield what it pushes to ``sink``, shaped, until it ends.

    ``after(outcome)`` sees how the run ended once every chunk is out; it may raise (a
    paused subgraph's pause is its parent's). Leaving the loop early cancels the run and
    waits for it.
    """
    loop = sink.loop
    buf = sink.buf
    modes = shape.modes
    printing = shape.printing
    runner = asyncio.ensure_future(run)
    runner.add_done_callback(lambda _: sink.wake())
    try:
        while True:
            while buf:
                ns, mode, chunk = buf.popleft()
                sink.taken()
                if mode in printing:
                    print_chunk(ns, mode, chunk)
                if mode in modes:
                    yield shape_item(shape, ns, mode, chunk)
            if runner.done():
                if buf:
                    continue
                break
            sink.release()
            sink.waiter = loop.create_future()
            await sink.waiter
            sink.waiter = None
        after(runner.result())
    finally:
        sink.close()
        if not runner.done():
            runner.cancel()
            try:
                await runner
            except BaseException:  # the cancellation we asked for, or the run's error
                pass
        elif not runner.cancelled():
            # The reader left after the run failed but before ``after`` saw it (a v3
            # handle raised the error already): mark it seen, or asyncio logs it at exit.
            runner.exception()


def output_from_values_chunk(chunk: Any, v2: bool) -> Any:
    """What ``invoke`` returns, from the run's last ``values`` chunk."""
    if v2:
        if isinstance(chunk, dict) and "interrupts" in chunk and "data" in chunk:
            return GraphOutput(value=chunk["data"], interrupts=tuple(chunk["interrupts"]))
        return GraphOutput(value=chunk)
    if isinstance(chunk, dict) and INTERRUPT in chunk:
        return {**chunk, INTERRUPT: list(chunk[INTERRUPT])}
    return chunk


# -- stream_mode="messages" ---------------------------------------------------------


def _ns_of(metadata: dict[str, Any]) -> tuple[str, ...]:
    ns = metadata.get(META_NS) or ""
    parts = tuple(ns.split(NS_SEP)) if ns else ()
    return parts[:-1]  # drop the node's own task: chunks belong to the graph it ran in


class StreamMessagesHandler(BaseCallbackHandler):
    """Pushes chat-model tokens and messages returned by nodes to a run's stream."""

    run_inline = True  # called in the callback's own thread/loop, in order

    def __init__(self, sink: StreamSink, own_depth: int | None = None) -> None:
        self.sink = sink
        # Without ``subgraphs=True`` a stream shows the models of its own graph's nodes
        # only (``own_depth``: that graph's namespace depth): a subgraph's tokens stay in
        # the subgraph (its own stream() shows them). None: every depth.
        self.own_depth = own_depth
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
        try:
            self.sink.push(ns, "messages", (message, metadata))
        except StreamClosedError:
            pass  # nobody reads: the node learns it from its own stream writes


    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID,
                            parent_run_id: UUID | None = None, tags: list[str] | None = None,
                            metadata: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if metadata and META_NODE in metadata and not (tags and (TAG_NOSTREAM in tags or TAG_HIDDEN in tags)):
            ns = _ns_of(metadata)
            if self.own_depth is not None and len(ns) > self.own_depth:
                return
            meta = dict(metadata)
            # The model run's own tags, as LangGraph shows them (not the internal
            # "seq:step:N" of a RunnableSequence's steps).
            user_tags = [t for t in tags if not t.startswith("seq:step")] if tags else None
            if user_tags:
                meta["tags"] = user_tags
            self.llm_runs[run_id] = (ns, meta, False)

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
            ns = _ns_of(metadata)
            if self.own_depth is not None and ns:
                return  # a subgraph's node (LangGraph shows those only with subgraphs=True)
            self.node_runs[run_id] = (ns, dict(metadata))
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
        elif isinstance(v, Command):  # a node returned a list of Commands
            out.extend(_messages_in(v))
    return out


def push_message(tc: Any, message: BaseMessage) -> None:
    """Stream ``message`` in ``messages`` mode from the task ``tc`` (a TaskContext), as
    if a chat model inside it had produced it: every listening messages handler of the
    run (and of the graphs above it) gets it once."""
    callbacks = tc.config().get("callbacks")
    handlers = getattr(callbacks, "handlers", callbacks) or ()
    metadata = tc.config()["metadata"]
    ns = _ns_of(metadata)
    for handler in handlers:
        if isinstance(handler, StreamMessagesHandler):
            handler._emit(ns, message, metadata, dedupe=False)
            if message.id is not None:
                handler.seen.add(message.id)  # not again when the node returns it


def with_messages_handler(config: dict[str, Any], sink: StreamSink, ns_depth: int) -> dict[str, Any]:
    """``config`` with a :class:`StreamMessagesHandler` pushing to ``sink`` added to its
    callbacks (a run that streams ``messages``; ``ns_depth``: its graph's namespace depth)."""
    return _with_handler(config, StreamMessagesHandler(sink, None if sink.subgraphs else ns_depth))


def with_tools_handler(config: dict[str, Any], sink: StreamSink, ns: tuple[str, ...]) -> dict[str, Any]:
    """``config`` with a tool-call handler pushing ``stream_mode="tools"`` events
    (``tool-started`` / ``tool-output-delta`` / ``tool-finished`` / ``tool-error``) to
    ``sink``: a run that streams ``tools``; ``ns``: its graph's namespace (without
    ``subgraphs=True`` only its own tools report)."""

    def push(item: tuple[tuple[str, ...], str, Any]) -> None:
        try:
            sink.push(*item)
        except StreamClosedError:
            pass  # nobody reads: the tool learns it from its own stream writes

    return _with_handler(config, ToolsV3Handler(push, sink.subgraphs, parent_ns=ns or None))


def _with_handler(config: dict[str, Any], handler: BaseCallbackHandler) -> dict[str, Any]:
    callbacks = config.get("callbacks")
    if callbacks is None:
        callbacks = [handler]
    elif isinstance(callbacks, list):
        callbacks = [*callbacks, handler]
    else:
        callbacks = callbacks.copy()
        callbacks.add_handler(handler, inherit=True)
    return {**config, "callbacks": callbacks}
