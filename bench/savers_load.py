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
            gc.collect()
            c0, t0 = time.process_time(), time.perf_counter()
            await asyncio.gather(*(run(i) for i in range(p["n"])))
            wall = time.perf_counter() - t0
            cpu = time.process_time() - c0
            if saver is not None:
                state = await graph.aget_state({"configurable": {"thread_id": f"{prefix}-0"}})
                if len(state.values["messages"]) != 4:
                    raise AssertionError("the saver did not keep the run's messages")
        return {"wall_s": wall, "runs_per_s": p["n"] / wall, "cpu_ms_per_run": cpu / p["n"] * 1e3}

    return asyncio.run(main())


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


def _spawn(kind: str, impl: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.savers_load", "--worker", kind, impl, json.dumps(params)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])  # type: ignore[no-any-return]
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"worker exited {proc.returncode}: {tail}"}


def _worker_main(kind: str, impl: str, params: str) -> int:
    fn = {"agents": agents, "conversation": conversation}[kind]
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
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    n = args.n or (200 if args.quick else 1000)
    base = {"latency": 0.05, "pool": args.pool, "pg_url": args.pg}
    results: dict[str, Any] = {}
    print(f"savers_load: load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    lines: list[str] = []

    if "agents" in only:
        lines += [f"**{n:,} concurrent agent runs, one thread each** (runs/s = N / wall time)", "",
                  _row(["saver", "LG runs/s", "ag runs/s", "ag/LG throughput", "LG CPU ms/run",
                        "ag CPU ms/run", "ag wall / ag no-saver wall", "goal", "met"]),
                  "|---|---:|---:|---:|---:|---:|---:|---|---|"]
        per: dict[str, dict[str, Any]] = {}
        for saver in ("none", "sqlite", "postgres"):
            per[saver] = {}
            for impl in (LG, AG):
                out = _spawn("agents", impl, {**base, "n": n, "saver": saver}, 600)
                per[saver][impl] = out
                print(f"  agents {saver:8} {impl:10} {out}", flush=True)
        results["agents"] = per
        ag_none = per["none"][AG].get("wall_s")
        for saver in ("none", "sqlite", "postgres"):
            lg, ag = per[saver][LG], per[saver][AG]
            ratio = ag["runs_per_s"] / lg["runs_per_s"] if "runs_per_s" in lg and "runs_per_s" in ag else None
            own = ag["wall_s"] / ag_none if "wall_s" in ag and ag_none else None
            goal = "—" if saver == "none" else "≥ 4× LG and ≤ 1.5× no-saver"
            met = "—" if saver == "none" or ratio is None or own is None else (
                "yes" if ratio >= 4 and own <= 1.5 else "no")
            lines.append(_row([saver, _f(lg.get("runs_per_s")), _f(ag.get("runs_per_s")),
                               "—" if ratio is None else f"{ratio:.2f}×", _f(lg.get("cpu_ms_per_run"), 2),
                               _f(ag.get("cpu_ms_per_run"), 2), "—" if own is None else f"{own:.2f}×", goal, met]))
        lines.append("")

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
