"""The shapes of stream chunks, as typed dicts (re-exported by ``asyncgraph.types``).

``astream(..., version="v2")`` yields one :data:`StreamPart` per chunk: a dict with the
stream mode as ``type``, the namespace as ``ns`` and the chunk as ``data``. The
``checkpoints``, ``tasks`` and ``debug`` modes carry the payload dicts below. These are
types for annotations and type checkers only: at run time every chunk is a plain dict.
Names and keys are LangGraph's, so annotated code moves over unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, Literal, NotRequired, TypedDict, TypeVar

from typing_extensions import TypeAliasType

from asyncgraph._interrupt import Interrupt

if TYPE_CHECKING:
    from langchain_core.messages import AnyMessage
    from langchain_core.runnables import RunnableConfig

    from asyncgraph.checkpoint.base import CheckpointMetadata
    from asyncgraph.types import StateSnapshot

__all__ = [
    "CheckpointPayload",
    "CheckpointStreamPart",
    "CheckpointTask",
    "CustomStreamPart",
    "DebugPayload",
    "DebugStreamPart",
    "MessagesStreamPart",
    "StreamPart",
    "TaskPayload",
    "TaskResultPayload",
    "TasksStreamPart",
    "UpdatesStreamPart",
    "ValuesStreamPart",
]

StateT = TypeVar("StateT")
OutputT = TypeVar("OutputT")


class TaskPayload(TypedDict):
    """A ``tasks`` chunk for a task that starts."""

    id: str
    name: str
    input: Any
    triggers: list[str]
    metadata: NotRequired[dict[str, Any]]


class TaskResultPayload(TypedDict):
    """A ``tasks`` chunk for a task that ended: its writes by channel, or its error."""

    id: str
    name: str
    error: str | None
    interrupts: list[dict]
    result: dict[str, Any]


class CheckpointTask(TypedDict):
    """One of a checkpoint's next tasks, in a ``checkpoints`` chunk. ``result`` is there
    once the task finished, ``error`` if it failed; ``state`` points at a subgraph's
    state, None for a plain node."""

    id: str
    name: str
    error: NotRequired[str]
    result: NotRequired[Any]
    interrupts: NotRequired[list[dict]]
    state: StateSnapshot | RunnableConfig | None


class CheckpointPayload(TypedDict, Generic[StateT]):
    """A ``checkpoints`` chunk: what ``get_state()`` would show of the new checkpoint."""

    config: RunnableConfig | None
    metadata: CheckpointMetadata
    values: StateT
    next: list[str]
    parent_config: RunnableConfig | None
    tasks: list[CheckpointTask]


class _DebugCheckpoint(TypedDict, Generic[StateT]):
    step: int
    timestamp: str
    type: Literal["checkpoint"]
    payload: CheckpointPayload[StateT]


class _DebugTask(TypedDict):
    step: int
    timestamp: str
    type: Literal["task"]
    payload: TaskPayload


class _DebugTaskResult(TypedDict):
    step: int
    timestamp: str
    type: Literal["task_result"]
    payload: TaskResultPayload


DebugPayload = TypeAliasType(
    "DebugPayload",
    _DebugCheckpoint[StateT] | _DebugTask | _DebugTaskResult,
    type_params=(StateT,),
)
"""A ``debug`` chunk: a checkpoint, a task start or a task result, with step and time."""


class ValuesStreamPart(TypedDict, Generic[OutputT]):
    """``values``: the state after a step (``interrupts`` when the run paused)."""

    type: Literal["values"]
    ns: tuple[str, ...]
    data: OutputT
    interrupts: tuple[Interrupt, ...]


class UpdatesStreamPart(TypedDict):
    """``updates``: node name -> what it wrote (also ``__interrupt__``, ``__metadata__``)."""

    type: Literal["updates"]
    ns: tuple[str, ...]
    data: dict[str, Any]


class MessagesStreamPart(TypedDict):
    """``messages``: a message or token chunk and the metadata of the node that made it."""

    type: Literal["messages"]
    ns: tuple[str, ...]
    data: tuple[AnyMessage, dict[str, Any]]


class CustomStreamPart(TypedDict):
    """``custom``: whatever a node passed to its stream writer."""

    type: Literal["custom"]
    ns: tuple[str, ...]
    data: Any


class CheckpointStreamPart(TypedDict, Generic[StateT]):
    type: Literal["checkpoints"]
    ns: tuple[str, ...]
    data: CheckpointPayload[StateT]


class TasksStreamPart(TypedDict):
    type: Literal["tasks"]
    ns: tuple[str, ...]
    data: TaskPayload | TaskResultPayload


class DebugStreamPart(TypedDict, Generic[StateT]):
    type: Literal["debug"]
    ns: tuple[str, ...]
    data: DebugPayload[StateT]


StreamPart = TypeAliasType(
    "StreamPart",
    ValuesStreamPart[OutputT]
    | UpdatesStreamPart
    | MessagesStreamPart
    | CustomStreamPart
    | CheckpointStreamPart[StateT]
    | TasksStreamPart
    | DebugStreamPart[StateT],
    type_params=(StateT, OutputT),
)
"""Any ``version="v2"`` stream item; ``part["type"]`` tells which."""
