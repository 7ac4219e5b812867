"""Every exception asyncgraph raises.

The tree::

    Exception
    ├── GraphRecursionError (RecursionError)  the run hit ``recursion_limit`` steps
    ├── InvalidUpdateError                    a node's output cannot be applied to state
    │   ├── PathMapKeyError (KeyError)          a conditional edge's value is not in its path map
    │   └── PathMapTypeError (TypeError)        ... or cannot be looked up in it (unhashable)
    ├── InvalidGraphError (ValueError)        ``compile()`` / ``add_*`` found a bad graph
    ├── InvalidInputError (ValueError)        bad input or config given to a run
    ├── EmptyInputError                       a run got no input and has nothing to resume
    ├── EmptyChannelError                     a channel was read before it got a value
    ├── TaskNotFound                          a ``Send`` / goto names an unknown node
    ├── NodeTimeoutError (TimeoutError)       a node overran its timeout
    ├── NodeCancelledError                    a node raised ``asyncio.CancelledError`` itself
    ├── GraphTimeoutError (TimeoutError)      a run or one step overran its deadline
    ├── CheckpointNotLatest                   a write was based on an old checkpoint
    ├── CheckpointError                       a stored checkpoint cannot be read
    ├── StreamClosedError (RuntimeError)      a node wrote to a stream nobody reads any more
    ├── UndeclaredKeyWarning (UserWarning)    a warning: an undeclared key was dropped
    └── GraphBubbleUp                         control flow, NOT an error:
        ├── GraphDrained                        the run stopped at a step boundary (drain)
        ├── GraphInterrupt                      the run paused for a human (``interrupt()``)
        │   └── NodeInterrupt                   (deprecated form of the same)
        └── ParentCommand                       a node sent a ``Command`` to its parent graph

Not an exception: ``NodeError``, the failure (node name + exception) handed to a node's
``error_handler`` (``add_node(..., error_handler=...)``).

Names match LangGraph's so ``except`` clauses keep working after migrating. An error
raised by a user's node is re-raised as itself (never wrapped in an ``ExceptionGroup``),
with a note naming the node and step (see ``exc.__notes__``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal

from asyncgraph._interrupt import Interrupt
from asyncgraph.warnings import LangGraphDeprecatedSinceV10, _import_path

if TYPE_CHECKING:
    from asyncgraph.types import Command

__all__ = [
    "CheckpointError",
    "CheckpointNotLatest",
    "EmptyChannelError",
    "EmptyInputError",
    "ErrorCode",
    "GraphBubbleUp",
    "GraphDrained",
    "GraphInterrupt",
    "GraphRecursionError",
    "GraphTimeoutError",
    "InvalidGraphError",
    "InvalidInputError",
    "InvalidUpdateError",
    "NodeCancelledError",
    "NodeError",
    "NodeInterrupt",
    "NodeTimeoutError",
    "ParentCommand",
    "PathMapKeyError",
    "PathMapTypeError",
    "StreamClosedError",
    "TaskNotFound",
    "UndeclaredKeyWarning",
    "create_error_message",
    "is_invalid_resume",
    "mark_invalid_resume",
]


class ErrorCode(Enum):
    GRAPH_RECURSION_LIMIT = "GRAPH_RECURSION_LIMIT"
    INVALID_CONCURRENT_GRAPH_UPDATE = "INVALID_CONCURRENT_GRAPH_UPDATE"
    INVALID_GRAPH_NODE_RETURN_VALUE = "INVALID_GRAPH_NODE_RETURN_VALUE"
    MULTIPLE_SUBGRAPHS = "MULTIPLE_SUBGRAPHS"
    INVALID_CHAT_HISTORY = "INVALID_CHAT_HISTORY"


def create_error_message(*, message: str, error_code: ErrorCode) -> str:
    """Append the error code to ``message`` so users can search for it."""
    return f"{message}\n(error code: {error_code.value})"


class GraphRecursionError(RecursionError):
    """The run took ``recursion_limit`` steps without finishing.

    Raised before the step past the limit runs. Raise the limit with
    ``config={"recursion_limit": n}`` if the graph is meant to loop that long; otherwise
    look for a conditional edge that never routes to ``END``.
    """

    def __init__(self, limit: int | str, *, message: str | None = None) -> None:
        self.limit = limit
        if message is None:
            message = create_error_message(
                message=(
                    f"Recursion limit of {limit} reached without hitting a stop condition. "
                    "You can increase the limit by setting the `recursion_limit` config key."
                ),
                error_code=ErrorCode.GRAPH_RECURSION_LIMIT,
            )
        super().__init__(message)


class InvalidUpdateError(Exception):
    """A node's output could not be applied to the state.

    Raised at the end of the step in which the bad write happened. Attributes say what:
    ``key`` (the state key), ``nodes`` (the writers) and ``value`` where there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        nodes: Sequence[str] = (),
        value: Any = None,
        error_code: ErrorCode | None = None,
    ) -> None:
        self.key = key
        self.nodes = tuple(nodes)
        self.value = value
        if error_code is not None:
            message = create_error_message(message=message, error_code=error_code)
        super().__init__(message)


