"""Public value types: what nodes return, what users pass, what the engine reports.

Everything here is a plain value with no reference to the engine.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Hashable, Sequence
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Generic,
    Literal,
    NamedTuple,
    TypeVar,
)

# A tool that returns a Command must reach ToolNode as that Command, not as its text:
# langchain-core passes through only ToolOutputMixin values. This costs ~0.2 s of
# import time (langchain-core's message classes), which agent code loads anyway.
from langchain_core.messages.tool import ToolOutputMixin

from asyncgraph._context import interrupt_in_task
from asyncgraph._ids import CheckpointId, InterruptId, TaskId, ThreadId
from asyncgraph import _payloads
from asyncgraph._interrupt import Interrupt
from asyncgraph._payloads import (
    CheckpointPayload,
    CheckpointStreamPart,
    CheckpointTask,
    CustomStreamPart,
    DebugPayload,
    DebugStreamPart,
    MessagesStreamPart,
    StreamPart,
    TaskPayload,
    TaskResultPayload,
    TasksStreamPart,
    UpdatesStreamPart,
    ValuesStreamPart,
)
from asyncgraph._send import Send
from asyncgraph._timeout_policy import TimeoutPolicy
from asyncgraph.constants import INTERRUPT, ROOT
from asyncgraph.warnings import LangGraphDeprecatedSinceV11

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

__all__ = [
    "CheckpointId",
    "InterruptId",
    "TaskId",
    "ThreadId",
    "All",
    "CachePolicy",
    *_payloads.__all__,  # the stream chunk shapes (asyncgraph/_payloads.py)
    "ensure_valid_checkpointer",
    "Checkpointer",
    "Command",
    "Durability",
    "GraphOutput",
    "Interrupt",
    "Overwrite",
    "StateUpdate",
    "PregelExecutableTask",
    "PregelTask",
    "RetryPolicy",
    "Send",
    "StateSnapshot",
    "StreamMode",
    "StreamWriter",
    "TimeoutPolicy",
    "TracePolicy",
    "default_retry_on",
    "interrupt",
    "omit_payload",
]

N = TypeVar("N", bound=Hashable)
OutputT = TypeVar("OutputT")

All = Literal["*"]
"""Stands for "every node" in ``interrupt_before`` / ``interrupt_after``."""

StreamMode = Literal["values", "updates", "checkpoints", "tasks", "debug", "messages", "custom"]
"""What :meth:`astream` yields; see the README's streaming section."""

Durability = Literal["sync", "async", "exit"]
"""When checkpoints are written: before the next step starts (``sync``), while the next
step runs (``async``, the default), or only when the run ends (``exit``)."""

StreamWriter = Callable[[Any], None]
"""Callable a node uses to emit ``stream_mode="custom"`` chunks."""


def default_retry_on(exc: Exception) -> bool:
    """Whether :class:`RetryPolicy` retries ``exc`` when the user gave no ``retry_on``.

    Programming errors (``ValueError``, ``TypeError``, lookups, ...) are not retried;
    connection errors and HTTP 5xx responses from httpx / requests are; any other
    exception is retried.
    """
    if isinstance(exc, ConnectionError):
        return True
    if type(exc).__name__ == "NodeTimeoutError" and type(exc).__module__ == "asyncgraph.errors":
        return True  # a node attempt that timed out may well succeed next time
    if isinstance(
        exc,
        (
            ValueError,
            TypeError,
            ArithmeticError,
            ImportError,
            LookupError,
            NameError,
            SyntaxError,
            RuntimeError,
            ReferenceError,
            StopIteration,
            StopAsyncIteration,
            OSError,
        ),
    ):
        return False
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    module = type(exc).__module__
    if status is not None and (module.startswith("httpx") or module.startswith("requests")):
        return 500 <= int(status) < 600
    return True


class RetryPolicy(NamedTuple):
    """How a failing node is retried.

    The wait before attempt ``n + 1`` is ``min(initial_interval * backoff_factor**(n-1),
    max_interval)`` seconds, plus up to one second of random jitter when ``jitter`` is set.
    """

    initial_interval: float = 0.5
    backoff_factor: float = 2.0
    max_interval: float = 128.0
    max_attempts: int = 3
    jitter: bool = True
    retry_on: (
        type[Exception] | Sequence[type[Exception]] | Callable[[Exception], bool]
    ) = default_retry_on


@dataclasses.dataclass(frozen=True, slots=True)
class CachePolicy:
    """Cache a node's results (``add_node(..., cache_policy=...)``; the graph needs
    ``compile(cache=...)``).

    Attributes:
        key_func: maps the node's input to the cache key (``str`` or ``bytes``);
            by default the serialized input is the key.
        ttl: seconds a result stays valid; None keeps it until the cache is cleared.

    A hit replays everything the task wrote, as LangGraph does: its state update, and
    also the choices its conditional edges made and the ``Send`` packets they sent. So
    a conditional edge out of a cached node should decide from what the node read and
    wrote, not from other state that may have changed since. Results are stored
    before the next step starts, so a later run (or a later step) always sees them.
    """

    key_func: Callable[..., str | bytes] | None = None
    ttl: int | None = None


