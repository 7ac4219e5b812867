"""The built-in transformers: one projection each, scoped to the run's own level.

``values`` / ``messages`` / ``lifecycle`` / ``subgraphs`` are always registered by a
v3 run; the others when passed to ``compile(transformers=...)`` or to the call.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from langchain_core.messages import AIMessageChunk, BaseMessage, ToolMessage
from typing_extensions import NotRequired, TypedDict

from asyncgraph.errors import GraphDrained, GraphInterrupt
from asyncgraph.stream._types import ProtocolEvent, StreamTransformer
from asyncgraph.stream.run_stream import AsyncSubgraphRunStream, SubgraphRunStream
from asyncgraph.stream.stream_channel import StreamChannel

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from asyncgraph.stream._mux import StreamMux

_log = logging.getLogger(__name__)

__all__ = [
    "CheckpointsTransformer",
    "CustomTransformer",
    "DebugTransformer",
    "LifecyclePayload",
    "LifecycleTransformer",
    "MessagesTransformer",
    "SubgraphStatus",
    "SubgraphTransformer",
    "TasksTransformer",
    "UpdatesTransformer",
    "ValuesTransformer",
]


class _ModeTransformer(StreamTransformer):
    """Pushes the data of every ``mode`` event at this scope to projection ``mode``."""

    _native = True
    mode: ClassVar[str]

    def __init__(self, scope: tuple[str, ...] = ()) -> None:
        super().__init__(scope)
        self._log: StreamChannel[Any] = StreamChannel()
        self._scope_list = list(scope)

    def init(self) -> dict[str, Any]:
        return {self.mode: self._log}

    def process(self, event: ProtocolEvent) -> bool:
        if event["method"] == self.mode and event["params"]["namespace"] == self._scope_list:
            self._log.push(event["params"]["data"])
        return True


class ValuesTransformer(_ModeTransformer):
    """``run.values``: the state after each step, at the run's own level."""

    mode = "values"
    required_stream_modes = ("values",)

    @property
    def error(self) -> BaseException | None:
        """The error the run ended with, if it failed."""
        return self._log._error


class UpdatesTransformer(_ModeTransformer):
    """``run.updates``: ``{node: update}`` per step, at the run's own level."""

    mode = "updates"
    required_stream_modes = ("updates",)


class CustomTransformer(_ModeTransformer):
    """``run.custom``: what nodes wrote with ``get_stream_writer()``."""

    mode = "custom"
    required_stream_modes = ("custom",)


class CheckpointsTransformer(_ModeTransformer):
    """``run.checkpoints``: each checkpoint saved (needs a checkpointer)."""

    mode = "checkpoints"
    required_stream_modes = ("checkpoints",)


class DebugTransformer(_ModeTransformer):
    """``run.debug``: the debug stream (checkpoints, tasks and their results)."""

    mode = "debug"
    required_stream_modes = ("debug",)


class TasksTransformer(_ModeTransformer):
    """``run.tasks``: each task's start and result payloads."""

    mode = "tasks"
    required_stream_modes = ("tasks",)


