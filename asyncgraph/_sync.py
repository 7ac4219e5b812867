"""The only sync-over-async bridge: sync code driving async code.

Two cases:

* :func:`run_sync` / :func:`iterate_sync`: the sync API drives the async engine. Each
  thread that calls the sync API gets one event loop, reused across calls (creating a
  loop per call costs ~100 µs). If the calling thread is already running a loop (sync
  API called from async code, or a nested ``invoke`` inside a node running inline), the
  work moves to a fresh loop on a helper thread instead, so it never deadlocks.
* :func:`run_on_loop` / :func:`sync_twin`: an object bound to one event loop (an
  async-native saver or store: its connection lives on that loop) serves sync calls
  from other threads by submitting to its loop and waiting. Called on that loop's own
  thread it would deadlock, so it raises, naming the async method to await instead.

The other direction (async code over sync code) is :mod:`asyncgraph._async`.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_local = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop | None:
    """This thread's reusable loop, or None if one is running here already."""
    if asyncio.events._get_running_loop() is not None:
        return None
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _local.loop = loop
        # Close it when its thread goes away (or at exit for the main thread), so no
        # loop or self-pipe socket is left for the garbage collector to complain about.
        weakref.finalize(threading.current_thread(), _close_loop, loop)
    elif loop.is_running():
        return None
    return loop


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    if not loop.is_running() and not loop.is_closed():
        loop.close()


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine ``make()`` to completion from sync code and return its result."""
    loop = _thread_loop()
    if loop is not None:
        return loop.run_until_complete(make())  # type: ignore[arg-type]
    result: list[Any] = []

    def target() -> None:
        try:
            result.append((True, asyncio.run(make())))  # type: ignore[arg-type]
        except BaseException as exc:  # handed to the caller's thread
            result.append((False, exc))

    # The caller's context goes along: a graph invoked inside a running node (a sync
    # node under sync ``invoke`` runs on the loop's thread) is that node's subgraph.
    t = threading.Thread(target=contextvars.copy_context().run, args=(target,), name="asyncgraph-sync", daemon=True)
    t.start()
    t.join()
    ok, value = result[0]
    if ok:
        return value  # type: ignore[no-any-return]
    raise value


_DONE = object()


def iterate_sync(make: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
    """Iterate the async iterator ``make()`` from sync code, one item at a time.

    Closing the returned generator early closes the async iterator (cancelling the
    run behind it).
    """
    loop = _thread_loop()
    if loop is not None:
        agen = make()
        try:
            while True:
                try:
                    item = loop.run_until_complete(agen.__anext__())  # type: ignore[arg-type]
                except StopAsyncIteration:
                    return
                yield item
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None and not loop.is_closed():
                loop.run_until_complete(aclose())
        return
    # A loop is running in this thread: drive the iterator on a helper thread.
    q: queue.Queue[Any] = queue.Queue(maxsize=64)
    stop = threading.Event()

    async def pump() -> None:
        agen = make()
        try:
            async for item in agen:
                while True:
                    if stop.is_set():
                        return
                    try:
                        q.put_nowait((True, item))
                        break
                    except queue.Full:
                        await asyncio.sleep(0.001)
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None:
                await aclose()

    def target() -> None:
        try:
            asyncio.run(pump())
            q.put((True, _DONE))
        except BaseException as exc:
            q.put((False, exc))

    t = threading.Thread(target=target, name="asyncgraph-stream", daemon=True)
    t.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        while t.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(0.01)


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
    if running is not None and (loop is None or running is loop):
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
