"""Stalled-job recovery on PostgreSQL, driven one pass at a time on a database of its own
(no workers of the test cluster there to recover the jobs first): a job is made stalled
by registering a procrastinate worker, fetching the job as it, and ageing its heartbeat.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import pytest
from typing_extensions import TypedDict

from tests.server.conftest import PG_ADMIN_DSN

pytestmark = pytest.mark.postgres


class _Items(TypedDict):
    items: Annotated[list[str], operator.add]


@pytest.fixture
def scratch_dsn() -> Any:
    import psycopg
    import psycopg_pool  # noqa: F401  (imported outside the test's event loop)

    name = f"asyncgraph_recover_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class _Queue:
    """The storage, fenced saver and procrastinate app a worker has, on one pool."""

    def __init__(self, storage: Any, saver: Any, app: Any) -> None:
        self.storage, self.saver, self.app = storage, saver, app
        self.jm = app.job_manager

    async def defer(self, run_id: str, thread_id: str) -> int:
        from asyncgraph.server._pg_queue import QUEUE_NAME, TASK_NAME

        deferrer = self.app.configure_task(TASK_NAME, queue=QUEUE_NAME, lock=f"thread:{thread_id}")
        return int(await deferrer.defer_async(run_id=run_id))

    async def fetch(self) -> tuple[int, Any] | None:
        """A job as a newly registered worker would take it: (worker id, job) or None."""
        from asyncgraph.server._pg_queue import QUEUE_NAME

        worker = await self.jm.register_worker()
        job = await self.jm.fetch_job([QUEUE_NAME], worker)
        return None if job is None else (worker, job)

    async def silence(self, worker: int) -> None:
        async with self.storage.pool.connection() as conn:
            await conn.execute("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'"
                               " WHERE id = %s", (worker,))

    async def status(self, job_id: int) -> str:
        return str((await self.jm.get_job_status_async(job_id)).value)


@pytest.fixture
async def queue(scratch_dsn: str) -> AsyncIterator[_Queue]:
    from asyncgraph.server._pg_queue import FencedPostgresSaver, ensure_queue_schema, make_procrastinate_app
    from asyncgraph.server._pg_storage import PostgresStorage, open_pool

    async with open_pool(scratch_dsn, max_size=6) as pool, \
            PostgresStorage.open(scratch_dsn, pool=pool, listen=False) as storage:
        saver = FencedPostgresSaver(pool)
        saver.storage = storage
        await saver.setup()
        app = make_procrastinate_app()
        async with app.open_async(pool):
            await ensure_queue_schema(app, pool)
            yield _Queue(storage, saver, app)


async def _running_run(q: _Queue, thread_id: str, run_id: str) -> tuple[Any, int]:
    """A run on ``thread_id`` that a worker took and wrote a checkpoint of, then went
    silent: (the graph, the job's id)."""
    from asyncgraph.graph import START, StateGraph
    from asyncgraph.server._pg_storage import FENCE

    g = StateGraph(_Items)
    g.add_node("add", lambda s: {"items": ["x"]})
    g.add_edge(START, "add")
    graph = g.compile(checkpointer=q.saver)
    config = {"configurable": {"thread_id": thread_id}, "metadata": {"run_id": "earlier"}}
    await graph.ainvoke({"items": ["earlier"]}, config)

    await q.storage.put_thread({"thread_id": thread_id, "status": "busy", "metadata": {}, "values": {}})
    await q.storage.put_run({"run_id": run_id, "thread_id": thread_id, "status": "running", "kwargs": {},
                             "created_at": "2026-01-01T00:00:00+00:00"})
    job_id = await q.defer(run_id, thread_id)
    taken = await q.fetch()
    assert taken is not None and taken[1].id == job_id
    _, attempt = await q.storage.claim_run(run_id)  # type: ignore[misc]
    token = FENCE.set((run_id, attempt))
    try:
        await graph.ainvoke({"items": ["doomed"]}, {**config, "metadata": {"run_id": run_id}})
    finally:
        FENCE.reset(token)
    await q.silence(taken[0])
    return graph, job_id


async def test_a_stalled_rollback_holds_the_thread_until_the_thread_is_rewritten(queue: _Queue) -> None:
    """The worker of a run froze; a newer run asked its rollback and waits in the queue.
    Recovery rewrites the thread first and only then releases the job: at no point while
    the rollback runs can a worker take the newer run (it would write checkpoints into a
    thread being rewritten)."""
    from asyncgraph.server._pg_queue import finish_unstarted, recover_stalled_once  # noqa: F401
    from asyncgraph.server import _pg_queue

    q = queue
    tid, doomed, newer = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    graph, doomed_job = await _running_run(q, tid, doomed)
    # The API's rollback: the abort on the run and on its job, and the newer run queued.
    await q.storage.request_abort(doomed, "rollback")
    assert not await q.jm.cancel_job_by_id_async(doomed_job)  # (it is running: not cancelled)
    await q.jm.cancel_job_by_id_async(doomed_job, abort=True)
    await q.storage.put_run({"run_id": newer, "thread_id": tid, "status": "pending", "kwargs": {},
                             "created_at": "2026-01-01T00:00:01+00:00"})
    newer_job = await q.defer(newer, tid)

    seen: list[tuple[str, Any]] = []
    finish = _pg_queue.finish_unstarted

    async def watched(storage: Any, saver: Any, run_id: str, action: str) -> None:
        await finish(storage, saver, run_id, action)
        # (The run is gone; its job must still hold the thread's lock.)
        seen.append((await q.status(doomed_job), await q.fetch()))

    _pg_queue.finish_unstarted = watched  # type: ignore[assignment]
    try:
        await recover_stalled_once(q.app, q.storage, q.saver, stall_after=1.0)
    finally:
        _pg_queue.finish_unstarted = finish  # type: ignore[assignment]

    assert seen == [("doing", None)], "the newer run could start before the rollback was done"
    assert await q.status(doomed_job) == "failed"
    assert await q.storage.get_run(doomed) is None
    history = [t async for t in q.saver.alist({"configurable": {"thread_id": tid}})]
    assert history and {t.metadata.get("run_id") for t in history} == {"earlier"}
    assert (await graph.aget_state({"configurable": {"thread_id": tid}})).values == {"items": ["earlier", "x"]}
    assert (await q.storage.get_thread(tid))["status"] == "idle"  # type: ignore[index]
    taken = await q.fetch()  # now the newer run goes
    assert taken is not None and taken[1].id == newer_job


async def test_a_stalled_run_with_no_abort_is_handed_back_to_the_queue(queue: _Queue) -> None:
    """No abort asked: the job is re-delivered (another worker takes it, and the run goes on
    from its checkpoint), its run left as it was."""
    from asyncgraph.server._pg_queue import recover_stalled_once

    q = queue
    tid, run_id = str(uuid.uuid4()), str(uuid.uuid4())
    _, job_id = await _running_run(q, tid, run_id)
    await recover_stalled_once(q.app, q.storage, q.saver, stall_after=1.0)
    assert await q.status(job_id) == "todo"
    assert (await q.storage.get_run(run_id))["status"] == "running"  # type: ignore[index]
    taken = await q.fetch()
    assert taken is not None and taken[1].id == job_id
    # A second pass finds nothing stalled: the job's new worker is alive.
    await recover_stalled_once(q.app, q.storage, q.saver, stall_after=1.0)
    assert await q.status(job_id) == "doing"


async def test_a_stalled_interrupt_ends_the_run_interrupted_and_frees_the_thread(queue: _Queue) -> None:
    from asyncgraph.server._pg_queue import recover_stalled_once

    q = queue
    tid, run_id = str(uuid.uuid4()), str(uuid.uuid4())
    graph, job_id = await _running_run(q, tid, run_id)
    await q.storage.request_abort(run_id, "interrupt")
    await q.jm.cancel_job_by_id_async(job_id, abort=True)
    await recover_stalled_once(q.app, q.storage, q.saver, stall_after=1.0)
    assert await q.status(job_id) == "failed"
    assert (await q.storage.get_run(run_id))["status"] == "interrupted"  # type: ignore[index]
    assert (await q.storage.get_thread(tid))["status"] == "idle"  # type: ignore[index]
    # An interrupt keeps what the run wrote.
    assert (await graph.aget_state({"configurable": {"thread_id": tid}})).values == {"items": ["earlier", "x", "doomed", "x"]}


@pytest.fixture
def app_graphs() -> Any:
    """The test app's graph registry (loaded outside the test's event loop: blocking)."""
    from asyncgraph.server._config import load_config
    from asyncgraph.server._graphs import GraphRegistry

    from tests.server.conftest import APP

    registry = GraphRegistry(load_config(APP), checkpointer=None, store=None)
    registry.load_all()
    return registry


class _Context:
    """What procrastinate hands a task: no job id here, and no abort asked."""

    class job:
        id = None

    @staticmethod
    def abort_reason() -> None:
        return None


@pytest.mark.parametrize("landed", [False, True], ids=["write-lost", "write-landed-ack-lost"])
async def test_events_of_a_node_whose_checkpoint_was_saved_survive_a_lost_database(
    queue: _Queue, app_graphs: Any, landed: bool
) -> None:
    """The connection drops under the write of node 'third''s events while its checkpoint
    was saved: the next attempt goes on from that checkpoint and does not run 'third'
    again, so it writes the events the first attempt could not confirm, each once: none
    when the write had landed (its acknowledgement lost), all of them when it had not."""
    import psycopg

    from asyncgraph.server._queue import InProcessQueue
    from asyncgraph.server._runs import RunService
    from asyncgraph.server._serve import PgWorker
    from asyncgraph.server._services import Services
    from json import loads

    q = queue
    app_graphs.checkpointer = q.saver
    services = Services(q.storage, app_graphs)
    await services.ensure_system_assistants()
    worker = PgWorker(RunService(services, InProcessQueue()))
    tid, run_id = str(uuid.uuid4()), str(uuid.uuid4())
    run = {"run_id": run_id, "thread_id": tid, "assistant_id": "steps", "status": "pending", "metadata": {},
           "created_at": "2026-01-01T00:00:00+00:00", "updated_at": "2026-01-01T00:00:00+00:00",
           "multitask_strategy": "reject",
           "kwargs": {"input": {"log": [], "hold": 0.0}, "command": None, "config": {}, "context": {},
                      "stream_mode": ["custom", "values"], "stream_subgraphs": False, "interrupt_before": None,
                      "interrupt_after": None, "checkpoint": None, "temporary": False, "on_completion": "keep",
                      "durability": "sync", "webhook": None}}
    await q.storage.add_run({"thread_id": tid, "status": "idle", "metadata": {}}, run,
                            RunService.first_event(run))

    append = q.storage._append_events
    cut: list[list[tuple[str, str]]] = []

    async def flaky(rid: str, events: list[tuple[str, str]]) -> int:
        if not cut and any(e == "custom" and loads(d)["node"] == "third" for e, d in events):
            cut.append(events)
            if landed:
                await append(rid, events)
            raise psycopg.OperationalError("the connection was lost")
        return await append(rid, events)

    q.storage._append_events = flaky  # type: ignore[method-assign]
    await worker.run_job(_Context(), run_id)

    assert cut, "the fault was not injected"
    log = [(ev.seq, ev.event, loads(ev.data)) async for ev in q.storage.read_events(run_id)]
    assert [seq for seq, _, _ in log] == list(range(1, len(log) + 1))
    assert [d["node"] for _, e, d in log if e == "custom"] == ["first", "second", "third"]
    assert [d["attempt"] for _, e, d in log if e == "metadata"] == [1, 2]
    # The first attempt's events all come before the second attempt's.
    attempt2 = next(i for i, (_, e, d) in enumerate(log) if e == "metadata" and d["attempt"] == 2)
    assert all(e != "custom" for _, e, _ in log[attempt2:])
    assert log[-1][1] == "values" and log[-1][2]["log"] == ["first", "second", "third"]
    assert (await q.storage.get_run(run_id))["status"] == "success"  # type: ignore[index]
