"""Data safety under hostile conditions, on every saver: cancellation at any await,
concurrent runs on one thread (with and without ``thread_lock``), retention racing
writers, values of hundreds of megabytes, timeouts, and thread ids no database takes."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from asyncgraph.checkpoint.base import MAX_ID_BYTES, create_checkpoint
from asyncgraph.graph import START, StateGraph
from asyncgraph.graph.message import add_messages


def cfg(thread_id: str = "t1", checkpoint_id: str | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


def ckpt(values: dict[str, Any], version: int) -> Any:
    versions = {k: version for k in values}
    return create_checkpoint(values, versions, {"node": dict(versions)}, sorted(versions))


async def put(saver: Any, config: dict[str, Any], values: dict[str, Any], version: int) -> Any:
    c = ckpt(values, version)
    return await saver.aput(config, c, {"source": "loop", "step": version}, dict(c["channel_versions"]))


async def assert_unlocked(saver_kind: str, request: pytest.FixtureRequest, tmp_path: Any) -> None:
    """Another connection can write right away: no lock and no open transaction left."""
    if saver_kind.startswith("sqlite"):
        other = sqlite3.connect(str(tmp_path / "checkpoints.db"), timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # "database is locked" if a writer is stuck
            other.execute("INSERT INTO asyncgraph_names (name, id) VALUES ('probe', -1)")
            other.execute("ROLLBACK")
        finally:
            other.close()
    elif saver_kind.startswith("postgres"):
        import psycopg

        dsn = request.getfixturevalue("pg_dsn")
        db = dsn.rsplit("/", 1)[1]
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as other:
            # A session whose client closed it mid-query (a cancelled operation on a
            # pooled connection) may take the loaded server a moment to end.
            for _ in range(100):
                cur = await other.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                    "AND state LIKE 'idle in transaction%%'", (db,)
                )
                if (await cur.fetchone()) == (0,):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("a session stays idle in a transaction")
            await other.execute("SET lock_timeout = '10s'")
            async with other.transaction(force_rollback=True):
                await other.execute("LOCK TABLE asyncgraph_threads, asyncgraph_checkpoints, "
                                    "asyncgraph_blobs, asyncgraph_writes IN EXCLUSIVE MODE")


# -- cancellation (#3) --------------------------------------------------------------------

OPERATIONS: dict[str, Callable[[Any, dict[str, Any], int], Awaitable[Any]]] = {
    "aput": lambda s, parent, i: put(s, parent, {"m": [f"x{j}" for j in range(i)], "big": "y" * 100}, i),
    "aput_step": lambda s, parent, i: s.aput_step(
        parent, ckpt({"m": [f"x{j}" for j in range(i)]}, i), {"step": i}, {"m": i},
        parent_writes=[("task", "m", "w")], writes=[("task2", "__interrupt__", "p")],
    ),
    "aput_writes": lambda s, parent, i: s.aput_writes(parent, [("m", i), ("n", "v" * 50)], f"t{i}"),
    "aget_tuple": lambda s, parent, i: s.aget_tuple(cfg()),
    "alist": lambda s, parent, i: _collect(s.alist(cfg())),
    "adelete_thread": lambda s, parent, i: s.adelete_thread("other"),
    "aprune": lambda s, parent, i: s.aprune("t1", keep_last=3),
}


async def _collect(agen: Any) -> list[Any]:
    return [item async for item in agen]


@pytest.mark.parametrize("op", list(OPERATIONS))
async def test_cancelling_any_operation_at_any_await_leaves_the_saver_usable(
    make_saver: Any, saver_kind: str, op: str, request: pytest.FixtureRequest, tmp_path: Any
) -> None:
    async with make_saver() as saver:
        parent = await put(saver, cfg(), {"m": ["x0"]}, 1)
        await put(saver, cfg("other"), {"m": ["o"]}, 1)
        version, finished_in_a_row, ticks = 2, 0, 0
        while finished_in_a_row < 3 and ticks < 200:
            task = asyncio.ensure_future(OPERATIONS[op](saver, parent, version))
            for _ in range(ticks):
                await asyncio.sleep(0)
            finished_in_a_row = finished_in_a_row + 1 if task.done() else 0
            task.cancel()
            try:
                result = await task
            except asyncio.CancelledError:
                result = None
            if op in ("aput", "aput_step") and result is not None:
                parent = result
            ticks += 1
            version += 1
            # The saver still works, on this thread and on another one.
            latest = await saver.aget_tuple(cfg())
            assert latest is not None
            parent = await put(saver, latest.config, latest.checkpoint["channel_values"], version)
            version += 1
        await assert_unlocked(saver_kind, request, tmp_path)
        assert (await saver.aget_tuple(cfg())) is not None


async def test_cancelling_async_sqlite_while_begin_is_queued_does_not_wedge_it(
    tmp_path: Any,
) -> None:
    """The reported case: cancels landing between BEGIN and ROLLBACK in aiosqlite's
    queue; every later operation then failed ("transaction within a transaction")."""
    from asyncgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "c.db")) as saver:
        config = await put(saver, cfg(), {"m": [0]}, 1)
        for i in range(200):
            task = asyncio.ensure_future(put(saver, config, {"m": list(range(i + 2))}, i + 2))
            await asyncio.sleep(0)
            task.cancel()
            try:
                config = await task
            except asyncio.CancelledError:
                pass
        final = await put(saver, cfg(), {"m": [1]}, 1000)
        assert (await saver.aget_tuple(final)).checkpoint["channel_values"] == {"m": [1]}


# -- concurrent runs on one thread (#4, #6) ------------------------------------------------


class MsgState(TypedDict):
    messages: Annotated[list[Any], add_messages]


def chat_graph(saver: Any) -> Any:
    async def reply(state: MsgState) -> dict[str, Any]:
        await asyncio.sleep(0.001)
        return {"messages": [AIMessage(f"re: {state['messages'][-1].content}")]}

    builder = StateGraph(MsgState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile(checkpointer=saver)


async def test_many_concurrent_runs_on_one_thread_all_succeed(make_saver: Any) -> None:
    """Policy: concurrent runs on one thread all run and no put fails; each put is
    atomic and the thread's state is the last one written. 16 writers put what the
    engine puts (input, then step checkpoints with writes), each from the latest it
    read: on PostgreSQL 9+ used to fail ("could not store channel after 8 attempts")."""
    async with make_saver() as saver:
        await put(saver, cfg("busy"), {"m": [HumanMessage("start", id="s")], "__start__": "x"}, 1)

        async def run(i: int) -> None:
            for step in range(4):
                latest = await saver.aget_tuple(cfg("busy"))
                values = dict(latest.checkpoint["channel_values"])
                version = max(latest.checkpoint["channel_versions"].values()) + 1
                values["m"] = [*values["m"], HumanMessage(f"{i}.{step}", id=f"{i}.{step}")]
                values["__start__"] = f"{i}.{step}"
                c = ckpt(values, version)
                await saver.aput_step(
                    latest.config, c, {"source": "loop", "step": version},
                    dict(c["channel_versions"]), parent_writes=[(f"task{i}", "m", step)],
                )

        await asyncio.gather(*(run(i) for i in range(16)))
        history = [t async for t in saver.alist(cfg("busy"))]
        assert len(history) == 1 + 16 * 4
        for tup in history:
            assert tup.checkpoint["channel_values"]["m"][0].content == "start"


async def test_runs_holding_thread_lock_lose_no_message(make_saver: Any) -> None:
    async with make_saver() as saver:
        graph = chat_graph(saver)
        config = {"configurable": {"thread_id": "busy"}}

        async def turn(i: int) -> None:
            async with saver.thread_lock("busy", timeout=60):
                await graph.ainvoke({"messages": [HumanMessage(f"m{i}")]}, config)

        await asyncio.gather(*(turn(i) for i in range(12)))
        messages = (await graph.aget_state(config)).values["messages"]
        assert len(messages) == 24
        assert sorted(m.content for m in messages[::2]) == sorted(f"m{i}" for i in range(12))


@pytest.mark.allow_blocking  # the in-memory saver works on the loop, and the box is loaded
async def test_keep_last_with_concurrent_writers_on_one_thread_stays_readable(
    make_saver: Any,
) -> None:
    """Pruning raced writers extending a list (delta chains): the thread became
    unreadable on PostgreSQL ("delta chain has gaps")."""
    async with make_saver(keep_last=2) as saver:
        await put(saver, cfg(), {"m": [HumanMessage("0", id="0")]}, 1)
        errors: list[BaseException] = []

        async def writer(w: int) -> None:
            for i in range(12):
                try:
                    latest = await saver.aget_tuple(cfg())
                    msgs = list(latest.checkpoint["channel_values"]["m"])
                    version = latest.checkpoint["channel_versions"]["m"] + 1
                    msgs.append(HumanMessage(f"{w}.{i} " * 20, id=f"{w}.{i}"))
                    await put(saver, latest.config, {"m": msgs}, version)
                except BaseException as exc:  # collected: the test names the first
                    errors.append(exc)

        async def reader() -> None:
            for _ in range(30):
                try:
                    async for tup in saver.alist(cfg()):
                        assert tup.checkpoint["channel_values"]["m"][0].content == "0"
                except BaseException as exc:
                    errors.append(exc)
                await asyncio.sleep(0)

        await asyncio.gather(*(writer(w) for w in range(8)), reader(), reader())
        assert not errors, errors[0]
        listed = [t async for t in saver.alist(cfg())]
        assert len(listed) == 2
        for tup in listed:
            assert tup.checkpoint["channel_values"]["m"][0].content == "0"


# -- thread_lock (#6) ------------------------------------------------------------------


async def test_thread_lock_excludes_other_holders_of_the_same_thread_only(
    make_saver: Any,
) -> None:
    async with make_saver() as saver:
        inside: dict[str, int] = {"a": 0, "b": 0}
        most: dict[str, int] = {"a": 0, "b": 0}

        async def hold(tid: str) -> None:
            async with saver.thread_lock(tid):
                inside[tid] += 1
                most[tid] = max(most[tid], inside[tid])
                await asyncio.sleep(0.005)
                await put(saver, cfg(tid), {"x": 1}, 1)  # the saver writes while held
                inside[tid] -= 1

        started = time.monotonic()
        await asyncio.gather(*(hold(t) for t in "ab" * 6))
        assert most == {"a": 1, "b": 1}
        assert time.monotonic() - started < 60

        async with saver.thread_lock("a"):
            with pytest.raises(TimeoutError, match="'a'.*thread_lock"):
                async with saver.thread_lock("a", timeout=0.05):
                    pass
            async with saver.thread_lock("b", timeout=1):  # another thread: free
                pass
        async with saver.thread_lock("a", timeout=1):  # released after the timeout
            pass


async def test_thread_lock_from_sync_code_in_a_worker_thread(make_saver: Any) -> None:
    async with make_saver() as saver:
        await put(saver, cfg(), {"x": 1}, 1)  # an async saver learns its loop on first use
        order: list[str] = []

        def sync_holder() -> None:
            with saver.thread_lock("t", timeout=30):
                order.append("sync in")
                time.sleep(0.1)
                order.append("sync out")

        async def async_holder() -> None:
            await asyncio.sleep(0.03)
            async with saver.thread_lock("t", timeout=30):
                order.append("async")

        await asyncio.gather(asyncio.to_thread(sync_holder), async_holder())
        assert order == ["sync in", "sync out", "async"]


@pytest.mark.postgres
async def test_postgres_thread_lock_excludes_another_process_and_pins_one_connection(
    pg_dsn: str,
) -> None:
    from asyncgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    # Two savers with their own pools stand for two processes.
    async with AsyncPostgresSaver.from_conn_string(pg_dsn, pool_size=2) as one, \
            AsyncPostgresSaver.from_conn_string(pg_dsn, pool_size=2) as two:
        await one.setup()
        async with one.thread_lock("shared"):
            with pytest.raises(TimeoutError):
                async with two.thread_lock("shared", timeout=0.2):
                    pass
        async with two.thread_lock("shared", timeout=5):
            pass
        # Locks on 20 threads at once, a pool of 2: the runs inside still get connections.
        async def hold(i: int) -> None:
            async with one.thread_lock(f"t{i}", timeout=30):
                await put(one, cfg(f"t{i}"), {"x": i}, 1)
                await asyncio.sleep(0.05)
                assert (await one.aget_tuple(cfg(f"t{i}"))) is not None

        await asyncio.wait_for(asyncio.gather(*(hold(i) for i in range(20))), 60)


# -- large values and timeouts (#5) -------------------------------------------------------


@pytest.mark.allow_blocking  # the in-memory saver serializes on the loop
async def test_a_20_mb_value_round_trips(make_saver: Any) -> None:
    """PostgreSQL hung forever from 16 MB (async) / 64 MB (sync) in pipeline mode."""
    value = b"\x01\x02" * (10 << 20)
    async with make_saver() as saver:
        config = await asyncio.wait_for(put(saver, cfg(), {"blob": value, "n": 1}, 1), 120)
        got = await asyncio.wait_for(saver.aget_tuple(config), 120)
        assert got.checkpoint["channel_values"]["blob"] == value


@pytest.mark.slow
@pytest.mark.allow_blocking
async def test_a_256_mb_value_round_trips(make_saver: Any) -> None:
    value = bytes(range(256)) * (1 << 20)
    async with make_saver() as saver:
        config = await asyncio.wait_for(put(saver, cfg(), {"blob": value}, 1), 600)
        got = await asyncio.wait_for(saver.aget_tuple(config), 600)
        assert got.checkpoint["channel_values"]["blob"] == value
        del got


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["postgres", "postgres_aio"])
async def test_a_postgres_operation_that_cannot_finish_times_out(pg_dsn: str, kind: str) -> None:
    """No saver call waits forever: here a put waits on another session's lock."""
    import psycopg

    from asyncgraph.checkpoint._sql import THREAD_XACT_SEED
    from asyncgraph.checkpoint.postgres import PostgresSaver
    from asyncgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    cls: Any = PostgresSaver if kind == "postgres" else AsyncPostgresSaver
    cm = cls.from_conn_string(pg_dsn, pool_size=2, timeout=1.0)
    saver = await cm.__aenter__() if kind == "postgres_aio" else cm.__enter__()
    try:
        if kind == "postgres_aio":
            await saver.setup()
        else:
            await asyncio.to_thread(saver.setup)
        config = await put(saver, cfg("stuck"), {"x": 1}, 1)
        async with await psycopg.AsyncConnection.connect(pg_dsn) as blocker:
            await blocker.execute(
                f"SELECT pg_advisory_xact_lock(hashtextextended(%s, {THREAD_XACT_SEED}))",
                ("stuck",),
            )
            started = time.monotonic()
            with pytest.raises(TimeoutError, match="timeout="):
                await put(saver, config, {"x": 2}, 2)
            assert time.monotonic() - started < 30
            await blocker.rollback()
        # Nothing was stored, and the saver works again.
        assert (await saver.aget_tuple(cfg("stuck"))).checkpoint["channel_values"] == {"x": 1}
        await put(saver, config, {"x": 3}, 3)
    finally:
        if kind == "postgres_aio":
            await cm.__aexit__(None, None, None)
        else:
            cm.__exit__(None, None, None)


