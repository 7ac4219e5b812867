"""Blocking detection: report code that holds the event loop longer than a threshold.

A watchdog watches one event loop from a daemon thread. It posts a heartbeat onto the loop
(``call_soon_threadsafe``) and waits for the loop to run it. When the loop is running but has
not answered within ``threshold`` seconds, something is holding it: the thread then samples
the loop thread's Python stack (``sys._current_frames``) and attributes it to a graph node by
finding the innermost engine frame that holds a node's ``TaskContext``. Once the loop answers,
the block is reported with its duration.

Stack sampling needs no hook in the engine, so a run pays nothing per step, and nothing at all
while no watchdog is started (the engine never imports this module). A started watchdog costs
one heartbeat callback on the loop every ``threshold / 2`` seconds.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import os
import sys
import sysconfig
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Self

import asyncgraph
from asyncgraph._context import TaskContext

__all__ = ["BlockingReport", "BlockingWatchdog"]

logger = logging.getLogger("asyncgraph.watchdog")

_PKG_DIR = os.path.dirname(os.path.abspath(asyncgraph.__file__)) + os.sep
_MAX_FRAMES = 20  # frames kept in a report's stack, most recent ones
_MAX_REPORTS = 100  # reports a watchdog keeps; a long-lived process must not grow forever


@functools.cache
def _library_dirs() -> tuple[str, ...]:
    """Directories whose code is not the user's: the standard library, installed packages."""
    paths = sysconfig.get_paths()
    dirs = {os.path.abspath(paths[k]) + os.sep for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    return (*sorted(dirs), _PKG_DIR)


def _is_user_file(filename: str) -> bool:
    if filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>, ...
        return False
    return not os.path.abspath(filename).startswith(_library_dirs())


@dataclass(frozen=True, slots=True, eq=False)
class BlockingReport:
    """One stretch of time during which the event loop ran nothing else.

    Attributes:
        duration: Seconds the loop did not answer the heartbeat, accurate to about
            ``threshold / 2`` (the block may have begun before the heartbeat was posted).
        node: The graph node whose code held the loop (the innermost one when a subgraph runs
            inside a node), or None when the loop was blocked outside any graph node. Code of a
            node's conditional edges counts as the node's.
        step: The superstep of ``node`` in its own (sub)graph, or None outside a node.
        path: Node names from the outermost graph down to ``node``; ``()`` outside a node.
        location: The user's line that was running: the innermost frame outside the standard
            library, installed packages and asyncgraph (the innermost frame if there is none).
        stack: The loop thread's stack when it was sampled, most recent call last. Inside a node
            it starts at the node's function; outside, it is the innermost frames.
    """

    duration: float
    node: str | None
    step: int | None
    path: tuple[str, ...]
    location: traceback.FrameSummary
    stack: traceback.StackSummary

    def __str__(self) -> str:
        if self.node is None:
            where = "outside a graph node"
        else:
            where = f"in node '{self.node}' (step {self.step})"
            if len(self.path) > 1:
                where += f" of subgraph node {' > '.join(repr(n) for n in self.path[:-1])}"
        loc = self.location
        line = f": {loc.line}" if loc.line else ""
        return (
            f"The event loop was blocked for {self.duration:.3f} s {where}, "
            f"at {loc.filename}:{loc.lineno} in {loc.name}{line}\n"
            "Stack of the event loop's thread (most recent call last):\n" + "".join(self.stack.format()).rstrip("\n")
        )


@dataclass(slots=True)
class _Sample:
    taken_at: float  # monotonic time by which the whole sample had been read
    node: str | None
    step: int | None
    path: tuple[str, ...]
    frames: list[tuple[str, int, str]]  # (filename, lineno, function), outermost first
    user: int  # index in ``frames`` of the report's location


def _sample_stack(frame: FrameType) -> _Sample:
    """Read what a report needs from a frame chain, innermost frame first: attribute reads only.

    No source lines are read here: the sample must be taken while the loop is still blocked.
    """
    chain: list[tuple[str, int, str]] = []
    contexts: list[TaskContext] = []
    node_at = -1  # index in ``chain`` of the innermost frame holding a TaskContext
    f: FrameType | None = frame
    while f is not None:
        code = f.f_code
        filename = code.co_filename
        if filename.startswith(_PKG_DIR):
            for value in f.f_locals.values():
                if type(value) is TaskContext:
                    if not contexts or contexts[-1] is not value:
                        contexts.append(value)
                    if node_at < 0:
                        node_at = len(chain)
                    break
        chain.append((filename, f.f_lineno or code.co_firstlineno, code.co_name))
        f = f.f_back
    if node_at >= 0:
        own = chain[:node_at]  # the node's function and what it called
    else:
        own = chain
    own = own[:_MAX_FRAMES] or chain[:1]
    user = next((i for i, (filename, _, _) in enumerate(own) if _is_user_file(filename)), 0)
    taken_at = time.monotonic()
    own.reverse()
    tc = contexts[0] if contexts else None
    return _Sample(
        taken_at=taken_at,
        node=tc.task.name if tc is not None else None,
        step=tc.step if tc is not None else None,
        path=tuple(c.task.name for c in reversed(contexts)),
        frames=own,
        user=len(own) - 1 - user,
    )


class BlockingWatchdog:
    """Reports code that blocks an event loop for longer than ``threshold`` seconds.

    Use it as a context manager inside the loop it should watch::

        async def main():
            with BlockingWatchdog(threshold=0.1) as watchdog:
                await app.ainvoke(inputs)
            watchdog.check()  # raises AssertionError if anything blocked

    Each block is reported once, when the loop runs again (or when the watchdog stops while the
    loop is still blocked), as a :class:`BlockingReport` naming the graph node, its step, and the
    user's line that held the loop. Reports go to ``on_block(report)``, called on the watchdog's
    thread, or, without ``on_block``, to the ``asyncgraph.watchdog`` logger as warnings; either
    way the latest 100 are kept in ``reports``.

    A block shorter than ``threshold`` is never reported; one longer than about
    ``1.5 * threshold`` reliably is (heartbeats are ``threshold / 2`` apart). A sync node that asyncgraph runs in a worker thread does not block the loop
    and is not reported. Time during which the loop is not running at all (between
    ``run_until_complete`` calls) is not a block.

    Args:
        threshold: Seconds the loop may be held before it counts as blocked.
        on_block: Called with each report on the watchdog's thread. Exceptions it raises are
            logged; it should return quickly, as it delays the next heartbeat.

    Raises:
        ValueError: ``threshold`` is not positive.
    """

    def __init__(self, threshold: float = 0.1, *, on_block: Callable[[BlockingReport], object] | None = None) -> None:
        if not threshold > 0:
            raise ValueError(f"BlockingWatchdog threshold must be a positive number of seconds, got {threshold!r}")
        self.threshold = threshold
        self.on_block = on_block
        self.reports: collections.deque[BlockingReport] = collections.deque(maxlen=_MAX_REPORTS)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._answered = threading.Event()
        self._answered_at = 0.0
        self._stop_requested_at = 0.0

    # -- lifecycle ------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> Self:
        """Start watching ``loop``, by default the running loop.

        Raises:
            RuntimeError: no loop is given and none is running, or the watchdog was started before.
        """
        if self._thread is not None:
            raise RuntimeError("This BlockingWatchdog was already started; create a new one")
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise RuntimeError(
                    "BlockingWatchdog.start() needs a running event loop, or the loop to watch as its argument"
                ) from None
            self._loop_thread = threading.get_ident()
        self._loop = loop
        self._thread = threading.Thread(target=self._monitor, name="asyncgraph-watchdog", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching and wait for the watchdog's thread to end. Idempotent.

        A block still in progress is reported before this returns.
        """
        thread = self._thread
        if thread is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._stop_requested_at = time.monotonic()  # the loop's thread waits in stop() from here
        self._stopping.set()
        self._answered.set()  # wakes the thread if it is waiting for a heartbeat
        if thread is not threading.current_thread():
            thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def check(self) -> None:
        """Raise ``AssertionError`` describing every block reported so far, if there was one."""
        if self.reports:
            n = len(self.reports)
            raise AssertionError(
                f"The event loop was blocked {n} time{'s' if n > 1 else ''} for longer than "
                f"{self.threshold} s:\n\n" + "\n\n".join(map(str, self.reports))
            )

    # -- the watchdog's thread ----------------------------------------------------------

    def _answer(self) -> None:
        """The heartbeat: runs on the loop's thread."""
        self._answered_at = time.monotonic()
        self._loop_thread = threading.get_ident()
        self._answered.set()

    def _monitor(self) -> None:
        loop = self._loop
        assert loop is not None
        threshold = self.threshold
        answered = self._answered
        stopping = self._stopping
        while not stopping.is_set():
            answered.clear()
            posted = time.monotonic()
            try:
                loop.call_soon_threadsafe(self._answer)
            except RuntimeError:  # the loop was closed: nothing is left to watch
                return
            sample: _Sample | None = None
            while not answered.wait(
                threshold if sample is not None else max(posted + threshold - time.monotonic(), 0.0)
            ):
                now = time.monotonic()
                if not loop.is_running():
                    # A loop that is not running is idle, not blocked.
                    if sample is not None:
                        self._report(sample, now - posted)
                        sample = None
                    if loop.is_closed():
                        return
                    posted = now
                    continue
                if sample is None and now - posted >= threshold:
                    sample = self._sample()
            if stopping.is_set():
                # A sample read after stop() began may show the loop's thread inside stop() itself
                # (waiting for this thread): that is the watchdog's own wait, not a block.
                if sample is not None and not 0.0 < self._stop_requested_at <= sample.taken_at:
                    # Stopped by another thread while the loop may still be blocked.
                    end = self._answered_at if self._answered_at > sample.taken_at else time.monotonic()
                    self._report(sample, end - posted)
                return
            # A sample counts only if the loop was still blocked after it had been read.
            if sample is not None and self._answered_at > sample.taken_at:
                self._report(sample, self._answered_at - posted)
            stopping.wait(threshold / 2)

    def _sample(self) -> _Sample | None:
        tid = self._loop_thread
        if tid is None:  # started with an explicit loop that has not answered yet
            tid = getattr(self._loop, "_thread_id", None)
            if tid is None:
                return None
        frame = sys._current_frames().get(tid)
        if frame is None:
            return None
        try:
            return _sample_stack(frame)
        except Exception:  # the loop's thread moved on under us: skip this one, keep watching
            logger.debug("BlockingWatchdog could not sample the event loop's stack", exc_info=True)
            return None
        finally:
            del frame  # no reference to the loop thread's frames outlives the sample

    def _report(self, sample: _Sample, duration: float) -> None:
        summaries = [traceback.FrameSummary(fn, lineno, name) for fn, lineno, name in sample.frames]
        report = BlockingReport(
            duration=duration,
            node=sample.node,
            step=sample.step,
            path=sample.path,
            location=summaries[sample.user],
            stack=traceback.StackSummary.from_list(summaries),
        )
        self.reports.append(report)
        on_block = self.on_block
        if on_block is None:
            logger.warning("%s", report)
            return
        try:
            on_block(report)
        except Exception:
            logger.exception("BlockingWatchdog on_block callback %r failed", on_block)
