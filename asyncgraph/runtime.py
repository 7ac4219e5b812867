"""``Runtime``: what a node declaring a ``runtime`` parameter receives."""

from __future__ import annotations

import dataclasses
from typing import Any, Generic, TypeVar

from asyncgraph._context import get_task_context, stream_writer
from asyncgraph.types import StreamWriter

ContextT = TypeVar("ContextT")

__all__ = ["RunControl", "Runtime", "get_runtime"]


def _noop(chunk: Any) -> None:
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
class Runtime(Generic[ContextT]):
    """Run-scoped context: ``context`` (from ``invoke(..., context=...)``), ``store``,
    the ``custom`` stream writer, and the run's :class:`RunControl` if it has one (a
    long node can check ``drain_requested`` and wrap up early)."""

    context: ContextT = None  # type: ignore[assignment]
    store: Any = None
    stream_writer: StreamWriter = _noop
    previous: Any = None
    control: RunControl | None = None

    @property
    def drain_requested(self) -> bool:
        return self.control is not None and self.control.drain_requested

    @property
    def drain_reason(self) -> str | None:
        return self.control.drain_reason if self.control is not None else None


def get_runtime(context_schema: type[ContextT] | None = None) -> Runtime[ContextT]:
    """The :class:`Runtime` of the node running now."""
    tc = get_task_context()
    return Runtime(
        context=tc.run.context, store=tc.run.store, stream_writer=stream_writer(), control=tc.run.control
    )
