"""Streaming runs through langgraph-sdk against asyncgraph's server and ``langgraph dev``.

    PYTHONPATH=$PWD python bench/server_bench.py --runs 200 --concurrency 100 [--storage memory]
    PYTHONPATH=$PWD python bench/server_bench.py --storage postgres --workers 2   # serve + workers
    PYTHONPATH=$PWD python bench/server_bench.py --storage memory --against-langgraph-dev /tmp/lgdev-venv

Starts ``python -m asyncgraph dev`` on a free loopback port serving bench/server_app
(the seed agent on a scripted model with 50 ms latency), then streams N runs on new
threads with C at a time, and reports time to first event (the ``metadata`` event,
measured from the request) p50/p99, completed runs per second, and the server processes'
CPU time per run (which a busy machine disturbs less than wall-clock numbers). With
``--storage postgres`` it creates a scratch database on $ASYNCGRAPH_TEST_PG's server (default
root@127.0.0.1:5432), starts ``asyncgraph serve`` and ``--workers`` ``asyncgraph worker``
processes on it, reports the CPU of all of them per run, and drops the database after.

``--against-langgraph-dev VENV``: then the same runs against ``langgraph dev`` (in memory,
no reload), started from VENV (a venv with ``langgraph-cli[inmem]``: kept apart from the
project's, it is a black-box oracle), serving the same file built with LangGraph
(``BENCH_GRAPH_LIB=langgraph``), and prints the ratios.

``--against-aegra VENV``: Aegra (pip ``aegra-api`` + ``greenlet`` in VENV; LangGraph on
PostgreSQL) on a scratch database, same file. Every server of one invocation stays up for the
whole invocation and ``--rounds R`` alternates between them (medians, then the ratios).

``--against-bare-sse``: a bare Starlette app on uvicorn answering each ``runs.stream`` with
one ``metadata`` event (no graph, no storage): the floor of time to first event for the same
clients on this machine.

``--clients K``: K client processes share the runs and the concurrency. One process parsing
the SSE streams through langgraph-sdk costs 7-13 ms of CPU per run (more than the dev
server). Each client uses ``get_client``'s own httpx pool (``BENCH_SDK_SIZED_POOL=1``: one
that keeps a connection per stream alive, which costs the client 4x more CPU; see _client).

``--mode``: ``closed`` (default): ``--concurrency`` streams kept in flight, each run on a
new thread (throughput at saturation); ``burst``: threads made first, then ``--runs``
streams opened at once (time to first event of N simultaneous streams); ``rate``: threads
made first, then ``--rate`` streams opened per second, open loop (latency below saturation;
"in flight" is the concurrency it actually kept). For PostgreSQL setups the CPU of the
database's backends per run is reported beside the server processes'.

Measured 2026-12-07 on the shared 2-core box, load 1-16 (docs/performance.md, "Server",
has the tables; compare within one invocation, CPU per run is the steadier number):

    --mode burst --runs 100 --clients 4 --rounds 3 --storage memory --against-langgraph-dev ...
      TTFE p50/p99 1067/1862 ms vs 10965/11059 ms (0.17x p99), server CPU 5.0 vs 59.6 ms/run
    --mode rate --rate 20 --runs 300 --clients 2 --storage memory --against-langgraph-dev ...
      TTFE p50/p99 13/117 ms vs 1618/3318 ms (langgraph dev falls behind the rate)
    --runs 1000 --concurrency 500 --clients 5 --storage memory ... --langgraph-dev-jobs 500
      load 1-3: 141.1 vs 11.0 and 116.5 vs 13.9 runs/s (12.8x, 8.4x), server CPU 0.06x
      (load 12-15, with a costlier client pool since reverted: 2.9x)
    --runs 500 --concurrency 500 --clients 5 --storage postgres --workers 1 --against-aegra ...
      9.2 vs 4.4 runs/s (2.1x), server CPU 23.0 + PostgreSQL 13.2 vs 60.6 + 10.0 ms/run
    third pass (load 3-12): --storage postgres --workers 1 --runs 500 --concurrency 500
      --clients 5 --against-aegra: 2.0-2.3x, 25 transactions per run (was 41-45) vs 60;
      --mode burst --runs 100 --clients 4 --rounds 3 --against-bare-sse: floor p50/p99
      96/134 ms (load 3-5), 264/499 ms (load 6-9); asyncgraph dev 385/505, 483/663 ms
    --runs 250 --concurrency 100 --clients 2 --storage postgres --workers 1 / 2 / 4
      13.0 / 9.8 / 10.0 runs/s; 35.8 / 41.3 / 43.6 ms/run of server-side CPU (PostgreSQL's
      included), 42-43 transactions per run: CPU-bound, not contention
    fourth pass (load 3-5): --storage postgres --workers 1 --runs 500 --concurrency 500
      --clients 5 --rounds 2 --against-aegra: 2.78x, server CPU 13.1 vs 41.0 ms/run,
      16-18 vs 59-60 transactions per run
    fifth pass, same command: 1.79x at load 3 (server + PostgreSQL CPU 22-26 vs 60 ms/run,
      15-16 vs 60 transactions), 3.89x at load 9-10 (Aegra refused or failed up to 40%
      of its runs: pool timeouts); uvloop + httptools on PYTHONPATH: -20% server CPU

A run the server answers with a 5xx (refused) or whose stream ends with an ``error`` event
(failed) is counted and reported, and left out of throughput and the costs per run.
``BENCH_AEGRA_PYTHONPATH=DIR`` puts DIR on Aegra's path (e.g. uvloop + httptools, which its
uvicorn then uses, as ours does with them on ``PYTHONPATH``).

``BENCH_PROFILE_DIR=DIR`` (postgres storage) runs ``serve`` and each worker under cProfile
timed by CPU (``bench/_profile_cpu.py``) and writes ``DIR/serve.prof``, ``DIR/worker0.prof``...
when they stop (profiling slows them about 3x: compare shares, not times).
``BENCH_LOG_STATEMENTS=1`` sets ``log_statement = 'all'`` on the scratch database (named
``$BENCH_DB_PREFIX_<pid>``, default prefix ``asyncgraph_bench``), so PostgreSQL's log holds
every statement of the run, to count them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


APP = Path(__file__).parent / "server_app" / "langgraph.json"
ROOT = Path(__file__).resolve().parent.parent


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux /proc): robust to a busy machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _client(url: str, connections: int) -> Any:
    """A langgraph-sdk client: ``get_client``'s own (httpx's default pool: at most 100
    connections, 20 kept alive), or with ``BENCH_SDK_SIZED_POOL=1`` one whose pool keeps
    ``connections`` alive.

    Keeping 100+ connections alive costs the client far more than reconnecting: httpcore
    checks every idle connection (a readiness syscall each) on every request, so at 100
    streams per client process the sized pool spent 23-26 ms of client CPU per run against
    6 ms with the default pool (2026-12-07, load 2-5).
    """
    import httpx

    timeout = httpx.Timeout(connect=30, read=300, write=300, pool=300)
    if not os.environ.get("BENCH_SDK_SIZED_POOL"):
        from langgraph_sdk import get_client

        return get_client(url=url, timeout=timeout)
    from langgraph_sdk.client import LangGraphClient

    n = max(connections, 1) + 5
    http = httpx.AsyncClient(
        base_url=url,
        transport=httpx.AsyncHTTPTransport(retries=5, limits=httpx.Limits(max_connections=n, max_keepalive_connections=n)),
        timeout=timeout,
    )
    return LangGraphClient(http)


async def _stream(client: Any, thread_id: str, out: dict[str, list[Any]], t0: float | None = None) -> None:
    """Stream one run on ``thread_id``; record its time to first event (``metadata``) and to
    the first event the graph produced (the input's ``values``), from ``t0`` (default now).

    A request on a kept-alive connection that the server closed as idle (uvicorn closes
    them after 5 s: a loaded machine can hold a client that long between its warm-up and
    the start) fails before any byte of the answer: it is sent again, on a new connection,
    and counted in ``retries`` (its time counts)."""
    import httpx

    if t0 is None:
        t0 = time.perf_counter()
    seen_first = seen_content = False
    for attempt in range(3):
        try:
            async for part in client.runs.stream(
                thread_id, "agent", input={"messages": [{"role": "user", "content": "hi"}]},
                stream_mode=["values", "messages-tuple"],
            ):
                if not seen_first:
                    out["first"].append(time.perf_counter() - t0)
                    seen_first = True
                if not seen_content and part.event != "metadata":
                    out["content"].append(time.perf_counter() - t0)
                    seen_content = True
                if part.event == "error":
                    out["errors"].append(str(part.data))
            break
        except (httpx.ReadError, httpx.RemoteProtocolError):
            if seen_first or attempt == 2:
                raise
            out["retries"].append(thread_id)
    out["done"].append(time.perf_counter() - t0)


def _server_error(exc: BaseException) -> bool:
    """A 5xx the server answered (Aegra answers 500 to some requests when its connection
    pools time out on a loaded machine): counted as a refused run, not a crash of the bench."""
    from langgraph_sdk.errors import InternalServerError

    return isinstance(exc, InternalServerError)


async def _create_thread(client: Any, out: dict[str, list[Any]]) -> str:
    import httpx

    for attempt in range(3):
        try:
            return str((await client.threads.create())["thread_id"])
        except (httpx.ReadError, httpx.RemoteProtocolError):  # (see _stream)
            if attempt == 2:
                raise
            out["retries"].append("thread")
    raise AssertionError("unreachable")


async def _drive(url: str, runs: int, concurrency: int, mode: str = "closed", rate: float = 0.0,
                 go: Any = None, ready: Any = None) -> dict[str, Any]:
    """Stream ``runs`` runs from this process, each on a new thread.

    ``mode``: ``closed``: ``concurrency`` at a time, a new run (thread create + stream) as
    soon as one ends (the box at saturation); ``burst``: the threads are created first,
    then all ``runs`` streams open at once; ``rate``: threads created first, then one
    stream opens every ``1/rate`` s whatever is in flight (open loop: latencies are not
    hidden by a slower arrival when the server lags). ``ready``: awaited after the warm-up
    run, ``go`` before the timed part (a child client waits for its parent's signals there).
    Returns the raw latencies, the wall time and this process's CPU time of the timed part.
    """
    pool = runs if mode != "closed" else concurrency
    client = _client(url, pool)
    out: dict[str, list[Any]] = {"first": [], "content": [], "done": [], "errors": [], "retries": [], "refused": []}
    scratch: dict[str, list[Any]] = {**out, "first": [], "content": [], "done": []}
    # Warm up: imports, the graph's first run, and the pool's connections (opened at once,
    # after ``ready``: an idle kept-alive connection is closed by the server after a few
    # seconds, and other client processes may take that long to start).
    pool = min(pool, 20) if not os.environ.get("BENCH_SDK_SIZED_POOL") else pool
    await _stream(client, await _create_thread(client, scratch), scratch)
    if ready is not None:
        await ready()
    await asyncio.gather(*(client.http.get("/info") for _ in range(pool)))
    threads = [] if mode == "closed" else [
        *await asyncio.gather(*(_create_thread(client, scratch) for _ in range(runs)))
    ]
    if go is not None:
        await go()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    if mode == "closed":
        sem = asyncio.Semaphore(concurrency)

        async def guarded() -> None:
            async with sem:
                try:
                    await _stream(client, await _create_thread(client, out), out)
                except Exception as exc:
                    if not _server_error(exc):
                        raise
                    out["refused"].append(f"{type(exc).__name__}: {exc}")

        await asyncio.gather(*(guarded() for _ in range(runs)))
    elif mode == "burst":
        await asyncio.gather(*(_stream(client, tid, out) for tid in threads))
    else:
        async def arrive(i: int, tid: str) -> None:
            at = t0 + i / rate
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            await _stream(client, tid, out)

        await asyncio.gather(*(arrive(i, tid) for i, tid in enumerate(threads)))
    elapsed = time.perf_counter() - t0
    return {**out, "elapsed": elapsed, "client_cpu": time.process_time() - cpu0}


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _summary(out: dict[str, list[Any]], elapsed: float, client_cpu: float, runs: int, concurrency: int,
             clients: int, mode: str) -> dict[str, Any]:
    # A run whose stream ended with an `error` event (Aegra's pool timeouts at 500 streams
    # on a loaded machine) is counted and reported, and left out of throughput and costs.
    failed = len(out["errors"])
    # In flight on average (Little's law): what an open-loop rate actually kept concurrent.
    inflight = sum(out["done"]) / elapsed
    content = out["content"] or [float("nan")]  # (the bare SSE floor sends no values event)
    refused = len(out.get("refused", ()))
    runs -= refused + failed  # (throughput and costs per run: of the runs that succeeded)
    return {
        "refused": refused,
        "failed": failed,
        "first_error": out["errors"][0] if failed else None,
        "runs": runs,
        "concurrency": concurrency,
        "clients": clients,
        "mode": mode,
        "ttfe_p50_ms": 1000 * statistics.median(out["first"]),
        "ttfe_p99_ms": 1000 * _pct(out["first"], 0.99),
        "ttfe_max_ms": 1000 * max(out["first"]),
        "tfv_p50_ms": 1000 * statistics.median(content),
        "tfv_p99_ms": 1000 * _pct(content, 0.99),
        "run_p50_ms": 1000 * statistics.median(out["done"]),
        "run_max_ms": 1000 * max(out["done"]),
        "runs_per_s": runs / elapsed,
        "in_flight": inflight,
        "client_cpu_ms": 1000 * client_cpu / runs,
        "retries": len(out["retries"]),
    }


def bench(url: str, runs: int, concurrency: int, clients: int = 1, mode: str = "closed",
          rate: float = 0.0, started: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """``runs`` streamed runs from ``clients`` client processes (see :func:`_drive`).

    One Python process parsing 100-500 SSE streams through langgraph-sdk spends more CPU
    per run than the server does, so with several client processes the load (and the
    latencies measured) is the server's, not the client's event loop's. Each child gets
    an equal share of the runs, of the concurrency and of the rate, warms up, waits for the
    common start, and reports its raw latencies; throughput is all runs over the wall time
    from the start to the last child's end.
    """
    if clients <= 1:
        async def go() -> None:
            started()

        r = asyncio.run(_drive(url, runs, concurrency, mode, rate, go))
        return _summary(r, r["elapsed"], r["client_cpu"], runs, concurrency, 1, mode)
    shares = [runs // clients + (i < runs % clients) for i in range(clients)]
    concs = [max(1, concurrency // clients + (i < concurrency % clients)) for i in range(clients)]
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--client-child", url, str(n), str(c), mode, str(rate / clients)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for n, c in zip(shares, concs)
    ]
    for word, answer in (("warm", "ready"), ("set", "set")):
        for child in children:  # "ready" after the warm-up run, "set" with its pool open
            assert child.stdout is not None
            if child.stdout.readline().strip() != answer:
                raise SystemExit("a client process failed to start")
        if word == "warm":
            for child in children:
                assert child.stdin is not None
                child.stdin.write("warm\n")
                child.stdin.flush()
    started()
    t0 = time.perf_counter()
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    results = []
    for child in children:
        out, _ = child.communicate()
        results.append(json.loads(out))
    elapsed = time.perf_counter() - t0
    merged = {k: [x for r in results for x in r[k]] for k in ("first", "content", "done", "errors", "retries", "refused")}
    cpu = sum(r["client_cpu"] for r in results)
    return _summary(merged, elapsed, cpu, runs, concurrency, clients, mode)


def _client_child(url: str, runs: int, concurrency: int, mode: str, rate: float) -> None:
    async def signal(say: str) -> None:
        print(say, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    result = asyncio.run(_drive(url, runs, concurrency, mode, rate, lambda: signal("set"), lambda: signal("ready")))
    print(json.dumps(result), flush=True)


def _tree_cpu_seconds(pid: int) -> float:
    """CPU of ``pid`` and its descendants (``langgraph dev`` runs its server in a child)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += _cpu_seconds(p)
        except OSError:
            pass
        todo += children.get(p, [])
    return total


def _wait_ok(url: str, procs: list[subprocess.Popen[bytes]], seconds: float = 90, path: str = "/ok") -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise SystemExit(f"the server at {url} exited while starting")
        try:
            if httpx.get(f"{url}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server at {url} did not start in {seconds} s")


def _pg_backends_cpu(db: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to ``db`` (the server's own share of
    a run's cost, which the client-side processes do not show)."""
    import psycopg

    admin_dsn = os.environ.get("ASYNCGRAPH_TEST_PG", "postgresql://root@127.0.0.1:5432/postgres")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (db,)).fetchall()]
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", (db,)
        ).fetchone()
    out = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            out[pid] = _cpu_seconds(pid)
    out[-1] = float(row[0]) if row else 0.0  # (transactions, not a pid)
    return out


def _measure(label: str, url: str, procs: list[subprocess.Popen[bytes]], args: argparse.Namespace,
             db: str | None = None) -> dict[str, Any]:
    cpu0: list[float] = []
    pg0: dict[int, float] = {}

    def started() -> None:  # (the clients have warmed up: server CPU from here on)
        cpu0.extend(_tree_cpu_seconds(p.pid) for p in procs)
        if db is not None:
            pg0.update(_pg_backends_cpu(db))

    load = os.getloadavg()[0]
    result = bench(url, args.runs, args.concurrency, args.clients, args.mode, args.rate, started)
    done = result["runs"]  # (completed: a server's refusals excluded)
    per_proc = [1000 * (_tree_cpu_seconds(p.pid) - c0) / done for p, c0 in zip(procs, cpu0)]
    result["server_cpu_ms"] = sum(per_proc)
    result["load"] = load
    split = f" (API {per_proc[0]:.1f} + workers {sum(per_proc[1:]):.1f})" if len(procs) > 1 else ""
    if db is not None:
        # Backends that ended during the run are missed; new ones count from zero.
        pg1 = _pg_backends_cpu(db)
        time.sleep(1.5)  # (backends report their transaction counts about once a second)
        xacts = _pg_backends_cpu(db)[-1] - pg0.pop(-1, 0.0)
        pg1.pop(-1)
        result["pg_cpu_ms"] = 1000 * sum(c - pg0.get(pid, 0.0) for pid, c in pg1.items()) / done
        result["pg_xacts_per_run"] = xacts / done
        split += f" + PostgreSQL backends {result['pg_cpu_ms']:.1f} ({xacts / done:.0f} transactions per run)"
    rate = f" rate={args.rate:g}/s" if args.mode == "rate" else ""
    print(
        f"{label}  [{args.mode}{rate}] runs={result['runs']}"
        + (f" concurrency={result['concurrency']} " if args.mode == "closed" else " ")
        + f"(in flight {result['in_flight']:.0f})  load {load:.1f}\n"
        f"    time to first event p50={result['ttfe_p50_ms']:.1f} p99={result['ttfe_p99_ms']:.1f} "
        f"max={result['ttfe_max_ms']:.1f} ms  first values p50={result['tfv_p50_ms']:.1f} "
        f"p99={result['tfv_p99_ms']:.1f} ms  run p50={result['run_p50_ms']:.1f} max={result['run_max_ms']:.1f} ms\n"
        f"    throughput={result['runs_per_s']:.1f} runs/s  server CPU {result['server_cpu_ms']:.2f} ms/run{split}  "
        f"client CPU {result['client_cpu_ms']:.1f} ms/run ({result['clients']} client processes)"
        + (f"  {result['retries']} requests sent again (idle connection closed)" if result["retries"] else "")
        + (f"  {result['refused']} runs REFUSED by the server (5xx; not counted above)" if result["refused"] else "")
        + (f"\n    {result['failed']} runs FAILED (error event; not counted above), first: {result['first_error']}"
           if result["failed"] else ""),
        flush=True,
    )
    return result


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(60 if os.environ.get("BENCH_PROFILE_DIR") else 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def _langgraph_dev(venv: str, args: argparse.Namespace) -> Iterator[tuple[str, str, list[subprocess.Popen[bytes]], str | None]]:
    port = _free_port()
    env = {**os.environ, "BENCH_GRAPH_LIB": "langgraph", "LANGSMITH_TRACING": "false",
           "LANGGRAPH_CLI_NO_ANALYTICS": "1"}
    env.pop("PYTHONPATH", None)
    cli = str(Path(venv) / "bin" / "langgraph")
    # langgraph dev saves its in-memory state under .langgraph_api/ in its working directory
    # and loads it again at start: state left by an earlier invocation (16 MB after a few
    # runs) slows it several-fold. Every invocation starts it empty, as ours starts.
    state = APP.parent / ".langgraph_api"
    shutil.rmtree(state, ignore_errors=True)
    proc = subprocess.Popen(
        [cli, "dev", "--config", str(APP), "--port", str(port), "--no-browser", "--no-reload",
         *(["--n-jobs-per-worker", str(args.langgraph_dev_jobs)] if args.langgraph_dev_jobs else [])],
        env=env, cwd=APP.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ok(url, [proc])
        jobs = f", {args.langgraph_dev_jobs} jobs" if args.langgraph_dev_jobs else ", its default jobs"
        yield f"langgraph dev (memory{jobs})", url, [proc], None
    finally:
        _stop([proc])
        shutil.rmtree(state, ignore_errors=True)


@contextlib.contextmanager
def _aegra(venv: str, args: argparse.Namespace) -> Iterator[tuple[str, str, list[subprocess.Popen[bytes]], str | None]]:
    """Aegra (pip ``aegra-api``: LangGraph on PostgreSQL, one process) from ``venv``, on a
    scratch database of the local PostgreSQL, serving the same file built with LangGraph."""
    import psycopg

    admin_dsn = os.environ.get("ASYNCGRAPH_TEST_PG", "postgresql://root@127.0.0.1:5432/postgres")
    db = f"aegra_bench_{os.getpid()}"
    port = _free_port()
    env = {**os.environ, "BENCH_GRAPH_LIB": "langgraph", "LANGSMITH_TRACING": "false",
           "DATABASE_URL": admin_dsn.rsplit("/", 1)[0] + "/" + db, "AEGRA_CONFIG": str(APP),
           "LOG_LEVEL": "WARNING",  # (its default logs every request, ours logs warnings)
           # Its defaults (2 SQLAlchemy connections, no overflow; 6 for LangGraph) answer 500
           # to most requests at 500 concurrent streams (pool timeouts): 20 + 20, as ours.
           "SQLALCHEMY_POOL_SIZE": "20", "LANGGRAPH_MAX_POOL_SIZE": "20"}
    env.pop("PYTHONPATH", None)
    if os.environ.get("BENCH_AEGRA_PYTHONPATH"):
        # e.g. a directory with uvloop + httptools, which its uvicorn then runs on (as ours
        # does when they are on our PYTHONPATH): the same event loop and HTTP parser for both.
        env["PYTHONPATH"] = os.environ["BENCH_AEGRA_PYTHONPATH"]
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {db}")
        proc = subprocess.Popen(
            [str(Path(venv) / "bin" / "uvicorn"), "aegra_api.main:app", "--port", str(port), "--log-level", "warning"],
            env=env, cwd=APP.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ok(url, [proc], path="/info")
            yield "Aegra (PostgreSQL)", url, [proc], db
        finally:
            _stop([proc])
            admin.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


_BARE_SSE_APP = """
import json, uuid
from starlette.applications import Starlette
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

async def thread(request):
    return JSONResponse({"thread_id": str(uuid.uuid4()), "metadata": {}, "status": "idle"})

async def stream(request):
    await request.body()
    data = json.dumps({"run_id": str(uuid.uuid4()), "attempt": 1})
    async def body():
        yield f"id: 1\\r\\nevent: metadata\\r\\ndata: {data}\\r\\n\\r\\n".encode()
    return StreamingResponse(body(), media_type="text/event-stream")

async def anything(request):
    return JSONResponse({})

app = Starlette(routes=[Route("/threads", thread, methods=["POST"]),
                        Route("/threads/{tid}/runs/stream", stream, methods=["POST"]),
                        Route("/ok", anything), Route("/{path:path}", anything, methods=["GET", "POST"])])
"""


@contextlib.contextmanager
def _bare_sse(args: argparse.Namespace) -> Iterator[tuple[str, str, list[subprocess.Popen[bytes]], str | None]]:
    """The floor for time to first event: a bare Starlette app on uvicorn (no graph, no
    storage, no run) answering each ``runs.stream`` with its one ``metadata`` event, to the
    same langgraph-sdk clients. What this takes on this machine, no server can go under."""
    tmp = tempfile.TemporaryDirectory(prefix="bare-sse-")
    Path(tmp.name, "bare_sse.py").write_text(_BARE_SSE_APP)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bare_sse:app", "--port", str(port), "--log-level", "warning"],
        cwd=tmp.name, stdout=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ok(url, [proc])
        yield "bare Starlette/uvicorn SSE (floor)", url, [proc], None
    finally:
        _stop([proc])
        tmp.cleanup()


@contextlib.contextmanager
def _asyncgraph(args: argparse.Namespace) -> Iterator[tuple[str, str, list[subprocess.Popen[bytes]], str | None]]:
    tmp = tempfile.TemporaryDirectory(prefix="asyncgraph-server-bench-")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    procs: list[subprocess.Popen[bytes]] = []
    admin = None
    db = f"{os.environ.get('BENCH_DB_PREFIX', 'asyncgraph_bench')}_{os.getpid()}"
    try:
        if args.storage == "postgres":
            import psycopg

            admin_dsn = os.environ.get("ASYNCGRAPH_TEST_PG", "postgresql://root@127.0.0.1:5432/postgres")
            admin = psycopg.connect(admin_dsn, autocommit=True)
            admin.execute(f"CREATE DATABASE {db}")
            if os.environ.get("BENCH_LOG_STATEMENTS"):  # (every statement to the server's log: counting them)
                admin.execute(f"ALTER DATABASE {db} SET log_statement = 'all'")
            dsn = admin_dsn.rsplit("/", 1)[0] + "/" + db
            base = [sys.executable, "-m", "asyncgraph"]
            profile = os.environ.get("BENCH_PROFILE_DIR")  # (cProfile each process into this directory)
            # PostgreSQL allows 100 connections here, shared with whatever else uses it: the
            # processes split about 60 between them.
            pool = str(max(4, min(20, 60 // (args.workers + 1))))
            common = ["--database-url", dsn, "--config", str(APP), "--pool-size", pool]
            def cmd(name: str) -> list[str]:
                if not profile:
                    return base
                return [sys.executable, str(Path(__file__).with_name("_profile_cpu.py")),
                        os.path.join(profile, f"{name}.prof"), "asyncgraph"]

            procs.append(subprocess.Popen([*cmd("serve"), "serve", *common, "--port", str(port)], env=env,
                                          stdout=subprocess.DEVNULL))
            procs += [
                subprocess.Popen([*cmd(f"worker{i}"), "worker", *common], env=env, stdout=subprocess.DEVNULL)
                for i in range(args.workers)
            ]
            label = f"asyncgraph serve + {args.workers} workers (postgres)"
        else:
            storage_args = ["--in-memory"] if args.storage == "memory" else ["--data-dir", tmp.name]
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "asyncgraph", "dev", "--config", str(APP), "--port", str(port), "--no-reload",
                 *storage_args],
                env=env, stdout=subprocess.DEVNULL,
            ))
            label = f"asyncgraph dev ({args.storage})"
        url = f"http://127.0.0.1:{port}"
        _wait_ok(url, procs)
        if args.storage == "postgres":
            time.sleep(3)  # the workers finish starting (no readiness endpoint)
        yield label, url, procs, (db if args.storage == "postgres" else None)
    finally:
        _stop(procs)
        tmp.cleanup()
        if admin is not None:
            admin.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            admin.close()


def main() -> None:
    if len(sys.argv) == 7 and sys.argv[1] == "--client-child":
        _client_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], float(sys.argv[6]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--mode", choices=["closed", "burst", "rate"], default="closed",
                    help="closed: --concurrency streams kept in flight (saturation); burst: --runs "
                    "streams opened at once; rate: --rate streams opened per second (open loop)")
    ap.add_argument("--rate", type=float, default=50.0, help="streams per second (--mode rate)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure each server this many times, alternating, and report medians")
    ap.add_argument("--storage", choices=["sqlite", "memory", "postgres"], default="sqlite",
                    help="dev's default (SQLite files, here in a temporary directory), --in-memory, "
                    "or serve + workers on PostgreSQL")
    ap.add_argument("--clients", type=int, default=1,
                    help="client processes sharing the runs and the concurrency (see bench())")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (postgres only)")
    ap.add_argument("--against-langgraph-dev", metavar="VENV",
                    help="also run langgraph dev from this venv (langgraph-cli[inmem]) and compare")
    ap.add_argument("--langgraph-dev-jobs", type=int, default=None,
                    help="langgraph dev's --n-jobs-per-worker (its default runs few runs at once)")
    ap.add_argument("--against-aegra", metavar="VENV",
                    help="also run Aegra from this venv (pip aegra-api) on a scratch database and compare")
    ap.add_argument("--against-bare-sse", action="store_true",
                    help="also run a bare Starlette/uvicorn app answering each stream with one event: "
                    "the floor of time to first event on this machine")
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        # Every server is up for the whole invocation (an idle one costs nothing), so the
        # rounds alternate between them and a change in the machine's load hits all alike.
        servers = [stack.enter_context(_asyncgraph(args))]
        if args.against_langgraph_dev:
            servers.append(stack.enter_context(_langgraph_dev(args.against_langgraph_dev, args)))
        if args.against_aegra:
            servers.append(stack.enter_context(_aegra(args.against_aegra, args)))
        if args.against_bare_sse:
            servers.append(stack.enter_context(_bare_sse(args)))
        results: list[list[dict[str, Any]]] = [[] for _ in servers]
        for r in range(args.rounds):
            order = list(range(len(servers)))
            order = order[r % len(order):] + order[: r % len(order)]
            for i in order:
                label, url, procs, db = servers[i]
                results[i].append(_measure(label, url, procs, args, db))
    med = [{k: statistics.median(x[k] for x in rs) for k in rs[0] if isinstance(rs[0][k], float)} for rs in results]
    if args.rounds > 1:
        for (label, *_), m in zip(servers, med):
            print(f"median of {args.rounds}: {label}: throughput {m['runs_per_s']:.1f} runs/s, TTFE p50/p99 "
                  f"{m['ttfe_p50_ms']:.1f}/{m['ttfe_p99_ms']:.1f} ms, server CPU {m['server_cpu_ms']:.2f} ms/run")
    for (label, *_), theirs in zip(servers[1:], med[1:]):
        ours = med[0]
        print(
            f"asyncgraph / {label}: throughput {ours['runs_per_s'] / theirs['runs_per_s']:.2f}x, "
            f"time to first event p50 {ours['ttfe_p50_ms'] / theirs['ttfe_p50_ms']:.2f}x, "
            f"p99 {ours['ttfe_p99_ms'] / theirs['ttfe_p99_ms']:.2f}x, "
            f"first values event p99 {ours['tfv_p99_ms'] / theirs['tfv_p99_ms']:.2f}x, "
            f"server CPU per run {ours['server_cpu_ms'] / theirs['server_cpu_ms']:.2f}x"
        )


if __name__ == "__main__":
    main()
