"""Graph lifecycle callbacks: be told when a run pauses for a human and when it resumes.

Pass a :class:`GraphCallbackHandler` among a run's callbacks (``config["callbacks"]``, a
list or a langchain-core callback manager). Its ``on_interrupt`` is called when the top
graph's run pauses (an ``interrupt()``, or an ``interrupt_before`` / ``interrupt_after``
breakpoint); its ``on_resume`` when a run (of the top graph or of a subgraph) continues a
thread from a checkpoint. Handlers may be sync or async. An exception a handler raises is
logged and the run goes on, unless the handler sets ``raise_error = True`` (as with every
langchain-core callback handler). Other callback handlers never receive these events, and
nothing is done when no graph handler is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias
from uuid import UUID

from langchain_core.callbacks.base import BaseCallbackHandler, BaseCallbackManager
from langchain_core.callbacks.manager import ahandle_event, handle_event

from asyncgraph._interrupt import Interrupt

__all__ = [
    "GraphCallbackHandler",
    "GraphInterruptEvent",
    "GraphLifecycleEvent",
    "GraphLifecycleStatus",
    "GraphResumeEvent",
    "get_async_graph_callback_manager_for_config",
    "get_sync_graph_callback_manager_for_config",
]

GraphLifecycleStatus: TypeAlias = Literal[
    "input", "pending", "done", "interrupt_before", "interrupt_after", "out_of_steps"
]
"""Where the run was when the event happened: ``pending`` while steps run,
``interrupt_before`` / ``interrupt_after`` at a breakpoint."""


@dataclass(frozen=True)
class GraphInterruptEvent:
    """The run paused: at which checkpoint, in which graph, on which interrupts (empty at
    a breakpoint)."""

    run_id: UUID | None
    status: GraphLifecycleStatus
    checkpoint_id: str
    checkpoint_ns: tuple[str, ...]
    interrupts: tuple[Interrupt, ...]


@dataclass(frozen=True)
class GraphResumeEvent:
    """A run continues a thread from the checkpoint ``checkpoint_id``."""

    run_id: UUID | None
    status: GraphLifecycleStatus
    checkpoint_id: str
    checkpoint_ns: tuple[str, ...]


GraphLifecycleEvent: TypeAlias = GraphInterruptEvent | GraphResumeEvent


class GraphCallbackHandler(BaseCallbackHandler):
    """Subclass and override :meth:`on_interrupt` / :meth:`on_resume` (sync or async)."""

    def on_interrupt(self, event: GraphInterruptEvent) -> Any:
        """The run paused."""

    def on_resume(self, event: GraphResumeEvent) -> Any:
        """The run resumed from a checkpoint."""


def graph_handlers(callbacks: Any) -> list[BaseCallbackHandler]:
    """The graph lifecycle handlers among ``callbacks`` (a list, a manager or None)."""
    if callbacks is None:
        return []
    handlers = callbacks.handlers if isinstance(callbacks, BaseCallbackManager) else callbacks
    return [h for h in handlers if isinstance(h, GraphCallbackHandler)]


async def dispatch(handlers: Sequence[BaseCallbackHandler], event: GraphLifecycleEvent) -> None:
    """Tell every handler about ``event``, with langchain-core's rules for handler errors."""
    name = "on_interrupt" if isinstance(event, GraphInterruptEvent) else "on_resume"
    await ahandle_event(list(handlers), name, None, event)


class _GraphCallbackManager(BaseCallbackManager):
    """A callback manager that dispatches graph lifecycle events to its graph handlers.
    Other handlers may be added (instrumentation libraries do); they get no events."""

    def __init__(
        self,
        handlers: Sequence[BaseCallbackHandler] | None = None,
        inheritable_handlers: Sequence[BaseCallbackHandler] | None = None,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(list(handlers or ()), list(inheritable_handlers or ()), parent_run_id, **kwargs)

    def on_interrupt(self, event: GraphInterruptEvent) -> None:
        handle_event(graph_handlers(self.handlers), "on_interrupt", None, event)

    def on_resume(self, event: GraphResumeEvent) -> None:
        handle_event(graph_handlers(self.handlers), "on_resume", None, event)


class _AsyncGraphCallbackManager(_GraphCallbackManager):
    @property
    def is_async(self) -> bool:
        return True

    async def on_interrupt(self, event: GraphInterruptEvent) -> None:  # type: ignore[override]
        await dispatch(graph_handlers(self.handlers), event)

    async def on_resume(self, event: GraphResumeEvent) -> None:  # type: ignore[override]
        await dispatch(graph_handlers(self.handlers), event)


def get_sync_graph_callback_manager_for_config(config: Any) -> _GraphCallbackManager:
    """A manager holding the graph handlers among ``config["callbacks"]``."""
    return _GraphCallbackManager(graph_handlers((config or {}).get("callbacks")))


def get_async_graph_callback_manager_for_config(config: Any) -> _AsyncGraphCallbackManager:
    """The async form of :func:`get_sync_graph_callback_manager_for_config`."""
    return _AsyncGraphCallbackManager(graph_handlers((config or {}).get("callbacks")))
