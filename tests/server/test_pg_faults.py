"""``serve`` + workers on PostgreSQL under faults: a worker killed or frozen mid-run, the
database restarting mid-run.

The cluster (``pg_cluster`` in conftest) runs its workers with a 0.5 s heartbeat and takes
a worker silent for 2 s for dead, so a dead worker's run moves on within about 3 s.
"""

from __future__ import annotations

import asyncio
import operator
import os
import signal
import time
from typing import Annotated, Any

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import NotFoundError
from typing_extensions import TypedDict

from asyncgraph.server._pg_storage import FENCE, FencedOut, PostgresStorage

from tests.server.conftest import PgCluster

pytestmark = pytest.mark.postgres


async def _client(url: str) -> Any:
    # Built in a thread: loading the CA bundle for httpx blocks for a while on a busy machine.
    return await asyncio.to_thread(get_client, url=url)


def _worker(cluster: PgCluster, pid: int) -> Any:
    return next(w for w in cluster.workers if w.pid == pid)


async def _replace(cluster: PgCluster, proc: Any) -> None:
    """Put a fresh worker in place of ``proc`` so later tests still have two."""
    cluster.workers.remove(proc)
    cluster.add_worker()
    await asyncio.to_thread(cluster.wait_ready)


async def test_sigkill_worker_mid_run_another_resumes_from_checkpoint(pg_cluster: PgCluster) -> None:
    async with await _client(pg_cluster.url) as client:
        tid = (await client.threads.create())["thread_id"]
        parts = []
        killed_at = done_at = 0.0
        victim = None
        # durability="sync": a step's checkpoint is committed before the next step starts,
        # so "no finished node runs again" holds however the kill races the saver (under
        # the default "async", the step before the kill may still be in flight).
        async for p in client.runs.stream(
            tid, "steps", input={"log": [], "hold": 0.5}, stream_mode=["values", "custom"],
            durability="sync",
        ):
            parts.append(p)
            if p.event == "custom" and p.data["node"] == "second" and victim is None:
                victim = _worker(pg_cluster, p.data["pid"])
                victim.send_signal(signal.SIGKILL)
                killed_at = time.monotonic()
        done_at = time.monotonic()
        assert victim is not None
        victim.wait(5)

        # Another worker finished it, quickly, and the client's stream simply went on.
        assert done_at - killed_at < 5.0, f"the run took {done_at - killed_at:.1f} s to finish after the kill"
        custom = [p.data for p in parts if p.event == "custom"]
        assert [c["node"] for c in custom] == ["first", "second", "second", "third"]
        assert custom[2]["pid"] != victim.pid and custom[3]["pid"] == custom[2]["pid"]
        assert [p.data["attempt"] for p in parts if p.event == "metadata"] == [1, 2]
        assert [int(p.id) for p in parts] == list(range(1, len(parts) + 1))
        # From its checkpoint: 'first' finished before the kill and was not run again.
        assert parts[-1].event == "values" and parts[-1].data["log"] == ["first", "second", "third"]
        state = await client.threads.get_state(tid)
        assert state["values"]["log"] == ["first", "second", "third"]
        run = (await client.runs.list(tid))[0]
        assert run["status"] == "success"
        assert (await client.threads.get(tid))["status"] == "idle"
        # Replaying the whole log gives the same events.
        replay = [(p.id, p.event) async for p in client.runs.join_stream(tid, run["run_id"])]
        assert replay == [(p.id, p.event) for p in parts]
    await _replace(pg_cluster, victim)


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("ASYNCGRAPH_FROZEN_WORKER_TEST"),
    reason="known race, off by default (set ASYNCGRAPH_FROZEN_WORKER_TEST=1): in full runs the "
    "run taken over from a SIGSTOPped worker is re-delivered (attempt 2) but join() sometimes "
    "never returns, and cancelling the SDK's join does not end it; passes when run alone",
)
async def test_frozen_worker_is_fenced_out_when_it_wakes(pg_cluster: PgCluster) -> None:
    """SIGSTOP a worker mid-node: another takes the run over; when the first one wakes
    up and finishes its node, none of its writes land (checkpoints, events, records)."""
    try:
        async with asyncio.timeout(45):
            await _frozen_worker_scenario(pg_cluster)
    finally:
        await _replace_stopped(pg_cluster)


