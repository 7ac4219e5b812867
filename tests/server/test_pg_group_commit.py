"""A worker's checkpoint writes are grouped across runs under load (group commit), and
the fence still holds for every one of them: the steps of several runs are stored in one
transaction, and when one of those runs was taken over (its attempt is stale) its write
is refused with ``FencedOut`` while the others' are stored."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.postgres


@pytest.fixture
def dsn(pg_cluster: Any) -> str:
    import psycopg_pool  # noqa: F401  (imported outside the test's event loop)

    return str(pg_cluster.dsn)


async def _puts_queued_behind_a_busy_lane(saver: Any, fences: list[tuple[str, int]],
                                          threads: list[str]) -> list[Any]:
    """One checkpoint put per (fence, thread), each in its own task under its fence, all
    queued while the group's lanes are taken; then a lane frees and stores them."""
    from asyncgraph.checkpoint.base import empty_checkpoint
    from asyncgraph.server._pg_storage import FENCE

    group = saver._fenced_group
    group.busy += group.lanes  # (the lanes are busy: what a loaded worker sees)

    async def put(fence: tuple[str, int], thread_id: str) -> Any:
        FENCE.set(fence)
        return await saver.aput({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}},
                                empty_checkpoint(), {"source": "input", "step": -1}, {})

    tasks = [asyncio.create_task(put(f, t)) for f, t in zip(fences, threads)]
    await asyncio.sleep(0.05)
    assert len(group.queue) == len(tasks)  # (queued, none stored yet)
    group.busy -= group.lanes
    group._next()
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_fenced_checkpoint_writes_of_several_runs_share_one_transaction(dsn: str) -> None:
    from asyncgraph.server._pg_queue import FencedPostgresSaver
    from asyncgraph.server._pg_storage import FencedOut, PostgresStorage, open_pool

    async with open_pool(dsn, max_size=4) as pool, PostgresStorage.open(dsn, pool=pool, listen=False) as storage:
        saver = FencedPostgresSaver(pool)
        await saver.setup()
        threads = [str(uuid.uuid4()) for _ in range(4)]
        runs = [str(uuid.uuid4()) for _ in threads]
        for run_id, thread_id in zip(runs, threads):
            await storage.put_run({"run_id": run_id, "thread_id": thread_id, "status": "pending"})
            assert (await storage.claim_run(run_id)) is not None  # attempt 1

        transactions: list[int] = []  # (steps stored by each write transaction)
        one = saver._arun_one

        async def counted(op: Any, args: tuple[Any, ...], write: bool) -> Any:
            transactions.append(len(args[0]) if op == saver._store.op_put_steps else 1)
            return await one(op, args, write)

        saver._arun_one = counted  # type: ignore[method-assign]

        # Every attempt current: the four puts are stored in one transaction.
        results = await _puts_queued_behind_a_busy_lane(saver, [(r, 1) for r in runs], threads)
        assert not [r for r in results if isinstance(r, BaseException)]
        assert transactions == [4]
        for thread_id, config in zip(threads, results):
            tup = await saver.aget_tuple({"configurable": {"thread_id": thread_id}})
            assert tup is not None and tup.config["configurable"]["checkpoint_id"] == config["configurable"]["checkpoint_id"]

        # The second run was taken over (attempt 2): its old attempt's put is refused,
        # the others are stored, and its thread keeps what it had.
        assert (await storage.claim_run(runs[1])) is not None
        before = await saver.aget_tuple({"configurable": {"thread_id": threads[1]}})
        transactions.clear()
        results = await _puts_queued_behind_a_busy_lane(saver, [(r, 1) for r in runs], threads)
        assert isinstance(results[1], FencedOut)
        assert not [r for i, r in enumerate(results) if i != 1 and isinstance(r, BaseException)]
        assert transactions[0] == 4 and len(transactions) == 5  # (shared, refused; then each alone)
        after = await saver.aget_tuple({"configurable": {"thread_id": threads[1]}})
        assert after is not None and before is not None and after.config == before.config
        for i in (0, 2, 3):
            tup = await saver.aget_tuple({"configurable": {"thread_id": threads[i]}})
            assert tup is not None and tup.config["configurable"]["checkpoint_id"] == results[i]["configurable"]["checkpoint_id"]


