"""The run streams that ``stream_events(version="v3")`` / ``astream_events`` return.

Nothing runs in the background: reading any projection (or the raw events, or
``output``) pulls the next event from the graph when its queue is empty, pushes it
through the mux, and so fills every projection's queue a little further.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

from asyncgraph.stream._convert import convert_to_protocol_event
from asyncgraph.stream._mux import StreamMux
from asyncgraph.stream._types import ProtocolEvent
from asyncgraph.stream.stream_channel import StreamChannel

if TYPE_CHECKING:
    from asyncgraph.stream.transformers import LifecyclePayload, SubgraphStatus

__all__ = ["AsyncGraphRunStream", "AsyncSubgraphRunStream", "GraphRunStream", "SubgraphRunStream"]


def _no_projection(run: object, name: str) -> NoReturn:
    mux = run.__dict__.get("_mux")  # not getattr: this runs from __getattr__
    known = ", ".join(sorted(mux.native_keys)) if mux is not None else ""
    raise AttributeError(f"{type(run).__name__!r} object has no attribute {name!r} (registered projections: {known or 'none'})")


class _RunState:
    """What both lanes track from the run's own ``values`` events."""

    _mux: StreamMux
    _scope_list: list[str]
    _latest: Any
    _interrupted: bool
    _interrupts: list[Any]
    _exhausted: bool

    def _init_state(self, mux: StreamMux) -> None:
        self._mux = mux
        self.extensions: Mapping[str, Any] = MappingProxyType(mux.extensions)
        self._exhausted = False
        self._latest = None
        self._interrupted = False
        self._interrupts = []
        self._scope_list = list(mux.scope)
        for key in mux.native_keys:
            setattr(self, key, mux.extensions[key])

    def _observe_event(self, event: ProtocolEvent) -> None:
        """Track the last state and the interrupts at this stream's own level."""
        if event["method"] != "values":
            return
        params = event["params"]
        if params["namespace"] != self._scope_list:
            return
        self._latest = params["data"]
        interrupts = params.get("interrupts", ())
        if interrupts:
            self._interrupted = True
            self._interrupts.extend(interrupts)

    def _raise_if_failed(self) -> None:
        err = self._mux._events._error
        if err is not None:
            raise err


