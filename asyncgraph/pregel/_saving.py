"""The loop's view of the checkpointer: what to save, in which config, when, under
each durability mode (see the README's "Durability modes")."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Collection, Generator
from typing import Any

from asyncgraph.checkpoint.base import create_checkpoint
from asyncgraph.constants import CONF
from asyncgraph.pregel._algo import RunState, Task, task_id
from asyncgraph.pregel._context import RunContext


@types.coroutine
def _resume(coro: Any, first: Any) -> Generator[Any, Any, Any]:
    """Go on with a coroutine that was started by hand (``send``) and suspended on
    ``first``: what ``await coro`` would have done from there, inside a task."""
    out = first
    while True:
        try:
            sent = yield out
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            try:
                out = coro.throw(exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                out = coro.send(sent)
            except StopIteration as done:
                return done.value


class Saver:
    """The loop's view of the checkpointer: what to save, in which config, when."""

    __slots__ = ("saver", "config", "thread_config", "parent_id", "deferred", "inflight", "durability")

    def __init__(self, saver: Any, config: dict[str, Any], durability: str) -> None:
        self.saver = saver
        conf = config.get(CONF) or {}
        self.thread_config = {
            CONF: {"thread_id": conf["thread_id"], "checkpoint_ns": conf.get("checkpoint_ns", "")}
        }
        self.config: dict[str, Any] | None = None  # config of the latest checkpoint
        self.parent_id: str | None = None
        # durability="exit": the writes of the step in progress, saved with the final
        # checkpoint (under task ids derived from it, so a resume matches them).
        self.deferred: list[tuple[Task, int, list[tuple[str, Any]]]] = []
        self.inflight: asyncio.Task[Any] | None = None
        self.durability = durability

    async def flush(self) -> None:
        """Wait for the checkpoint being saved in the background, if any.

        Every caller waits for the same put: sibling tasks finishing together must all
        see the new checkpoint's config before saving their writes against it.
        """
        t = self.inflight
        if t is not None:
            await t
            if self.inflight is t:
                self.inflight = None

    async def put(self, rc: RunContext, run: RunState, step: int, source: str, updated: Collection[str] | None) -> None:
        await self.flush()
        versions = dict(run.versions)
        new_versions = versions if updated is None else {k: versions[k] for k in updated if k in versions}
        ckpt = create_checkpoint(
            run.values(), versions, {k: dict(v) for k, v in run.seen.items()},
            sorted(updated) if updated is not None else None,
        )
        metadata = {"source": source, "step": step, "parents": {}}
        run_id = rc.run_id
        if run_id is not None:
            metadata["run_id"] = str(run_id)
        cfg = self.config or {CONF: {**self.thread_config[CONF], **({"checkpoint_id": self.parent_id} if self.parent_id else {})}}
        rc.checkpoint_id = ckpt["id"]
        self.parent_id = ckpt["id"]
        coro = self.saver.aput(cfg, ckpt, metadata, new_versions)
        if self.durability != "async":
            self.config = await coro
            return
        # In the background, but started right here: a saver whose put needs no I/O
        # (the in-memory one) finishes before the first suspension, and a task and
        # two turns of the event loop per step would buy nothing.
        if type(coro) is not types.CoroutineType:
            self.inflight = asyncio.ensure_future(self._finish(coro))
            return
        try:
            first = coro.send(None)
        except StopIteration as done:
            self.config = done.value
            return
        self.inflight = asyncio.ensure_future(self._finish(_resume(coro, first)))

    async def _finish(self, aw: Any) -> None:
        self.config = await aw

    async def put_writes(self, task: Task, writes: list[tuple[str, Any]], step: int) -> None:
        if self.durability == "exit":
            self.deferred.append((task, step, writes))
            return
        await self.flush()
        if self.config is None:
            return
        await self.saver.aput_writes(self.config, writes, task.id, str(task.path))

    async def finish_exit(self, rc: RunContext, run: RunState, step: int) -> None:
        """durability="exit": save the one checkpoint of the run (the state after the
        last committed step) and the writes of the step that did not commit."""
        await self.put(rc, run, step - 1, "loop", None)
        await self.flush()
        if self.config is None:
            return
        for task, task_step, writes in self.deferred:
            task.id = task_id(rc.checkpoint_id, rc.ns, task_step, task.name, task.kind, task.index)
            await self.saver.aput_writes(self.config, writes, task.id, str(task.path))
        self.deferred.clear()
