"""``StreamChannel``: a single-consumer queue that a run stream's projections are made of."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from asyncgraph.stream._mux import StreamMux

T = TypeVar("T")

__all__ = ["StreamChannel"]


class StreamChannel(Generic[T]):
    """A drainable queue with one subscriber, filled by a transformer.

    Iterating it drives the run: when the queue is empty, the cursor asks the run for
    one more event (the "pump") until the channel closes. It is bound by the mux to the
    sync or the async lane; only that lane's iteration works. A second subscriber is
    an error (use :meth:`tee` / :meth:`atee`). Items pushed before anyone subscribed
    are not kept: subscribe before the run moves past what you want to see.

    A channel created with a ``name`` is also copied into the run's raw event log as
    events of method ``name`` (native transformers) or ``custom:<name>``.
    """

    def __init__(self, name: str | None = None, *, maxlen: int | None = None) -> None:
        if maxlen is not None and maxlen <= 0:
            raise ValueError(f"StreamChannel maxlen must be a positive int or None, got {maxlen!r}")
        self.name = name
        self._maxlen = maxlen  # accepted for LangGraph compatibility; the pump bounds memory
        self._items: deque[tuple[int, T]] = deque()
        self._closed = False
        self._error: BaseException | None = None
        self._is_async: bool | None = None
        self._subscribed = False
        self._request_more: Callable[[], bool] | None = None
        self._arequest_more: Callable[[], Awaitable[bool]] | None = None
        self._wire_fn: Callable[[T], None] | None = None
        self._mux: StreamMux | None = None

    # -- wiring (by the mux) -----------------------------------------------------------

    def _bind(self, *, is_async: bool) -> None:
        if self._is_async is not None:
            raise RuntimeError("StreamChannel is already bound")
        self._is_async = is_async

    def _bind_mux(self, mux: StreamMux) -> None:
        self._mux = mux

    def _wire(self, fn: Callable[[T], None]) -> None:
        self._wire_fn = fn

    # -- producer ----------------------------------------------------------------------

    def push(self, item: T) -> None:
        """Queue ``item`` for the subscriber (if any) and copy it to the raw log (if named).

        Raises:
            RuntimeError: the channel is closed and has a subscriber.
        """
        if self._subscribed:
            if self._closed:
                raise RuntimeError("Cannot push to a closed StreamChannel")
            self._items.append((self._mux._next_push_seq() if self._mux is not None else 0, item))
        if self._wire_fn is not None:
            self._wire_fn(item)

    def close(self) -> None:
        """No more items; the subscriber ends after draining."""
        self._closed = True

    def fail(self, err: BaseException) -> None:
        """No more items; the subscriber raises ``err`` after draining."""
        self._error = err
        self._closed = True

    # -- consumer ----------------------------------------------------------------------

    def _subscribe(self, want_async: bool) -> None:
        if self._is_async is None:
            raise TypeError("StreamChannel has not been bound yet. Register the transformer with a StreamMux first.")
        if self._is_async and not want_async:
            raise TypeError("This StreamChannel is bound to async mode — use 'async for' instead.")
        if want_async and not self._is_async:
            raise TypeError("This StreamChannel is bound to sync mode — use 'for' instead.")
        if self._subscribed:
            raise RuntimeError("StreamChannel already has a subscriber; use .tee(n) / .atee(n) for fan-out.")
        self._subscribed = True

    def __iter__(self) -> Iterator[T]:
        self._subscribe(False)
        return self._cursor()

    def _cursor(self) -> Iterator[T]:
        items = self._items
        while True:
            if items:
                yield items.popleft()[1]
            elif self._closed:
                if self._error is not None:
                    raise self._error
                return
            elif self._request_more is None or not self._request_more():
                if not items and not self._closed:
                    return

    def __aiter__(self) -> AsyncIterator[T]:
        self._subscribe(True)
        return self._acursor()

    async def _acursor(self) -> AsyncIterator[T]:
        items = self._items
        while True:
            if items:
                yield items.popleft()[1]
            elif self._closed:
                if self._error is not None:
                    raise self._error
                return
            elif self._arequest_more is None or not await self._arequest_more():
                if not items and not self._closed:
                    return

    def tee(self, n: int = 2) -> tuple[Iterator[T], ...]:
        """Subscribe once and hand out ``n`` independent iterators over the items."""
        if n < 1:
            raise ValueError(f"tee() requires n >= 1, got {n}")
        source = iter(self)
        bufs: list[deque[T]] = [deque() for _ in range(n)]
        done = [False]

        def branch(buf: deque[T]) -> Iterator[T]:
            while True:
                if buf:
                    yield buf.popleft()
                    continue
                if done[0]:
                    return
                try:
                    item = next(source)
                except StopIteration:
                    done[0] = True
                    return
                for b in bufs:
                    b.append(item)

        return tuple(branch(b) for b in bufs)

    def atee(self, n: int = 2) -> tuple[AsyncIterator[T], ...]:
        """Async :meth:`tee`; one branch at a time pulls from the source."""
        if n < 1:
            raise ValueError(f"atee() requires n >= 1, got {n}")
        source = self.__aiter__()
        bufs: list[deque[T]] = [deque() for _ in range(n)]
        state: dict[str, Any] = {"done": False, "error": None}
        lock = asyncio.Lock()

        async def branch(buf: deque[T]) -> AsyncIterator[T]:
            while True:
                if buf:
                    yield buf.popleft()
                    continue
                if state["done"]:
                    if state["error"] is not None:
                        raise state["error"]
                    return
                async with lock:
                    if buf or state["done"]:
                        continue
                    try:
                        item = await source.__anext__()
                    except StopAsyncIteration:
                        state["done"] = True
                        continue
                    except Exception as e:
                        state["done"], state["error"] = True, e
                        continue
                    for b in bufs:
                        b.append(item)

        return tuple(branch(b) for b in bufs)
