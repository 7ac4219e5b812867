"""``Runtime``: what a node declaring a ``runtime`` parameter receives."""

from __future__ import annotations

import dataclasses
from typing import Any, Generic, TypeVar

from asyncgraph.types import StreamWriter

ContextT = TypeVar("ContextT")

__all__ = ["Runtime", "get_runtime"]


def _noop(chunk: Any) -> None:
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class Runtime(Generic[ContextT]):
    """Run-scoped context: ``context`` (from ``invoke(..., context=...)``), ``store``
    and the ``custom`` stream writer."""

    context: ContextT = None  # type: ignore[assignment]
    store: Any = None
    stream_writer: StreamWriter = _noop
    previous: Any = None


def get_runtime(context_schema: type[ContextT] | None = None) -> Runtime[ContextT]:
    """The :class:`Runtime` of the node running now."""
    from asyncgraph.pregel._context import get_task_context, stream_writer

    tc = get_task_context()
    return Runtime(context=tc.run.context, store=tc.run.store, stream_writer=stream_writer())
