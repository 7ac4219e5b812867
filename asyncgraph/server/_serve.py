"""``asyncgraph serve`` (API processes) and ``asyncgraph worker`` (run processes) on PostgreSQL.

Both open the same back ends on one database: :class:`PostgresStorage` for the server's
records and run events, :class:`FencedPostgresSaver` for checkpoints,
``AsyncPostgresStore`` for ``/store``, and procrastinate for the run queue. ``serve`` runs
the HTTP API (the same code as ``dev``) and only enqueues and aborts; ``worker`` runs the
graphs. Start any number of each, on any number of machines.

A worker runs a run as attempt N (see the fencing notes in :mod:`._pg_storage`). When a
worker dies, :func:`recover_stalled` in another worker re-delivers the job; the new attempt
finds the checkpoints the run already wrote and continues from the last one (input
``None``), so nodes that finished are not run again and the run's event log goes on where
it stopped (clients following it see a second ``metadata`` event with the new attempt).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette

from asyncgraph.server._app import MAX_BODY_BYTES, build_app
from asyncgraph.server._auth import load_auth
from asyncgraph.server._config import ServerConfig, load_config
from asyncgraph.server._crons import CronScheduler
from asyncgraph.server._graphs import GraphRegistry
from asyncgraph.server._pg_queue import (
    LAST_CHECKPOINT,
    QUEUE_NAME,
    TASK_NAME,
    FencedPostgresSaver,
    LastCheckpoint,
    ProcrastinateQueue,
    ensure_queue_schema,
    finish_unstarted,
    make_procrastinate_app,
    recover_stalled,
)
from asyncgraph.server._pg_storage import FENCE, JOB, Attempt, FencedOut, PostgresStorage, open_pool
from asyncgraph.server._queue import InProcessQueue
from asyncgraph.server._runs import RunService, Worker, _EventWriter
from asyncgraph.server._serialize import dumps
from asyncgraph.server._services import Services, freeze_startup_heap
from asyncgraph.server._storage import MemoryStorage, now
from asyncgraph.types import Command

__all__ = ["PgWorker", "create_serve_app", "run_serve", "run_worker", "run_worker_async"]

log = logging.getLogger("asyncgraph.server")


@contextlib.asynccontextmanager
async def _backends(
    database_url: str, registry: GraphRegistry, *, listen: bool, pool_size: int
) -> AsyncIterator[tuple[PostgresStorage, Any]]:
    """Storage, checkpointer, store and the procrastinate app on one pool of ``database_url``."""
    # Imported here: psycopg is an optional dependency (the postgres extra).
    from asyncgraph.store.postgres.aio import AsyncPostgresStore

    async with contextlib.AsyncExitStack() as stack:
        pool = await stack.enter_async_context(open_pool(database_url, max_size=pool_size))
        storage = await stack.enter_async_context(PostgresStorage.open(database_url, pool=pool, listen=listen))
        saver = FencedPostgresSaver(pool)
        saver.storage = storage
        store = AsyncPostgresStore(pool, **registry.config.store_options())
        async with pool.connection() as conn:
            # One process at a time creates the savers' tables (a session lock: the
            # setups below run on other connections of the pool).
            await conn.execute("SELECT pg_advisory_lock(hashtext('asyncgraph_server_savers'))")
            try:
                await saver.setup()
                await store.setup()
            finally:
                await conn.execute("SELECT pg_advisory_unlock(hashtext('asyncgraph_server_savers'))")
        registry.checkpointer = saver
        registry.store = store
        app = make_procrastinate_app()
        await stack.enter_async_context(app.open_async(pool))
        await ensure_queue_schema(app, pool)
        yield storage, app


def create_serve_app(
    config: str | os.PathLike[str] | ServerConfig,
    database_url: str,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    cron_interval: float = 1.0,
    pool_size: int = 20,
) -> Starlette:
    """The API process as an ASGI app: runs go to procrastinate, workers run them.

    Every API process also runs the cron scheduler (a due cron fires in one of them).

    Raises:
        ConfigError: ``langgraph.json`` or one of its graphs cannot be loaded.
    """
    cfg = config if isinstance(config, ServerConfig) else load_config(config)
    cfg.apply_environment()
    registry = GraphRegistry(cfg, checkpointer=None, store=None)
    registry.load_all()
    # Placeholders until the lifespan opens the database (as dev does with data_dir).
    services = Services(MemoryStorage(), registry)
    runs = RunService(services, InProcessQueue())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with _backends(database_url, registry, listen=True, pool_size=pool_size) as (storage, papp):
            services.storage = storage
            runs.queue = ProcrastinateQueue(papp, storage, registry.checkpointer)
            await services.ensure_system_assistants()
            scheduler = asyncio.create_task(CronScheduler(runs, interval=cron_interval).serve())
            try:
                yield
            finally:
                scheduler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await scheduler

    return build_app(services, runs, lifespan=lifespan, max_body_bytes=max_body_bytes, auth=load_auth(cfg))


def run_serve(
    config: str, database_url: str, *, host: str = "127.0.0.1", port: int = 2024,
    max_body_bytes: int = MAX_BODY_BYTES, pool_size: int = 20,
) -> None:
    """Serve ``config``'s API until interrupted (``asyncgraph serve``)."""
    import uvicorn

    app = create_serve_app(config, database_url, max_body_bytes=max_body_bytes, pool_size=pool_size)
    freeze_startup_heap()
    print(f"asyncgraph serve: {config} on http://{host}:{port} (PostgreSQL; runs need `asyncgraph worker`)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


class PgWorker(Worker):
    """Executes runs handed over by procrastinate, each as a fenced attempt."""

    def __init__(self, runs: RunService) -> None:
        super().__init__(runs)
        self._unsent: dict[str, tuple[int | None, list[tuple[str, str]]]] = {}
        """A run's events whose write was not confirmed when its attempt lost the database
        (mid-run, or while its end, which writes the last ones, was recorded), with the
        ``seq`` of the last one known to be in the log: the next attempt here writes those
        that did not land, first. (A node whose checkpoint was saved is not run again, so
        its events would otherwise be lost.)"""
        self._writers: dict[str, _EventWriter] = {}
        """The event writer of each attempt streaming in this process."""
        self._written: dict[str, int] = {}
        """The ``seq`` of a run's log when this process's attempt of it began streaming."""

    @property
    def storage(self) -> PostgresStorage:
        storage = self.services.storage
        assert isinstance(storage, PostgresStorage)
        return storage

    async def run_job(self, context: Any, run_id: str) -> None:
        """The procrastinate task: claim a new attempt of ``run_id`` and carry it out."""
        job = JOB.set(getattr(context.job, "id", None))
        try:
            await self._run_job(context, run_id)
        finally:
            JOB.reset(job)
            self._unsent.pop(run_id, None)
            self._writers.pop(run_id, None)
            self._written.pop(run_id, None)

    async def _run_job(self, context: Any, run_id: str) -> None:
        from procrastinate.job_context import AbortReason

        try:
            claimed = await self.storage.start_attempt(run_id)
        except asyncio.CancelledError:
            if context.abort_reason() != AbortReason.USER_REQUEST:
                raise
            _uncancel()
            await finish_unstarted(self.storage, self.services.checkpointer, run_id,
                                   await self.storage.abort_action(run_id) or "interrupt")
            return
        while claimed is not None:  # (None: finished, cancelled or deleted before this delivery)
            token = FENCE.set((run_id, claimed.number))
            # The checkpoints this attempt writes, so its final state needs no read back.
            last = LAST_CHECKPOINT.set(LastCheckpoint(claimed.run["thread_id"], empty=not claimed.checkpointed))
            try:
                await self._attempt(context, claimed)
                return
            except FencedOut as exc:
                log.warning("%s; this worker stops working on it", exc)
                return
            except _DatabaseLost as exc:
                log.warning("run %s: lost the database (%s); going on from its last checkpoint once it is back",
                            run_id, exc.__cause__)
            finally:
                LAST_CHECKPOINT.reset(last)
                FENCE.reset(token)
            claimed = await self._claim_when_back(run_id)

    async def _finish_cancelled(self, run: dict[str, Any], action: str, graph: Any = None) -> None:
        if action == "rollback":
            # End the cancelled attempt before rewriting the thread: a checkpoint write it
            # started may still be on its way (saved in the background, or sent before its
            # task was cancelled; it can wait for a connection). Taking a new attempt waits
            # for the writes already inside the database (the copy then sees them, and
            # drops them with the run's others) and fences out every later one, which would
            # otherwise land in the rewritten thread. The rollback goes on as that attempt.
            claimed = await self.storage.claim_run(run["run_id"])
            if claimed is None:
                return  # (finished, or rolled back, by someone else meanwhile)
            FENCE.set((run["run_id"], claimed[1]))  # (run_job resets it)
        await super()._finish_cancelled(run, action, graph)

    def _event_writer(self, run: dict[str, Any]) -> _EventWriter:
        run_id = run["run_id"]
        writer = self._writers[run_id] = _EventWriter(self.storage, run_id, self._written.get(run_id))
        return writer

    async def _claim_when_back(self, run_id: str) -> Attempt | None:
        """A new attempt of ``run_id`` once the database answers again (see :meth:`run_job`)."""
        import psycopg

        delay = 0.2
        while True:
            try:
                return await self.storage.start_attempt(run_id)
            except psycopg.OperationalError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _resumable(self, run: dict[str, Any]) -> bool:
        """Did an earlier attempt of this run already write a checkpoint to go on from?"""
        tup = await self.services.checkpointer.aget_tuple(
            {"configurable": {"thread_id": run["thread_id"], "checkpoint_ns": ""}}
        )
        return tup is not None and (tup.metadata or {}).get("run_id") == run["run_id"]

    async def _attempt(self, context: Any, started: Attempt) -> None:
        """Carry out the attempt :meth:`PostgresStorage.start_attempt` began (the run
        already ``running``, its thread ``busy``, unless an abort was asked)."""
        from procrastinate.job_context import AbortReason

        import psycopg

        run, attempt, abort = started.run, started.number, started.abort
        run_id = run["run_id"]
        self._writers.pop(run_id, None)  # (an earlier attempt's)
        graph: Any = None
        lost = closed = False
        try:
            if abort is not None:
                await self._finish_cancelled(run, abort)
                return
            assistant = started.assistant or await self.services.get_assistant(run["assistant_id"])
            config = self._config(run, assistant)
            if attempt > 1:  # (the first attempt's was sent when the run was created, as seq 1)
                written, unsent = self._unsent.get(run_id, (None, []))
                if unsent and written is not None:
                    unsent = unsent[await self.storage.logged_prefix(run_id, written, unsent):]
                self._written[run_id] = await self.storage.append_events(run_id, [
                    *unsent, ("metadata", dumps({"run_id": run_id, "attempt": attempt}))])
                self._unsent.pop(run_id, None)  # (only now: that write can be lost too)
            else:
                self._written[run_id] = 1
            try:
                graph = await self.services.graphs.get(assistant["graph_id"], config)
            except Exception as exc:
                await self._finish_error(run, exc, None)
                return
            kw = run["kwargs"]
            graph_input: Any = Command(**kw["command"]) if kw.get("command") else kw["input"]
            if attempt > 1 and await self._resumable(run):
                # Go on from the last checkpoint: finished nodes keep their writes.
                graph_input = None
                for key in ("checkpoint_id", "checkpoint_map"):
                    config["configurable"].pop(key, None)
            try:
                tail = await self._stream(run, graph, graph_input, config, assistant)
            except psycopg.OperationalError:
                writer = self._writers.get(run_id)
                if writer is not None:
                    self._unsent[run_id] = (writer.written, writer.unwritten())
                raise  # (the graph did not fail: this attempt lost its footing)
            except FencedOut:
                raise
            except Exception as exc:
                await self._finish_error(run, exc, graph)
                return
            try:
                closed = await self._finish_success(run, graph, tail)
            except psycopg.OperationalError:
                # (If the end did not commit, the next attempt writes them.)
                self._unsent[run_id] = (self._writers[run_id].written, tail)  # (made by _stream)
                raise
        except psycopg.OperationalError as exc:
            # The database restarted or the link dropped: the run is not over, so its log
            # stays open for the next attempt, which run_job starts once the database is back.
            lost = True
            raise _DatabaseLost from exc
        except asyncio.CancelledError:
            if context.abort_reason() != AbortReason.USER_REQUEST:
                raise  # the worker is shutting down: the job is re-delivered
            _uncancel()
            await self._finish_cancelled(run, await self.storage.abort_action(run_id) or "interrupt", graph)
        finally:
            if not lost and not closed:
                with contextlib.suppress(FencedOut):
                    await self.storage.close_events(run_id)


class _DatabaseLost(Exception):
    """An attempt of a run stopped because a database call failed to reach PostgreSQL."""


def _uncancel() -> None:
    # The cancellation was procrastinate's abort, handled here; later awaits must not see it.
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


async def run_worker_async(
    config: str | os.PathLike[str] | ServerConfig,
    database_url: str,
    *,
    concurrency: int = 100,
    heartbeat: float = 1.0,
    stall_after: float = 3.0,
    name: str | None = None,
    pool_size: int = 20,
    freeze: bool = False,
) -> None:
    """Run graphs for ``serve`` until SIGINT/SIGTERM (``asyncgraph worker``).

    Args:
        concurrency: how many runs this process carries at once.
        heartbeat: seconds between this worker's heartbeats.
        stall_after: a worker silent for this many seconds is taken for dead and its runs
            are re-delivered (keep it a few heartbeats long).
        pool_size: database connections of this process (records, checkpoints, store and
            queue share them).
        freeze: take the start-up heap out of the collector (:func:`freeze_startup_heap`;
            the command line does, a test process does not).
    """
    cfg = config if isinstance(config, ServerConfig) else load_config(config)
    cfg.apply_environment()
    registry = GraphRegistry(cfg, checkpointer=None, store=None)
    registry.load_all()
    if freeze:
        freeze_startup_heap()
    async with _backends(database_url, registry, listen=False, pool_size=pool_size) as (storage, papp):
        services = Services(storage, registry)
        await services.ensure_system_assistants()
        queue = ProcrastinateQueue(papp, storage, registry.checkpointer)
        worker = PgWorker(RunService(services, queue))
        papp.task(name=TASK_NAME, queue=QUEUE_NAME, pass_context=True)(worker.run_job)
        _skip_finished_jobs(papp, storage)
        recovery = asyncio.create_task(
            recover_stalled(papp, storage, registry.checkpointer, stall_after=stall_after, every=min(0.5, heartbeat))
        )
        try:
            delay = 0.5
            while True:
                try:
                    await papp.run_worker_async(
                        queues=[QUEUE_NAME],
                        name=name or f"asyncgraph-worker-{os.getpid()}",
                        concurrency=concurrency,
                        update_heartbeat_interval=heartbeat,
                        stalled_worker_timeout=max(stall_after * 10, 30.0),
                        fetch_job_polling_interval=1.0,
                        abort_job_polling_interval=1.0,
                        delete_jobs="successful",
                    )
                    break  # (stopped by SIGTERM / SIGINT)
                except Exception as exc:
                    # procrastinate stops its worker when its heartbeat or listener loses the
                    # database (a PostgreSQL restart): start it again once it answers.
                    if not _lost_database(exc):
                        raise
                    log.warning("the worker lost the database (%s); starting again in %.1f s", exc.__cause__ or exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
        finally:
            recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recovery


def _skip_finished_jobs(papp: Any, storage: PostgresStorage) -> None:
    """procrastinate finishes each job after its task returns; a run's end already ended
    its job (``PostgresStorage.finish_run``, in the same statement): skip those."""
    jm = papp.job_manager
    finish = jm.finish_job
    done = storage.finished_jobs

    async def finish_job(job: Any, status: Any, delete_job: bool) -> None:
        if job.id in done:
            done.discard(job.id)
            return
        await finish(job=job, status=status, delete_job=delete_job)

    jm.finish_job = finish_job


def _lost_database(exc: BaseException) -> bool:
    import psycopg
    from procrastinate.exceptions import ConnectorException

    return isinstance(exc, psycopg.OperationalError) or (
        isinstance(exc, ConnectorException) and isinstance(exc.__cause__, psycopg.OperationalError)
    )


def run_worker(config: str, database_url: str, **kwargs: Any) -> None:
    """``asyncgraph worker``: :func:`run_worker_async` in a new event loop."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    print(f"asyncgraph worker {os.getpid()}: running the graphs of {config} (PostgreSQL)", flush=True)
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(run_worker_async(config, database_url, freeze=True, **kwargs))


def event_loop_factory() -> Any:
    """uvloop's event loop if it is installed (``pip install uvloop``), else None (asyncio's):
    the worker's choice, as uvicorn's ``loop="auto"`` is ``serve``'s and ``dev``'s."""
    try:  # an optional dependency, without type stubs in every environment
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return None
    return uvloop.new_event_loop