class MessagesTransformer(StreamTransformer):
    """``run.messages``: one ``ChatModelStream`` (``AsyncChatModelStream`` on the async
    lane) per chat-model call or message a node returned, at the run's own level.

    Streamed calls arrive as protocol events (``message-start`` ... ``message-finish``),
    routed to their stream by the call's ``run_id``; a whole message a node returned is
    replayed into an already finished stream. Tool results are not chat tokens: a
    ``tool`` role stream is skipped, as are ``ToolMessage``\\ s and bare chunks.
    """

    _native = True
    required_stream_modes = ("messages",)

    def __init__(self, scope: tuple[str, ...] = ()) -> None:
        super().__init__(scope)
        self._log: StreamChannel[Any] = StreamChannel()
        self._by_run: dict[str, Any] = {}
        self._ignored_runs: set[str] = set()
        self._pump_fn: Callable[[], bool] | None = None
        self._apump_fn: Callable[[], Awaitable[bool]] | None = None
        self._scope_list = list(scope)

    def init(self) -> dict[str, Any]:
        return {"messages": self._log}

    def _bind_pump(self, fn: Callable[[], bool]) -> None:
        self._pump_fn = fn

    def _bind_apump(self, fn: Callable[[], Awaitable[bool]]) -> None:
        self._apump_fn = fn

    def _make_stream(self, *, namespace: list[str], node: str | None, message_id: str | None) -> Any:
        from langchain_core.language_models.chat_model_stream import AsyncChatModelStream, ChatModelStream

        if self._apump_fn is None and self._pump_fn is not None:
            stream = ChatModelStream(namespace=namespace, node=node, message_id=message_id)
            stream.set_request_more(self._pump_fn)
            return stream
        astream = AsyncChatModelStream(namespace=namespace, node=node, message_id=message_id)
        if self._apump_fn is not None:
            astream.set_arequest_more(self._apump_fn)
        return astream

    def process(self, event: ProtocolEvent) -> bool:
        if event["method"] != "messages" or event["params"]["namespace"] != self._scope_list:
            return True
        payload, metadata = event["params"]["data"]
        metadata = metadata or {}
        node = metadata.get("langgraph_node")
        if isinstance(payload, dict) and "event" in payload:
            self._route(payload, str(metadata.get("run_id", "")), node)
        elif isinstance(payload, BaseMessage) and not isinstance(payload, (AIMessageChunk, ToolMessage)):
            from langchain_core.language_models._compat_bridge import message_to_events

            stream = self._make_stream(namespace=[], node=node, message_id=payload.id)
            for evt in message_to_events(payload, message_id=payload.id):
                stream.dispatch(evt)
            self._log.push(stream)
        return True

    def _route(self, data: dict[str, Any], run_id: str, node: str | None) -> None:
        kind = data.get("event")
        if kind == "message-start":
            if data.get("role") == "tool":
                self._ignored_runs.add(run_id)
                return
            mid = data.get("message_id")
            stream = self._make_stream(namespace=[], node=node, message_id=None if mid is None else str(mid))
            self._by_run[run_id] = stream
            self._log.push(stream)
            stream.dispatch(data)
        elif run_id in self._ignored_runs:
            if kind == "message-finish":
                self._ignored_runs.discard(run_id)
        elif run_id in self._by_run:
            self._by_run[run_id].dispatch(data)
            if kind == "message-finish":
                del self._by_run[run_id]

    def finalize(self) -> None:
        self._by_run.clear()
        self._ignored_runs.clear()

    def fail(self, err: BaseException) -> None:
        for stream in self._by_run.values():
            stream.fail(err)
        self.finalize()


SubgraphStatus = Literal["started", "completed", "failed", "interrupted", "drained"]


class LifecyclePayload(TypedDict, total=False):
    """An item of ``run.lifecycle`` (and a ``lifecycle`` raw event)."""

    event: SubgraphStatus
    namespace: list[str]
    graph_name: NotRequired[str]
    trigger_call_id: NotRequired[str]
    cause: NotRequired[Any]
    error: NotRequired[str]


def _status_from_exception(err: BaseException) -> tuple[SubgraphStatus, str | None]:
    if isinstance(err, GraphDrained):
        return "drained", None
    if isinstance(err, GraphInterrupt):
        return "interrupted", None
    return "failed", str(err)


def _error_message(error: Any) -> str:
    """A task result's error as its message. The engine's ``tasks`` stream reports the
    error as its ``repr`` (``"ValueError('boom')"``) where LangGraph passes the exception;
    both give ``"boom"`` here."""
    if isinstance(error, BaseException) or not isinstance(error, str):
        return str(error)
    import ast

    try:
        call = ast.parse(error, mode="eval").body
    except SyntaxError:
        return error
    if (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and len(call.args) == 1
        and not call.keywords
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
    ):
        return call.args[0].value
    return error


def _terminal_from_result(result: dict[str, Any]) -> tuple[SubgraphStatus, str | None]:
    # An interrupted task reports its interrupts (and may carry an error too).
    if result.get("interrupts"):
        return "interrupted", None
    if result.get("error"):
        return "failed", _error_message(result["error"])
    return "completed", None


