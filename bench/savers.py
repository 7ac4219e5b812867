"""The cost of a checkpointer: a 20-node chain per saver, asyncgraph next to LangGraph.

Usage::

    python -m bench.savers --quick          # about a minute
    python -m bench.savers                  # more threads and rounds
    python -m bench.savers --only memory,sqlite_tmpfs
    python -m bench.savers --impl asyncgraph --json /tmp/savers.json
    python -m bench.savers --quick --base /tmp/old  # also an older asyncgraph checkout

The workload is issue #13's: a straight chain of 20 ``async def`` nodes that add 1 to
``x``, compiled with the saver, run with ``ainvoke`` on a new ``thread_id`` every time
(default durability), one run after another. Reported per node step (run time / 20):
the process CPU time (``time.process_time``: the framework, the saver and its driver;
a database server's own CPU is not in it) and the wall time.

Savers, each the library's own class (LangGraph's from ``langgraph.checkpoint.*``):

* ``none``: no checkpointer, the engine alone;
* ``memory``: ``InMemorySaver()``;
* ``sqlite_tmpfs``: ``AsyncSqliteSaver.from_conn_string`` on a file in ``/dev/shm``;
* ``sqlite_disk``: the same on a file on disk (``/var/tmp``), default pragmas;
* ``postgres``: ``AsyncPostgresSaver.from_conn_string`` on the local server, on a
  database created for the worker and dropped after it (``--pg`` sets the server URL).

As in ``python -m bench``, every (saver, library) pair runs in its own fresh
interpreter, one after the other, in rounds whose order rotates; numbers are medians
over repeats inside a worker, then over rounds. Ratios are asyncgraph / LangGraph
(smaller is better); the goals are issue #13's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._worker import RESULT_MARK

ROOT = Path(__file__).resolve().parent.parent
LG, AG, FLOOR, BASE = "langgraph", "asyncgraph", "floor", "base"
SAVERS = ("none", "memory", "sqlite_tmpfs", "sqlite_disk", "postgres")
TITLES = {
    "none": "no checkpointer",
    "memory": "InMemorySaver",
    "sqlite_tmpfs": "AsyncSqliteSaver, tmpfs",
    "sqlite_disk": "AsyncSqliteSaver, disk",
    "postgres": "AsyncPostgresSaver, local",
}
# asyncgraph / LangGraph goals per node step (issue #13): (CPU, wall); None = no goal.
GOALS: dict[str, tuple[float | None, float | None]] = {
    "none": (0.1, None),
    "memory": (0.1, None),
    "sqlite_tmpfs": (0.2, None),
    "sqlite_disk": (1 / 3, None),
    "postgres": (1 / 3, 1 / 3),
}
LENGTH = 20
QUICK = {"runs": 15, "warmup": 3, "repeats": 3, "rounds": 1}
# Database savers cost 10-50x more per step: fewer runs keep the quick mode short.
QUICK_DB = {"runs": 5, "warmup": 2}
FULL = {"runs": 100, "warmup": 10, "repeats": 5, "rounds": 3}
PG_URL = "postgresql://root@127.0.0.1:5432/postgres"


# -- in the worker process ------------------------------------------------------------


def _chain(pkg: str, checkpointer: Any) -> Any:
    from bench._graphs import ChainState, _api

    graph_mod, _ = _api(pkg)
    builder = graph_mod.StateGraph(ChainState)

    async def step(state: ChainState) -> dict[str, int]:
        return {"x": state["x"] + 1}

    names = [f"n{i}" for i in range(LENGTH)]
    for name in names:
        builder.add_node(name, step)
    builder.add_edge(graph_mod.START, names[0])
    for a, b in itertools.pairwise(names):
        builder.add_edge(a, b)
    builder.add_edge(names[-1], graph_mod.END)
    return builder.compile(checkpointer=checkpointer)


@contextlib.asynccontextmanager
async def _postgres_db(pg_url: str, impl: str) -> AsyncIterator[str]:
    """A fresh database on the server for this worker, dropped afterwards."""
    import psycopg

    name = f"bench_savers_{impl}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        base, _, _ = pg_url.rpartition("/")
        yield f"{base}/{name}"
    finally:
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def _saver(impl: str, saver: str, pg_url: str) -> AsyncIterator[Any]:
    if saver == "none":
        yield None
    elif saver == "memory":
        mod = __import__(f"{impl}.checkpoint.memory", fromlist=["InMemorySaver"])
        yield mod.InMemorySaver()
    elif saver.startswith("sqlite"):
        mod = __import__(f"{impl}.checkpoint.sqlite.aio", fromlist=["AsyncSqliteSaver"])
        where = tempfile.mkdtemp(
            prefix="bench-savers-", dir="/dev/shm" if saver == "sqlite_tmpfs" else "/var/tmp"
        )
        try:
            async with mod.AsyncSqliteSaver.from_conn_string(f"{where}/cp.db") as s:
                await s.setup()
                yield s
        finally:
            shutil.rmtree(where, ignore_errors=True)
    elif saver == "postgres":
        mod = __import__(f"{impl}.checkpoint.postgres.aio", fromlist=["AsyncPostgresSaver"])
        async with _postgres_db(pg_url, impl) as url:
            async with mod.AsyncPostgresSaver.from_conn_string(url) as s:
                await s.setup()
                yield s
    else:
        raise ValueError(f"unknown saver {saver!r}")


def measure(impl: str, saver: str, p: dict[str, Any]) -> dict[str, Any]:
    """CPU and wall µs per node step, medians over ``repeats`` batches of ``runs`` runs."""

    async def main() -> dict[str, Any]:
        async with _saver(impl, saver, p["pg_url"]) as checkpointer:
            graph = _chain(impl, checkpointer)
            prefix = uuid.uuid4().hex[:8]
            counter = itertools.count()

            async def batch(n: int) -> None:
                for _ in range(n):
                    config = {"configurable": {"thread_id": f"{prefix}-{next(counter)}"}}
                    out = await graph.ainvoke({"x": 0}, config)
                    if out != {"x": LENGTH}:
                        raise AssertionError(f"chain returned {out!r}")

            await batch(p["warmup"])
            cpus, walls = [], []
            for _ in range(p["repeats"]):
                gc.collect()
                c0, t0 = time.process_time(), time.perf_counter()
                await batch(p["runs"])
                walls.append((time.perf_counter() - t0) / (p["runs"] * LENGTH) * 1e6)
                cpus.append((time.process_time() - c0) / (p["runs"] * LENGTH) * 1e6)
            if checkpointer is not None:
                # The saver really stored the runs: the last thread has its final state.
                last = {"configurable": {"thread_id": f"{prefix}-{next(counter) - 1}"}}
                state = await graph.aget_state(last)
                if state.values != {"x": LENGTH}:
                    raise AssertionError(f"stored state is {state.values!r}")
        return {
            "cpu_us": statistics.median(cpus),
            "cpu_us_min": min(cpus),
            "wall_us": statistics.median(walls),
            "wall_us_min": min(walls),
            "n": len(cpus),
        }

    return asyncio.run(main())


# -- the floor: the same I/O with no graph ----------------------------------------------
# One transaction per node step: the I/O of a saver that saves each step on its own. Under
# the default durability asyncgraph's savers commit the steps queued behind a save in
# flight together (group commit), so asyncgraph can be below this floor.

_FLOOR_BODY = bytes(range(256)) + bytes(44)  # a checkpoint row of about asyncgraph's size


async def _floor_sqlite(where: str, p: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Per chain run, what asyncgraph's SQLite saver does, by hand: one read, then per
    step one transaction (one aiosqlite thread hop) inserting a checkpoint row and the
    step's two writes (WAL, synchronous=NORMAL)."""
    import aiosqlite

    async with aiosqlite.connect(f"{where}/floor.db", isolation_level=None) as conn:
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL"):
            await conn.execute(f"PRAGMA {pragma}")
        await conn.execute("CREATE TABLE ckpt (tid TEXT, id INTEGER, body BLOB, PRIMARY KEY (tid, id)) WITHOUT ROWID")
        await conn.execute("CREATE TABLE writes (tid TEXT, id INTEGER, idx INTEGER, data BLOB, "
                           "PRIMARY KEY (tid, id, idx)) WITHOUT ROWID")
        raw = conn._conn

        def step(tid: str, i: int) -> None:
            cur = raw.cursor()
            cur.execute("BEGIN IMMEDIATE")
            cur.execute("INSERT INTO ckpt VALUES (?, ?, ?)", (tid, i, _FLOOR_BODY))
            cur.execute("INSERT INTO writes VALUES (?, ?, 0, ?)", (tid, i, b"\x05"))
            cur.execute("INSERT INTO writes VALUES (?, ?, 1, ?)", (tid, i, b"\xc0"))
            cur.execute("COMMIT")

        def latest(tid: str) -> Any:
            return raw.execute("SELECT body FROM ckpt WHERE tid = ? ORDER BY id DESC LIMIT 1", (tid,)).fetchall()

        return await _floor_batches(p, lambda tid: conn._execute(latest, tid),
                                    lambda tid, i: conn._execute(step, tid, i))