class PathMapKeyError(InvalidUpdateError, KeyError):
    """A conditional edge's path function returned a value its ``path_map`` lacks.

    A ``KeyError`` as on LangGraph, so ``except KeyError`` keeps working: ``args`` is
    ``(value,)`` as LangGraph's is, while ``str()`` names the edge, the node and the keys
    the map has. Like any ``LookupError`` it is not retried by the default retry policy.
    """

    def __init__(self, value: Any, message: str = "", *, nodes: Sequence[str] = ()) -> None:
        InvalidUpdateError.__init__(self, message, nodes=nodes, value=value)
        self.message = message
        self.args = (value,)  # pickles back through __init__(value), message from __dict__

    def __str__(self) -> str:
        return self.message or KeyError.__str__(self)


class PathMapTypeError(InvalidUpdateError, TypeError):
    """A conditional edge's path function returned a value that cannot be a key of its
    ``path_map`` (a dict, a list inside the returned list, ...).

    A ``TypeError`` as LangGraph's (``unhashable type: ...``), with the same ``args``, so
    ``except TypeError`` keeps working and the default retry policy does not retry it;
    ``str()`` names the edge, the node, the value and the keys the map has.
    """

    def __init__(self, reason: str, message: str = "", *, value: Any = None, nodes: Sequence[str] = ()) -> None:
        InvalidUpdateError.__init__(self, message, nodes=nodes, value=value)
        self.message = message
        self.args = (reason,)

    def __str__(self) -> str:
        return self.message or TypeError.__str__(self)


class InvalidGraphError(ValueError):
    """The graph being built is malformed: raised by ``add_*`` and ``compile()``."""


class InvalidInputError(ValueError):
    """The input or config given to a run is malformed; nothing was run or stored."""


class UndeclaredKeyWarning(UserWarning):
    """Input or a node's update named a key the graph does not declare; it was dropped
    (as LangGraph drops it). ``compile(strict=True)`` makes this an error."""


class EmptyInputError(Exception):
    """A run got ``None`` as input and its thread has nothing to resume."""


class EmptyChannelError(Exception):
    """A channel was read before anything was written to it."""


class TaskNotFound(Exception):
    """A ``Send`` or ``Command(goto=...)`` names a node that does not exist."""

    def __init__(self, node: str, *, source: str | None = None, known: Sequence[str] = ()) -> None:
        self.node = node
        self.source = source
        where = f" (from node '{source}')" if source else ""
        super().__init__(
            f"Unknown node '{node}'{where}; the graph's nodes are: {', '.join(sorted(known))}"
        )


class NodeTimeoutError(TimeoutError):
    """A node attempt ran past one of its timeouts; it was cancelled at the deadline.

    The default :class:`~asyncgraph.types.RetryPolicy` retries it (as LangGraph's does).

    Attributes:
        node: the node (or task) that timed out.
        kind: ``"run"`` (its ``run_timeout``) or ``"idle"`` (no progress for
            ``idle_timeout`` seconds).
        timeout: the timeout that fired, in seconds.
        run_timeout / idle_timeout: the node's configured timeouts (None if unset).
        elapsed: seconds the attempt had run.
    """

    def __init__(
        self,
        node: str,
        elapsed: float,
        *,
        kind: Literal["run", "idle"] | None = None,
        idle_timeout: float | None = None,
        run_timeout: float | None = None,
        attempts: int = 1,
    ) -> None:
        legacy = kind is None
        if legacy:  # NodeTimeoutError(node, timeout): the run timeout fired
            kind = "run"
            run_timeout = elapsed if run_timeout is None else run_timeout
        if kind == "idle":
            if idle_timeout is None:
                raise ValueError("NodeTimeoutError(kind='idle') needs idle_timeout")
            timeout = idle_timeout
            what = f"exceeded its idle timeout of {idle_timeout:g}s without making progress"
        elif kind == "run":
            if run_timeout is None:
                raise ValueError("NodeTimeoutError(kind='run') needs run_timeout")
            timeout = run_timeout
            what = f"exceeded its run timeout of {run_timeout:g}s"
        else:
            raise ValueError(f"kind must be 'run' or 'idle', got {kind!r}")
        self.node = node
        self.kind = kind
        self.timeout = timeout
        self.run_timeout = run_timeout
        self.idle_timeout = idle_timeout
        self.elapsed = elapsed
        self.attempts = attempts
        if legacy:
            tries = f" (attempt {attempts})" if attempts > 1 else ""
            super().__init__(f"Node '{node}' timed out after {timeout:g}s{tries}")
        else:
            tries = f", attempt {attempts}" if attempts > 1 else ""
            super().__init__(f"Node '{node}' {what} (elapsed: {elapsed:.3f}s{tries})")


