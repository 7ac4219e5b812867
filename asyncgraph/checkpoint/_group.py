"""Group commit across callers for the async SQL savers:
:class:`~asyncgraph.checkpoint.postgres.aio.AsyncPostgresSaver`, and
:class:`~asyncgraph.checkpoint.sqlite.aio.AsyncSqliteSaver` with one lane each way (the
server's fenced saver subclasses it through ``_item`` / ``_together`` / ``_alone``).
The text below speaks of PostgreSQL; on SQLite a "lane" is aiosqlite's one thread.

Under load (many runs saving at once through one pool) most of a put's client CPU is
the transaction itself, not its rows: psycopg's async round trip, the pool's checkout
and return, ``BEGIN``/``COMMIT``; and each commit costs the server a WAL flush. So once
:data:`LANES` write transactions of the saver are in flight, a further ``put`` /
``put_step`` / ``put_steps`` does not take a connection of its own: it queues, and the
next lane to come free stores everything queued (up to :data:`MAX_STEPS` checkpoints)
in ONE transaction, one round trip (``Store.op_put_steps``, speculative), each caller
getting its own configs back. With fewer writes in flight nothing queues: a lone run's
puts go exactly as before. Reads of a thread's checkpoint (``get_tuple``) do the same
with their own lanes: the queued ones run in one snapshot, in lockstep
(``Store.op_many``: the first statement of every read in one round trip, then the next),
and each caller gets its tuple as soon as its rows are read.

What each caller sees is unchanged: its checkpoints are stored as their own rows, all or
nothing per call, before its call returns. If the shared transaction fails (one
caller's value cannot be serialized, a row another writer took), nothing of it is
stored and every call in it runs again on its own, so each caller gets its own result
or error. Threads are locked in ascending order in a shared transaction (two shared
transactions cannot deadlock on each other). A caller cancelled while queued is left
out; one cancelled after its call was taken may still be stored (as a ``COMMIT`` already
sent may).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from asyncgraph.checkpoint.base import StepPut

LANES = 4
"""Write transactions of one saver in flight before further puts queue to be stored
together (by the next lane to come free); at most half the pool's connections."""

MAX_STEPS = 64
"""Checkpoints stored in one shared transaction, at most."""

MAX_READS = 64
"""Reads in one shared snapshot, at most."""


class _Alone(Exception):
    """A lone queued read: it runs on its own."""


class _Item:
    __slots__ = ("fut", "op", "args", "steps")

    def __init__(self, fut: asyncio.Future[Any], op: Any, args: tuple[Any, ...], steps: list[StepPut]) -> None:
        self.fut = fut
        self.op = op
        self.args = args
        self.steps = steps