class _TasksLifecycleBase(StreamTransformer):
    """Finds subgraphs from ``tasks`` events: a subgraph starts with the first task
    event in its namespace (``parent_node:task_id``) and ends with the result of the
    parent task ``task_id``. Subclasses decide which namespaces to track
    (``_should_track``) and what a start and an end do (``_on_started`` /
    ``_on_terminal``; the start's ``cause`` is in ``self._pending_cause``).

    A subgraph run by a named agent (metadata ``lc_agent_name``) is named after the
    agent, and when its parent task ran a tool call, its cause is that call.

    ``tasks`` events are dropped from the raw log: these projections replace them.
    """

    required_stream_modes = ("tasks",)

    def __init__(self, scope: tuple[str, ...] = ()) -> None:
        super().__init__(scope)
        self._seen: set[tuple[str, ...]] = set()
        self._open: dict[tuple[str, ...], str] = {}  # tracked namespace -> parent task id
        self._lc_by_ns: dict[tuple[str, ...], str | None] = {}
        self._pending_tool_calls: dict[str, str] = {}  # task id -> tool call id
        self._pending_cause: Any = None

    def _should_track(self, ns: tuple[str, ...]) -> bool:
        raise NotImplementedError

    def _on_started(self, ns: tuple[str, ...], graph_name: str | None, trigger_call_id: str | None) -> None:
        raise NotImplementedError

    def _on_terminal(self, ns: tuple[str, ...], status: SubgraphStatus, error: str | None) -> None:
        raise NotImplementedError

    def process(self, event: ProtocolEvent) -> bool:
        if event["method"] != "tasks":
            return True
        ns = tuple(event["params"]["namespace"])
        data = event["params"]["data"]
        if "result" in data:
            self._handle_task_result(ns, data)
        else:
            self._record_identity(ns, data)
            self._record_pending_tool_calls(data)
            self._handle_task_start(ns, data)
        return False

    def _record_identity(self, ns: tuple[str, ...], data: dict[str, Any]) -> None:
        if ns not in self._lc_by_ns:
            self._lc_by_ns[ns] = (data.get("metadata") or {}).get("lc_agent_name")

    def _record_pending_tool_calls(self, data: dict[str, Any]) -> None:
        task_id, arg = data.get("id"), data.get("input")
        if not isinstance(task_id, str):
            return
        call_id = None
        if isinstance(arg, dict) and isinstance(arg.get("tool_call"), dict):
            call_id = arg["tool_call"].get("id")  # a ToolNode Send: one call per task
        elif isinstance(arg, list):
            call_id = next((c["id"] for c in arg if isinstance(c, dict) and isinstance(c.get("id"), str)), None)
        if isinstance(call_id, str):
            self._pending_tool_calls[task_id] = call_id

    def _handle_task_start(self, ns: tuple[str, ...], data: dict[str, Any]) -> None:
        if ns in self._seen or not self._should_track(ns):
            return
        self._seen.add(ns)
        name, sep, trigger = ns[-1].partition(":")
        trigger_call_id = trigger if sep else None
        agent = (data.get("metadata") or {}).get("lc_agent_name")
        cause = None
        if agent is not None and trigger_call_id is not None:
            call_id = self._pending_tool_calls.get(trigger_call_id)
            if call_id:
                cause = {"type": "toolCall", "tool_call_id": str(call_id)}
        self._pending_cause = cause
        self._on_started(ns, agent if agent is not None else (name or None), trigger_call_id)
        if trigger_call_id is not None:
            self._open[ns] = trigger_call_id

    def _pop_terminal_transitions(
        self, ns: tuple[str, ...], data: dict[str, Any]
    ) -> list[tuple[tuple[str, ...], SubgraphStatus, str | None]]:
        """The tracked subgraphs that the task result ``data`` (in ``ns``) ends."""
        task_id = data.get("id")
        if not task_id:
            return []
        ended = [c for c, parent in self._open.items() if parent == task_id and c[:-1] == ns]
        status, error = _terminal_from_result(data)
        for child in ended:
            del self._open[child]
        return [(child, status, error) for child in ended]

    def _handle_task_result(self, ns: tuple[str, ...], data: dict[str, Any]) -> None:
        for child, status, error in self._pop_terminal_transitions(ns, data):
            self._on_terminal(child, status, error)

    def finalize(self) -> None:
        for ns in list(self._open):
            self._on_terminal(ns, "completed", None)
        self._open.clear()

    def fail(self, err: BaseException) -> None:
        status, error = _status_from_exception(err)
        for ns in list(self._open):
            self._on_terminal(ns, status, error)
        self._open.clear()