async def _replace_stopped(pg_cluster: PgCluster) -> None:
    """Any worker left stopped or dead by the scenario is replaced, for the next test."""
    for proc in list(pg_cluster.workers):
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)


async def _frozen_worker_scenario(pg_cluster: PgCluster) -> None:
    async with await _client(pg_cluster.url) as client:
        tid = (await client.threads.create())["thread_id"]
        run = await client.runs.create(tid, "steps", input={"log": [], "hold": 1.5}, stream_mode=["custom", "values"])
        frozen = None
        async for p in client.runs.join_stream(tid, run["run_id"]):
            if p.event == "custom" and p.data["node"] == "second" and frozen is None:
                frozen = _worker(pg_cluster, p.data["pid"])
                frozen.send_signal(signal.SIGSTOP)
        assert frozen is not None
        try:
            result = await client.runs.join(tid, run["run_id"])
            assert result["log"] == ["first", "second", "third"]
            events = [(p.event, p.data) async for p in client.runs.join_stream(tid, run["run_id"])]
        finally:
            frozen.send_signal(signal.SIGCONT)
        # Let the zombie finish its node and try to write.
        await asyncio.sleep(2.5)
        assert (await client.threads.get_state(tid))["values"]["log"] == ["first", "second", "third"]
        history = await client.threads.get_history(tid, limit=50)
        assert [len(s["values"].get("log", [])) for s in history] == sorted(
            (len(s["values"].get("log", [])) for s in history), reverse=True
        )
        assert [(p.event, p.data) async for p in client.runs.join_stream(tid, run["run_id"])] == events
        assert (await client.runs.get(tid, run["run_id"]))["status"] == "success"
    frozen.kill()
    frozen.wait(5)
    await _replace(pg_cluster, frozen)


async def test_fence_refuses_writes_of_an_old_attempt(pg_cluster: PgCluster) -> None:
    """The storage-level contract the workers rely on."""
    async with PostgresStorage.open(pg_cluster.dsn, max_size=2, listen=False) as storage:
        run = {"run_id": "fence-run", "thread_id": "fence-thread", "status": "pending"}
        await storage.put_run(run)
        _, first = await storage.claim_run("fence-run")  # type: ignore[misc]
        _, second = await storage.claim_run("fence-run")  # type: ignore[misc]
        assert (first, second) == (1, 2)
        token = FENCE.set(("fence-run", first))
        try:
            with pytest.raises(FencedOut, match="attempt 1 is fenced out .*at attempt 2"):
                await storage.append_event("fence-run", "values", "{}")
            with pytest.raises(FencedOut):
                await storage.put_run({**run, "status": "success"})
            with pytest.raises(FencedOut):
                await storage.put_thread({"thread_id": "fence-thread", "status": "idle"})
        finally:
            FENCE.reset(token)
        token = FENCE.set(("fence-run", second))
        try:
            assert await storage.append_event("fence-run", "values", "{}") == 1
            await storage.put_run({**run, "status": "success"})
        finally:
            FENCE.reset(token)
        assert (await storage.get_run("fence-run"))["status"] == "success"  # type: ignore[index]
        assert await storage.get_thread("fence-thread") is None
        await storage.delete_run("fence-run")


