"""The only async-over-sync bridge: async code calling sync code that may block.

:func:`in_thread` runs a sync call in a worker thread (the caller's context goes with
it), :func:`iterate_in_thread` draws a sync iterator item by item the same way, and
:func:`async_twin` makes the async method of a class from its sync one: a saver, cache
or store that is natively sync gets its async API from here. ``inline=True`` twins call
the sync method directly instead, for sync methods that never block (in-memory ones).

The other direction (sync code over async code) is :mod:`asyncgraph._sync`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Concatenate, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")
T = TypeVar("T")


async def in_thread(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """``fn(*args, **kwargs)`` in a worker thread, with the caller's context."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def iterate_in_thread(items: Iterator[T]) -> AsyncIterator[T]:
    """Each item of the sync iterator ``items``, each drawn in a worker thread."""
    done: Any = object()
    while (item := await asyncio.to_thread(next, items, done)) is not done:
        yield item


def async_twin(
    fn: Callable[Concatenate[S, P], R], *, inline: bool = False
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
    """The async method twin of the sync method ``fn``: calls ``self.<fn's name>`` (the
    subclass's override, looked up at call time) in a worker thread, or directly with
    ``inline``. Typed as ``fn``, returning an awaitable."""
    name = fn.__name__

    if inline:
        async def twin(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            return getattr(self, name)(*args, **kwargs)  # type: ignore[no-any-return]
    else:
        async def twin(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            return await asyncio.to_thread(getattr(self, name), *args, **kwargs)  # type: ignore[no-any-return]

    twin.__name__ = twin.__qualname__ = f"a{name}"
    twin.__doc__ = f"Async twin of ``{name}``" + (" (called inline: it never blocks)." if inline else " (run in a worker thread).")
    return twin


def async_iter_twin(
    fn: Callable[Concatenate[S, P], Iterator[T]], *, inline: bool = False
) -> Callable[Concatenate[S, P], AsyncIterator[T]]:
    """:func:`async_twin` for a sync method returning an iterator: the twin is an async
    iterator drawing it in a worker thread (or directly with ``inline``)."""
    name = fn.__name__

    async def twin(self: S, /, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[T]:
        items = getattr(self, name)(*args, **kwargs)
        if inline:
            for item in items:
                yield item
        else:
            async for item in iterate_in_thread(items):
                yield item

    twin.__name__ = twin.__qualname__ = f"a{name}"
    twin.__doc__ = f"Async twin of ``{name}``" + (" (drawn inline: it never blocks)." if inline else " (drawn in a worker thread).")
    return twin


__all__ = ["async_iter_twin", "async_twin", "in_thread", "iterate_in_thread"]