async def test_event_batches_of_several_runs_share_one_statement(dsn: str) -> None:
    """A worker's event batches queue while a write is in flight and leave together: each
    run's events follow on from its last seq, its readers hear of them, and a run whose
    attempt is stale has its batch refused (``FencedOut``), the others' stored."""
    from asyncgraph.server import _pg_storage
    from asyncgraph.server._pg_storage import FENCE, FencedOut, PostgresStorage, open_pool

    async with open_pool(dsn, max_size=4) as pool, PostgresStorage.open(dsn, pool=pool, listen=True) as storage:
        runs = [str(uuid.uuid4()) for _ in range(4)]
        for run_id in runs:
            await storage.put_run({"run_id": run_id, "thread_id": str(uuid.uuid4()), "status": "pending"})
            assert (await storage.claim_run(run_id)) is not None  # attempt 1
            token = FENCE.set((run_id, 1))
            try:
                await storage.append_events(run_id, [("values", '{"n": 0}')])  # (alone: seq 1)
            finally:
                FENCE.reset(token)
        assert (await storage.claim_run(runs[1])) is not None  # taken over: attempt 2

        statements = 0
        original = _pg_storage.PostgresStorage._append_events

        async def alone(self: Any, run_id: str, events: Any) -> int:
            nonlocal statements
            statements += 1
            return await original(self, run_id, events)

        _pg_storage.PostgresStorage._append_events = alone  # type: ignore[method-assign]
        try:
            group = storage._event_group
            group.busy += _pg_storage.EVENT_LANES  # (a write in flight: the batches queue)

            async def append(run_id: str) -> int:
                FENCE.set((run_id, 1))
                return await storage.append_events(run_id, [("messages", f'"{run_id}-a"'), ("messages", f'"{run_id}-b"')])

            tasks = [asyncio.create_task(append(r)) for r in runs]
            await asyncio.sleep(0.05)
            assert len(group.queue) == len(runs)
            group.busy -= _pg_storage.EVENT_LANES
            group._next()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            _pg_storage.PostgresStorage._append_events = original  # type: ignore[method-assign]
        assert isinstance(results[1], FencedOut)
        assert [results[i] for i in (0, 2, 3)] == [3, 3, 3]
        assert statements == 1  # (the grouped statement is not this; the stale run's retry is)
        for i, run_id in enumerate(runs):
            await storage.close_events(run_id) if i != 1 else None
        for i in (0, 2, 3):
            events = [(e.seq, e.event, e.data) async for e in storage.read_events(runs[i])]
            assert events == [(1, "values", '{"n": 0}'), (2, "messages", f'"{runs[i]}-a"'),
                              (3, "messages", f'"{runs[i]}-b"')]


