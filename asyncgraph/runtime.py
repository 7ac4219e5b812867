"""``Runtime``: what a node declaring a ``runtime`` parameter receives.

``Runtime.execution_info`` (which node attempt of which task of which checkpoint is
running) and ``Runtime.server_info`` are worked out from the running task only when
someone reads them: LangChain's agents take a ``runtime`` in every node, and most never
look at these, so building them eagerly would tax every step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar

from asyncgraph._context import get_task_context, stream_writer
from asyncgraph.constants import CONF, NS_END, NS_SEP
from asyncgraph.pregel._algo import task_id as planned_task_id
from asyncgraph.types import StreamWriter

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from asyncgraph._context import TaskContext

ContextT = TypeVar("ContextT")

__all__ = ["DEFAULT_RUNTIME", "ExecutionInfo", "RunControl", "Runtime", "ServerInfo", "get_runtime"]


def _noop(chunk: Any) -> None:
    pass


def _no_heartbeat() -> None:
    pass


class RunControl:
    """Asks a run to stop at its next step boundary (``invoke(..., control=...)``),
    for example when the process is told to shut down.

    ``request_drain()`` may be called from any thread or signal handler. The run
    finishes the step in progress, saves its checkpoint, and raises
    :class:`~asyncgraph.errors.GraphDrained`; ``invoke(None, config)`` later resumes
    it. Use one per run: once drained, it stays drained.
    """

    __slots__ = ("_reason",)

    def __init__(self) -> None:
        self._reason: str | None = None

    def request_drain(self, reason: str = "shutdown") -> None:
        self._reason = reason  # one attribute write: safe from any thread

    @property
    def drain_requested(self) -> bool:
        return self._reason is not None

    @property
    def drain_reason(self) -> str | None:
        return self._reason


@dataclasses.dataclass(frozen=True, slots=True)
class ExecutionInfo:
    """Which execution of which node is running (read-only).

    Attributes:
        checkpoint_id: the checkpoint the task was planned from.
        checkpoint_ns: the task's namespace, ``node:task_id`` (``parent|node:task_id``
            inside a subgraph).
        task_id: the task's id.
        thread_id: ``configurable["thread_id"]`` of the run, or None.
        run_id: the ``run_id`` the run was invoked with, as a str, or None.
        node_attempt: 1 on the first attempt, 2 on the first retry, ...
        node_first_attempt_time: Unix time (seconds) the first attempt started.
    """

    checkpoint_id: str
    checkpoint_ns: str
    task_id: str
    thread_id: str | None = None
    run_id: str | None = None
    node_attempt: int = 1
    node_first_attempt_time: float | None = None

    def patch(self, **overrides: Any) -> ExecutionInfo:
        """A copy with the given fields replaced."""
        return dataclasses.replace(self, **overrides)


@dataclasses.dataclass(frozen=True, slots=True)
class ServerInfo:
    """What a LangGraph Server deployment tells a run about itself: built from
    ``configurable["assistant_id"]``, ``["graph_id"]`` and ``["langgraph_auth_user"]``.
    ``Runtime.server_info`` is None when none of them is set.
    """

    assistant_id: str
    graph_id: str
    user: Any = None


class _RuntimeOverrides(TypedDict, Generic[ContextT], total=False):
    context: ContextT
    store: Any
    stream_writer: StreamWriter
    heartbeat: Callable[[], None]
    previous: Any
    execution_info: ExecutionInfo | None
    server_info: ServerInfo | None
    control: RunControl | None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Runtime(Generic[ContextT]):
    """Run-scoped context a node receives by declaring a ``runtime`` parameter.

    Attributes:
        context: from ``invoke(..., context=...)`` (a dict is turned into the graph's
            dataclass / Pydantic ``context_schema``).
        store: the graph's store (``compile(store=...)``), or None.
        stream_writer: emits ``stream_mode="custom"`` chunks.
        heartbeat: reports progress of a long node (a no-op unless an idle timeout
            watches the node).
        previous: the previous return value of the thread (functional API).
        execution_info: :class:`ExecutionInfo` of the task running now.
        server_info: :class:`ServerInfo`, or None outside LangGraph Server.
        control: the run's :class:`RunControl`; a long node can check
            ``drain_requested`` and wrap up early.
    """

    context: ContextT = None  # type: ignore[assignment]
    store: Any = None
    stream_writer: StreamWriter = _noop
    heartbeat: Callable[[], None] = _no_heartbeat
    previous: Any = None
    execution_info: ExecutionInfo | None = None
    server_info: ServerInfo | None = None
    control: RunControl | None = None

    def merge(self, other: Runtime[ContextT]) -> Runtime[ContextT]:
        """``other``'s values where it has them (truthy ones; a set ``previous``),
        this runtime's elsewhere."""
        return Runtime(
            context=other.context or self.context,
            store=other.store or self.store,
            stream_writer=other.stream_writer if other.stream_writer is not _noop else self.stream_writer,
            heartbeat=other.heartbeat if other.heartbeat is not _no_heartbeat else self.heartbeat,
            previous=self.previous if other.previous is None else other.previous,
            execution_info=other.execution_info or self.execution_info,
            server_info=other.server_info or self.server_info,
            control=other.control or self.control,
        )

    def override(self, **overrides: Unpack[_RuntimeOverrides[ContextT]]) -> Runtime[ContextT]:
        """A copy with the given fields replaced."""
        return dataclasses.replace(self, **overrides)

    def patch_execution_info(self, **overrides: Any) -> Runtime[ContextT]:
        """A copy whose ``execution_info`` has the given fields replaced.

        Raises:
            RuntimeError: this runtime has no ``execution_info``.
        """
        info = self.execution_info
        if info is None:
            raise RuntimeError("Cannot patch execution_info: this Runtime has none")
        return dataclasses.replace(self, execution_info=info.patch(**overrides))

    @property
    def drain_requested(self) -> bool:
        return self.control is not None and self.control.drain_requested

    @property
    def drain_reason(self) -> str | None:
        return self.control.drain_reason if self.control is not None else None


