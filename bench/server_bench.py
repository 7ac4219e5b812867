"""Streaming runs through langgraph-sdk against ``asyncgraph dev`` (its own process).

    PYTHONPATH=$PWD python bench/server_bench.py --runs 200 --concurrency 100 [--storage memory]

Starts ``python -m asyncgraph dev`` on a free loopback port serving bench/server_app
(the seed agent on a scripted model with 50 ms latency), then streams N runs on new
threads with C at a time, and reports time to first event (the ``metadata`` event,
measured from the request) p50/p99, completed runs per second, and the server process's
CPU time per run (which a busy machine disturbs less than wall-clock numbers). No comparison with
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
    ap.add_argument("--storage", choices=["sqlite", "memory"], default="sqlite",
                    help="dev's default (SQLite files, here in a temporary directory) or --in-memory")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="asyncgraph-server-bench-")
    storage_args = ["--in-memory"] if args.storage == "memory" else ["--data-dir", tmp.name]
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "asyncgraph", "dev", "--config", str(APP), "--port", str(port), *storage_args],
        env=env, stdout=subprocess.DEVNULL,
    )
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
            raise SystemExit("asyncgraph dev did not start")
        cpu0 = _cpu_seconds(proc.pid)
        result = asyncio.run(bench(url, args.runs, args.concurrency))
        # Includes the one warm-up run.
        server_cpu_ms = 1000 * (_cpu_seconds(proc.pid) - cpu0) / (args.runs + 1)
        print(
            f"asyncgraph dev ({args.storage})  runs={result['runs']} concurrency={result['concurrency']}  "
            f"time to first event p50={result['ttfe_p50_ms']:.1f} ms p99={result['ttfe_p99_ms']:.1f} ms  "
            f"throughput={result['runs_per_s']:.1f} runs/s  server CPU {server_cpu_ms:.1f} ms/run"
        )
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        tmp.cleanup()


if __name__ == "__main__":
    main()
