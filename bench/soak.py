"""Soak: agent runs without pause for N seconds, thousands in flight, failures retried.

Usage::

    python -m bench.soak --seconds 60 --impl both          # LangGraph, then asyncgraph
    python -m bench.soak --seconds 10 --impl asyncgraph    # a quick look at one side
    python -m bench.soak --json /tmp/soak.json             # raw numbers too

Each implementation runs in its own fresh interpreter, one after the other. In it,
``--concurrency`` loops (2,000 by default) each run the hand-built agent dialogue of
``bench/_graphs.py`` (model -> tool -> model) again and again until the time is up,
so that many runs are always in flight. The model is ``bench/_fake_model.py``'s
scripted model, sleeping ``--latency`` seconds per call, wrapped so that a fraction
(``--failure-rate``) of calls fail after that wait, the way an overloaded provider
answers 5xx. A ``RetryPolicy`` on the model node retries those failures.

Reported per implementation: completed runs per second, run latency p50 and p99
(from ``ainvoke`` call to return, retries included), runs that raised or returned the
wrong dialogue, model calls and injected failures, CPU seconds, and the resident set
size (current RSS, not the peak) after warm-up ("start"), halfway through the soak
("middle") and when it ends, before in-flight runs drain ("end"). Memory plateaus when
the end is at most 10 % above the middle: PASS, else FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if not __package__:
    # Started as a script (``python bench/soak.py``): make the ``bench`` package importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._worker import RESULT_MARK

ROOT = Path(__file__).resolve().parent.parent
IMPLS = ("langgraph", "asyncgraph")
PLATEAU_MAX_GROWTH = 0.10  # end RSS may exceed middle RSS by at most this fraction


# -- measuring, in the worker process -----------------------------------------------


def _rss_mb() -> float:
    """The current resident set size (Linux ``/proc``), in MB."""
    with open("/proc/self/statm", encoding="ascii") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class LatencyHistogram:
    """Fixed, log-spaced buckets (1 % wide, 1 ms to ~17 min): constant memory.

    A list of every latency would grow through the soak and blur the plateau check.
    """

    _LO, _RATIO, _N = 1e-3, 1.01, 1400

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.counts = [0] * (self._N + 1)
        self.total = 0

    def add(self, seconds: float) -> None:
        i = 0
        if seconds > self._LO:
            i = min(self._N, 1 + int(math.log(seconds / self._LO, self._RATIO)))
        self.counts[i] += 1
        self.total += 1

    def quantile(self, q: float) -> float | None:
        """Upper edge of the bucket holding quantile ``q`` (within 1 %), in seconds."""
        if not self.total:
            return None
        rank = q * self.total
        seen = 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= rank:
                return self._LO * self._RATIO**i
        return self._LO * self._RATIO**self._N


class ModelUnavailable(ConnectionError):
    """The fake provider's transient failure (a 5xx / overloaded answer)."""