# -- thread ids no database takes (#9) ----------------------------------------------------

BAD_IDS = {
    "nul": ("a\x00b", "NUL"),
    "long": ("x" * (MAX_ID_BYTES + 1), f"at most {MAX_ID_BYTES} bytes"),
    "long_utf8": ("é" * (MAX_ID_BYTES // 2 + 1), f"at most {MAX_ID_BYTES} bytes"),
    "surrogate": ("a\ud800", "not valid Unicode"),
}


@pytest.mark.parametrize("case", list(BAD_IDS))
async def test_a_thread_id_no_database_can_store_is_a_value_error_before_any_write(
    saver: Any, case: str
) -> None:
    bad, message = BAD_IDS[case]
    c = ckpt({"x": 1}, 1)
    with pytest.raises(ValueError, match=message):
        await saver.aput(cfg(bad), c, {}, {"x": 1})
    with pytest.raises(ValueError, match=message):
        await saver.aput_step(cfg(bad), c, {}, {"x": 1})
    with pytest.raises(ValueError, match=message):
        await saver.aput_writes(cfg(bad, c["id"]), [("x", 1)], "task")
    with pytest.raises(ValueError, match=message):
        await saver.aget_tuple(cfg(bad))
    with pytest.raises(ValueError, match=message):
        await saver.adelete_thread(bad)
    with pytest.raises(ValueError, match=message):
        saver.thread_lock(bad)
    with pytest.raises(ValueError, match=message):
        await saver.aput({"configurable": {"thread_id": "ok", "checkpoint_ns": bad}}, c, {}, {"x": 1})
    assert await saver.alist_threads() == []


async def test_the_longest_accepted_thread_id_works_everywhere(saver: Any) -> None:
    for tid in ("x" * MAX_ID_BYTES, "é" * (MAX_ID_BYTES // 2), "🙂" * (MAX_ID_BYTES // 4)):
        config = await put(saver, cfg(tid), {"x": tid}, 1)
        await saver.aput_writes(config, [("x", 2)], "task")
        got = await saver.aget_tuple(cfg(tid))
        assert got.checkpoint["channel_values"] == {"x": tid}
        assert got.config["configurable"]["thread_id"] == tid