class LifecycleTransformer(_TasksLifecycleBase):
    """``run.lifecycle`` (also ``lifecycle`` raw events): a started and an end payload
    for each subgraph at any depth below the run."""

    _native = True

    def __init__(self, scope: tuple[str, ...] = ()) -> None:
        super().__init__(scope)
        self._channel: StreamChannel[LifecyclePayload] = StreamChannel("lifecycle")

    def init(self) -> dict[str, Any]:
        return {"lifecycle": self._channel}

    def _should_track(self, ns: tuple[str, ...]) -> bool:
        return len(ns) > len(self.scope) and ns[: len(self.scope)] == self.scope

    def _on_started(self, ns: tuple[str, ...], graph_name: str | None, trigger_call_id: str | None) -> None:
        if trigger_call_id is None:
            return  # no parent task to end it: reported at the run's end only
        payload: LifecyclePayload = {"event": "started", "namespace": list(ns)}
        if graph_name:
            payload["graph_name"] = graph_name
        payload["trigger_call_id"] = trigger_call_id
        if self._pending_cause is not None:
            payload["cause"] = self._pending_cause
        self._channel.push(payload)

    def _on_terminal(self, ns: tuple[str, ...], status: SubgraphStatus, error: str | None) -> None:
        payload: LifecyclePayload = {"event": status, "namespace": list(ns)}
        if error is not None:
            payload["error"] = error
        self._channel.push(payload)


_Handle = SubgraphRunStream | AsyncSubgraphRunStream