# -- lazy fields ----------------------------------------------------------------------
#
# A Runtime built for a task holds a _FromTask marker in its heartbeat, execution_info
# and server_info slots; reading the attribute replaces the marker with the value, once.
# The dataclass keeps its ordinary fields (replace(), fields(), ==, repr all work); only
# the attribute access goes through a property wrapping the slot.


class _FromTask:
    """The task a Runtime was built for, with what may change after that moment (the
    attempt being retried, the run's checkpoint moving on)."""

    __slots__ = ("tc", "attempt", "checkpoint_id")

    def __init__(self, tc: TaskContext) -> None:
        self.tc = tc
        self.attempt = tc.attempt
        self.checkpoint_id = tc.run.progress.checkpoint_id


def _lazy_slot(cls: type, name: str, resolve: Callable[[_FromTask], Any]) -> None:
    slot = cls.__dict__[name]

    def get(self: Any) -> Any:
        value = slot.__get__(self, cls)
        if type(value) is _FromTask:
            value = resolve(value)
            slot.__set__(self, value)
        return value

    setattr(cls, name, property(get, slot.__set__, doc=f"``{name}`` (see the class docstring)."))


def _configurable(tc: TaskContext) -> dict[str, Any]:
    """The ``configurable`` of the outermost run around ``tc`` that has one."""
    run = tc.run
    while True:
        conf = run.config.get(CONF)
        if conf or run.parent is None:
            return conf or {}
        run = run.parent.run


def _task_id(tc: TaskContext, checkpoint_id: str | None) -> str:
    task = tc.task
    if task.id:
        return str(task.id)
    # Runs without a checkpointer plan tasks without ids; give it the id the task
    # would have had.
    return planned_task_id(checkpoint_id, tc.run.ns, tc.step, task.name, task.kind, task.index)


