"""Checkpointers under load and over a long thread, asyncgraph next to LangGraph (issue #13).

Usage::

    python -m bench.savers_load --quick                # about three minutes
    python -m bench.savers_load                        # the issue's sizes
    python -m bench.savers_load --only agents,curve,conversation --markdown

Three workloads, each library with its own saver classes, each (workload, library) in
its own fresh interpreter, one after the other:

* ``agents``: N concurrent runs (``asyncio.gather``) of the bench's two-call agent (model
  50 ms per call, ``bench._graphs.agent``), each on its own new thread, with no saver,
  ``AsyncSqliteSaver`` (a file on disk) and ``AsyncPostgresSaver`` (a pool of
  ``--pool`` connections on a database made for the worker; LangGraph's saver gets the
  same pool). Throughput is N / wall time. Goals: >= 4x LangGraph's throughput with
  each saver, and asyncgraph's wall time within 1.5x of its own runs without a saver.
  Both libraries run with their default durability (``"async"``). For each database
  saver a third worker, the *floor*, runs the same agents with no graph, sending the
  same transactions with the same bytes through the same pool or connection (see
  ``floor`` below); the table gives ag / no-saver, floor / no-saver and ag / floor wall
  time, transactions per run and (PostgreSQL) the server's CPU per run.
  ``--rounds R`` repeats every worker R times, interleaved; ``--base DIR`` adds
  asyncgraph from another checkout (e.g. ``git archive`` of a base commit).
* ``curve``: the same agent on PostgreSQL with at most C runs in flight (C = 1, 10, 50,
  200; 3C runs, at least 20), through one pool: runs/s. With a model taking 0.1 s per
  run, C / 0.1 s is the ideal; a saver that serializes its operations flattens it.
* ``conversation``: a 500-turn conversation on one thread (a one-node chat graph, a
  ~200-byte human message and a ~200-byte answer per turn) on ``AsyncSqliteSaver``
  (a file on disk): the database's size (file, WAL and shared memory after the saver
  is closed) against the raw message text (goal <= 3x), and the first ``aget_state``
  in a fresh interpreter, cold (the saver opened and the graph built first, not
  timed; median of 5 fresh interpreters), against LangGraph's (goal: no slower).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._worker import RESULT_MARK

ROOT = Path(__file__).resolve().parent.parent
LG, AG = "langgraph", "asyncgraph"
PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CURVE = (1, 10, 50, 200)
WORDS = ("the model agent graph state tool call result answer question user data value step "
         "node edge memory thread checkpoint message token stream async python run").split()


# -- savers, in the worker -------------------------------------------------------------


@contextlib.asynccontextmanager
async def _pg_database(pg_url: str, tag: str) -> AsyncIterator[str]:
    import psycopg

    name = f"bench_load_{tag}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{pg_url.rpartition('/')[0]}/{name}"
    finally:
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def _saver(impl: str, kind: str, p: dict[str, Any]) -> AsyncIterator[Any]:
    if kind == "none":
        yield None
    elif kind == "sqlite":
        mod = __import__(f"{impl}.checkpoint.sqlite.aio", fromlist=["AsyncSqliteSaver"])
        where = tempfile.mkdtemp(prefix="bench-load-", dir="/var/tmp")
        try:
            async with mod.AsyncSqliteSaver.from_conn_string(f"{where}/cp.db") as s:
                await s.setup()
                yield s
        finally:
            shutil.rmtree(where, ignore_errors=True)
    elif kind == "postgres":
        mod = __import__(f"{impl}.checkpoint.postgres.aio", fromlist=["AsyncPostgresSaver"])
        async with _pg_database(p["pg_url"], impl[:2]) as url:
            if impl == AG:
                async with mod.AsyncPostgresSaver.from_conn_string(url, pool_size=p["pool"]) as s:
                    await s.setup()
                    yield s
            else:
                # LangGraph's saver over a pool of the same size (its documented setup).
                from psycopg.rows import dict_row
                from psycopg_pool import AsyncConnectionPool

                kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
                async with AsyncConnectionPool(url, min_size=1, max_size=p["pool"], kwargs=kwargs, open=False) as pool:
                    s = mod.AsyncPostgresSaver(pool)
                    await s.setup()
                    yield s
    else:
        raise ValueError(f"unknown saver {kind!r}")


# -- worker: agents and curve ----------------------------------------------------------


def agents(impl: str, p: dict[str, Any]) -> dict[str, Any]:
    from bench._fake_model import FakeAgentModel
    from bench._graphs import agent

    from langchain_core.messages import HumanMessage

    async def main() -> dict[str, Any]:
        model = FakeAgentModel(latency=p["latency"])
        async with _saver(impl, p["saver"], p) as saver:
            graph = agent(impl, model, checkpointer=saver)
            prefix = uuid.uuid4().hex[:8]
            gate = asyncio.Semaphore(p["concurrency"]) if p.get("concurrency") else None

            async def run(i: int) -> Any:
                config = {"configurable": {"thread_id": f"{prefix}-{i}"}}
                inp = {"messages": [HumanMessage(f"question {i}")]}
                if gate is None:
                    out = await graph.ainvoke(inp, config)
                else:
                    async with gate:
                        out = await graph.ainvoke(inp, config)
                if len(out["messages"]) != 4:
                    raise AssertionError(f"run {i}: {len(out['messages'])} messages")
                return out

            await asyncio.gather(*(run(-1 - i) for i in range(min(p["n"], 10))))  # warm-up
            hops = _count_hops(saver) if p["saver"] == "sqlite" else None
            stats0 = await _pg_xacts(saver) if p["saver"] == "postgres" else None
            gc.collect()
            c0, t0 = time.process_time(), time.perf_counter()
            await asyncio.gather(*(run(i) for i in range(p["n"])))
            wall = time.perf_counter() - t0
            cpu = time.process_time() - c0
            extra: dict[str, float] = {}
            if stats0 is not None:
                extra = _xact_delta(stats0, await _pg_xacts(saver), p["n"])
            if hops is not None:
                extra = {"xacts_per_run": hops[0] / p["n"]}
            if saver is not None:
                state = await graph.aget_state({"configurable": {"thread_id": f"{prefix}-0"}})
                if len(state.values["messages"]) != 4:
                    raise AssertionError("the saver did not keep the run's messages")
        return {"wall_s": wall, "runs_per_s": p["n"] / wall, "cpu_ms_per_run": cpu / p["n"] * 1e3, **extra}

    return asyncio.run(main())


def _count_hops(saver: Any) -> list[int]:
    """Count the saver's hops to aiosqlite's thread from now on (one per transaction for
    both libraries' async SQLite savers and the floor; one call frame each)."""
    conn = saver.conn
    count = [0]
    orig = conn._execute

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return await orig(fn, *args, **kwargs)

    conn._execute = counted
    return count


# -- worker: the floor ------------------------------------------------------------------
#
# The same 1,000 agents with no graph and no saver code on the timed path: each does the
# dialogue by hand (the same model and tool calls, ``bench._graphs.floor_run``'s loop)
# and, where asyncgraph's saver writes, sends the SAME statements with the same bytes,
# through the same connection pool (PostgreSQL) or aiosqlite connection (SQLite), made
# the same way (``_saver``). The statements are recorded once, before timing, from one
# asyncgraph run on the same database (its read, then one transaction per checkpoint:
# the input, ``__start__``, model, tools, model), and rebound for each run's thread id
# (every row is keyed by it); PostgreSQL's are bound into query strings before timing.
# Transactions are made as asyncgraph makes them under ``durability="async"`` (the
# default the agents run with): per run, one save in flight, the checkpoints queued
# behind it stored together in the next transaction; on PostgreSQL also across runs, as
# ``checkpoint/_group.py`` does (at most ``LANES`` write and ``LANES`` read
# transactions in flight, further ones queued and sent together, at most 64 each, threads
# in ascending order); on SQLite likewise with one lane each way. What is left out: the graph, the store's Python (encoding,
# planning rows, binding), the driver's result checks.

REC_THREAD = "floor-recorded-thread"


async def _record(saver: Any, kind: str, model: Any) -> list[tuple[bool, list[tuple[str, Any, bool]]]]:
    """The transactions of one asyncgraph agent run on ``saver``: (write, [(sql, params,
    many)])."""
    from bench._graphs import agent

    from langchain_core.messages import HumanMessage

    graph = agent(AG, model, checkpointer=saver)
    for i in range(10):  # the agents worker's warm-up: names cached, pool filled
        await graph.ainvoke({"messages": [HumanMessage(f"question {-1 - i}")]},
                            {"configurable": {"thread_id": f"floor-warm-{i}"}})
    shape: list[bool] = []
    for _ in range(5):
        # Under durability="async" two puts can share a transaction when the machine is
        # slow (a save still in flight when the next two checkpoints come): try again on
        # an empty thread; the floor replays the unmerged shape and merges as asyncgraph
        # does, at run time.
        log = await _record_once(graph, saver, kind)
        shape = [w for w, _ in log]
        if shape == [False] + [True] * 5:
            return log
        await saver.adelete_thread(REC_THREAD)
    raise AssertionError(f"an agent run made transactions {shape}, the floor expects a read and 5 puts")


async def _record_once(graph: Any, saver: Any, kind: str) -> list[tuple[bool, list[tuple[str, Any, bool]]]]:
    from langchain_core.messages import HumanMessage

    log: list[tuple[bool, list[tuple[str, Any, bool]]]] = []
    if kind == "postgres":
        import asyncgraph.checkpoint.postgres._driver as drv

        orig = drv.adrive

        async def rec(gen: Any, execute: Any) -> Any:
            stmts: list[tuple[str, Any, bool]] = []
            log.append((False, stmts))

            async def ex(batch: list[Any]) -> Any:
                stmts.extend((s.sql, s.params, s.many) for s in batch)
                return await execute(batch)

            return await orig(gen, ex)

        drv.adrive = rec
        try:
            await graph.ainvoke({"messages": [HumanMessage("question 0")]}, {"configurable": {"thread_id": REC_THREAD}})
        finally:
            drv.adrive = orig
        log = [(any(sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) for sql, _, _ in stmts), stmts)
               for _, stmts in log]
    else:
        import asyncgraph.checkpoint.sqlite as sq
        import asyncgraph.checkpoint.sqlite.aio as sqa

        orig_tx, orig_ex = sqa.transaction, sq._execute

        def rec_tx(conn: Any, op: Any, args: Any, *, write: bool) -> Any:
            log.append((write, []))
            return orig_tx(conn, op, args, write=write)

        def rec_ex(cur: Any, batch: list[Any]) -> Any:
            log[-1][1].extend((s.sql, s.params, s.many) for s in batch)
            return orig_ex(cur, batch)

        sqa.transaction, sq._execute = rec_tx, rec_ex  # type: ignore[assignment]
        try:
            await graph.ainvoke({"messages": [HumanMessage("question 0")]}, {"configurable": {"thread_id": REC_THREAD}})
        finally:
            sqa.transaction, sq._execute = orig_tx, orig_ex  # type: ignore[assignment]
    return log


