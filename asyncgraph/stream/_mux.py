"""``StreamMux``: routes a run's events through its transformers into the raw event log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from asyncgraph.stream._types import ProtocolEvent, StreamTransformer, transformer_requires_async
from asyncgraph.stream.stream_channel import StreamChannel

TransformerFactory = Callable[[tuple[str, ...]], StreamTransformer]
"""Builds a transformer for a scope: ``factory(scope)``. A transformer class whose
constructor takes the scope is one; ``lambda scope: T(scope, option=...)`` is another."""

__all__ = ["StreamMux", "TransformerFactory"]


def _builtins_last(transformers: Iterable[StreamTransformer]) -> list[StreamTransformer]:
    """``before_builtins`` transformers first; otherwise the given order (stable sort)."""
    return sorted(transformers, key=lambda t: not getattr(t, "before_builtins", False))


class StreamMux:
    """Dispatches events to transformers in registration order, then appends the ones
    nobody dropped to the raw log (``_events``), numbering them (``seq``) at the root.

    ``factories`` are called with the mux's scope, and again for each subgraph's child
    mux (:meth:`_make_child`); ``transformers`` are ready-made instances for this mux
    only. Within each group, ``before_builtins`` transformers come first.

    Raises:
        RuntimeError: an async-only transformer on a sync mux.
        TypeError: a transformer's ``init()`` did not return a dict.
        ValueError: two transformers claim the same projection key.
    """

    def __init__(
        self,
        transformers: list[StreamTransformer] | None = None,
        *,
        is_async: bool = False,
        factories: list[TransformerFactory] | None = None,
        scope: tuple[str, ...] = (),
        _assign_seq: bool = True,
    ) -> None:
        self.is_async = is_async
        self.scope: tuple[str, ...] = scope
        self._assign_seq = _assign_seq
        self._events: StreamChannel[ProtocolEvent] = StreamChannel()
        self._events._bind(is_async=is_async)
        self._events._bind_mux(self)
        self._transformers: list[StreamTransformer] = []
        self._channels: list[StreamChannel[Any]] = []
        self._seq = 0
        self._push_seq = 0
        self.extensions: dict[str, Any] = {}
        self.native_keys: set[str] = set()
        self._owners: dict[str, StreamTransformer] = {}
        self._factories: list[TransformerFactory] | None = list(factories) if factories is not None else None
        self._pump_fn: Callable[[], bool] | None = None
        self._apump_fn: Callable[[], Awaitable[bool]] | None = None
        for t in _builtins_last(f(scope) for f in factories or ()):
            self._register(t)
        for t in _builtins_last(transformers or ()):
            self._register(t)

    def transformer_by_key(self, key: str) -> StreamTransformer | None:
        """The transformer that contributed projection ``key``."""
        return self._owners.get(key)

    def _next_push_seq(self) -> int:
        self._push_seq += 1
        return self._push_seq

    def _register(self, transformer: StreamTransformer) -> None:
        name = type(transformer).__name__
        if transformer_requires_async(transformer) and not self.is_async:
            raise RuntimeError(
                f"{name} requires an async run (it overrides aprocess/afinalize/afail or sets "
                "requires_async=True): use astream_events(version='v3'), not stream_events()"
            )
        projection = transformer.init()
        if not isinstance(projection, dict):
            raise TypeError(f"{name}.init() must return a dict, got {type(projection).__name__}")
        clash = sorted(set(projection) & set(self.extensions))
        if clash:
            owned = ", ".join(f"{k!r} (owned by {type(self._owners[k]).__name__})" for k in clash)
            raise ValueError(f"Transformer {name} returned projection keys that conflict with already-registered keys: {owned}")
        native = bool(getattr(transformer, "_native", False))
        self._transformers.append(transformer)
        for value in projection.values():
            if isinstance(value, StreamChannel):
                self._adopt(value, native)
        self.extensions.update(projection)
        for key in projection:
            self._owners[key] = transformer
        if native:
            self.native_keys.update(projection)
        transformer._on_register(self)

    def _adopt(self, channel: StreamChannel[Any], native: bool) -> None:
        """Bind a projection channel to this mux's lane and pump; copy a named one's
        pushes into the raw log."""
        channel._bind(is_async=self.is_async)
        channel._bind_mux(self)
        channel._request_more = self._pump_fn
        channel._arequest_more = self._apump_fn
        self._channels.append(channel)
        if channel.name is not None:
            method = channel.name if native else f"custom:{channel.name}"
            channel._wire(lambda item: self._forward(method, item))

    def _forward(self, method: str, item: Any) -> None:
        """A named channel's push, as a raw-log event (not shown to transformers, so a
        transformer pushing from ``process`` does not see its own output)."""
        event: ProtocolEvent = {
            "type": "event",
            "method": method,
            "params": {"namespace": [], "timestamp": int(time.time() * 1000), "data": item},
        }
        self._append(event)

    def _append(self, event: ProtocolEvent) -> None:
        if self._assign_seq:
            self._seq += 1
            event["seq"] = self._seq
        self._events.push(event)

    # -- pumps and child muxes ---------------------------------------------------------

    def bind_pump(self, fn: Callable[[], bool]) -> None:
        """Make every cursor of this mux (and transformers that want it) drive ``fn``."""
        self._pump_fn = fn
        for ch in (self._events, *self._channels):
            ch._request_more = fn
        for t in self._transformers:
            hook = getattr(t, "_bind_pump", None)
            if hook is not None:
                hook(fn)

    def bind_apump(self, fn: Callable[[], Awaitable[bool]]) -> None:
        """Async :meth:`bind_pump`."""
        self._apump_fn = fn
        for ch in (self._events, *self._channels):
            ch._arequest_more = fn
        for t in self._transformers:
            hook = getattr(t, "_bind_apump", None)
            if hook is not None:
                hook(fn)

    def _make_child(self, scope: tuple[str, ...]) -> StreamMux:
        """A mux for a subgraph at ``scope``: fresh transformers from the same factories,
        the same pump, no ``seq`` numbering (its events are shared with this log).

        Raises:
            RuntimeError: this mux was built from instances, not factories.
        """
        if self._factories is None:
            raise RuntimeError("StreamMux._make_child requires a mux built with factories=")
        child = StreamMux(factories=self._factories, is_async=self.is_async, scope=scope, _assign_seq=False)
        if self._pump_fn is not None:
            child.bind_pump(self._pump_fn)
        if self._apump_fn is not None:
            child.bind_apump(self._apump_fn)
        return child

    # -- sync lane ---------------------------------------------------------------------

    def push(self, event: ProtocolEvent) -> None:
        """Show ``event`` to every transformer; append it unless one returned False."""
        keep = True
        for t in self._transformers:
            if not t.process(event):
                keep = False
        if keep:
            self._append(event)

    def close(self) -> None:
        """The run ended: finalize transformers, close projections and the log. The
        first ``finalize`` error is raised after everything is closed."""
        first: BaseException | None = None
        for t in self._transformers:
            try:
                t.finalize()
            except BaseException as e:  # noqa: BLE001 - re-raised below
                first = first or e
        self._close_all()
        if first is not None:
            raise first

    def fail(self, err: BaseException) -> None:
        """The run failed with ``err``: every projection and the log raise it."""
        for t in self._transformers:
            try:
                t.fail(err)
            except Exception:  # noqa: BLE001 - one bad hook must not keep the others open
                pass
        self._fail_all(err)

    def _close_all(self) -> None:
        for ch in self._channels:
            if not ch._closed:
                ch.close()
        self._events.close()

    def _fail_all(self, err: BaseException) -> None:
        for ch in self._channels:
            if not ch._closed:
                ch.fail(err)
        if not self._events._closed:
            self._events.fail(err)

    # -- async lane --------------------------------------------------------------------

    async def apush(self, event: ProtocolEvent) -> None:
        """Async :meth:`push`: each ``aprocess`` is awaited in turn."""
        keep = True
        for t in self._transformers:
            if not await t.aprocess(event):
                keep = False
        if keep:
            self._append(event)

    async def aclose(self) -> None:
        """Async :meth:`close`: scheduled tasks are awaited first (an error of one
        scheduled with ``on_error="raise"`` is raised)."""
        pending = self._collect_scheduled_tasks()
        if pending:
            results = await asyncio.gather(*pending, return_exceptions=True)
            for r in results:
                if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
                    raise r
        first: BaseException | None = None
        for t in self._transformers:
            try:
                await t.afinalize()
            except BaseException as e:  # noqa: BLE001 - re-raised below
                first = first or e
        self._close_all()
        if first is not None:
            raise first

    async def afail(self, err: BaseException) -> None:
        """Async :meth:`fail`: scheduled tasks are cancelled and awaited first."""
        pending = self._collect_scheduled_tasks()
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for t in self._transformers:
            try:
                await t.afail(err)
            except Exception:  # noqa: BLE001 - see fail()
                pass
        self._fail_all(err)

    def _collect_scheduled_tasks(self) -> list[asyncio.Task[Any]]:
        return [
            task
            for t in self._transformers
            for task in t.__dict__.get("_stream_scheduled_tasks", ())
            if not task.done()
        ]