async def test_due_crons_are_claimed_by_one_process_only(pg_cluster: PgCluster) -> None:
    """Two API processes' schedulers claiming at once never both get a cron (the running
    ``serve`` process claims too: all three sets must be disjoint)."""
    from datetime import datetime, timedelta, timezone

    from asyncgraph.server._crons import next_run_after

    past = (datetime.now(timezone.utc) - timedelta(seconds=5)).isoformat()
    async with PostgresStorage.open(pg_cluster.dsn, max_size=4, listen=False) as a, \
            PostgresStorage.open(pg_cluster.dsn, max_size=4, listen=False) as b:
        ids = [f"claim-{i}" for i in range(30)]
        for cid in ids:
            await a.put_cron({"cron_id": cid, "schedule": "0 0 1 1 *", "enabled": True, "next_run_date": past,
                              "thread_id": "no-such-thread", "assistant_id": "agent", "payload": {}})
        now = datetime.now(timezone.utc)
        got_a, got_b = await asyncio.gather(a.claim_due_crons(now, next_run_after), b.claim_due_crons(now, next_run_after))
        ids_a = {c["cron_id"] for c in got_a}
        ids_b = {c["cron_id"] for c in got_b}
        assert not ids_a & ids_b
        # Claimed crons moved on to their next date (next 1 January): nothing is due again.
        assert await a.claim_due_crons(now, next_run_after) == []
        for cid in ids:
            await a.delete_cron(cid)


@pytest.mark.slow
async def test_two_api_processes_share_runs_streams_and_crons(pg_cluster: PgCluster) -> None:
    """A run created through one API process streams, replays and cancels through another
    (events reach it by NOTIFY), and a cron fires once per second with both schedulers on."""
    import httpx

    other, other_url = pg_cluster.add_serve()
    try:
        for _ in range(300):
            try:
                if (await asyncio.to_thread(httpx.get, f"{other_url}/ok", timeout=1)).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        async with await _client(pg_cluster.url) as a, await _client(other_url) as b:
            tid = (await a.threads.create())["thread_id"]
            run = await a.runs.create(tid, "steps", input={"log": [], "hold": 0.3}, stream_mode=["values", "custom"])
            via_b = [(p.id, p.event, p.data) async for p in b.runs.join_stream(tid, run["run_id"])]
            via_a = [(p.id, p.event, p.data) async for p in a.runs.join_stream(tid, run["run_id"])]
            assert via_a == via_b and via_b[-1][2]["log"] == ["first", "second", "third"]
            slow = await a.runs.create(tid, "steps", input={"log": [], "hold": 5.0})
            for _ in range(200):
                if (await b.runs.get(tid, slow["run_id"]))["status"] == "running":
                    break
                await asyncio.sleep(0.05)
            await b.runs.cancel(tid, slow["run_id"], wait=True)
            assert (await a.runs.get(tid, slow["run_id"]))["status"] == "interrupted"

            ctid = (await a.threads.create())["thread_id"]
            started = time.monotonic()
            cron = await b.crons.create_for_thread(ctid, "agent", input={"messages": [{"role": "user", "content": "hi"}]},
                                                   schedule="* * * * * *")
            await asyncio.sleep(3.0)
            await a.crons.delete(cron["cron_id"])
            elapsed = time.monotonic() - started
            await asyncio.sleep(1.0)
            fired = len(await a.runs.list(ctid, limit=100))
            # Once per second, not once per second per process.
            assert 1 <= fired <= int(elapsed) + 1, (fired, elapsed)
    finally:
        other.send_signal(signal.SIGTERM)
        await asyncio.to_thread(other.wait, 10)


def _database_outage(admin_dsn: str, dbname: str, seconds: float) -> None:
    """What a PostgreSQL restart looks like to its clients, for one database only (the
    server is shared): every connection to ``dbname`` is cut, and new ones are refused for
    ``seconds``."""
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{dbname}" WITH ALLOW_CONNECTIONS false')
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            )
            time.sleep(seconds)
        finally:
            admin.execute(f'ALTER DATABASE "{dbname}" WITH ALLOW_CONNECTIONS true')