@dataclasses.dataclass(frozen=True)
class GraphOutput(Generic[OutputT]):
    """What ``invoke()`` / ``ainvoke()`` return with ``version="v2"``.

    Attributes:
        value: the output state (a dict, or the key's value with ``output_keys="key"``).
        interrupts: the interrupts the run paused on, if it paused.

    ``out["key"]`` and ``"key" in out`` read ``value`` (and ``"__interrupt__"`` reads
    ``interrupts``), as the v1 dict allowed; they warn, since they are only there to
    ease the switch.
    """

    value: OutputT
    interrupts: tuple[Any, ...] = ()

    def __getitem__(self, key: str) -> Any:
        _warn_dict_access("`result[key]`")
        if key == INTERRUPT:
            return self.interrupts
        if isinstance(self.value, dict):
            return self.value[key]
        try:
            return getattr(self.value, key)
        except AttributeError:
            raise KeyError(key) from None

    def __contains__(self, key: object) -> bool:
        _warn_dict_access("`key in result`")
        if key == INTERRUPT:
            return bool(self.interrupts)
        if isinstance(self.value, dict):
            return key in self.value
        return isinstance(key, str) and hasattr(self.value, key)


def _warn_dict_access(how: str) -> None:
    warnings.warn(
        f"Accessing GraphOutput via {how} is deprecated. Use `result.value` to access the "
        "output value directly, or `result.interrupts` for interrupts.",
        LangGraphDeprecatedSinceV11,
        stacklevel=3,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class PregelExecutableTask:
    """LangGraph's description of a task about to run: its node (``proc``), input,
    config, the writes it collects, triggers and policies.

    asyncgraph's engine plans and runs tasks with its own ``pregel._algo.Task``; this
    value type exists for code that builds or inspects LangGraph's form (tests of
    retry helpers, custom runners).
    """

    name: str
    input: Any
    proc: Any
    writes: Any
    config: Any
    triggers: Sequence[str]
    retry_policy: Sequence[RetryPolicy]
    cache_key: Any
    id: str
    path: tuple[Any, ...]
    writers: Sequence[Any] = ()
    subgraphs: Sequence[Any] = ()
    timeout: TimeoutPolicy | None = None


class PregelTask(NamedTuple):
    """A task of a step as reported by ``get_state()``: what will run, or what failed."""

    id: str
    name: str
    path: tuple[Any, ...]
    error: Exception | None = None
    interrupts: tuple[Interrupt, ...] = ()
    state: Any = None
    result: Any = None


class StateSnapshot(NamedTuple):
    """A thread's state at one checkpoint, as returned by ``get_state()``."""

    values: dict[str, Any] | Any
    next: tuple[str, ...]
    config: RunnableConfig
    metadata: dict[str, Any] | None
    created_at: str | None
    parent_config: RunnableConfig | None
    tasks: tuple[PregelTask, ...]
    interrupts: tuple[Interrupt, ...] = ()


@dataclasses.dataclass(slots=True)
class Overwrite:
    """Wrap a node's value for a reducer key to replace the value instead of reducing."""

    value: Any


class StateUpdate(NamedTuple):
    """One update of ``bulk_update_state``: ``values`` written as node ``as_node``
    would write them (``update_state``'s arguments)."""

    values: dict[str, Any] | None
    as_node: str | None = None
    task_id: str | None = None


@dataclasses.dataclass(kw_only=True, slots=True)
class Command(Generic[N], ToolOutputMixin):
    """What a node returns to update state and choose where to go in one value.

    Attributes:
        graph: ``None`` for the current graph, ``Command.PARENT`` for the parent graph.
        update: state update, as a node would return it (dict, or list of pairs).
        resume: value(s) for pending :func:`interrupt` calls; a dict maps interrupt ids
            to values.
        goto: node name(s) or :class:`Send` packets to run next.
    """

    graph: str | None = None
    update: Any | None = None
    resume: dict[str, Any] | Any | None = None
    goto: Send | Sequence[Send | N] | N = ()

    PARENT: ClassVar[Literal["__parent__"]] = "__parent__"

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f}={getattr(self, f)!r}"
            for f in ("graph", "update", "resume", "goto")
            if getattr(self, f)
        )
        return f"Command({shown})"

    def _update_as_tuples(self) -> Sequence[tuple[str, Any]]:
        """The update as (key, value) pairs, for the engine."""
        update = self.update
        if update is None:
            return ()
        if isinstance(update, dict):
            return list(update.items())
        if isinstance(update, (list, tuple)) and all(
            isinstance(t, tuple) and len(t) == 2 and isinstance(t[0], str) for t in update
        ):
            return list(update)
        # An object state (dataclass / Pydantic): the engine maps it by field.
        return [(ROOT, update)]