def _flaky_model(latency: float, failure_rate: float, seed: int) -> Any:
    """``FakeAgentModel`` wrapped so ``failure_rate`` of its calls fail after the wait."""
    from bench._fake_model import FakeAgentModel

    rng = random.Random(seed)
    stats = {"calls": 0, "failures": 0}

    class FlakyAgentModel(FakeAgentModel):
        async def _agenerate(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
            result = await super()._agenerate(messages, *args, **kwargs)
            stats["calls"] += 1
            if rng.random() < failure_rate:
                stats["failures"] += 1
                raise ModelUnavailable("fake provider overloaded, try again")
            return result

    return FlakyAgentModel(latency=latency), stats


def _agent_with_retry(pkg: str, model: Any, max_attempts: int) -> Any:
    """``bench._graphs.agent`` with a ``RetryPolicy`` on the model node."""
    from bench._graphs import _from, agent

    types_mod = _from(f"{pkg}.types", "RetryPolicy")
    # No wait between attempts: LangGraph sleeps the policy's intervals for real, and
    # a wait would only add the same constant to both sides' latencies.
    retry = types_mod.RetryPolicy(
        max_attempts=max_attempts,
        initial_interval=0.0,
        jitter=False,
        retry_on=ModelUnavailable,
    )
    return agent(pkg, model, model_retry=retry)


def soak(impl: str, p: dict[str, Any]) -> dict[str, Any]:
    from langchain_core.messages import HumanMessage

    from bench._fake_model import FINAL_ANSWER

    seconds, concurrency = p["seconds"], p["concurrency"]
    model, model_stats = _flaky_model(p["latency"], p["failure_rate"], p["seed"])
    graph = _agent_with_retry(impl, model, p["max_attempts"])
    hist = LatencyHistogram()
    counts = {"completed": 0, "in_window": 0, "errors": 0, "wrong": 0}
    error_kinds: dict[str, int] = {}
    rss: dict[str, float] = {}
    timeline: list[float] = []

    async def one(i: int) -> None:
        t0 = time.perf_counter()
        try:
            out = await graph.ainvoke({"messages": [HumanMessage(f"question {i}")]})
        except Exception as exc:  # noqa: BLE001 - a soak counts errors, it does not stop
            counts["errors"] += 1
            name = type(exc).__name__
            error_kinds[name] = error_kinds.get(name, 0) + 1
            return
        hist.add(time.perf_counter() - t0)
        counts["completed"] += 1
        msgs = out["messages"]
        if len(msgs) != 4 or not str(msgs[-1].content).endswith(FINAL_ANSWER):
            counts["wrong"] += 1

    async def main() -> float:
        # Warm-up: a few runs, so imports and caches are not counted as growth.
        await asyncio.gather(*(one(i) for i in range(50)))
        hist.reset()  # forget the warm-up
        for k in counts:
            counts[k] = 0
        for k in model_stats:
            model_stats[k] = 0
        error_kinds.clear()
        gc.collect()
        rss["start"] = _rss_mb()

        t_start = time.perf_counter()
        deadline = t_start + seconds

        async def loop(worker: int) -> None:
            i = worker
            while time.perf_counter() < deadline:
                await one(i)
                if time.perf_counter() <= deadline:
                    counts["in_window"] += 1
                i += concurrency

        async def sample() -> None:
            half = t_start + seconds / 2
            while (now := time.perf_counter()) < deadline:
                timeline.append(round(_rss_mb(), 1))
                if "middle" not in rss and now >= half:
                    rss["middle"] = _rss_mb()
                await asyncio.sleep(min(1.0, max(0.0, deadline - now)))
            rss["end"] = _rss_mb()  # before in-flight runs drain

        async with asyncio.TaskGroup() as tg:
            tg.create_task(sample())
            for w in range(concurrency):
                tg.create_task(loop(w))
        return time.perf_counter() - t_start

    c0 = time.process_time()
    wall = asyncio.run(main())
    growth = rss["end"] / rss["middle"] - 1
    p50, p99 = hist.quantile(0.50), hist.quantile(0.99)
    return {
        "impl": impl,
        "seconds": seconds,
        "wall_s": wall,
        "concurrency": concurrency,
        "runs_per_s": counts["in_window"] / seconds,
        "completed": counts["completed"],
        "p50_s": p50,
        "p99_s": p99,
        "errors": counts["errors"],
        "error_kinds": error_kinds,
        "wrong_results": counts["wrong"],
        "model_calls": model_stats["calls"],
        "model_failures": model_stats["failures"],
        "cpu_s": time.process_time() - c0,
        "rss_start_mb": rss["start"],
        "rss_middle_mb": rss["middle"],
        "rss_end_mb": rss["end"],
        "rss_max_mb": max(timeline),
        "rss_growth_middle_to_end": growth,
        "plateau": growth <= PLATEAU_MAX_GROWTH,
        "rss_timeline_mb": timeline,
    }


def worker_main(impl: str, params: str) -> int:
    try:
        result = soak(impl, json.loads(params))
    except BaseException as exc:  # noqa: BLE001 - reported as the implementation's row
        result = {"impl": impl, "error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


# -- driving, in the parent process ---------------------------------------------------


def run_impl(impl: str, params: dict[str, Any]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.soak", "--worker", impl, json.dumps(params)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
        ),
    }
    env.pop("LANGSMITH_TRACING", None)
    env.pop("LANGCHAIN_TRACING_V2", None)
    # In-flight runs drain after the deadline; under load that can take a while.
    timeout = params["seconds"] * 2 + 120
    try:
        proc = subprocess.run(
            cmd,
            check=False,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"impl": impl, "error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARK)]
    if not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"impl": impl, "error": f"worker exited {proc.returncode}: {tail}"}
    return dict(json.loads(lines[-1][len(RESULT_MARK) :]))


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v * 1e3:,.0f}"