async def test_database_restart_mid_run_the_run_finishes_once(pg_cluster: PgCluster) -> None:
    """PostgreSQL goes away mid-run (every connection cut, none accepted for 1.5 s): the run
    still finishes, each node's work is saved once, no event is lost or doubled, and the
    client's stream goes on as if nothing happened."""
    from tests.server.conftest import PG_ADMIN_DSN

    dbname = pg_cluster.dsn.rsplit("/", 1)[1]
    async with await _client(pg_cluster.url) as client:
        tid = (await client.threads.create())["thread_id"]
        parts = []
        outage = None
        async with asyncio.timeout(60):
            async for p in client.runs.stream(
                tid, "steps", input={"log": [], "hold": 1.0}, stream_mode=["values", "custom"], durability="sync",
            ):
                parts.append(p)
                if p.event == "custom" and p.data["node"] == "second" and outage is None:
                    outage = asyncio.create_task(asyncio.to_thread(_database_outage, PG_ADMIN_DSN, dbname, 1.5))
        assert outage is not None
        await outage
        custom = [p.data["node"] for p in parts if p.event == "custom"]
        assert parts[-1].event == "values" and parts[-1].data["log"] == ["first", "second", "third"], pg_cluster.logs()
        assert [int(p.id) for p in parts] == list(range(1, len(parts) + 1))
        run = (await client.runs.list(tid))[0]
        assert run["status"] == "success"
        state = await client.threads.get_state(tid)
        assert state["values"]["log"] == ["first", "second", "third"]
        replay = [(p.id, p.event) async for p in client.runs.join_stream(tid, run["run_id"])]
        assert replay == [(p.id, p.event) for p in parts]
        # 'first' ran once; 'second' at most twice (its result may be lost with the
        # connection, then it runs again from the checkpoint before it).
        assert custom.count("first") == 1 and custom[-1] == "third", custom
    # The cluster serves the next run normally.
    async with await _client(pg_cluster.url) as client:
        result = await client.runs.wait(None, "steps", input={"log": []})
        assert result["log"] == ["first", "second", "third"]


async def test_database_restart_while_events_stream_loses_none(pg_cluster: PgCluster) -> None:
    """The connections are cut while a node streams events (a write every 10 ms): every
    event reaches the client once per attempt, in order, and the run ends well."""
    from tests.server.conftest import PG_ADMIN_DSN

    dbname = pg_cluster.dsn.rsplit("/", 1)[1]
    async with await _client(pg_cluster.url) as client:
        tid = (await client.threads.create())["thread_id"]
        parts = []
        outage = None
        async with asyncio.timeout(60):
            async for p in client.runs.stream(tid, "chatty", input={"count": 150}, stream_mode=["custom", "values"]):
                parts.append(p)
                if p.event == "custom" and p.data["i"] == 20 and outage is None:
                    outage = asyncio.create_task(asyncio.to_thread(_database_outage, PG_ADMIN_DSN, dbname, 1.0))
        assert outage is not None
        await outage
        assert [int(p.id) for p in parts] == list(range(1, len(parts) + 1))
        assert parts[-1].event == "values" and parts[-1].data == {"count": 150, "said": 150}
        # Each attempt's events are whole: an attempt cut short is followed by one that
        # starts the node again and streams all of it.
        attempts: list[list[int]] = []
        for p in parts:
            if p.event == "metadata":
                attempts.append([])
            elif p.event == "custom":
                attempts[-1].append(p.data["i"])
        assert attempts[-1] == list(range(150)) or (len(attempts) == 1 and attempts[0] == list(range(150)))
        for cut in attempts[:-1]:
            assert cut == list(range(len(cut)))
        run = (await client.runs.list(tid))[0]
        assert run["status"] == "success"
        replay = [(p.id, p.event) async for p in client.runs.join_stream(tid, run["run_id"])]
        assert replay == [(p.id, p.event) for p in parts]


