"""Streaming runs through langgraph-sdk against ``asyncgraph dev`` (its own process).

    PYTHONPATH=$PWD python bench/server_bench.py --runs 200 --concurrency 100 [--storage memory]
    PYTHONPATH=$PWD python bench/server_bench.py --storage postgres --workers 2   # serve + workers

Starts ``python -m asyncgraph dev`` on a free loopback port serving bench/server_app
(the seed agent on a scripted model with 50 ms latency), then streams N runs on new
threads with C at a time, and reports time to first event (the ``metadata`` event,
measured from the request) p50/p99, completed runs per second, and the server process's
CPU time per run (which a busy machine disturbs less than wall-clock numbers). With
``--storage postgres`` it creates a scratch database on $ASYNCGRAPH_TEST_PG's server (default
root@127.0.0.1:5432), starts ``asyncgraph serve`` and ``--workers`` ``asyncgraph worker``
processes on it, reports the CPU of all of them per run, and drops the database after. No comparison with
``langgraph dev`` yet (issue #15 asks for one: next step).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from langgraph_sdk import get_client

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


async def _one(client, first: list[float], errors: list[str]) -> None:
    thread = await client.threads.create()
    t0 = time.perf_counter()
    seen_first = False
    async for part in client.runs.stream(
        thread["thread_id"], "agent", input={"messages": [{"role": "user", "content": "hi"}]},
        stream_mode=["values", "messages-tuple"],
    ):
        if not seen_first:
            first.append(time.perf_counter() - t0)
            seen_first = True
        if part.event == "error":
            errors.append(str(part.data))


async def bench(url: str, runs: int, concurrency: int) -> dict[str, float]:
    client = get_client(url=url, timeout=120)
    first: list[float] = []
    errors: list[str] = []
    sem = asyncio.Semaphore(concurrency)

    async def guarded() -> None:
        async with sem:
            await _one(client, first, errors)

    await _one(client, [], errors)  # warm up: imports, first compile
    t0 = time.perf_counter()
    await asyncio.gather(*(guarded() for _ in range(runs)))
    elapsed = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"{len(errors)} runs failed, first: {errors[0]}")
    first.sort()
    return {
        "runs": runs,
        "concurrency": concurrency,
        "ttfe_p50_ms": 1000 * statistics.median(first),
        "ttfe_p99_ms": 1000 * first[min(len(first) - 1, int(0.99 * len(first)))],
        "runs_per_s": runs / elapsed,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--storage", choices=["sqlite", "memory", "postgres"], default="sqlite",
                    help="dev's default (SQLite files, here in a temporary directory), --in-memory, "
                    "or serve + workers on PostgreSQL")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (postgres only)")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="asyncgraph-server-bench-")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    procs: list[subprocess.Popen[bytes]] = []
    admin = None
    db = f"asyncgraph_bench_{os.getpid()}"
    if args.storage == "postgres":
        import psycopg

        admin_dsn = os.environ.get("ASYNCGRAPH_TEST_PG", "postgresql://root@127.0.0.1:5432/postgres")
        admin = psycopg.connect(admin_dsn, autocommit=True)
        admin.execute(f"CREATE DATABASE {db}")
        dsn = admin_dsn.rsplit("/", 1)[0] + "/" + db
        base = [sys.executable, "-m", "asyncgraph"]
        common = ["--database-url", dsn, "--config", str(APP)]
        procs.append(subprocess.Popen([*base, "serve", *common, "--port", str(port)], env=env, stdout=subprocess.DEVNULL))
        procs += [
            subprocess.Popen([*base, "worker", *common], env=env, stdout=subprocess.DEVNULL)
            for _ in range(args.workers)
        ]
        label = f"asyncgraph serve + {args.workers} workers (postgres)"
    else:
        storage_args = ["--in-memory"] if args.storage == "memory" else ["--data-dir", tmp.name]
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "asyncgraph", "dev", "--config", str(APP), "--port", str(port), *storage_args],
            env=env, stdout=subprocess.DEVNULL,
        ))
        label = f"asyncgraph dev ({args.storage})"
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(300):
            try:
                if httpx.get(f"{url}/ok", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            raise SystemExit("the server did not start")
        if args.storage == "postgres":
            time.sleep(3)  # the workers finish starting (no readiness endpoint)
        cpu0 = sum(_cpu_seconds(p.pid) for p in procs)
        result = asyncio.run(bench(url, args.runs, args.concurrency))
        # Includes the one warm-up run.
        server_cpu_ms = 1000 * (sum(_cpu_seconds(p.pid) for p in procs) - cpu0) / (args.runs + 1)
        print(
            f"{label}  runs={result['runs']} concurrency={result['concurrency']}  "
            f"time to first event p50={result['ttfe_p50_ms']:.1f} ms p99={result['ttfe_p99_ms']:.1f} ms  "
            f"throughput={result['runs_per_s']:.1f} runs/s  server CPU {server_cpu_ms:.1f} ms/run"
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        tmp.cleanup()
        if admin is not None:
            admin.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            admin.close()


if __name__ == "__main__":
    main()