async def _floor_postgres(pg_url: str, p: dict[str, Any]) -> tuple[list[float], list[float]]:
    """The same on PostgreSQL through a pool, each transaction one query string
    (BEGIN, the per-thread advisory lock, three inserts, COMMIT): one round trip."""
    import psycopg
    from psycopg_pool import AsyncConnectionPool

    async with _postgres_db(pg_url, "floor") as url:
        async with AsyncConnectionPool(url, min_size=1, max_size=10, kwargs={"autocommit": True}, open=False) as pool:
            async with pool.connection() as conn:
                await conn.execute("CREATE TABLE ckpt (tid TEXT, id INTEGER, body BYTEA, PRIMARY KEY (tid, id))")
                await conn.execute("CREATE TABLE writes (tid TEXT, id INTEGER, idx INTEGER, data BYTEA, "
                                   "PRIMARY KEY (tid, id, idx))")
            body = "'\\x" + _FLOOR_BODY.hex() + "'::bytea"

            async def latest(tid: str) -> Any:
                async with pool.connection() as conn:
                    cur = await conn.execute(
                        "SELECT body FROM ckpt WHERE tid = %s ORDER BY id DESC LIMIT 1", (tid,))
                    return await cur.fetchall()

            async def step(tid: str, i: int) -> None:
                async with pool.connection() as conn:
                    cur = psycopg.AsyncClientCursor(conn)
                    await cur.execute(
                        f"BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('{tid}', 1)); "
                        f"INSERT INTO ckpt VALUES ('{tid}', {i}, {body}); "
                        f"INSERT INTO writes VALUES ('{tid}', {i}, 0, '\\x05'::bytea); "
                        f"INSERT INTO writes VALUES ('{tid}', {i}, 1, '\\xc0'::bytea); COMMIT")

            return await _floor_batches(p, latest, step)


