"""The event envelope of v3 streaming and the transformer contract.

A run's raw stream parts (``values``, ``updates``, ``messages``, ...) are wrapped in a
:class:`ProtocolEvent` and passed through a pipeline of :class:`StreamTransformer`\\ s,
each of which builds projections (usually :class:`~asyncgraph.stream.StreamChannel`\\ s)
that the run stream exposes as attributes or in ``run.extensions``.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from typing import Any, ClassVar, Literal

from typing_extensions import NotRequired, TypedDict

_log = logging.getLogger(__name__)

__all__ = ["ProtocolEvent", "StreamTransformer", "transformer_requires_async"]


class _ProtocolEventParams(TypedDict):
    """Where (``namespace``), when (``timestamp``: wall-clock ms, not monotonic) and
    what (``data``); a ``values`` event also carries the pause's ``interrupts``."""

    namespace: list[str]
    timestamp: int
    data: Any
    interrupts: NotRequired[tuple[Any, ...]]


class ProtocolEvent(TypedDict):
    """One event of a v3 run. ``method`` is the stream mode (or a transformer's
    channel name); ``seq`` orders the root log's events (assigned as they enter it)."""

    type: Literal["event"]
    event_id: NotRequired[str]
    seq: NotRequired[int]
    method: str
    params: _ProtocolEventParams


class StreamTransformer(ABC):
    """Builds projections from the events of a run.

    Implement :meth:`init` (return the projection dict: its keys land in
    ``run.extensions``, and as attributes of the run when the class sets
    ``_native = True``) and :meth:`process` (or :meth:`aprocess`); return ``False`` from
    it to keep the event out of the raw event log. Channels in the projection are
    closed (or failed) by the mux when the run ends.

    Class attributes:
        required_stream_modes: the graph stream modes this transformer reads; a v3 run
            asks the graph for the union over its transformers.
        requires_async: set when the transformer needs an event loop (for
            :meth:`schedule`); overriding an async hook implies it, unless
            ``supports_sync`` is set too.
        before_builtins: register ahead of the built-in transformers, to see (and
            edit) events before they are projected.
    """

    requires_async: ClassVar[bool] = False
    supports_sync: ClassVar[bool] = False
    required_stream_modes: ClassVar[tuple[str, ...]] = ()
    before_builtins: ClassVar[bool] = False

    def __init__(self, scope: tuple[str, ...] = ()) -> None:
        self.scope: tuple[str, ...] = scope

    @abstractmethod
    def init(self) -> dict[str, Any]:
        """Return this transformer's projections, by name."""

    def _on_register(self, mux: Any) -> None:
        """Called once the mux has registered this transformer."""

    def process(self, event: ProtocolEvent) -> bool:
        """Observe one event (sync lane). ``False`` drops it from the raw log."""
        raise NotImplementedError(f"{type(self).__name__} must override process() or aprocess()")

    async def aprocess(self, event: ProtocolEvent) -> bool:
        """Observe one event (async lane); awaited before the next transformer runs."""
        return self.process(event)

    def finalize(self) -> None:
        """The run ended normally."""

    async def afinalize(self) -> None:
        """The run ended normally (async lane); scheduled tasks have finished."""
        self.finalize()

    def fail(self, err: BaseException) -> None:
        """The run ended with ``err``."""

    async def afail(self, err: BaseException) -> None:
        """The run ended with ``err`` (async lane); scheduled tasks were cancelled."""
        self.fail(err)

    def schedule(
        self, coro: Coroutine[Any, Any, Any], *, on_error: Literal["log", "raise"] = "log"
    ) -> asyncio.Task[Any]:
        """Run ``coro`` alongside the stream; the mux awaits it before the run's end is
        reported (and cancels it if the run fails). With ``on_error="log"`` its error
        is logged, with ``"raise"`` it fails the run.

        Raises:
            RuntimeError: no running event loop (a sync ``stream_events`` run).
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                f"{type(self).__name__}.schedule() needs a running event loop: use "
                "astream_events(version='v3'), and set requires_async = True on the class"
            ) from None
        task = asyncio.ensure_future(_logged(coro) if on_error == "log" else coro)
        tasks = self._scheduled_task_set()
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    def _scheduled_task_set(self) -> set[asyncio.Task[Any]]:
        # Kept on the instance lazily so subclasses need not call super().__init__().
        tasks: set[asyncio.Task[Any]] | None = self.__dict__.get("_stream_scheduled_tasks")
        if tasks is None:
            tasks = set()
            self._stream_scheduled_tasks: set[asyncio.Task[Any]] = tasks
        return tasks


async def _logged(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        return await coro
    except asyncio.CancelledError:
        raise
    except Exception:
        _log.exception("a task scheduled by a StreamTransformer failed")
        return None


def transformer_requires_async(transformer: StreamTransformer) -> bool:
    """Whether ``transformer`` can only run under ``astream_events``."""
    if transformer.requires_async:
        return True
    if transformer.supports_sync:
        return False
    cls = type(transformer)
    return any(getattr(cls, n) is not getattr(StreamTransformer, n) for n in ("aprocess", "afinalize", "afail"))
