"""The other side of a saver, made from the side it implements natively.

A saver implements either side of :data:`~asyncgraph.checkpoint.base.SAVER_METHODS`;
the other comes from here, generated from that one table:

* natively sync (SQLite, PostgreSQL): ``BaseCheckpointSaver``'s defaults run each sync
  method in a worker thread (:func:`asyncgraph._async.async_twin`);
* natively sync and never blocking (in memory): :class:`InlineAsync` calls them inline
  (a class gets its methods with the :func:`inline_async` decorator, so that its first
  base class stays ``BaseCheckpointSaver``, as LangGraph's tests expect);
* natively async (aiosqlite, psycopg async): :class:`SyncOverAsync` gives the sync
  twins, run on the saver's event loop (:func:`asyncgraph._sync.sync_twin`).
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from asyncgraph._async import async_iter_twin, async_twin
from asyncgraph._sync import sync_twin
from asyncgraph.checkpoint.base import SAVER_METHODS, BaseCheckpointSaver


class SyncOverAsync:
    """Mixin giving an async-native saver its sync twins.

    A sync method called from any thread other than the event loop the saver runs on
    submits the async method to that loop and waits. Called on the loop's own thread it
    would deadlock, so it raises ``RuntimeError`` saying which async method to await.
    Mixed in before the saver class, so its twins take precedence.
    """

    _loop: asyncio.AbstractEventLoop | None = None

    def _bind_loop(self) -> None:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.get_running_loop()


class InlineAsync:
    """The async methods of a saver whose sync methods never block (no I/O): each
    calls its sync twin inline, with no thread hop. Installed by :func:`inline_async`."""


C = TypeVar("C", bound=type)


def inline_async(cls: C) -> C:
    """Class decorator: give a ``BaseCheckpointSaver`` subclass :class:`InlineAsync`'s
    async methods (the same function objects), without a mixin in its bases."""
    for name in SAVER_METHODS:
        setattr(cls, f"a{name}", InlineAsync.__dict__[f"a{name}"])
    return cls


def _install() -> None:
    # Looked up on BaseCheckpointSaver so the twins carry the declared signatures' names.
    for name, iterates in SAVER_METHODS.items():
        setattr(SyncOverAsync, name, sync_twin(f"a{name}", iterates=iterates))
        sync: Any = getattr(BaseCheckpointSaver, name)
        twin = async_iter_twin(sync, inline=True) if iterates else async_twin(sync, inline=True)
        setattr(InlineAsync, f"a{name}", twin)


_install()

__all__ = ["InlineAsync", "SyncOverAsync", "inline_async"]