async def test_start_and_finish_a_run_in_one_statement_each(pg_cluster: PgCluster) -> None:
    """start_attempt claims the run, marks it running and its thread busy (unless an abort
    was asked); finish_run sets both records and closes the log; both are fenced."""
    async with PostgresStorage.open(pg_cluster.dsn, max_size=2, listen=False) as storage:
        assert await storage.insert_thread({"thread_id": "se-thread", "status": "idle", "metadata": {}}) is None
        again = await storage.insert_thread({"thread_id": "se-thread", "status": "busy", "metadata": {"x": 1}})
        assert again is not None and again["status"] == "idle" and again["metadata"] == {}
        await storage.put_assistant({"assistant_id": "se-asst", "graph_id": "g", "_versions": [1]})
        await storage.put_run({"run_id": "se-run", "thread_id": "se-thread", "status": "pending",
                               "assistant_id": "se-asst"})
        run, attempt, abort, assistant, checkpointed = await storage.start_attempt("se-run")  # type: ignore[misc]
        assert (run["status"], attempt, abort, checkpointed) == ("running", 1, None, False)
        assert assistant == {"assistant_id": "se-asst", "graph_id": "g"}  # (as the API shows it)
        assert (await storage.get_thread("se-thread"))["status"] == "busy"  # type: ignore[index]
        _, second, _, _, _ = await storage.start_attempt("se-run")  # type: ignore[misc]
        token = FENCE.set(("se-run", attempt))
        try:
            with pytest.raises(FencedOut):
                await storage.finish_run("se-run", {"status": "success"}, "se-thread", {"status": "idle"})
            with pytest.raises(FencedOut):
                await storage.patch_thread("se-thread", {"status": "idle"})
        finally:
            FENCE.reset(token)
        assert (await storage.get_run("se-run"))["status"] == "running"  # type: ignore[index]
        token = FENCE.set(("se-run", second))
        try:
            await storage.finish_run("se-run", {"status": "success", "output": {"a": 1}}, "se-thread",
                                     {"status": "idle", "values": {"a": 1}})
        finally:
            FENCE.reset(token)
        assert (await storage.get_run("se-run"))["output"] == {"a": 1}  # type: ignore[index]
        thread = await storage.get_thread("se-thread")
        assert thread is not None and (thread["status"], thread["values"], thread["metadata"]) == ("idle", {"a": 1}, {})
        assert [e async for e in storage.read_events("se-run")] == []  # closed: the reader ends
        assert await storage.start_attempt("se-run") is None  # finished: nothing to claim
        # An abort asked before the claim: the run is left as it is, the abort returned.
        await storage.put_run({"run_id": "se-run2", "thread_id": "se-thread", "status": "pending"})
        await storage.request_abort("se-run2", "rollback")
        run, _, abort, assistant, _ = await storage.start_attempt("se-run2")  # type: ignore[misc]
        assert (run["status"], abort, assistant) == ("pending", "rollback", None)
        assert (await storage.get_thread("se-thread"))["status"] == "idle"  # type: ignore[index]
        await storage.delete_thread("se-thread")
        await storage.delete_assistant("se-asst")


