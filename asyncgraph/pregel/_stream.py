"""Streaming: where a run's chunks go and how the reader gets them.

The sink (:class:`StreamSink`) is the buffer between the run and its reader, with its
bounds; :class:`ChildSink` is a subgraph's view of its parent's stream.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Any

from asyncgraph.errors import StreamClosedError

# Chunks a stream holds for its reader before a producer on another thread (a sync node
# in a worker thread, a sync chat model's token callbacks) waits for the reader.
STREAM_BUFFER = 1024


class StreamSink:
    """Where a run's stream chunks go: a buffer the consumer drains.

    ``push`` may be called from any thread; chunks keep the order they were pushed in.
    Each item is ``(namespace, mode, chunk)``.

    Bounds: a producer on another thread (a sync node in a worker thread) waits while
    ``maxsize`` chunks are waiting for the reader, and gets
    :class:`~asyncgraph.errors.StreamClosedError` once the reader has gone away (the
    thread cannot be cancelled, so its next write stops it). Code on the event loop's
    thread (async nodes) cannot wait inside a sync ``push``: its chunks are bounded by
    the step, since the run does not start the next step until the reader took them.
    """

    __slots__ = ("buf", "waiter", "modes", "subgraphs", "loop", "thread", "drained",
                 "maxsize", "closed", "cond", "transit", "blocked")

    def __init__(self, modes: frozenset[str], subgraphs: bool, loop: asyncio.AbstractEventLoop,
                 maxsize: int = STREAM_BUFFER) -> None:
        self.buf: deque[tuple[tuple[str, ...], str, Any]] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.modes = modes
        self.subgraphs = subgraphs
        self.loop = loop
        self.thread = threading.get_ident()
        # Runs waiting for the consumer to take what they streamed (backpressure:
        # a stream does not run ahead of its reader by more than one step).
        self.drained: list[asyncio.Future[None]] = []
        self.maxsize = maxsize
        self.closed = False
        # Producers on other threads: chunks on their way to the loop (``transit``)
        # and producers waiting for room (``blocked``), both guarded by ``cond``.
        self.cond = threading.Condition()
        self.transit = 0
        self.blocked = 0

    def push(self, ns: tuple[str, ...], mode: str, chunk: Any) -> None:
        if threading.get_ident() != self.thread:
            self._push_from_thread(ns, mode, chunk)
        else:
            self._push(ns, mode, chunk)

    def _push(self, ns: tuple[str, ...], mode: str, chunk: Any) -> None:
        self.buf.append((ns, mode, chunk))
        self.wake()

    def _push_from_thread(self, ns: tuple[str, ...], mode: str, chunk: Any) -> None:
        cond = self.cond
        with cond:
            while not self.closed and len(self.buf) + self.transit >= self.maxsize:
                self.blocked += 1
                try:
                    # Woken by ``taken``; the timeout only guards against a wake-up
                    # that raced with this producer's check.
                    cond.wait(0.05)
                finally:
                    self.blocked -= 1
            if self.closed:
                raise StreamClosedError()
            self.transit += 1
        try:
            self.loop.call_soon_threadsafe(self._arrive, ns, mode, chunk)
        except RuntimeError:  # the loop is closed: nobody reads any more
            raise StreamClosedError() from None

    def _arrive(self, ns: tuple[str, ...], mode: str, chunk: Any) -> None:
        with self.cond:
            self.transit -= 1
        self._push(ns, mode, chunk)

    def taken(self) -> None:
        """Called by the consumer after it took chunks: lets waiting producers go on."""
        if self.blocked:
            with self.cond:
                self.cond.notify_all()

    def close(self) -> None:
        """The reader has gone away: producers on other threads get
        :class:`~asyncgraph.errors.StreamClosedError` from now on."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def wait_drained(self) -> None:
        """Wait until the consumer has taken every chunk pushed so far."""
        if not self.buf:
            return
        fut = self.loop.create_future()
        self.drained.append(fut)
        self.wake()
        await fut

    def release(self) -> None:
        """Called by the consumer when the buffer is empty."""
        self.taken()
        waiting = self.drained
        if waiting:
            self.drained = []
            for fut in waiting:
                if not fut.done():
                    fut.set_result(None)


class ChildSink:
    """A subgraph's view of its parent's stream when ``subgraphs=False``: only
    ``custom`` chunks pass through (tokens reach the parent through callbacks)."""

    __slots__ = ("parent", "modes", "subgraphs")

    def __init__(self, parent: StreamSink) -> None:
        self.parent = parent
        self.modes = parent.modes & {"custom"}
        self.subgraphs = False

    def push(self, ns: tuple[str, ...], mode: str, chunk: Any) -> None:
        self.parent.push(ns, mode, chunk)

    async def wait_drained(self) -> None:
        await self.parent.wait_drained()