async def _floor_batches(p: dict[str, Any], latest: Any, step: Any) -> tuple[list[float], list[float]]:
    prefix = uuid.uuid4().hex[:8]
    counter = itertools.count()

    async def batch(n: int) -> None:
        for _ in range(n):
            tid = f"{prefix}-{next(counter)}"
            await latest(tid)
            for i in range(LENGTH + 2):  # the input, START and the 20 nodes
                await step(tid, i)

    await batch(p["warmup"])
    cpus, walls = [], []
    for _ in range(p["repeats"]):
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        await batch(p["runs"])
        walls.append((time.perf_counter() - t0) / (p["runs"] * LENGTH) * 1e6)
        cpus.append((time.process_time() - c0) / (p["runs"] * LENGTH) * 1e6)
    return cpus, walls


def measure_floor(saver: str, p: dict[str, Any]) -> dict[str, Any]:
    """The floor of a database saver row: its I/O per node step with no graph."""

    async def main() -> tuple[list[float], list[float]]:
        if saver == "postgres":
            return await _floor_postgres(p["pg_url"], p)
        where = tempfile.mkdtemp(prefix="bench-floor-", dir="/dev/shm" if saver == "sqlite_tmpfs" else "/var/tmp")
        try:
            return await _floor_sqlite(where, p)
        finally:
            shutil.rmtree(where, ignore_errors=True)

    cpus, walls = asyncio.run(main())
    return {"cpu_us": statistics.median(cpus), "cpu_us_min": min(cpus),
            "wall_us": statistics.median(walls), "wall_us_min": min(walls), "n": len(cpus)}