@pytest.fixture
def scratch_dsn(pg_cluster: Any) -> Any:
    """A database of its own (no worker takes its jobs), dropped after."""
    import psycopg
    import psycopg_pool  # noqa: F401

    from tests.server.conftest import PG_ADMIN_DSN

    name = f"asyncgraph_jobs_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def test_a_new_run_and_its_job_are_stored_by_one_statement(scratch_dsn: str) -> None:
    """The API stores a new run and defers its procrastinate job in the same statement: the
    job is the one ``defer_async`` makes (queue, task, the thread's lock, the run id), and
    there is no separate defer (a job never exists without its run)."""
    from unittest import mock

    from asyncgraph.server._pg_queue import ProcrastinateQueue, ensure_queue_schema, make_procrastinate_app
    from asyncgraph.server._pg_storage import PostgresStorage, open_pool
    from asyncgraph.server._runs import RunService

    dsn = scratch_dsn
    async with open_pool(dsn, max_size=4) as pool, PostgresStorage.open(dsn, pool=pool, listen=False) as storage:
        app = make_procrastinate_app()
        async with app.open_async(pool):
            await ensure_queue_schema(app, pool)
            queue = ProcrastinateQueue(app, storage, None)
            jobs: dict[str, Any] = {}
            for how in ("together", "apart"):
                thread = {"thread_id": str(uuid.uuid4()), "status": "idle", "metadata": {}, "values": None}
                run = {"run_id": str(uuid.uuid4()), "thread_id": thread["thread_id"], "status": "pending"}
                first = RunService.first_event(run)
                if how == "together":
                    with mock.patch.object(ProcrastinateQueue, "enqueue", side_effect=AssertionError("a second defer")):
                        await queue.add_and_enqueue(storage, thread, run, first)
                else:
                    await storage.add_run(thread, run, first)
                    await queue.enqueue(run["run_id"], thread["thread_id"])
                assert await storage.get_run(run["run_id"]) is not None
                async with pool.connection() as conn:
                    cur = await conn.execute(
                        "SELECT queue_name, task_name, priority, lock, queueing_lock, args, status, scheduled_at"
                        " FROM procrastinate_jobs WHERE args->>'run_id' = %s", (run["run_id"],))
                    rows = await cur.fetchall()
                assert len(rows) == 1
                row = list(rows[0])
                assert row[3] == f"thread:{thread['thread_id']}" and row[5] == {"run_id": run["run_id"]}
                row[3] = row[5] = None
                jobs[how] = row
                assert await queue._job_of(run["run_id"]) is not None  # (cancel finds it)
            assert jobs["together"] == jobs["apart"]


async def test_a_run_that_succeeds_ends_its_job_in_the_same_statement(scratch_dsn: str) -> None:
    """A worker records a run's success and ends its procrastinate job in one statement
    (the job deleted, as procrastinate ends a successful one); procrastinate's own finish
    of that job afterwards is skipped instead of failing on a job that is gone."""
    from asyncgraph.server._pg_queue import ProcrastinateQueue, ensure_queue_schema, make_procrastinate_app
    from asyncgraph.server._pg_storage import FENCE, JOB, PostgresStorage, open_pool
    from asyncgraph.server._runs import RunService
    from asyncgraph.server._serve import _skip_finished_jobs

    dsn = scratch_dsn
    async with open_pool(dsn, max_size=4) as pool, PostgresStorage.open(dsn, pool=pool, listen=False) as storage:
        app = make_procrastinate_app()
        async with app.open_async(pool):
            await ensure_queue_schema(app, pool)
            queue = ProcrastinateQueue(app, storage, None)
            thread = {"thread_id": str(uuid.uuid4()), "status": "idle", "metadata": {}, "values": None}
            run = {"run_id": str(uuid.uuid4()), "thread_id": thread["thread_id"], "status": "pending"}
            await queue.add_and_enqueue(storage, thread, run, RunService.first_event(run))
            async with pool.connection() as conn:
                cur = await conn.execute("SELECT * FROM procrastinate_register_worker_v1()")
                worker_id = (await cur.fetchone())[0]
            job = await app.job_manager.fetch_job(queues=None, worker_id=worker_id)
            assert job is not None and job.task_kwargs == {"run_id": run["run_id"]}
            claimed = await storage.claim_run(run["run_id"])
            assert claimed is not None
            fence, job_token = FENCE.set((run["run_id"], claimed[1])), JOB.set(job.id)
            try:
                await storage.finish_run(run["run_id"], {"status": "success"}, thread["thread_id"],
                                         {"status": "idle"}, [("values", "{}")])
            finally:
                FENCE.reset(fence)
                JOB.reset(job_token)
            assert (await storage.get_run(run["run_id"]))["status"] == "success"
            assert await queue._job_of(run["run_id"]) is None
            async with pool.connection() as conn:
                cur = await conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE id = %s", (job.id,))
                assert (await cur.fetchone())[0] == 0
            from procrastinate import jobs as pjobs

            _skip_finished_jobs(app, storage)
            await app.job_manager.finish_job(job=job, status=pjobs.Status.SUCCEEDED, delete_job=True)
            assert storage.finished_jobs == set()