def _rebind(params: Any, many: bool, thread: str) -> Any:
    def one(row: Any) -> tuple[Any, ...]:
        return tuple(thread if v == REC_THREAD else v for v in row)

    return [one(r) for r in params] if many else one(params)


class _Lanes:
    """At most ``lanes`` transactions in flight; further ones queue, and the next lane to
    come free sends everything queued (up to ``most`` parts, keys ascending) as one."""

    def __init__(self, send: Any, lanes: int, most: int = 64) -> None:
        self.send, self.lanes, self.most = send, lanes, most
        self.busy = 0
        self.queue: list[tuple[asyncio.Future[None], str, list[Any]]] = []

    async def run(self, key: str, parts: list[Any]) -> None:
        if self.busy < self.lanes:
            self.busy += 1
            try:
                await self.send(parts)
            finally:
                self.busy -= 1
                self._next()
            return
        fut = asyncio.get_running_loop().create_future()
        self.queue.append((fut, key, parts))
        self._next()
        await fut

    def _next(self) -> None:
        if self.queue and self.busy < self.lanes:
            self.busy += 1
            asyncio.ensure_future(self._lane())

    async def _lane(self) -> None:
        try:
            while self.queue:
                items: list[tuple[asyncio.Future[None], str, list[Any]]] = []
                count = 0
                while self.queue and (not items or count + len(self.queue[0][2]) <= self.most):
                    items.append(self.queue.pop(0))
                    count += len(items[-1][2])
                items.sort(key=lambda it: it[1])
                try:
                    await self.send([part for it in items for part in it[2]])
                except BaseException as exc:
                    for fut, _, _ in items:
                        if not fut.done():
                            fut.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                else:
                    for fut, _, _ in items:
                        if not fut.done():
                            fut.set_result(None)
        finally:
            self.busy -= 1
            self._next()