class GroupCommit:
    """The queue and the lanes of one saver (see the module docstring)."""

    __slots__ = ("busy", "lanes", "queue", "reading", "reads", "saver")

    def __init__(self, saver: Any, pool_size: int) -> None:
        self.saver = saver
        # Half the pool at most: reads keep connections of their own.
        self.lanes = max(1, min(LANES, pool_size // 2))
        self.busy = 0  # write transactions in flight: direct ones and shared ones
        self.queue: list[_Item] = []
        self.reading = 0  # read transactions in flight
        self.reads: list[_Item] = []

    async def run(self, op: Any, args: tuple[Any, ...]) -> Any:
        """``op`` (the store's ``op_put`` or ``op_put_steps``) with ``args``, on its own
        or with the puts of other callers."""
        if self.busy < self.lanes:
            self.busy += 1
            try:
                return await self.saver._arun_one(op, args, True)
            finally:
                self.busy -= 1
                self._next()
        if op == self.saver._store.op_put:
            steps = [StepPut(*args)]
        else:
            steps = args[0]  # (read only; a list of its own: SqlSaver._op_put_steps)
            if type(steps) is not list:
                steps = list(steps)
        fut = asyncio.get_running_loop().create_future()
        self.queue.append(self._item(fut, op, args, steps))
        self._next()
        return await fut

    # Hooks for a subclass whose writes need more than the saver's own transaction (the
    # server's fenced saver: each put's (run, attempt) fence).
    def _item(self, fut: asyncio.Future[Any], op: Any, args: tuple[Any, ...], steps: list[StepPut]) -> _Item:
        """A queued put (made in its caller's context)."""
        return _Item(fut, op, args, steps)

    @contextlib.contextmanager
    def _together(self, items: list[_Item]) -> Iterator[None]:
        """Around the one transaction that stores the steps of several queued puts."""
        yield

    @contextlib.contextmanager
    def _alone(self, item: _Item) -> Iterator[None]:
        """Around a queued put stored on its own (alone in the queue, or after the
        shared transaction failed)."""
        yield

    def _next(self) -> None:
        """A lane is free: it takes what is queued."""
        if self.queue and self.busy < self.lanes:
            self.busy += 1
            asyncio.ensure_future(self._lane())

    async def _lane(self) -> None:
        try:
            while self.queue:
                items: list[_Item] = []
                count = 0
                while self.queue and (not items or count + len(self.queue[0].steps) <= MAX_STEPS):
                    item = self.queue.pop(0)
                    if item.fut.done():  # its caller was cancelled while it queued
                        continue
                    items.append(item)
                    count += len(item.steps)
                if items:
                    try:
                        await self._store(items)
                    except BaseException:
                        for item in items:
                            item.fut.cancel()  # (no-op on a settled one)
                        raise
        finally:
            self.busy -= 1
            self._next()

    async def read(self, op: Any, args: tuple[Any, ...]) -> Any:
        """A read (``op_get_tuple``), on its own or with the reads of other callers: in
        one snapshot, the statements of every read in the same round trips."""
        if self.reading < self.lanes:
            self.reading += 1
            try:
                return await self.saver._arun_one(op, args, False)
            finally:
                self.reading -= 1
                self._next_read()
        fut = asyncio.get_running_loop().create_future()
        self.reads.append(_Item(fut, op, args, []))
        self._next_read()
        return await fut

    def _next_read(self) -> None:
        if self.reads and self.reading < self.lanes:
            self.reading += 1
            asyncio.ensure_future(self._read_lane())

    async def _read_lane(self) -> None:
        saver = self.saver
        try:
            while self.reads:
                items = [item for item in self.reads[:MAX_READS] if not item.fut.done()]
                del self.reads[:MAX_READS]
                if not items:
                    continue
                try:
                    if len(items) == 1:
                        raise _Alone
                    def done(i: int, error: BaseException | None, value: Any, items: list[_Item] = items) -> None:
                        # Handed over as soon as read: no wait for the snapshot's COMMIT.
                        if error is None:
                            _settle(items[i].fut, value)
                        else:
                            _settle(items[i].fut, exc=error)

                    results = await saver._arun_one(
                        saver._store.op_many, ([(item.op, item.args) for item in items], done), False)
                except (_Alone, Exception):
                    for item in items:  # each on its own: its own result or error
                        if item.fut.done():  # (read before the shared transaction failed)
                            continue
                        try:
                            _settle(item.fut, await saver._arun_one(item.op, item.args, False))
                        except Exception as exc:  # noqa: BLE001  (handed to its caller)
                            _settle(item.fut, exc=exc)
                except BaseException:
                    for item in items:
                        item.fut.cancel()
                    raise
                else:
                    for item, (error, value) in zip(items, results):
                        if error is not None:
                            _settle(item.fut, exc=error)
                        else:
                            _settle(item.fut, value)
        finally:
            self.reading -= 1
            self._next_read()

    async def _store(self, items: list[_Item]) -> None:
        saver = self.saver
        if len(items) > 1:
            # Threads in ascending order (a stable sort: each thread's steps keep theirs).
            order = sorted(range(len(items)), key=lambda i: _thread(items[i].steps))
            steps = [s for i in order for s in items[i].steps]
            with self._together(items):
                try:
                    configs = await saver._arun_one(saver._store.op_put_steps, (steps,), True)
                except TimeoutError as exc:
                    for item in items:
                        _settle(item.fut, exc=exc)
                    return
                except Exception:  # noqa: BLE001  (each call runs again on its own, below)
                    pass
                else:
                    at = 0
                    for i in order:
                        item = items[i]
                        mine = configs[at : at + len(item.steps)]
                        at += len(item.steps)
                        _settle(item.fut, mine[0] if item.op == saver._store.op_put else mine)
                    return
        for item in items:
            with self._alone(item):
                try:
                    result = await saver._arun_one(item.op, item.args, True)
                except BaseException as exc:  # noqa: BLE001  (handed to its caller)
                    _settle(item.fut, exc=exc)
                    if not isinstance(exc, Exception):
                        raise
                else:
                    _settle(item.fut, result)


def _thread(steps: list[StepPut]) -> str:
    conf = (steps[0].config or {}).get("configurable") or {}
    return str(conf.get("thread_id"))


def _settle(fut: asyncio.Future[Any], result: Any = None, *, exc: BaseException | None = None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)