async def test_fenced_checkpoint_write_needs_one_connection(pg_cluster: PgCluster) -> None:
    """The fence check travels in the checkpoint write's own transaction: a worker's
    fenced saver works on a pool of one connection (it used to hold a second one for the
    fence), and a stale attempt's write raises FencedOut and stores nothing."""
    from asyncgraph.checkpoint.base import empty_checkpoint
    from asyncgraph.server._pg_queue import FencedPostgresSaver
    from asyncgraph.server._pg_storage import open_pool

    async with open_pool(pg_cluster.dsn, max_size=1) as pool:
        async with PostgresStorage.open(pg_cluster.dsn, pool=pool, listen=False) as storage:
            saver = FencedPostgresSaver(pool)
            saver.storage = storage
            await saver.setup()
            await storage.put_run({"run_id": "fs-run", "thread_id": "fs-thread", "status": "pending"})
            _, first = await storage.claim_run("fs-run")  # type: ignore[misc]
            config = {"configurable": {"thread_id": "fs-thread", "checkpoint_ns": ""}}
            token = FENCE.set(("fs-run", first))
            try:
                async with asyncio.timeout(10):
                    stored = await saver.aput(config, empty_checkpoint(), {"step": -1}, {})
                    await saver.aput_writes(stored, [("x", 1)], "task-1")
                _, second = await storage.claim_run("fs-run")  # type: ignore[misc]
                with pytest.raises(FencedOut, match=f"attempt {first} is fenced out .*at attempt {second}"):
                    await saver.aput(stored, {**empty_checkpoint(), "id": "zombie"}, {"step": 0}, {})
                with pytest.raises(FencedOut):
                    await saver.aput_writes(stored, [("x", 2)], "task-2")
            finally:
                FENCE.reset(token)
            tup = await saver.aget_tuple(config)
            assert tup is not None and tup.checkpoint["id"] == stored["configurable"]["checkpoint_id"]
            assert [w[0] for w in tup.pending_writes] == ["task-1"]
            await saver.adelete_thread("fs-thread")
            await storage.delete_run("fs-run")


