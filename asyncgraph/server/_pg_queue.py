"""Runs as procrastinate jobs on PostgreSQL, and the fenced checkpointer the workers use.

The API process :meth:`ProcrastinateQueue.enqueue` s a run as a job of task
:data:`TASK_NAME` on queue :data:`QUEUE_NAME`, with procrastinate's ``lock`` set to the
thread, so the runs of one thread execute one at a time, in order, across all workers.
Workers claim jobs through LISTEN/NOTIFY, send heartbeats, and :func:`recover_stalled`
(running in every worker) re-delivers the jobs of a worker whose heartbeat stopped: the
run resumes from its last checkpoint (see :mod:`asyncgraph.server._serve`). Cancellation
is procrastinate's abort: a NOTIFY that makes the worker cancel the job's task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from contextvars import ContextVar
from typing import Any

from asyncgraph.checkpoint.base import CheckpointTuple
from asyncgraph.checkpoint._group import GroupCommit, _Item
from asyncgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from asyncgraph.checkpoint._store import Stmt
from asyncgraph.server._pg_storage import FENCE, FENCE_SQLSTATE, FencedOut, PostgresStorage
from asyncgraph.server._queue import AbortAction, RunQueue
from asyncgraph.server._serialize import dumps
from asyncgraph.server._state import rollback_checkpoints
from asyncgraph.server._storage import now

__all__ = [
    "QUEUE_NAME",
    "TASK_NAME",
    "FencedPostgresSaver",
    "LAST_CHECKPOINT",
    "LastCheckpoint",
    "ProcrastinateQueue",
    "ensure_queue_schema",
    "make_procrastinate_app",
    "recover_stalled",
    "recover_stalled_once",
]

log = logging.getLogger("asyncgraph.server")

QUEUE_NAME = "asyncgraph_runs"
TASK_NAME = "asyncgraph.server.run"


def make_procrastinate_app() -> Any:
    """A procrastinate ``App``, to open on the process's pool (``app.open_async(pool)``)."""
    # Imported here: procrastinate is the server extra's, and only serve/worker need it.
    import procrastinate

    return procrastinate.App(connector=procrastinate.PsycopgConnector())