class SubgraphTransformer(_TasksLifecycleBase):
    """``run.subgraphs``: a run-stream handle per direct child subgraph, fed the
    subgraph's events through its own mux (so its own ``subgraphs`` lists its
    children)."""

    _native = True
    supports_sync = True

    def __init__(self, scope: tuple[str, ...] = ()) -> None:
        super().__init__(scope)
        self._log: StreamChannel[Any] = StreamChannel()
        self._handles: dict[tuple[str, ...], Any] = {}
        self._mux: StreamMux | None = None

    def init(self) -> dict[str, Any]:
        return {"subgraphs": self._log}

    def _on_register(self, mux: Any) -> None:
        self._mux = mux

    def _should_track(self, ns: tuple[str, ...]) -> bool:
        return len(ns) == len(self.scope) + 1 and ns[: len(self.scope)] == self.scope

    def _on_started(self, ns: tuple[str, ...], graph_name: str | None, trigger_call_id: str | None) -> None:
        if self._mux is None:
            return
        try:
            child = self._mux._make_child(ns)
        except RuntimeError:
            return
        cls = AsyncSubgraphRunStream if child.is_async else SubgraphRunStream
        handle = cls(child, path=ns, graph_name=graph_name, trigger_call_id=trigger_call_id)
        self._handles[ns] = handle
        self._log.push(handle)

    def _mark_terminal(self, handle: Any, status: SubgraphStatus, error: str | None) -> bool:
        """Record the handle's end once; False if it had already ended."""
        if handle._seen_terminal:
            return False
        handle.status = status
        if error is not None and handle.error is None:
            handle.error = error
        handle._seen_terminal = True
        return True

    def _close_or_fail_handle(self, handle: Any, status: SubgraphStatus, error: str | None) -> None:
        if handle._mux._events._closed:
            return
        if status == "failed":
            handle._mux.fail(RuntimeError(error or "Subgraph failed"))
        else:
            handle._mux.close()

    async def _aclose_or_fail_handle(self, handle: Any, status: SubgraphStatus, error: str | None) -> None:
        if handle._mux._events._closed:
            return
        if status == "failed":
            await handle._mux.afail(RuntimeError(error or "Subgraph failed"))
        else:
            await handle._mux.aclose()

    def _on_terminal(self, ns: tuple[str, ...], status: SubgraphStatus, error: str | None) -> None:
        handle = self._handles.get(ns)
        if handle is not None and self._mark_terminal(handle, status, error):
            self._close_or_fail_handle(handle, status, error)

    async def _aon_terminal(self, ns: tuple[str, ...], status: SubgraphStatus, error: str | None) -> None:
        handle = self._handles.get(ns)
        if handle is not None and self._mark_terminal(handle, status, error):
            await self._aclose_or_fail_handle(handle, status, error)

    def _handle_for_event(self, event: ProtocolEvent) -> Any:
        ns = tuple(event["params"]["namespace"])
        if len(ns) <= len(self.scope):
            return None
        handle = self._handles.get(ns[: len(self.scope) + 1])
        if handle is None or handle._mux._events._closed:
            return None
        return handle

    def process(self, event: ProtocolEvent) -> bool:
        keep = super().process(event)  # first, so a just-started handle gets this event
        handle = self._handle_for_event(event)
        if handle is not None:
            handle._observe_event(event)
            handle._mux.push(event)
        return keep

    async def aprocess(self, event: ProtocolEvent) -> bool:
        keep = True
        if event["method"] == "tasks":
            keep = False
            ns = tuple(event["params"]["namespace"])
            data = event["params"]["data"]
            if "result" in data:
                for child, status, error in self._pop_terminal_transitions(ns, data):
                    await self._aon_terminal(child, status, error)
            else:
                self._record_identity(ns, data)
                self._record_pending_tool_calls(data)
                self._handle_task_start(ns, data)
        handle = self._handle_for_event(event)
        if handle is not None:
            handle._observe_event(event)
            await handle._mux.apush(event)
        return keep

    def finalize(self) -> None:
        first: BaseException | None = None
        for ns in list(self._open):
            try:
                self._on_terminal(ns, "completed", None)
            except BaseException as e:  # noqa: BLE001 - re-raised below
                first = first or e
        self._open.clear()
        for handle in self._handles.values():
            if self._mark_terminal(handle, "completed", None):
                try:
                    self._close_or_fail_handle(handle, "completed", None)
                except BaseException as e:  # noqa: BLE001 - re-raised below
                    first = first or e
        if first is not None:
            raise first

    async def afinalize(self) -> None:
        first: BaseException | None = None
        for ns in list(self._open):
            try:
                await self._aon_terminal(ns, "completed", None)
            except BaseException as e:  # noqa: BLE001 - re-raised below
                first = first or e
        self._open.clear()
        for handle in self._handles.values():
            if self._mark_terminal(handle, "completed", None):
                try:
                    await self._aclose_or_fail_handle(handle, "completed", None)
                except BaseException as e:  # noqa: BLE001 - re-raised below
                    first = first or e
        if first is not None:
            raise first

    def fail(self, err: BaseException) -> None:
        status, error = _status_from_exception(err)
        self._open.clear()
        for handle in self._handles.values():
            self._mark_terminal(handle, status, error)
            if not handle._mux._events._closed:
                try:
                    handle._mux.fail(err)
                except Exception:
                    _log.warning("could not fail the stream of subgraph %s", handle.path, exc_info=True)

    async def afail(self, err: BaseException) -> None:
        status, error = _status_from_exception(err)
        self._open.clear()
        for handle in self._handles.values():
            self._mark_terminal(handle, status, error)
            if not handle._mux._events._closed:
                try:
                    await handle._mux.afail(err)
                except Exception:
                    _log.warning("could not fail the stream of subgraph %s", handle.path, exc_info=True)