class _RunSaves:
    """One run's saves under ``durability="async"``: one in flight, the rest queued behind
    it and stored together."""

    def __init__(self, store: Any, key: str) -> None:
        self.store, self.key = store, key
        self.queue: list[Any] = []
        self.task: asyncio.Task[None] | None = None

    def put(self, tx: Any) -> None:
        self.queue.append(tx)
        if self.task is None:
            self.task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        while self.queue:
            batch, self.queue = self.queue, []
            await self.store(self.key, batch)
        self.task = None

    async def wait(self) -> None:
        while self.task is not None:
            await self.task


async def _pg_floor(saver: Any, template: Any, threads: list[str]) -> tuple[Any, Any, list[list[Any]]]:
    """Send functions for the reads and the writes, and each run's transactions as query
    strings (bound now, before timing)."""
    from psycopg import AsyncClientCursor

    from asyncgraph.checkpoint.postgres._driver import _script
    from asyncgraph.checkpoint._group import LANES
    from asyncgraph.checkpoint._store import Stmt

    pool = saver.conn
    async with pool.connection() as conn:
        cur = AsyncClientCursor(conn)
        per_run = [[_script(cur, [Stmt(sql, _rebind(params, many, t), many=many) for sql, params, many in stmts])
                    for _, stmts in template] for t in threads]

    def sender(begin: str) -> Any:
        async def send(parts: list[str]) -> None:
            async with pool.connection() as conn:
                cur = conn.cursor()
                await cur.execute(";\n".join([begin, *parts, "COMMIT"]))
                while cur.nextset():  # every statement's result, as a driver reads them
                    pass
        return send

    lanes = max(1, min(LANES, pool.max_size // 2))
    reads = _Lanes(sender("BEGIN ISOLATION LEVEL REPEATABLE READ"), lanes)
    writes = _Lanes(sender("BEGIN"), lanes)
    return reads.run, writes.run, per_run


async def _sqlite_floor(saver: Any, template: Any, threads: list[str]) -> tuple[Any, Any, list[list[Any]]]:
    conn = saver.conn  # the saver's aiosqlite connection: its one thread, its pragmas

    def unit(begin: str, txs: list[list[tuple[str, Any, bool]]]) -> None:
        cur = conn._conn.cursor()
        cur.execute(begin)
        for stmts in txs:
            for sql, params, many in stmts:
                if many:
                    cur.executemany(sql, params)
                else:
                    cur.execute(sql, params).fetchall()
        cur.execute("COMMIT")
        cur.close()

    async def read(parts: list[Any]) -> None:
        await conn._execute(unit, "BEGIN", parts)

    async def write(parts: list[Any]) -> None:
        await conn._execute(unit, "BEGIN IMMEDIATE", parts)

    # One lane each way, as AsyncSqliteSaver's group commit: aiosqlite runs one
    # transaction at a time, and what queues behind it goes in the next, together.
    reads, writes = _Lanes(read, 1), _Lanes(write, 1)
    per_run = [[[(sql, _rebind(params, many, t), many) for sql, params, many in stmts] for _, stmts in template]
               for t in threads]
    return reads.run, writes.run, per_run


def floor(impl: str, p: dict[str, Any]) -> dict[str, Any]:
    from bench._fake_model import TOOLS, FakeAgentModel

    from langchain_core.messages import HumanMessage

    async def main() -> dict[str, Any]:
        model = FakeAgentModel(latency=p["latency"])
        tools = {t.name: t for t in TOOLS}
        async with _saver(AG, p["saver"], p) as saver:
            template = await _record(saver, p["saver"], model)
            prefix = uuid.uuid4().hex[:8]
            threads = [f"{prefix}-{i}" for i in range(p["n"])]
            make = _pg_floor if p["saver"] == "postgres" else _sqlite_floor
            read, write, per_run = await make(saver, template, threads)
            hops = _count_hops(saver) if p["saver"] == "sqlite" else None
            stats0 = await _pg_xacts(saver) if p["saver"] == "postgres" else None

            async def run(i: int) -> None:
                txs, key = per_run[i], threads[i]
                await read(key, [txs[0]])
                saves = _RunSaves(write, key)
                saves.put(txs[1])  # the input checkpoint: its save starts at once,
                await asyncio.sleep(0)  # as the engine's does, before __start__ runs
                saves.put(txs[2])  # __start__
                messages: list[Any] = [HumanMessage(f"question {i}")]
                at = 3
                while True:
                    reply = await model.ainvoke(messages)
                    messages.append(reply)
                    saves.put(txs[at])
                    at += 1
                    if not reply.tool_calls:
                        break
                    for tc in reply.tool_calls:
                        messages.append(await tools[tc["name"]].ainvoke(tc))
                    saves.put(txs[at])
                    at += 1
                await saves.wait()
                if len(messages) != 4:
                    raise AssertionError(f"run {i}: {len(messages)} messages")

            gc.collect()
            c0, t0 = time.process_time(), time.perf_counter()
            await asyncio.gather(*(run(i) for i in range(p["n"])))
            wall = time.perf_counter() - t0
            cpu = time.process_time() - c0
            out = {"wall_s": wall, "runs_per_s": p["n"] / wall, "cpu_ms_per_run": cpu / p["n"] * 1e3}
            if stats0 is not None:
                out.update(_xact_delta(stats0, await _pg_xacts(saver), p["n"]))
            if hops is not None:
                out["xacts_per_run"] = hops[0] / p["n"]
            tx_bytes = sum(len(str(x)) for x in per_run[0]) if p["saver"] == "postgres" else None
            if tx_bytes is not None:
                out["query_bytes_per_run"] = tx_bytes
        return out

    return asyncio.run(main())


async def _pg_xacts(saver: Any) -> tuple[int, dict[int, float]]:
    """The database's committed transactions so far (the server's count, flushed: idle
    backends report within a second) and the CPU seconds so far of each server process
    connected to it (the server is local: its CPU competes with the client's)."""
    await asyncio.sleep(1.2)
    async with saver.conn.connection() as conn:
        from psycopg.rows import tuple_row  # (LangGraph's pool makes dict rows)

        cur = conn.cursor(row_factory=tuple_row)
        await cur.execute("SELECT pg_stat_clear_snapshot()")
        await cur.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        row = await cur.fetchone()
        await cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        pids = [r[0] for r in await cur.fetchall()]
    return int(row[0]), {pid: _proc_cpu(pid) for pid in pids}


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` so far (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _xact_delta(before: tuple[int, dict[int, float]], after: tuple[int, dict[int, float]], n: int) -> dict[str, float]:
    # Less the counting queries' own transactions. Server CPU: the backends connected to
    # the run's database (a pool keeps its connections through the run); the server's
    # background processes (WAL writer, checkpointer) are not in it.
    cpu = sum(v - before[1].get(pid, 0.0) for pid, v in after[1].items())
    return {"xacts_per_run": (after[0] - before[0] - 3) / n, "server_cpu_ms_per_run": cpu / n * 1e3}


# -- worker: conversation --------------------------------------------------------------


def _text(rng: random.Random, size: int = 200) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < size:
        words.append(rng.choice(WORDS))
    return " ".join(words)[:size]


def _chat_graph(impl: str, saver: Any, replies: Any) -> Any:
    graph_mod = __import__(f"{impl}.graph", fromlist=["StateGraph"])
    message_mod = __import__(f"{impl}.graph.message", fromlist=["add_messages"])
    from langchain_core.messages import AIMessage

    State = TypedDict("State", {"messages": Annotated[list[Any], message_mod.add_messages]})  # type: ignore[misc]  # noqa: UP013

    async def bot(state: Any) -> dict[str, Any]:
        return {"messages": [AIMessage(next(replies))]}

    b = graph_mod.StateGraph(State)
    b.add_node("bot", bot)
    b.add_edge(graph_mod.START, "bot")
    b.add_edge("bot", graph_mod.END)
    return b.compile(checkpointer=saver)


def conversation(impl: str, p: dict[str, Any]) -> dict[str, Any]:
    from langchain_core.messages import HumanMessage

    mod = __import__(f"{impl}.checkpoint.sqlite.aio", fromlist=["AsyncSqliteSaver"])
    where = tempfile.mkdtemp(prefix="bench-conv-", dir="/var/tmp")
    path = f"{where}/cp.db"
    rng = random.Random(7)
    replies = iter([_text(rng) for _ in range(p["turns"])])
    config = {"configurable": {"thread_id": "9b2c4e1a-5d7f-4c3b-8a61-2f0e9d8c7b6a"}}

    async def build() -> int:
        async with mod.AsyncSqliteSaver.from_conn_string(path) as saver:
            graph = _chat_graph(impl, saver, replies)
            for _ in range(p["turns"]):
                await graph.ainvoke({"messages": [HumanMessage(_text(rng))]}, config)
            state = await graph.aget_state(config)
            msgs = state.values["messages"]
            if len(msgs) != 2 * p["turns"]:
                raise AssertionError(f"{len(msgs)} messages stored")
            return sum(len(str(m.content).encode()) for m in msgs)

    try:
        raw = asyncio.run(build())
        size = sum(os.path.getsize(path + s) for s in ("", "-wal", "-shm") if os.path.exists(path + s))
        colds, warms = [], []
        for _ in range(p["cold_runs"]):
            out = subprocess.run(
                [sys.executable, "-m", "bench.savers_load", "--cold", impl, path, str(2 * p["turns"])],
                cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120, check=False,
            )
            line = [ln for ln in out.stdout.splitlines() if ln.startswith(RESULT_MARK)]
            if not line:
                raise RuntimeError(f"cold load failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
            got = json.loads(line[0][len(RESULT_MARK):])
            colds.append(got["cold_ms"])
            warms.append(got["warm_ms"])
    finally:
        shutil.rmtree(where, ignore_errors=True)
    return {"db_bytes": size, "raw_bytes": raw, "size_x_raw": size / raw,
            "cold_ms": statistics.median(colds), "warm_ms": statistics.median(warms)}


def _cold(impl: str, path: str, expect: int) -> int:
    """In a fresh interpreter: open the saver, build the graph, time the first and the
    second ``aget_state`` of the conversation."""

    async def main() -> dict[str, float]:
        mod = __import__(f"{impl}.checkpoint.sqlite.aio", fromlist=["AsyncSqliteSaver"])
        config = {"configurable": {"thread_id": "9b2c4e1a-5d7f-4c3b-8a61-2f0e9d8c7b6a"}}
        async with mod.AsyncSqliteSaver.from_conn_string(path) as saver:
            graph = _chat_graph(impl, saver, iter(()))
            t0 = time.perf_counter()
            state = await graph.aget_state(config)
            cold = time.perf_counter() - t0
            t0 = time.perf_counter()
            await graph.aget_state(config)
            warm = time.perf_counter() - t0
            if len(state.values["messages"]) != expect:
                raise AssertionError("wrong conversation read back")
        return {"cold_ms": cold * 1e3, "warm_ms": warm * 1e3}

    sys.stdout.write(RESULT_MARK + json.dumps(asyncio.run(main())) + "\n")
    return 0


# -- driver ------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("LANGSMITH_TRACING", None)
    env.pop("LANGCHAIN_TRACING_V2", None)
    return env


def _spawn(kind: str, impl: str, params: dict[str, Any], timeout: float, root: Path = ROOT) -> dict[str, Any]:
    """Run a worker in a fresh interpreter; ``root``: the checkout it imports (``--base``)."""
    cmd = [sys.executable, "-m", "bench.savers_load", "--worker", kind, impl, json.dumps(params)]
    env = _env()
    if root != ROOT:
        env["PYTHONPATH"] = os.pathsep.join([str(root), *[p for p in env["PYTHONPATH"].split(os.pathsep) if p != str(ROOT)]])
    try:
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])  # type: ignore[no-any-return]
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"worker exited {proc.returncode}: {tail}"}


def _worker_main(kind: str, impl: str, params: str) -> int:
    fn = {"agents": agents, "floor": floor, "conversation": conversation}[kind]
    try:
        result = fn(impl, json.loads(params))
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a table cell
        result = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
    return 0


def _f(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "—"
    return f"{v:,.{digits}f}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _med(outs: list[dict[str, Any]], key: str) -> float | None:
    vals = [o[key] for o in outs if key in o]
    return statistics.median(vals) if vals else None


def _ratios(num: list[dict[str, Any]], den: list[dict[str, Any]], key: str = "wall_s") -> list[float]:
    """``num / den`` per round (same round, so the same machine)."""
    return [a[key] / b[key] for a, b in zip(num, den) if key in a and key in b]


def _x(vals: list[float]) -> str:
    if not vals:
        return "—"
    med = f"{statistics.median(vals):.2f}×"
    return med if len(vals) == 1 else f"{med} ({' / '.join(f'{v:.2f}' for v in vals)})"


def _agents_table(per: dict[str, dict[str, list[dict[str, Any]]]], n: int, rounds: int, libs: tuple[str, ...]) -> list[str]:
    """The agents table: medians over rounds; ratios of wall times taken per round
    (the rounds in brackets)."""
    lines = [f"**{n:,} concurrent agent runs, one thread each, default durability (`\"async\"`)** "
             f"(runs/s = N / wall time; {rounds} round(s), medians; *floor*: the same transactions "
             "and bytes through the same pool / connection, no graph)", "",
             _row(["saver", "LG runs/s", "ag runs/s", "floor runs/s", "ag/LG throughput", "LG CPU ms/run",
                   "ag CPU ms/run", "floor CPU ms/run", "transactions/run ag / floor",
                   "server CPU ms/run ag / floor", "ag / no-saver wall", "floor / no-saver wall",
                   "ag / floor wall", "goal", "met"]),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    rows = [(saver, AG) for saver in ("none", "sqlite", "postgres")]
    if "base" in libs:
        rows += [(saver, "base") for saver in ("none", "sqlite", "postgres")]
    for saver, who in rows:
        none = per["none"][who]
        lg = per[saver].get(LG, [])
        ag = per[saver][who]
        fl = per[saver].get("floor", []) if saver != "none" else []
        vs_lg = [1 / r for r in _ratios(ag, lg)] if lg else []
        own = _ratios(ag, none) if saver != "none" else []
        fl_own = _ratios(fl, none) if fl else []
        ag_fl = _ratios(ag, fl) if fl else []
        goal = "—" if saver == "none" else "≥ 4× LG and ≤ 1.5× no-saver"
        met = "—"
        if saver != "none" and own:
            four = statistics.median(vs_lg) >= 4 if vs_lg else None
            half = statistics.median(own) <= 1.5
            met = ("yes" if four and half else "half (4× yes)" if four else "half (1.5× yes)" if half
                   else "no") if four is not None else ("1.5× yes" if half else "1.5× no")
        tx = "—" if saver == "none" else f"{_f(_med(ag, 'xacts_per_run'), 2)} / {_f(_med(fl, 'xacts_per_run'), 2)}"
        scpu = "—" if saver != "postgres" else (
            f"{_f(_med(ag, 'server_cpu_ms_per_run'), 2)} / {_f(_med(fl, 'server_cpu_ms_per_run'), 2)}")
        lines.append(_row([saver if who == AG else f"{saver} (base)", _f(_med(lg, "runs_per_s")), _f(_med(ag, "runs_per_s")), _f(_med(fl, "runs_per_s")),
                           _x(vs_lg), _f(_med(lg, "cpu_ms_per_run"), 2), _f(_med(ag, "cpu_ms_per_run"), 2),
                           _f(_med(fl, "cpu_ms_per_run"), 2), tx, scpu, _x(own) if saver != "none" else "1.00×",
                           _x(fl_own), _x(ag_fl), goal, met]))
    errors = [f"{s}/{i}: {o['error']}" for s, d in per.items() for i, outs in d.items() for o in outs if "error" in o]
    lines += [""] + [f"error: {e}" for e in errors] + ([""] if errors else [])
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return _worker_main(*argv[1:4])
    if argv[:1] == ["--cold"]:
        return _cold(argv[1], argv[2], int(argv[3]))
    ap = argparse.ArgumentParser(prog="python -m bench.savers_load", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="N=200 agents, 100 turns, 3 cold loads")
    ap.add_argument("--only", default="agents,curve,conversation")
    ap.add_argument("--n", type=int, help="concurrent agent runs (default 1000)")
    ap.add_argument("--pool", type=int, default=20, help="PostgreSQL pool size, both libraries")
    ap.add_argument("--pg", default=PG_URL)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--rounds", type=int, default=1, help="agents: rounds, ratios per round, medians shown")
    ap.add_argument("--no-lg", action="store_true", help="agents: asyncgraph and the floor only")
    ap.add_argument("--base", metavar="DIR", help="agents: also asyncgraph from this checkout (e.g. git archive "
                    "of the base commit), interleaved, as rows 'saver (base)'")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    n = args.n or (200 if args.quick else 1000)
    base = {"latency": 0.05, "pool": args.pool, "pg_url": args.pg}
    results: dict[str, Any] = {}
    print(f"savers_load: load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    lines: list[str] = []

    if "agents" in only:
        libs = (AG, "floor") if args.no_lg else (LG, AG, "floor")
        if args.base:
            libs = (*libs, "base")
        per: dict[str, dict[str, list[dict[str, Any]]]] = {k: {i: [] for i in libs} for k in ("none", "sqlite", "postgres")}
        for r in range(args.rounds):
            for saver in ("none", "sqlite", "postgres"):
                for impl in libs:
                    if impl == "floor" and saver == "none":
                        continue
                    kind = "floor" if impl == "floor" else "agents"
                    out = _spawn(kind, impl if impl == LG else AG, {**base, "n": n, "saver": saver}, 600,
                                 Path(args.base) if impl == "base" else ROOT)
                    per[saver][impl].append(out)
                    print(f"  round {r + 1} agents {saver:8} {impl:10} {out}  load {os.getloadavg()[0]:.1f}", flush=True)
        results["agents"] = per
        lines += _agents_table(per, n, args.rounds, libs)

    if "curve" in only:
        lines += [f"**AsyncPostgresSaver, C runs in flight through one pool of {args.pool}** "
                  "(3C runs, at least 20; ideal C / 0.1 s)", "",
                  _row(["C", "ideal runs/s", "LG runs/s", "ag runs/s", "ag/LG"]), "|---:|---:|---:|---:|---:|"]
        curve: dict[int, dict[str, Any]] = {}
        for c in CURVE:
            curve[c] = {}
            for impl in (LG, AG):
                out = _spawn("agents", impl, {**base, "n": max(3 * c, 20), "concurrency": c, "saver": "postgres"}, 600)
                curve[c][impl] = out
                print(f"  curve C={c:<4} {impl:10} {out}", flush=True)
            lg, ag = curve[c][LG].get("runs_per_s"), curve[c][AG].get("runs_per_s")
            lines.append(_row([str(c), _f(c / 0.1), _f(lg, 1), _f(ag, 1),
                               "—" if not lg or not ag else f"{ag / lg:.2f}×"]))
        results["curve"] = curve
        lines.append("")

    if "conversation" in only:
        turns = 100 if args.quick else 500
        p = {"turns": turns, "cold_runs": 3 if args.quick else 5}
        conv = {impl: _spawn("conversation", impl, p, 900) for impl in (LG, AG)}
        for impl, out in conv.items():
            print(f"  conversation {impl:10} {out}", flush=True)
        results["conversation"] = conv
        lg, ag = conv[LG], conv[AG]
        lines += [f"**A {turns}-turn conversation on one thread, AsyncSqliteSaver on disk**", "",
                  _row(["metric", "LangGraph", "asyncgraph", "goal", "met"]), "|---|---:|---:|---|---|"]
        if "error" not in lg and "error" not in ag:
            lines += [
                _row(["raw message text, bytes", _f(lg["raw_bytes"]), _f(ag["raw_bytes"]), "—", "—"]),
                _row(["database size, bytes", _f(lg["db_bytes"]), _f(ag["db_bytes"]), "—", "—"]),
                _row(["database ÷ raw text", f"{lg['size_x_raw']:.2f}×", f"{ag['size_x_raw']:.2f}×",
                      "ag ≤ 3×", "yes" if ag["size_x_raw"] <= 3 else "no"]),
                _row(["first aget_state, fresh process, ms", f"{lg['cold_ms']:.1f}", f"{ag['cold_ms']:.1f}",
                      "ag ≤ LG", "yes" if ag["cold_ms"] <= lg["cold_ms"] else "no"]),
                _row(["second aget_state, ms", f"{lg['warm_ms']:.1f}", f"{ag['warm_ms']:.1f}", "—", "—"]),
            ]
        else:
            lines.append(_row(["error", lg.get("error", ""), ag.get("error", ""), "", ""]))
        lines.append("")

    print()
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