async def ensure_queue_schema(app: Any, pool: Any) -> None:
    """Install procrastinate's tables once, even when several processes start together."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('asyncgraph_server_queue_schema'))")
        cur = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
        row = await cur.fetchone()
        if not (row and row[0]):
            await app.schema_manager.apply_schema_async()


class LastCheckpoint:
    """The newest root checkpoint an attempt of a run wrote on its thread, as the saver
    would read it back (see :data:`LAST_CHECKPOINT`).

    ``empty``: the thread had no checkpoint when the attempt began (the worker learns it
    with the attempt's claim), and the attempt has written nothing to it since: the
    thread's latest checkpoint is then known to be none, without a read (a run on a new
    thread starts without reading the thread).
    """

    __slots__ = ("empty", "thread_id", "tuple")

    def __init__(self, thread_id: str, *, empty: bool = False) -> None:
        self.thread_id = thread_id
        self.tuple: CheckpointTuple | None = None
        self.empty = empty


LAST_CHECKPOINT: ContextVar[LastCheckpoint | None] = ContextVar("asyncgraph_server_last_checkpoint", default=None)
"""Set by the worker around an attempt: :class:`FencedPostgresSaver` notes there each root
checkpoint it stores for the run's thread, and answers the run's final ``aget_state`` (the
thread's latest checkpoint) from it instead of reading and decoding it again. Writes
stored against that checkpoint (an interrupt, an error) drop the note: the read then
happens as usual, pending writes included."""


def _root(config: Any, thread_id: str) -> bool:
    conf = config.get("configurable") or {}
    return conf.get("thread_id") == thread_id and not conf.get("checkpoint_ns")


class FencedPostgresSaver(AsyncPostgresSaver):
    """:class:`AsyncPostgresSaver` whose writes are fenced by the current run's attempt.

    Inside a worker's run (:data:`FENCE` set) each checkpoint or pending-writes write
    happens while a transaction of ``storage`` holds the run's fence, so a worker whose run
    was taken over writes nothing (:class:`FencedOut`). Elsewhere it is the plain saver.
    Inside an attempt it also remembers the run's last checkpoint (:data:`LAST_CHECKPOINT`).
    """

    storage: PostgresStorage | None = None

    def __init__(self, conn: Any, **kwargs: Any) -> None:
        super().__init__(conn, **kwargs)
        self._fenced_group = _FencedGroup(self, getattr(conn, "max_size", 0)) if self._pooled else None

    async def _arun(self, op: Any, *args: Any, write: bool = False) -> Any:
        # A fenced checkpoint write (a run's step) goes through the group commit: under
        # load, the steps of several runs are stored in one transaction, each run's fence
        # checked in it (see _FencedGroup).
        group = self._fenced_group
        if group is not None and write and FENCE.get() is not None \
                and (op == self._store.op_put or op == self._store.op_put_steps):
            self._bind_loop()
            return await group.run(op, args)
        return await super()._arun(op, *args, write=write)

    async def aget_tuple(self, config: Any) -> CheckpointTuple | None:
        last = LAST_CHECKPOINT.get()
        if (last is not None and (last.tuple is not None or last.empty) and _root(config, last.thread_id)
                and not config["configurable"].get("checkpoint_id")):
            return last.tuple
        return await super().aget_tuple(config)

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        saved = await super().aput(config, checkpoint, metadata, new_versions)
        self._remember(config, saved, checkpoint, metadata, ())
        return saved

    async def aput_step(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any, *,
                        parent_writes: Sequence[Any] = (), writes: Sequence[Any] = ()) -> Any:
        saved = await super().aput_step(config, checkpoint, metadata, new_versions,
                                         parent_writes=parent_writes, writes=writes)
        self._remember(config, saved, checkpoint, metadata, writes)
        return saved

    async def aput_writes(self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str,
                          task_path: str = "") -> None:
        last = LAST_CHECKPOINT.get()
        if last is not None and _root(config, last.thread_id):
            last.tuple, last.empty = None, False  # (pending writes of the latest checkpoint: read them back)
        await super().aput_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        last = LAST_CHECKPOINT.get()
        if last is not None and last.thread_id == thread_id:
            last.thread_id, last.tuple, last.empty = "", None, False  # (a rollback rewrites the thread: read it from now on)
        await super().adelete_thread(thread_id)

    def _remember(self, config: Any, saved: Any, checkpoint: Any, metadata: Any, writes: Sequence[Any]) -> None:
        last = LAST_CHECKPOINT.get()
        if last is None or not _root(config, last.thread_id):
            return
        last.empty = False
        if writes:
            last.tuple = None
            return
        parent = config["configurable"].get("checkpoint_id")
        conf = saved["configurable"]
        last.tuple = CheckpointTuple(
            config={"configurable": {"thread_id": conf["thread_id"], "checkpoint_ns": "",
                                     "checkpoint_id": conf["checkpoint_id"]}},
            checkpoint=checkpoint,
            metadata=metadata,
            parent_config={"configurable": {"thread_id": conf["thread_id"], "checkpoint_ns": "",
                                            "checkpoint_id": parent}} if parent else None,
            pending_writes=[],
        )

    async def _transaction(self, conn: Any, op: Any, args: tuple[Any, ...], write: bool) -> Any:
        # The fence check is the first statement of the write's own transaction (it goes
        # in the write's first round trip): no second connection, no extra transaction.
        shared = _SHARED_FENCES.get()
        if shared is not None:  # (a group's transaction: every run's fence, see _FencedGroup)
            return await super()._transaction(conn, _FencedOp(op, shared), args, write)
        fence = FENCE.get()
        if fence is None or not write or getattr(op, "__name__", None) not in _FENCED_OPS:
            return await super()._transaction(conn, op, args, write)
        import psycopg

        try:
            return await super()._transaction(conn, _FencedOp(op, [fence]), args, write)
        except psycopg.Error as exc:
            if exc.sqlstate != FENCE_SQLSTATE:
                raise
            detail = exc.diag.message_detail or ""
            raise FencedOut(fence[0], fence[1], int(detail) if detail.isdigit() else None) from None


_FENCED_OPS = frozenset({"op_put", "op_put_writes"})
"""The saver's operations that write a run's progress (checkpoints and pending writes):
each is fenced. Deleting or copying a thread (rollback, ``on_completion="delete"``) is not."""


_SHARED_FENCES: ContextVar[list[tuple[str, int]] | None] = ContextVar("asyncgraph_server_shared_fences", default=None)
"""Set by :class:`_FencedGroup` around a transaction that stores the steps of several runs:
the fences of all of them, checked first in it."""


class _FencedGroup(GroupCommit):
    """The saver's group commit (:class:`GroupCommit`: once its lanes are busy, further
    puts queue and the next free lane stores them all in one transaction), for fenced
    writes: each queued put keeps the fence of the run that made it, and the shared
    transaction checks every one of them first (``SELECT ag_fence(run, attempt)`` per
    run, in the same round trip as the rows). One stale attempt aborts it all; then
    every put runs again on its own, under its own fence, so only the stale one gets
    :class:`FencedOut` and a zombie attempt never writes.

    One lane: under load the steps of many runs go in each transaction; a put that finds
    the lane free goes at once.
    """

    def __init__(self, saver: Any, pool_size: int) -> None:
        super().__init__(saver, pool_size)
        self.lanes = LANES

    def _item(self, fut: Any, op: Any, args: tuple[Any, ...], steps: list[Any]) -> _Item:
        return _FencedItem(fut, op, args, steps, FENCE.get())

    @contextlib.contextmanager
    def _together(self, items: list[Any]) -> Iterator[None]:
        token = _SHARED_FENCES.set(sorted({item.fence for item in items}))
        try:
            yield
        finally:
            _SHARED_FENCES.reset(token)

    @contextlib.contextmanager
    def _alone(self, item: Any) -> Iterator[None]:
        own = FENCE.set(item.fence)
        try:
            yield
        finally:
            FENCE.reset(own)


LANES = 1
"""Fenced write transactions of a worker's saver in flight before further ones queue (2
lanes, with the event writes' too, measured 10-20% more CPU per run and no more runs per
second at 500 streams on one worker: docs/performance.md, Server, sixth pass)."""


class _FencedItem(_Item):
    __slots__ = ("fence",)

    def __init__(self, fut: Any, op: Any, args: tuple[Any, ...], steps: list[Any], fence: tuple[str, int] | None) -> None:
        super().__init__(fut, op, args, steps)
        self.fence = fence


class _FencedOp:
    """One of the saver's operations with the fence checks (``SELECT ag_fence(run,
    attempt)``, one per run whose writes it stores) put first in its first batch of
    statements, so they run in the same transaction and the same round trip as the write
    they guard (``ag_fence`` raises :data:`FENCE_SQLSTATE`, aborting the transaction, when
    the attempt is no longer current).

    It compares equal to the operation it wraps: the saver recognizes its ``put`` by
    equality, to send it the fast (one round trip) way.
    """

    __slots__ = ("_op", "_stmts")

    def __init__(self, op: Any, fences: list[tuple[str, int]]) -> None:
        self._op = op
        self._stmts = [Stmt("SELECT ag_fence(%s, %s)", fence) for fence in fences]

    def __eq__(self, other: object) -> bool:
        return bool(self._op == other)

    __hash__ = None  # type: ignore[assignment]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._prefixed(self._op(*args, **kwargs))

    def _prefixed(self, gen: Any) -> Any:
        try:
            batch = next(gen)
        except StopIteration as stop:  # (nothing to write: nothing to fence)
            return stop.value
        results = yield type(batch)([*self._stmts, *batch])
        results = results[len(self._stmts):]
        while True:
            try:
                batch = gen.send(results)
            except StopIteration as stop:
                return stop.value
            results = yield batch


class ProcrastinateQueue(RunQueue):
    """The API side of the run queue on procrastinate: enqueue and abort.

    Workers do not use :meth:`claim` / :meth:`heartbeat` / :meth:`wait_abort`: the
    procrastinate worker claims jobs, keeps the heartbeat and cancels an aborted job's task.
    """

    def __init__(self, app: Any, storage: PostgresStorage, saver: Any) -> None:
        self.app = app
        self.storage = storage
        self.saver = saver  # (a run rolled back before a worker took it: see finish_unstarted)

    async def enqueue(self, run_id: str, thread_id: str | None = None) -> None:
        if thread_id is None:
            run = await self.storage.get_run(run_id)
            if run is None:
                return
            thread_id = run["thread_id"]
        deferrer = self.app.configure_task(TASK_NAME, queue=QUEUE_NAME, lock=f"thread:{thread_id}")
        # (The job's id is not stored: an abort, rare, looks the job up; see _job_of.)
        await deferrer.defer_async(run_id=run_id)

    async def add_and_enqueue(self, storage: Any, thread: dict[str, Any], run: dict[str, Any], first: Any) -> None:
        # The job is deferred by the statement that stores the run (procrastinate's own
        # defer function, as its defer_async calls it): one round trip, and no job
        # without its run.
        if storage is not self.storage:
            await super().add_and_enqueue(storage, thread, run, first)
            return
        await storage.add_run(thread, run, first,
                              job=(QUEUE_NAME, TASK_NAME, f"thread:{run['thread_id']}", dumps({"run_id": run["run_id"]})))

    async def _job_of(self, run_id: str) -> int | None:
        """The id of the job carrying ``run_id`` that is still to run or running."""
        async with self.storage.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT j.id FROM procrastinate_jobs j JOIN ag_runs r ON r.id = %(run)s"
                " WHERE j.lock = 'thread:' || r.thread_id AND j.queue_name = %(queue)s"
                " AND j.task_name = %(task)s AND j.args->>'run_id' = %(run)s"
                " AND j.status IN ('todo', 'doing') ORDER BY j.id DESC LIMIT 1",
                {"run": run_id, "queue": QUEUE_NAME, "task": TASK_NAME},
            )
            row = await cur.fetchone()
        return None if row is None else int(row[0])

    async def abort(self, run_id: str, action: AbortAction) -> None:
        # The action is read by whichever worker runs (or will claim) the run.
        await self.storage.request_abort(run_id, action)
        job_id = await self._job_of(run_id)
        if job_id is None:
            return  # not deferred yet: the worker sees the abort when it claims the run
        jm = self.app.job_manager
        if await jm.cancel_job_by_id_async(job_id):
            # It was still waiting: no worker will ever start it, so finish it here.
            await finish_unstarted(self.storage, self.saver, run_id, action)
        else:
            await jm.cancel_job_by_id_async(job_id, abort=True)

    async def claim(self) -> str:
        raise NotImplementedError("procrastinate's worker claims runs")

    async def heartbeat(self, run_id: str) -> None:
        return None

    def abort_requested(self, run_id: str) -> AbortAction | None:
        raise NotImplementedError("procrastinate's worker reports aborts by cancelling the run's task")

    async def wait_abort(self, run_id: str) -> AbortAction:
        raise NotImplementedError("procrastinate's worker reports aborts by cancelling the run's task")

    async def done(self, run_id: str) -> None:
        return None


async def finish_unstarted(storage: PostgresStorage, saver: Any, run_id: str, action: str) -> None:
    """End a run no worker is running: deleted (rollback) or ``interrupted``, log closed.

    Takes a new attempt first, so a worker that may still hold an old one is fenced out.
    A run re-delivered after its worker went silent may have written checkpoints in its
    earlier attempt: a rollback takes them out of the thread too.
    """
    claimed = await storage.claim_run(run_id)
    if claimed is None:
        return
    run, attempt = claimed
    token = FENCE.set((run_id, attempt))
    try:
        if action == "rollback":
            if attempt > 1:  # (attempt 1 is this claim: the run never started)
                await rollback_checkpoints(saver, run["thread_id"], run_id)
        else:
            run.update(status="interrupted", updated_at=now())
            await storage.put_run(run)
            await storage.close_events(run_id)
        # (A rolled-back run that never started left the thread as it was.)
        thread = None if action == "rollback" and attempt == 1 else await storage.get_thread(run["thread_id"])
        if thread is not None and thread["status"] == "busy":
            thread.update(status="idle", updated_at=now())
            await storage.put_thread(thread)
        if action == "rollback":
            await storage.delete_run(run_id)  # (last: it ends the fence of the writes above)
    finally:
        FENCE.reset(token)


async def recover_stalled(app: Any, storage: PostgresStorage, saver: Any, *, stall_after: float, every: float) -> None:
    """Forever: every ``every`` seconds, :func:`recover_stalled_once`.

    Every worker runs this; two recovering the same job is harmless (see there).
    """
    while True:
        await asyncio.sleep(every)
        try:
            await recover_stalled_once(app, storage, saver, stall_after=stall_after)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("recovering stalled runs failed; trying again")


async def recover_stalled_once(app: Any, storage: PostgresStorage, saver: Any, *, stall_after: float) -> None:
    """Give the jobs of workers whose heartbeat is older than ``stall_after`` seconds back
    to the queue, and wake the workers (procrastinate only notifies inserts).

    A stalled job whose run was asked to stop (``rollback`` / ``interrupt``) is finished
    here instead, and only then released: while its job is ``doing``, procrastinate's
    thread lock keeps the thread's next run waiting, so that run never starts on a thread
    a rollback is still rewriting (releasing first let it run, and its checkpoints could
    be dropped with the rolled-back run's). Each job is handled under the thread's
    admission lock, so an API process cannot ask an abort half-way through, and another
    worker recovering the same job waits and then finds it no longer stalled.
    """
    from procrastinate import jobs as pjobs

    jm = app.job_manager
    stalled = await jm.get_stalled_jobs(queue=QUEUE_NAME, task_name=TASK_NAME, seconds_since_heartbeat=stall_after)
    for job in stalled:
        run_id = job.task_kwargs.get("run_id")
        run = await storage.get_run(run_id) if isinstance(run_id, str) else None
        admission = storage.thread_admission(run["thread_id"]) if run is not None else contextlib.nullcontext()
        async with admission:
            still = await jm.get_stalled_jobs(queue=QUEUE_NAME, task_name=TASK_NAME, seconds_since_heartbeat=stall_after)
            if job.id not in {j.id for j in still}:
                continue  # (another worker recovered it meanwhile)
            action = await storage.abort_action(run_id) if run is not None else None
            if action is not None:
                log.warning("run %s: its worker stopped sending heartbeats with a %s asked; finishing it here",
                            run_id, action)
                await finish_unstarted(storage, saver, run_id, action)  # (fences the silent worker out)
            try:
                await jm.retry_job(job)  # (fails it instead when its abort was asked)
            except Exception:
                continue  # another worker took care of it
            if action is not None:
                continue
            if await jm.get_job_status_async(job.id) == pjobs.Status.FAILED:
                # (An abort asked by the cancel endpoint between the look above and the
                # retry: procrastinate failed the job; finish the run now.)
                await finish_unstarted(storage, saver, run_id, await storage.abort_action(run_id) or "interrupt")
                continue
            log.warning("run %s: its worker stopped sending heartbeats; re-delivering it", run_id)
            async with storage.pool.connection() as conn:
                payload = dumps({"type": "job_inserted", "job_id": job.id})
                await conn.execute("SELECT pg_notify(%s, %s)", (f"procrastinate_queue_v1#{QUEUE_NAME}", payload))