def _worker_main(impl: str, saver: str, params: str) -> int:
    if impl == BASE:
        # An older asyncgraph (--base): its package first on the path, this bench's code.
        sys.path.insert(0, json.loads(params)["base"])
        impl = AG
    try:
        if impl == FLOOR:
            result = measure_floor(saver, json.loads(params))
        else:
            result = measure(impl, saver, json.loads(params))
    except ImportError as exc:
        result = {"skipped": True, "error": f"{type(exc).__name__}: {exc}"}
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a table cell
        result = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
    return 0


# -- the driver process ----------------------------------------------------------------


def _spawn(impl: str, saver: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.savers", "--worker", impl, saver, json.dumps(params)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("LANGSMITH_TRACING", None)
    env.pop("LANGCHAIN_TRACING_V2", None)
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])  # type: ignore[no-any-return]
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"worker exited {proc.returncode}: {tail}"}


def _fmt(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def _median(rounds: list[dict[str, Any]], key: str) -> float | None:
    if not rounds or any("error" in r for r in rounds):
        return None
    return statistics.median(r[key] for r in rounds)


def table(results: dict[str, dict[str, list[dict[str, Any]]]], markdown: bool) -> str:
    header = ["checkpointer", "LG CPU µs", "ag CPU µs", "ag/LG CPU", "LG wall µs",
              "ag wall µs", "ag/LG wall", "goal", "met", "floor CPU µs", "floor wall µs",
              "ag/floor CPU", "ag/floor wall"]
    with_base = any(per.get(BASE) for per in results.values())
    if with_base:
        header += ["base CPU µs", "base/LG CPU", "base/LG wall"]
    rows = []
    for saver, per in results.items():
        lg_c, ag_c = _median(per.get(LG, []), "cpu_us"), _median(per.get(AG, []), "cpu_us")
        lg_w, ag_w = _median(per.get(LG, []), "wall_us"), _median(per.get(AG, []), "wall_us")
        rc = ag_c / lg_c if ag_c is not None and lg_c else None
        rw = ag_w / lg_w if ag_w is not None and lg_w else None
        g_cpu, g_wall = GOALS[saver]
        goal = " and ".join(
            f"{what} ≤ {g:.2g}×" for what, g in (("CPU", g_cpu), ("wall", g_wall)) if g is not None
        )
        checks = [(rc, g_cpu), (rw, g_wall)]
        if any(r is None for r, g in checks if g is not None):
            met = "n/a"
        else:
            met = "yes" if all(r <= g for r, g in checks if g is not None and r is not None) else "no"
        fl_c, fl_w = _median(per.get(FLOOR, []), "cpu_us"), _median(per.get(FLOOR, []), "wall_us")
        rows.append([
            TITLES[saver], _fmt(lg_c), _fmt(ag_c), "—" if rc is None else f"{rc:.3f}×",
            _fmt(lg_w), _fmt(ag_w), "—" if rw is None else f"{rw:.3f}×", goal or "—", met,
            _fmt(fl_c), _fmt(fl_w),
            "—" if fl_c is None or ag_c is None else f"{ag_c / fl_c:.2f}×",
            "—" if fl_w is None or ag_w is None else f"{ag_w / fl_w:.2f}×",
        ])
        if with_base:
            b_c, b_w = _median(per.get(BASE, []), "cpu_us"), _median(per.get(BASE, []), "wall_us")
            rows[-1] += [
                _fmt(b_c),
                "—" if b_c is None or not lg_c else f"{b_c / lg_c:.3f}×",
                "—" if b_w is None or not lg_w else f"{b_w / lg_w:.3f}×",
            ]
    if markdown:
        lines = ["| " + " | ".join(header) + " |",
                 "|---|" + "---:|" * 6 + "---|---|" + "---:|" * (len(header) - 9)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return _worker_main(*argv[1:4])
    ap = argparse.ArgumentParser(prog="python -m bench.savers", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs and one round (about a minute)")
    ap.add_argument("--only", default=",".join(SAVERS), help=f"comma-separated subset of {','.join(SAVERS)}")
    ap.add_argument("--impl", default=f"{LG},{AG},{FLOOR}",
                    help="comma-separated subset of langgraph,asyncgraph,floor (floor: the database "
                         "savers' I/O with no graph)")
    ap.add_argument("--runs", type=int, help="ainvoke calls (new threads) per timed repeat")
    ap.add_argument("--rounds", type=int, help="fresh workers per saver and library")
    ap.add_argument("--base", metavar="PATH",
                    help="also measure the asyncgraph package in this checkout (e.g. an older "
                         "commit, `git archive <commit> | tar -x -C PATH`), as 'base'")
    ap.add_argument("--pg", default=PG_URL, help="server URL; a database is created per worker")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--json", metavar="PATH", help="also write the raw results here")
    args = ap.parse_args(argv)
    savers = [s for s in args.only.split(",") if s]
    impls = [s for s in args.impl.split(",") if s]
    bad = (set(savers) - set(SAVERS)) | (set(impls) - {LG, AG, FLOOR})
    if bad:
        ap.error(f"unknown name(s) {sorted(bad)}")
    params = dict(QUICK if args.quick else FULL, pg_url=args.pg)
    if args.base:
        impls.append(BASE)
        params["base"] = str(Path(args.base).resolve())
    if args.runs:
        params["runs"] = args.runs
    n_rounds = args.rounds or params.pop("rounds")
    params.pop("rounds", None)
    timeout = 120.0 if args.quick else 300.0

    print(f"savers bench, {'quick' if args.quick else 'full'} mode: {LENGTH}-node async chain, "
          f"{params['runs']} new threads per repeat, {params['repeats']} repeats, {n_rounds} round(s); "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {s: {i: [] for i in impls} for s in savers}
    for r in range(n_rounds):
        for saver in savers:
            order = impls[r % len(impls):] + impls[: r % len(impls)]
            for impl in order:
                if impl == FLOOR and saver in ("none", "memory"):
                    continue
                if any("error" in o for o in results[saver][impl]):
                    continue
                t0 = time.perf_counter()
                p = params
                if args.quick and not args.runs and saver not in ("none", "memory"):
                    p = {**params, **QUICK_DB}
                out = _spawn(impl, saver, p, timeout)
                results[saver][impl].append(out)
                shown = out.get("error") or f"cpu {_fmt(out['cpu_us'])} µs, wall {_fmt(out['wall_us'])} µs per step"
                print(f"  {saver:13} {impl:10} round {r + 1}/{n_rounds} {time.perf_counter() - t0:5.1f} s  {shown}",
                      flush=True)
    print()
    print(table(results, args.markdown))
    errors = [f"{s} / {i}: {o['error']}" for s, per in results.items() for i, rs in per.items()
              for o in rs if "error" in o]
    if errors:
        print("\nproblems:\n  " + "\n  ".join(errors))
    if args.json:
        Path(args.json).write_text(json.dumps({"params": params, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
