"""The only sync-over-async bridge: sync code driving async code.

Two cases:

* :func:`run_sync` / :func:`iterate_sync`: the sync API drives the async engine, in the
  calling thread (as LangGraph's sync API runs in it). Each thread that calls the sync API
  gets one event loop, reused across calls (creating a loop per call costs ~100 µs). If
  the calling thread is already running a loop (sync API called from async code or a
  Jupyter cell, or a nested ``invoke`` inside a node running inline), that loop is set
  aside for the call: a private loop runs here with the running one unset, and the
  running one is put back before the call returns (or, for an iterator, before each item
  is handed out). The caller's loop waits for the call either way, as a sync call makes
  it; no helper thread, so no thread to join (which a blocking-call detector such as
  ``blockbuster`` reports as a lock taken on the event loop).
* :func:`run_on_loop` / :func:`sync_twin`: an object bound to one event loop (an
  async-native saver or store: its connection lives on that loop) serves sync calls
  from other threads by submitting to its loop and waiting. Called on that loop's own
  thread it would deadlock, so it raises, naming the async method to await instead.

The other direction (async code over sync code) is :mod:`asyncgraph._async`.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_events = asyncio.events
_local = threading.local()
_SPARES = 4  # idle private loops kept per thread (one per level of nesting in practice)


def _thread_loop() -> asyncio.AbstractEventLoop | None:
    """This thread's reusable loop, or None if one is running here already."""
    if _events._get_running_loop() is not None:
        return None
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _new_loop()
        _local.loop = loop
    elif loop.is_running():
        return None
    return loop


def _new_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    # Closed when its thread goes away (or at exit for the main thread), so no loop or
    # self-pipe socket is left for the garbage collector to complain about.
    weakref.finalize(threading.current_thread(), _close_loop, loop)
    return loop


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    if not loop.is_running() and not loop.is_closed():
        loop.close()


def _take_private() -> asyncio.AbstractEventLoop:
    """An idle loop of this thread's spares (or a new one) for a call made while a loop
    runs in this thread."""
    spares: list[asyncio.AbstractEventLoop] | None = getattr(_local, "spares", None)
    while spares:
        loop = spares.pop()
        if not loop.is_closed():
            return loop
    return _new_loop()


def _give_back(loop: asyncio.AbstractEventLoop) -> None:
    spares: list[asyncio.AbstractEventLoop] | None = getattr(_local, "spares", None)
    if spares is None:
        spares = _local.spares = []
    if len(spares) < _SPARES and not loop.is_closed():
        spares.append(loop)
    else:
        _close_loop(loop)


def _run_here(loop: asyncio.AbstractEventLoop, aw: Awaitable[T]) -> T:
    """``loop.run_until_complete(aw)`` in this thread, with the loop running here (if
    any) unset for the call and put back after."""
    outer = _events._get_running_loop()
    if outer is None:
        return loop.run_until_complete(aw)
    _events._set_running_loop(None)
    try:
        return loop.run_until_complete(aw)
    finally:
        _events._set_running_loop(outer)


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine ``make()`` to completion from sync code and return its result."""
    loop = _thread_loop()
    if loop is not None:
        return loop.run_until_complete(make())  # type: ignore[arg-type]
    loop = _take_private()
    try:
        return _run_here(loop, make())
    finally:
        _give_back(loop)


_DONE = object()


def iterate_sync(make: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
    """Iterate the async iterator ``make()`` from sync code, one item at a time.

    Closing the returned generator early closes the async iterator (cancelling the
    run behind it). Between items, the caller's own running loop (if any) is in place.
    """
    loop = _thread_loop()
    private = loop is None
    if loop is None:
        loop = _take_private()
    agen = make()
    try:
        while True:
            try:
                item = _run_here(loop, agen.__anext__())
            except StopAsyncIteration:
                return
            yield item
    finally:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None and not loop.is_closed() and not loop.is_running():
            _run_here(loop, aclose())
        if private:
            _give_back(loop)


def run_on_loop(
    loop: asyncio.AbstractEventLoop | None,
    coro: Coroutine[Any, Any, T],
    what: str,
    instead: str,
    error: type[Exception] = RuntimeError,
) -> T:
    """Run ``coro`` on ``loop`` (the loop an object is bound to) from another thread and
    wait for its result.

    ``what`` names the blocking call (``"AsyncSqliteSaver.get_tuple()"``), ``instead``
    what to await instead (``"`await saver.aget_tuple(...)`"``). Raises ``error`` on ``loop``'s own thread (it would deadlock), and
    ``RuntimeError`` when the object has no loop yet; ``coro`` is closed either way.
    """
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    # The loop's own thread, running it or having set it aside for a nested sync call
    # (:func:`run_sync`): it cannot serve the call until this thread returns.
    here = running is not None and (loop is None or running is loop)
    if here or (loop is not None and getattr(loop, "_thread_id", None) == threading.get_ident()):
        coro.close()
        raise error(
            f"{what} blocks, and was called from the event loop's thread, where it would "
            f"deadlock: use {instead} instead"
        )
    if loop is None or loop.is_closed():
        coro.close()
        raise RuntimeError(
            f"{what} runs on the event loop the object is used from, and it has none yet: "
            f"use {instead} inside the loop first"
        )
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


def sync_twin(async_name: str, *, iterates: bool = False, role: str = "saver") -> Callable[..., Any]:
    """The sync method of an object bound to an event loop (its ``_loop``), made from its
    async method ``async_name``: runs it there with :func:`run_on_loop`. With
    ``iterates``, the async method is an async iterator; the sync one returns an
    iterator over everything it yields (collected on the loop). ``role`` names the
    object in the error message."""
    name = async_name[1:]

    def twin(self: Any, /, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self, async_name)
        what = f"{type(self).__name__}.{name}()"
        instead = f"`await {role}.{async_name}(...)`"
        if iterates:
            async def collect() -> list[Any]:
                return [item async for item in method(*args, **kwargs)]

            return iter(run_on_loop(self._loop, collect(), what, instead))
        return run_on_loop(self._loop, method(*args, **kwargs), what, instead)

    twin.__name__ = twin.__qualname__ = name
    twin.__doc__ = f"Sync twin of ``{async_name}``, run on the object's event loop."
    return twin