def interrupt(value: Any, *, response_schema: Any = None) -> Any:
    """Pause the run here and surface ``value`` to the caller; return the human's answer.

    The first time a node reaches ``interrupt()``, the run stops with the interrupt
    recorded in the checkpoint (a checkpointer is required). Invoking the graph again
    with ``Command(resume=answer)`` re-runs the node from its start and this call then
    returns ``answer``. Several ``interrupt()`` calls in one node are matched to resume
    values by their order.

    Args:
        value: what to show the human.
        response_schema: the shape of the expected answer, shown to clients as the
            interrupt's ``response_schema`` (JSON Schema). A JSON Schema ``dict`` is
            passed on as it is; a Pydantic model, ``TypedDict`` or dataclass is turned
            into JSON Schema and also validates the answer, and this call then returns
            the validated object.

    Raises:
        GraphInterrupt: the first time, to stop the run (not an error; do not catch it).
        pydantic.ValidationError: the answer does not match ``response_schema``. The
            interrupt stays pending, so it can be answered again;
            :func:`asyncgraph.errors.is_invalid_resume` recognizes this error.
        RuntimeError: when called outside a running node.
    """
    if response_schema is None:
        return interrupt_in_task(value, None, None)
    schema, adapter = _response_schema(response_schema)
    return interrupt_in_task(value, schema, adapter)


def _response_schema(spec: Any) -> tuple[dict[str, Any], Any]:
    """The JSON Schema of ``interrupt(response_schema=spec)`` and, for a type, the
    pydantic ``TypeAdapter`` that validates answers."""
    if isinstance(spec, dict):
        return spec, None
    # Any other type form pydantic can validate (a model, TypedDict, dataclass, or an
    # annotated union of them, as LangChain's human-in-the-loop middleware passes), as in
    # LangGraph.
    from pydantic import TypeAdapter

    try:
        adapter = TypeAdapter(spec)
        return adapter.json_schema(), adapter
    except Exception as exc:
        raise TypeError(
            "interrupt(response_schema=...) takes a JSON Schema dict or a type pydantic can "
            f"validate (a Pydantic model, a TypedDict, a dataclass, a union of them); "
            f"{getattr(spec, '__qualname__', None) or repr(spec)} cannot be used: {exc}"
        ) from exc


@dataclasses.dataclass(kw_only=True, slots=True, frozen=True)
class TracePolicy:
    """What a node's own trace run records (``add_node(..., trace_policy=...)``).

    ``process_inputs`` / ``process_outputs`` receive the node's input / output value and
    return what the trace shows instead (to leave out or shorten large payloads such as
    a message history); they never change what the node receives or returns. Runs the
    node starts itself, and the graph's own run, are not affected. Not a way to redact
    secrets from every run: use the tracer's own hiding options for that.
    """

    process_inputs: Callable[[Any], Any] | None = None
    process_outputs: Callable[[Any], Any] | None = None


def omit_payload(_value: Any) -> dict[str, Any]:
    """A :class:`TracePolicy` processor that records an empty payload, keeping the
    node's trace run and its timing but none of its data."""
    return {}


def ensure_valid_checkpointer(checkpointer: Any) -> Any:
    """``checkpointer`` if it is what ``compile(checkpointer=...)`` takes (a saver,
    True, False or None); a ``TypeError`` naming what it got otherwise."""
    if checkpointer in (None, True, False) or hasattr(checkpointer, "aget_tuple") or hasattr(checkpointer, "get_tuple"):
        return checkpointer
    raise TypeError(
        f"Invalid checkpointer provided: {type(checkpointer).__name__} is not a checkpoint "
        "saver. Pass a saver (InMemorySaver, SqliteSaver, PostgresSaver ...), True / False "
        "(a subgraph: use / do not use the parent's), or None."
    )


if TYPE_CHECKING:
    from typing import TypeAlias

    from asyncgraph.checkpoint.base import BaseCheckpointSaver

    Checkpointer: TypeAlias = None | bool | BaseCheckpointSaver
    """A subgraph's ``compile(checkpointer=...)``: a saver, ``True`` (its own
    persistence), ``False`` (none, even under a parent that has one), ``None`` (the
    parent's)."""
else:

    def __getattr__(name: str) -> Any:
        # ``Checkpointer`` is made on first use: it names BaseCheckpointSaver, and
        # loading the checkpoint package (and its serializer) here would tax every
        # import of this module.
        if name == "Checkpointer":
            from asyncgraph.checkpoint.base import BaseCheckpointSaver

            alias = None | bool | BaseCheckpointSaver
            globals()["Checkpointer"] = alias
            return alias
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