class GraphRunStream(_RunState):
    """A sync v3 run. Projections: ``values``, ``messages``, ``lifecycle``,
    ``subgraphs`` always; ``updates`` / ``custom`` / ``checkpoints`` / ``debug`` /
    ``tasks`` and others when their transformer is registered; all of them in
    ``extensions``. Iterating the run itself yields the raw protocol events. Each
    projection has one subscriber (``tee`` it for more). Use it as a context manager
    to stop the run on early exit.
    """

    values: StreamChannel[dict[str, Any]]
    messages: StreamChannel[Any]
    lifecycle: StreamChannel[LifecyclePayload]
    subgraphs: StreamChannel[SubgraphRunStream]
    updates: StreamChannel[dict[str, Any]]
    custom: StreamChannel[Any]
    checkpoints: StreamChannel[dict[str, Any]]
    debug: StreamChannel[dict[str, Any]]
    tasks: StreamChannel[dict[str, Any]]

    def __getattr__(self, name: str) -> StreamChannel[Any]:
        _no_projection(self, name)

    def __init__(self, graph_iter: Iterator[Any] | None, mux: StreamMux, *, wire_pump: bool = True) -> None:
        self._graph_iter = graph_iter
        self._init_state(mux)
        if wire_pump:
            mux.bind_pump(self._pump_next)

    def _pump_next(self) -> bool:
        """Move the run one event forward; False once it has ended."""
        if self._exhausted or self._graph_iter is None:
            return False
        try:
            part = next(self._graph_iter)
        except StopIteration:
            self._exhausted = True
            self._mux.close()
            return False
        except Exception as e:
            self._exhausted = True
            self._mux.fail(e)
            return False
        event = convert_to_protocol_event(part)
        self._observe_event(event)
        try:
            self._mux.push(event)
        except Exception as e:  # a transformer's error ends the run like the graph's would
            self._exhausted = True
            self._close_graph()
            self._mux.fail(e)
            return False
        return True

    def _drive(self) -> None:
        while self._pump_next():
            pass

    def _close_graph(self) -> None:
        it, self._graph_iter = self._graph_iter, None
        close = getattr(it, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # noqa: BLE001 - stopping a run we no longer read
                pass

    def abort(self) -> None:
        """Stop the run now (its running nodes are cancelled); idempotent."""
        if self._exhausted:
            return
        self._exhausted = True
        self._close_graph()
        try:
            self._mux.close()
        except Exception:  # noqa: BLE001 - the run was abandoned
            pass

    def __enter__(self) -> GraphRunStream:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.abort()

    @property
    def output(self) -> Any:
        """Run to the end; the final state (the last ``values`` at this level)."""
        self._drive()
        self._raise_if_failed()
        return self._latest

    @property
    def interrupted(self) -> bool:
        """Run to the end; whether it paused on an interrupt."""
        self._drive()
        self._raise_if_failed()
        return self._interrupted

    @property
    def interrupts(self) -> list[Any]:
        """Run to the end; the interrupts it paused on."""
        self._drive()
        self._raise_if_failed()
        return self._interrupts

    def __iter__(self) -> Iterator[ProtocolEvent]:
        return iter(self._mux._events)

    def interleave(self, *names: str) -> Iterator[tuple[str, Any]]:
        """Iterate several projections at once, ``(name, item)`` in the order items
        were pushed.

        Raises:
            KeyError: an unknown projection name.
            TypeError: a projection that is not a sync ``StreamChannel``.
            RuntimeError: a projection that already has a subscriber.
        """
        chans: dict[str, StreamChannel[Any]] = {}
        try:
            for name in names:
                ch = self.extensions[name]
                if not isinstance(ch, StreamChannel):
                    raise TypeError(f"interleave() requires StreamChannel projections, got {type(ch).__name__} for {name!r}")
                ch._subscribe(False)
                chans[name] = ch
            yield from _interleave(chans, self._mux._pump_fn)
        finally:
            for ch in chans.values():
                ch._subscribed = False


def _interleave(chans: dict[str, StreamChannel[Any]], pump: Callable[[], bool] | None) -> Iterator[tuple[str, Any]]:
    live = dict(chans)
    while live:
        ready = [(ch._items[0][0], name) for name, ch in live.items() if ch._items]
        if ready:
            name = min(ready)[1]
            yield name, live[name]._items.popleft()[1]
            continue
        for name, ch in list(live.items()):
            if ch._closed:
                if ch._error is not None:
                    raise ch._error
                del live[name]
        if live and (pump is None or not pump()) and not any(ch._items or ch._closed for ch in live.values()):
            return


class AsyncGraphRunStream(_RunState):
    """The async twin of :class:`GraphRunStream` (``astream_events(version="v3")``).

    Several consumers may read projections concurrently: one of them pulls the next
    event at a time, the others wait for it. ``output()`` / ``interrupted()`` /
    ``interrupts()`` are coroutines. Use ``async with`` to stop the run on early exit.
    """

    values: StreamChannel[dict[str, Any]]
    messages: StreamChannel[Any]
    lifecycle: StreamChannel[LifecyclePayload]
    subgraphs: StreamChannel[AsyncSubgraphRunStream]
    updates: StreamChannel[dict[str, Any]]
    custom: StreamChannel[Any]
    checkpoints: StreamChannel[dict[str, Any]]
    debug: StreamChannel[dict[str, Any]]
    tasks: StreamChannel[dict[str, Any]]

    def __getattr__(self, name: str) -> StreamChannel[Any]:
        _no_projection(self, name)

    def __init__(self, graph_aiter: AsyncIterator[Any] | None, mux: StreamMux, *, wire_pump: bool = True) -> None:
        self._graph_aiter = graph_aiter
        self._init_state(mux)
        self._pump_cond = asyncio.Condition()
        self._pumping = False
        self._anext_task: asyncio.Future[Any] | None = None
        self._aborting = False
        if wire_pump:
            mux.bind_apump(self._apump_next)

    async def _apump_next(self) -> bool:
        """Move the run one event forward, or wait for the consumer doing it; False
        once the run has ended."""
        async with self._pump_cond:
            if self._exhausted or self._graph_aiter is None:
                return False
            if self._pumping:
                await self._pump_cond.wait()
                return not self._exhausted
            self._pumping = True
        try:
            return await self._step()
        finally:
            async with self._pump_cond:
                self._pumping = False
                self._pump_cond.notify_all()

    async def _step(self) -> bool:
        assert self._graph_aiter is not None
        # The pull runs as its own task so abort() can cancel it mid-flight (an async
        # generator that is running cannot be aclose()d).
        self._anext_task = pull = asyncio.ensure_future(self._graph_aiter.__anext__())
        try:
            part = await pull
        except StopAsyncIteration:
            self._exhausted = True
            await self._finish_close()
            return False
        except asyncio.CancelledError:
            if self._aborting:
                self._exhausted = True
                return False
            pull.cancel()
            raise
        except Exception as e:
            self._exhausted = True
            await self._mux.afail(e)
            return False
        finally:
            self._anext_task = None
        event = convert_to_protocol_event(part)
        self._observe_event(event)
        try:
            await self._mux.apush(event)
        except Exception as e:  # a transformer's error ends the run like the graph's would
            self._exhausted = True
            await self._aclose_graph()
            await self._mux.afail(e)
            return False
        return True

    async def _finish_close(self) -> None:
        try:
            await self._mux.aclose()
        except Exception as e:  # a scheduled task or afinalize failed: the run failed
            await self._mux.afail(e)

    async def _aclose_graph(self) -> None:
        it, self._graph_aiter = self._graph_aiter, None
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:  # noqa: BLE001 - stopping a run we no longer read
                pass

    async def abort(self) -> None:
        """Stop the run now (its running nodes are cancelled); idempotent."""
        async with self._pump_cond:
            if self._exhausted:
                return
            self._exhausted = self._aborting = True
            pull = self._anext_task
            self._pump_cond.notify_all()
        if pull is not None and not pull.done():
            pull.cancel()
            try:
                await pull
            except (asyncio.CancelledError, Exception):
                pass
        await self._aclose_graph()
        try:
            await self._mux.aclose()
        except Exception:  # noqa: BLE001 - the run was abandoned
            pass

    async def __aenter__(self) -> AsyncGraphRunStream:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.abort()

    async def _adrive(self) -> None:
        while await self._apump_next():
            pass

    async def output(self) -> Any:
        """Run to the end; the final state (the last ``values`` at this level)."""
        await self._adrive()
        self._raise_if_failed()
        return self._latest

    async def interrupted(self) -> bool:
        """Run to the end; whether it paused on an interrupt."""
        await self._adrive()
        self._raise_if_failed()
        return self._interrupted

    async def interrupts(self) -> list[Any]:
        """Run to the end; the interrupts it paused on."""
        await self._adrive()
        self._raise_if_failed()
        return self._interrupts

    def __aiter__(self) -> AsyncIterator[ProtocolEvent]:
        return self._mux._events.__aiter__()


class _SubgraphInfo:
    """What a subgraph handle knows about its subgraph; ``status`` is kept current by
    the transformer that made the handle."""

    path: tuple[str, ...]
    graph_name: str | None
    trigger_call_id: str | None
    status: SubgraphStatus
    error: str | None
    _seen_terminal: bool

    def _init_info(self, path: tuple[str, ...], graph_name: str | None, trigger_call_id: str | None) -> None:
        self.path = path
        self.graph_name = graph_name
        self.trigger_call_id = trigger_call_id
        self.status = "started"
        self.error = None
        self._seen_terminal = False

    def _subgraph_done(self) -> bool:
        return self._exhausted or self._seen_terminal or self._mux._events._closed  # type: ignore[attr-defined, no-any-return]


class SubgraphRunStream(GraphRunStream, _SubgraphInfo):
    """A subgraph of a sync run (from ``run.subgraphs``): the same projections, scoped
    to the subgraph; reading them drives the whole run."""

    def __init__(self, mux: StreamMux, *, path: tuple[str, ...], graph_name: str | None = None,
                 trigger_call_id: str | None = None) -> None:
        self._parent_pump_fn = mux._pump_fn
        super().__init__(None, mux, wire_pump=False)
        self._init_info(path, graph_name, trigger_call_id)

    def _pump_next(self) -> bool:
        if self._subgraph_done() or self._parent_pump_fn is None:
            return False
        return self._parent_pump_fn()


class AsyncSubgraphRunStream(AsyncGraphRunStream, _SubgraphInfo):
    """A subgraph of an async run (from ``run.subgraphs``)."""

    def __init__(self, mux: StreamMux, *, path: tuple[str, ...], graph_name: str | None = None,
                 trigger_call_id: str | None = None) -> None:
        self._parent_apump_fn = mux._apump_fn
        super().__init__(None, mux, wire_pump=False)
        self._init_info(path, graph_name, trigger_call_id)

    async def _apump_next(self) -> bool:
        if self._subgraph_done() or self._parent_apump_fn is None:
            return False
        return await self._parent_apump_fn()