ROWS: list[tuple[str, Any]] = [
    ("throughput, runs/s", lambda r: f"{r['runs_per_s']:,.0f}"),
    ("run latency p50, ms", lambda r: _ms(r["p50_s"])),
    ("run latency p99, ms", lambda r: _ms(r["p99_s"])),
    ("runs completed", lambda r: f"{r['completed']:,}"),
    ("errors (runs that raised)", lambda r: f"{r['errors']:,}"),
    ("wrong results", lambda r: f"{r['wrong_results']:,}"),
    (
        "model calls / injected failures",
        lambda r: f"{r['model_calls']:,} / {r['model_failures']:,}",
    ),
    ("CPU s", lambda r: f"{r['cpu_s']:.1f}"),
    ("RSS start, MB", lambda r: f"{r['rss_start_mb']:.0f}"),
    ("RSS middle, MB", lambda r: f"{r['rss_middle_mb']:.0f}"),
    ("RSS end, MB", lambda r: f"{r['rss_end_mb']:.0f}"),
    ("RSS end vs middle", lambda r: f"{r['rss_growth_middle_to_end']:+.1%}"),
    (
        f"memory plateau (end ≤ middle + {PLATEAU_MAX_GROWTH:.0%})",
        lambda r: "PASS" if r["plateau"] else "FAIL",
    ),
]


def table(results: list[dict[str, Any]]) -> str:
    head = [
        "",
        *(("LangGraph" if r["impl"] == "langgraph" else r["impl"]) for r in results),
    ]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for label, fmt in ROWS:
        cells = [r["error"] if "error" in r else fmt(r) for r in results]
        lines.append("| " + " | ".join([label, *cells]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return worker_main(argv[1], argv[2])
    ap = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--impl", choices=[*IMPLS, "both"], default="both")
    ap.add_argument("--concurrency", type=int, default=2000, help="runs kept in flight")
    ap.add_argument("--latency", type=float, default=0.05, help="model latency, s")
    ap.add_argument(
        "--failure-rate", type=float, default=0.05, help="failed model calls"
    )
    ap.add_argument(
        "--max-attempts", type=int, default=5, help="RetryPolicy on the model node"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the raw results to this file")
    args = ap.parse_args(argv)

    from bench.run import machine_info

    params = {
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "latency": args.latency,
        "failure_rate": args.failure_rate,
        "max_attempts": args.max_attempts,
        "seed": args.seed,
    }
    impls = IMPLS if args.impl == "both" else (args.impl,)
    info = machine_info()
    print(
        f"soak: {args.seconds:g} s per implementation, {args.concurrency:,} runs in "
        f"flight, model {args.latency * 1e3:g} ms per call, "
        f"{args.failure_rate:.0%} of calls fail, RetryPolicy(max_attempts={args.max_attempts})"
    )
    for k, v in info.items():
        print(f"  {k}: {v}")
    results = []
    for impl in impls:
        print(f"running {impl} ...", flush=True)
        results.append(run_impl(impl, params))
    print()
    print(table(results))
    ok = all(
        "error" not in r and r["plateau"] and not r["wrong_results"] for r in results
    )
    for r in results:
        if "error" in r:
            continue
        verdict = "PASS" if r["plateau"] else "FAIL"
        print(
            f"{verdict}: {r['impl']} memory plateau: RSS {r['rss_middle_mb']:.0f} MB at the "
            f"middle, {r['rss_end_mb']:.0f} MB at the end "
            f"({r['rss_growth_middle_to_end']:+.1%}, limit +{PLATEAU_MAX_GROWTH:.0%})"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"params": params, "machine": info, "results": results}, indent=2
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