@dataclass(frozen=True, slots=True)
class NodeError:
    """What a node's ``error_handler`` is told about the failure it handles.

    A handler asks for it with a parameter annotated ``NodeError``.
    """

    node: str
    """The name of the node that failed."""

    error: BaseException | Any
    """The exception the node raised; for a handler resumed from a checkpoint (the run
    stopped while it ran), the failure as the checkpoint saved it: its repr, a string,
    as in LangGraph."""


class NodeCancelledError(Exception):
    """A node's own code raised ``asyncio.CancelledError`` (nobody cancelled the run).

    Cancellation from outside (the caller, a deadline, a failed sibling) stays
    cancellation; a ``CancelledError`` a node raises on its own is its failure, retried
    and reported like any other error (``__cause__`` is the original).
    """

    def __init__(self, node: str, message: str | None = None) -> None:
        self.node = node
        super().__init__(message or f"Node '{node}' raised asyncio.CancelledError")


class GraphTimeoutError(TimeoutError):
    """A run (``invoke(..., timeout=s)``) or one step (``graph.step_timeout``) ran past
    its deadline. The nodes still running were cancelled; with a checkpointer, tasks
    that had finished keep their writes and ``invoke(None, config)`` resumes.
    """

    def __init__(self, timeout: float, *, step: int, nodes: tuple[str, ...], scope: str = "run") -> None:
        self.timeout = timeout
        self.step = step
        self.nodes = nodes
        self.scope = scope
        running = f" (still running: {', '.join(repr(n) for n in nodes)})" if nodes else ""
        what = "The run" if scope == "run" else f"Step {step}"
        super().__init__(f"{what} exceeded its timeout of {timeout:g}s in step {step}{running}")


class CheckpointNotLatest(Exception):
    """A write was attempted against a checkpoint that is no longer the thread's latest."""


class CheckpointError(Exception):
    """A stored checkpoint could not be read (corrupt, foreign, or from a newer schema).

    The stored data is left untouched.
    """


class StreamClosedError(RuntimeError):
    """Raised in a node running in a worker thread (a sync node) when it writes to the
    run's stream (``get_stream_writer()``, chat-model tokens) after the reader went away:
    the stream was closed or abandoned and the run is being cancelled. A thread cannot be
    cancelled, so this stops the node at its next write instead of letting it produce
    for nobody."""

    def __init__(self, message: str = "The stream's reader has gone away; the run is being cancelled") -> None:
        super().__init__(message)


class GraphBubbleUp(Exception):
    """Base of the control-flow signals. Not errors: do not catch them in nodes."""


class GraphDrained(GraphBubbleUp):
    """The run stopped at a step boundary because its ``RunControl`` asked it to
    drain. What finished is checkpointed: ``invoke(None, config)`` resumes it."""

    def __init__(self, reason: str = "shutdown") -> None:
        self.reason = reason
        super().__init__(f"Graph drained: {reason}")


class GraphInterrupt(GraphBubbleUp):
    """The run paused for human input. Carries the :class:`~asyncgraph.types.Interrupt` s."""

    def __init__(self, interrupts: Sequence[Interrupt] = ()) -> None:
        super().__init__(interrupts)
        self.interrupts = tuple(interrupts)


class NodeInterrupt(GraphInterrupt):
    """Deprecated: raise via :func:`~asyncgraph.types.interrupt` instead."""

    def __init__(self, value: Any, id: str = "") -> None:
        warnings.warn(
            f"NodeInterrupt is deprecated. Please use `{_import_path('asyncgraph.types')}.interrupt` instead.",
            LangGraphDeprecatedSinceV10,
            stacklevel=2,
        )
        super().__init__([Interrupt(value=value, id=id)])


class ParentCommand(GraphBubbleUp):
    """A subgraph's node returned ``Command(graph=Command.PARENT)``; the parent handles it."""

    args: tuple[Command[Any]]

    def __init__(self, command: Command[Any]) -> None:
        super().__init__(command)


_INVALID_RESUME = "asyncgraph: invalid resume value"


def mark_invalid_resume(exc: BaseException, interrupt_id: str, value: Any) -> None:
    """Note on ``exc`` that a ``Command(resume=...)`` answer failed the interrupt's
    ``response_schema``; :func:`is_invalid_resume` finds the note."""
    exc.add_note(
        f"{_INVALID_RESUME}: the answer to interrupt {value!r} (id {interrupt_id}) does not match "
        "its response_schema. The interrupt is still pending: resume again with a valid value."
    )


def is_invalid_resume(exc: BaseException) -> bool:
    """Whether ``exc`` is an answer to ``interrupt(..., response_schema=...)`` that did
    not validate (the run can be resumed again with a corrected value)."""
    return any(note.startswith(_INVALID_RESUME) for note in getattr(exc, "__notes__", ()))