def _namespace(tc: TaskContext, task_id: str) -> str:
    """``parent_node:id|...|node:id``: the task's namespace with every level's task id
    (a run without a checkpointer leaves the ids out of its own namespaces)."""
    own = f"{tc.task.name}{NS_END}{task_id}"
    parent = tc.run.parent
    if parent is None:
        return own
    return f"{_namespace(parent, _task_id(parent, parent.run.progress.checkpoint_id))}{NS_SEP}{own}"


def _execution_info(src: _FromTask) -> ExecutionInfo:
    tc = src.tc
    task_id = _task_id(tc, src.checkpoint_id)
    thread_id = _configurable(tc).get("thread_id")
    run_id = tc.run.config.get("run_id")  # a subgraph's run has none, as in LangGraph
    return ExecutionInfo(
        checkpoint_id=src.checkpoint_id or "",
        checkpoint_ns=_namespace(tc, task_id),
        task_id=task_id,
        thread_id=None if thread_id is None else str(thread_id),
        run_id=None if run_id is None else str(run_id),
        node_attempt=src.attempt,
        node_first_attempt_time=tc.started,
    )


def _server_info(src: _FromTask) -> ServerInfo | None:
    conf = _configurable(src.tc)
    assistant_id = conf.get("assistant_id")
    graph_id = conf.get("graph_id")
    user = conf.get("langgraph_auth_user")
    if user is not None and not hasattr(user, "identity"):
        user = None
    if assistant_id is None and graph_id is None and user is None:
        return None
    return ServerInfo(assistant_id=str(assistant_id or ""), graph_id=str(graph_id or ""), user=user)


def _heartbeat(src: _FromTask) -> Callable[[], None]:
    # Bound when read: a bound method made for every node's runtime would be one more
    # object held by every run in flight, and most nodes never beat.
    return src.tc.heartbeat


_lazy_slot(Runtime, "execution_info", _execution_info)
_lazy_slot(Runtime, "server_info", _server_info)
_lazy_slot(Runtime, "heartbeat", _heartbeat)


def task_runtime(tc: TaskContext, stream_writer: StreamWriter) -> Runtime[Any]:
    """The Runtime of the task ``tc`` (built by the engine for a ``runtime`` parameter)."""
    run = tc.run
    pending = _FromTask(tc)
    return Runtime(
        context=run.context,
        store=run.store,
        stream_writer=stream_writer,
        heartbeat=pending,  # type: ignore[arg-type]  # resolved on first read
        execution_info=pending,  # type: ignore[arg-type]  # resolved on first read
        server_info=pending,  # type: ignore[arg-type]
        control=run.control,
    )


def coerce_context(schema: Any, context: Any) -> Any:
    """The ``context=`` of a call as nodes see it: a dict becomes the graph's
    ``context_schema`` when that is a dataclass or a Pydantic model (a TypedDict
    schema keeps the dict), as LangGraph does.

    Raises:
        TypeError: a dataclass schema rejects the dict's keys.
        pydantic.ValidationError: a Pydantic schema rejects its values.
    """
    if context is None or schema is None or not isinstance(context, dict):
        return context
    if dataclasses.is_dataclass(schema) and isinstance(schema, type):
        return schema(**context)
    from pydantic import BaseModel

    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema(**context)
    return context


DEFAULT_RUNTIME: Runtime[Any] = Runtime()
"""A runtime with nothing set (no context, store or previous value; writers that drop
what they are given): the base that ``override`` builds a node's runtime on outside a
graph run."""


def get_runtime(context_schema: type[ContextT] | None = None) -> Runtime[ContextT]:
    """The :class:`Runtime` of the node running now.

    Raises:
        RuntimeError: called outside a running node.
    """
    return task_runtime(get_task_context(), stream_writer())
