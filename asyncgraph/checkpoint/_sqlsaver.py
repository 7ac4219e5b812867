"""The saver methods every SQL backend shares: each is one :class:`Store` operation.

A backend provides ``_run`` (sync) and/or ``_arun`` (async), which execute an operation
in one transaction; this class maps the public API onto them, both sides from one
description per method (``SqlSaver._op_<name>``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from asyncgraph._async import in_thread
from asyncgraph.checkpoint._store import Op, Store
from asyncgraph.checkpoint.base import (
    SAVER_METHODS,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    StepPut,
    check_thread_id,
)

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

OpFn = Callable[..., Op]

LIST_PAGE = 100
"""Checkpoints ``list`` reads and loads per transaction: a page is one snapshot, and
memory stays bounded however long the history."""


class SqlSaver(BaseCheckpointSaver):
    """Each method of :data:`~asyncgraph.checkpoint.base.SAVER_METHODS` is one Store
    operation. The ``_op_<name>`` methods say which and with what arguments; both the
    sync side (through ``_run``) and the async side (through ``_arun``) are made from
    them, below the class."""

    _store: Store

    def _run(self, op: OpFn, *args: Any, write: bool = False) -> Any:
        raise NotImplementedError

    async def _arun(self, op: OpFn, *args: Any, write: bool = False) -> Any:
        return await in_thread(lambda: self._run(op, *args, write=write))

    @property
    def keep_last(self) -> int | None:
        """Checkpoints kept per thread and namespace after each put (None: all)."""
        return self._store.keep_last

    # -- the operations ------------------------------------------------------------------

    def _op_get_tuple(self, config: RunnableConfig) -> _Call:
        return self._store.op_get_tuple, (config,), False

    def _op_put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> _Call:
        return self._store.op_put, (config, checkpoint, metadata, new_versions), True

    def _op_put_step(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
        *,
        parent_writes: Sequence[PendingWrite] = (),
        writes: Sequence[PendingWrite] = (),
    ) -> _Call:
        return self._store.op_put, (config, checkpoint, metadata, new_versions, parent_writes, writes), True

    def _op_put_steps(self, steps: Sequence[StepPut]) -> _Call:
        for s in steps:
            if type(s) is not StepPut:
                steps = [s if type(s) is StepPut else StepPut(*s) for s in steps]
                break
        else:
            steps = list(steps)  # (its own: a queued put is stored later, see _group)
        return self._store.op_put_steps, (steps,), True

    def _op_put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> _Call:
        return self._store.op_put_writes, (config, writes, task_id, task_path), True

    def _op_delete_thread(self, thread_id: str) -> _Call:
        return self._store.op_delete_thread, (check_thread_id(thread_id),), True

    def _op_list_threads(self, *, limit: int | None = None) -> _Call:
        return self._store.op_list_threads, (limit,), False

    def _op_prune(self, thread_id: str | None = None, *, keep_last: int) -> _Call:
        return self._store.op_prune, (_tid(thread_id), keep_last), True

    # ``list`` reads page by page (one operation each), so it is written out per side.

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        before_id = _before_id(before)
        while True:
            page, before_id = self._run(self._store.op_list_page, config, filter, before_id, limit, LIST_PAGE)
            yield from page
            if before_id is None:
                return
            if limit is not None:
                limit -= len(page)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        before_id = _before_id(before)
        while True:
            page, before_id = await self._arun(self._store.op_list_page, config, filter, before_id, limit, LIST_PAGE)
            for tup in page:
                yield tup
            if before_id is None:
                return
            if limit is not None:
                limit -= len(page)


_Call = tuple[OpFn, tuple[Any, ...], bool]
"""An operation, its arguments, and whether it writes."""


def _sql_methods(name: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The sync and async method ``name`` of :class:`SqlSaver`, from ``_op_<name>``."""
    build = getattr(SqlSaver, f"_op_{name}")
    steps = name == "put_steps"

    def sync(self: SqlSaver, /, *args: Any, **kwargs: Any) -> Any:
        if steps and not own_steps(type(self)):
            return getattr(BaseCheckpointSaver, name)(self, *args, **kwargs)
        op, op_args, write = build(self, *args, **kwargs)
        return self._run(op, *op_args, write=write)

    async def asyn(self: SqlSaver, /, *args: Any, **kwargs: Any) -> Any:
        if steps and not own_steps(type(self)):
            return await getattr(BaseCheckpointSaver, f"a{name}")(self, *args, **kwargs)
        op, op_args, write = build(self, *args, **kwargs)
        return await self._arun(op, *op_args, write=write)

    sync.__name__ = sync.__qualname__ = name
    asyn.__name__ = asyn.__qualname__ = f"a{name}"
    sync.__doc__ = asyn.__doc__ = getattr(BaseCheckpointSaver, name).__doc__
    return sync, asyn


for _name, _iterates in SAVER_METHODS.items():
    if not _iterates:
        _sync_method, _async_method = _sql_methods(_name)
        setattr(SqlSaver, _name, _sync_method)
        setattr(SqlSaver, f"a{_name}", _async_method)


# The methods a step's save goes through: a subclass that overrides one of them (to
# watch or fence what is saved) outside this package gets put_steps as calls to its own
# put_step, one per step, never a transaction that bypasses its override.
_STEP_PATH = ("put", "aput", "put_writes", "aput_writes", "put_step", "aput_step",
              "put_steps", "aput_steps", "_run", "_arun", "_transaction")
_OWN_STEPS_ATTR = "_asyncgraph_own_steps"
"""Where :func:`own_steps` keeps its answer: in the class's own ``__dict__`` (read per
put: a ``WeakKeyDictionary`` lookup made a weak reference on every call)."""


def own_steps(cls: type) -> bool:
    """Whether ``cls`` (a SQL saver) stores ``put_steps`` in one transaction: nothing on
    its step path is overridden outside ``asyncgraph.checkpoint``."""
    ok = cls.__dict__.get(_OWN_STEPS_ATTR)
    if ok is None:
        ok = True
        for name in _STEP_PATH:
            for klass in cls.__mro__:
                if name in klass.__dict__:
                    ok = ok and klass.__module__.startswith("asyncgraph.checkpoint")
                    break
        setattr(cls, _OWN_STEPS_ATTR, ok)  # (its subclasses look in their own __dict__)
    return ok


def _before_id(before: RunnableConfig | None) -> str | None:
    return ((before or {}).get("configurable") or {}).get("checkpoint_id")


def _tid(thread_id: str | None) -> str | None:
    return None if thread_id is None else check_thread_id(thread_id)


def drive(gen: Op, execute: Callable[[list[Any]], list[Any]]) -> Any:
    """Run an operation to completion with a sync batch executor."""
    try:
        batch = next(gen)
        while True:
            batch = gen.send(execute(batch))
    except StopIteration as stop:
        return stop.value


async def adrive(gen: Op, execute: Callable[[list[Any]], Awaitable[list[Any]]]) -> Any:
    """Run an operation to completion with an async batch executor."""
    try:
        batch = next(gen)
        while True:
            batch = gen.send(await execute(batch))
    except StopIteration as stop:
        return stop.value