async def test_reader_of_a_run_admitted_here_reads_once_per_batch(pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run admitted by this process is followed by NOTIFY alone: its reader does not
    read before the first NOTIFY (nothing can be there yet), reads once for a batch too
    big to travel in its NOTIFY, and the NOTIFY closing the log carries its last seq, so a
    reader that has sent that one stops without a read. (No poll is needed: the readers'
    backstop read comes after LISTENING_POLL_SECONDS, made longer than this test.)"""
    from asyncgraph.server import _pg_storage
    from asyncgraph.server._storage import RunEvent

    monkeypatch.setattr(_pg_storage, "LISTENING_POLL_SECONDS", 60.0)

    async with PostgresStorage.open(pg_cluster.dsn, max_size=3, listen=True) as storage:
        async with asyncio.timeout(10):
            while not storage._listening:
                await asyncio.sleep(0.02)
        reads = 0
        events_after = storage._events_after

        async def counted(run_id: str, pos: int) -> Any:
            nonlocal reads
            reads += 1
            return await events_after(run_id, pos)

        storage._events_after = counted  # type: ignore[method-assign]
        thread = {"thread_id": "rd-thread", "status": "idle", "metadata": {}}
        run = {"run_id": "rd-run", "thread_id": "rd-thread", "status": "pending"}
        await storage.add_run(thread, run, RunEvent(1, "metadata", '{"run_id": "rd-run"}'))

        async def follow() -> list[int]:
            return [e.seq async for e in storage.read_events("rd-run", after=1)]

        async with asyncio.timeout(10):
            reader = asyncio.create_task(follow())
            await asyncio.sleep(0.2)
            assert reads == 0
            big = '"' + "x" * 8000 + '"'  # (over NOTIFY_EVENTS_MAX: the reader reads it)
            await storage.append_events("rd-run", [("values", big), ("values", big)])
            while reads == 0:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)
            await storage.finish_run("rd-run", {"status": "success"}, "rd-thread", {"status": "idle"})
            assert await reader == [2, 3]
        assert reads == 1
        assert (await storage.get_thread("rd-thread"))["status"] == "idle"  # type: ignore[index]
        # A reader arriving later (not fresh any more) reads the closed log as usual.
        assert [e.seq async for e in storage.read_events("rd-run")] == [1, 2, 3]
        await storage.delete_thread("rd-thread")


class _Items(TypedDict):
    items: Annotated[list[str], operator.add]


async def test_rollback_refuses_a_late_checkpoint_write_of_the_cancelled_attempt(pg_cluster: PgCluster) -> None:
    """A rolled-back run's checkpoint write that was still on its way when the run was
    cancelled (saved in the background, or waiting for a connection) and reaches the
    database while the rollback rewrites the thread is refused: the thread's history
    keeps no checkpoint of the run. The interleaving is forced: the write lands right
    after the rollback deleted the thread's checkpoints, before it copies them back."""
    import contextvars
    import uuid

    from asyncgraph.graph import START, StateGraph
    from asyncgraph.server._config import load_config
    from asyncgraph.server._graphs import GraphRegistry
    from asyncgraph.server._pg_queue import FencedPostgresSaver
    from asyncgraph.server._queue import InProcessQueue
    from asyncgraph.server._runs import RunService
    from asyncgraph.server._serve import PgWorker
    from asyncgraph.server._services import Services

    from tests.server.conftest import APP

    g = StateGraph(_Items)
    g.add_node("add", lambda s: {"items": ["x"]})
    g.add_edge(START, "add")

    async with PostgresStorage.open(pg_cluster.dsn, max_size=4, listen=False) as storage:
        saver = FencedPostgresSaver(storage.pool)
        saver.storage = storage
        graph = g.compile(checkpointer=saver)
        worker = PgWorker(RunService(Services(storage, GraphRegistry(load_config(APP), checkpointer=saver, store=None)),
                                     InProcessQueue()))
        tid, doomed = str(uuid.uuid4()), str(uuid.uuid4())

        def config(run_id: str) -> dict[str, Any]:
            return {"configurable": {"thread_id": tid}, "metadata": {"run_id": run_id}}

        await graph.ainvoke({"items": ["earlier"]}, config("earlier"))
        await storage.put_thread({"thread_id": tid, "status": "busy", "metadata": {}, "values": {}})
        run = {"run_id": doomed, "thread_id": tid, "status": "running", "kwargs": {}}
        await storage.put_run(run)
        _, attempt = await storage.claim_run(doomed)  # type: ignore[misc]
        token = FENCE.set((doomed, attempt))
        try:
            await graph.ainvoke({"items": ["doomed"]}, config(doomed))  # the attempt's own checkpoints
            cancelled_attempt = contextvars.copy_context()  # (where its late write comes from)
        finally:
            FENCE.reset(token)

        late: list[BaseException | None] = []
        delete = saver.adelete_thread

        async def adelete_thread(thread_id: str) -> None:
            await delete(thread_id)
            if thread_id == tid and not late:
                # The cancelled attempt's write lands now, under its own fence.
                write = asyncio.get_running_loop().create_task(
                    graph.ainvoke({"items": ["late"]}, config(doomed)), context=cancelled_attempt)
                late.append(await asyncio.wait({write}) and write.exception())

        saver.adelete_thread = adelete_thread  # type: ignore[method-assign]
        token = FENCE.set((doomed, attempt))  # (as in the worker's attempt)
        try:
            await worker._finish_cancelled(run, "rollback")
        finally:
            FENCE.reset(token)

        assert len(late) == 1 and isinstance(late[0], FencedOut)
        history = [t async for t in saver.alist({"configurable": {"thread_id": tid}})]
        assert history and all(t.metadata.get("run_id") == "earlier" for t in history)
        assert (await graph.aget_state({"configurable": {"thread_id": tid}})).values == {"items": ["earlier", "x"]}
        assert await storage.get_run(doomed) is None
        assert (await storage.get_thread(tid))["status"] == "idle"  # type: ignore[index]


async def test_rollback_of_a_run_its_frozen_worker_held_leaves_no_checkpoint(pg_cluster: PgCluster) -> None:
    """A run whose worker froze (SIGSTOP) after it wrote checkpoints, rolled back by a
    newer run: the worker never answers the abort, so another worker's stalled-job
    recovery finishes the rollback. The frozen attempt's checkpoints go too, and when the
    frozen worker wakes, its own late rollback changes nothing."""
    frozen = None
    try:
        async with asyncio.timeout(60), await _client(pg_cluster.url) as client:
            tid = (await client.threads.create())["thread_id"]
            await client.runs.wait(tid, "steps", input={"log": ["earlier"], "hold": 0.0})
            doomed = await client.runs.create(tid, "steps", input={"log": ["doomed"], "hold": 30.0},
                                              stream_mode=["custom"], durability="sync")
            async for p in client.runs.join_stream(tid, doomed["run_id"]):
                if p.event == "custom" and p.data["node"] == "second":
                    frozen = _worker(pg_cluster, p.data["pid"])
                    frozen.send_signal(signal.SIGSTOP)
                    break
            assert frozen is not None
            history = await client.threads.get_history(tid, limit=50)
            assert any(s["metadata"].get("run_id") == doomed["run_id"] for s in history)  # (written before the freeze)

            last = await client.runs.create(tid, "steps", input={"log": ["last"], "hold": 0.0},
                                            multitask_strategy="rollback")
            await client.runs.join(tid, last["run_id"])
            expected = ["earlier", "first", "second", "third", "last", "first", "second", "third"]

            async def check() -> None:
                with pytest.raises(NotFoundError):
                    await client.runs.get(tid, doomed["run_id"])
                history = await client.threads.get_history(tid, limit=50)
                assert {s["metadata"].get("run_id") for s in history} == {
                    (await client.runs.list(tid))[-1]["run_id"], last["run_id"]}
                assert (await client.threads.get_state(tid))["values"]["log"] == expected

            await check()
            frozen.send_signal(signal.SIGCONT)  # its abort arrives now: it finds the run gone
            await asyncio.sleep(3.0)
            await check()
            assert (await client.threads.get(tid))["status"] == "idle"
    finally:
        if frozen is not None:
            frozen.kill()
            frozen.wait(5)
            await _replace(pg_cluster, frozen)


async def test_a_run_heard_ending_before_its_admission_returns_is_read_at_once(
    pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under load a worker can run a new run, and this process's listener relay its
    events and its end, before the coroutine that admitted it resumes: its stream still
    gets every event at once, not after the readers' backstop poll (made longer than
    this test)."""
    from asyncgraph.server import _pg_storage
    from asyncgraph.server._storage import RunEvent

    monkeypatch.setattr(_pg_storage, "LISTENING_POLL_SECONDS", 60.0)
    async with PostgresStorage.open(pg_cluster.dsn, max_size=3, listen=True) as storage:
        async with asyncio.timeout(10):
            while not storage._listening:
                await asyncio.sleep(0.02)
        heard_end = asyncio.Event()
        wake = storage._wake

        def spy(run_id: str | None, seq: float = float("inf"), closed_at: int | None = None) -> None:
            wake(run_id, seq, closed_at)
            if run_id == "early-run" and seq == float("inf"):
                heard_end.set()

        storage._wake = spy  # type: ignore[method-assign]
        add_run = storage._add_run

        async def worker_first(*args: Any) -> None:
            await add_run(*args)
            # (committed: the worker runs it and ends it; the listener hears it all)
            await storage.append_events("early-run", [("values", '{"n": 1}'), ("values", '{"n": 2}')])
            await storage.finish_run("early-run", {"status": "success"}, "early-thread", {"status": "idle"})
            async with asyncio.timeout(10):
                await heard_end.wait()

        storage._add_run = worker_first  # type: ignore[method-assign]
        thread = {"thread_id": "early-thread", "status": "idle", "metadata": {}}
        run = {"run_id": "early-run", "thread_id": "early-thread", "status": "pending"}
        await storage.add_run(thread, run, RunEvent(1, "metadata", '{"run_id": "early-run"}'))
        async with asyncio.timeout(10):
            assert [e.seq async for e in storage.read_events("early-run", after=1)] == [2, 3]
        await storage.delete_thread("early-thread")
