"""The functional API: a 20-task entrypoint with InMemorySaver, asyncgraph next to LangGraph.

Usage::

    python -m bench.func_bench --quick        # about a minute
    python -m bench.func_bench                # more runs and rounds
    python -m bench.func_bench --only async_seq --impl asyncgraph

The workload is issue #12's: an ``@entrypoint(checkpointer=InMemorySaver())`` whose
function calls a ``@task`` that adds 1, 20 times, each call's result feeding the next;
every run is on a new ``thread_id`` (default durability), one run after another.
Variants:

* ``async_seq``: ``async def`` entrypoint and task, each call awaited, ``ainvoke``;
* ``async_gather``: the 20 calls started together and awaited with ``asyncio.gather``;
* ``sync_seq``: plain ``def`` entrypoint and task, ``.result()`` on each, ``invoke``.

Reported per task (run time / 20): process CPU time and wall time, medians over
repeats inside a worker, then over rounds. As in ``python -m bench``, every (variant,
library) pair runs in its own fresh interpreter, one after the other, in rounds whose
order rotates. Ratios are asyncgraph / LangGraph; the goal (issue #12) is ≤ 1/5.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._worker import RESULT_MARK

ROOT = Path(__file__).resolve().parent.parent
LG, AG = "langgraph", "asyncgraph"
VARIANTS = ("async_seq", "async_gather", "sync_seq")
N_TASKS = 20
GOAL = 0.2
QUICK = {"runs": 30, "warmup": 5, "repeats": 3, "rounds": 1}
FULL = {"runs": 100, "warmup": 10, "repeats": 5, "rounds": 3}


# -- in the worker process ------------------------------------------------------------


def _workflow(pkg: str, variant: str) -> Any:
    func = importlib.import_module(f"{pkg}.func")
    memory = importlib.import_module(f"{pkg}.checkpoint.memory")
    entrypoint, task = func.entrypoint, func.task
    saver = memory.InMemorySaver()
    if variant == "sync_seq":

        @task
        def inc(x: int) -> int:
            return x + 1

        @entrypoint(checkpointer=saver)
        def chain(x: int) -> int:
            for _ in range(N_TASKS):
                x = inc(x).result()
            return x

        return chain

    @task
    async def ainc(x: int) -> int:
        return x + 1

    if variant == "async_seq":

        @entrypoint(checkpointer=saver)
        async def achain(x: int) -> int:
            for _ in range(N_TASKS):
                x = await ainc(x)
            return x

        return achain

    @entrypoint(checkpointer=saver)
    async def fan(x: int) -> int:
        parts = await asyncio.gather(*[ainc(x + i) for i in range(N_TASKS)])
        return sum(parts) - sum(range(N_TASKS)) - N_TASKS * x

    return fan


def measure(impl: str, variant: str, p: dict[str, Any]) -> dict[str, Any]:
    """CPU and wall µs per task, medians over ``repeats`` batches of ``runs`` runs."""
    wf = _workflow(impl, variant)
    expected = N_TASKS
    prefix = uuid.uuid4().hex[:8]
    counter = itertools.count()

    def config() -> dict[str, Any]:
        return {"configurable": {"thread_id": f"{prefix}-{next(counter)}"}}

    def check(out: Any) -> None:
        if out != expected:
            raise AssertionError(f"{variant} returned {out!r}, expected {expected}")

    if variant == "sync_seq":

        def batch(n: int) -> None:
            for _ in range(n):
                check(wf.invoke(0, config()))

        timed = batch
    else:

        async def abatch(n: int) -> None:
            for _ in range(n):
                check(await wf.ainvoke(0, config()))

        loop = asyncio.new_event_loop()
        timed = lambda n: loop.run_until_complete(abatch(n))  # noqa: E731

    timed(p["warmup"])
    cpus, walls = [], []
    for _ in range(p["repeats"]):
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        timed(p["runs"])
        walls.append((time.perf_counter() - t0) / (p["runs"] * N_TASKS) * 1e6)
        cpus.append((time.process_time() - c0) / (p["runs"] * N_TASKS) * 1e6)
    # The saver really stored the runs: the last thread's state is the result.
    last = {"configurable": {"thread_id": f"{prefix}-{next(counter) - 1}"}}
    state = wf.get_state(last)
    if state.values != expected:
        raise AssertionError(f"stored state is {state.values!r}")
    return {"cpu_us": statistics.median(cpus), "cpu_us_min": min(cpus),
            "wall_us": statistics.median(walls), "wall_us_min": min(walls), "n": len(cpus)}


def _worker_main(impl: str, variant: str, params: str) -> int:
    try:
        result = measure(impl, variant, json.loads(params))
    except ImportError as exc:
        result = {"skipped": True, "error": f"{type(exc).__name__}: {exc}"}
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a table cell
        result = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
    return 0


# -- the driver process ----------------------------------------------------------------


def _spawn(impl: str, variant: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.func_bench", "--worker", impl, variant, json.dumps(params)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("LANGSMITH_TRACING", None)
    env.pop("LANGCHAIN_TRACING_V2", None)
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
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
    header = ["workload (per task)", "LG CPU µs", "ag CPU µs", "ag/LG CPU", "LG wall µs", "ag wall µs",
              "ag/LG wall", "goal", "met"]
    rows = []
    for variant, per in results.items():
        lg_c, ag_c = _median(per.get(LG, []), "cpu_us"), _median(per.get(AG, []), "cpu_us")
        lg_w, ag_w = _median(per.get(LG, []), "wall_us"), _median(per.get(AG, []), "wall_us")
        rc = ag_c / lg_c if ag_c is not None and lg_c else None
        rw = ag_w / lg_w if ag_w is not None and lg_w else None
        met = "n/a" if rc is None else ("yes" if rc <= GOAL else "no")
        rows.append([variant, _fmt(lg_c), _fmt(ag_c), "—" if rc is None else f"{rc:.3f}×", _fmt(lg_w), _fmt(ag_w),
                     "—" if rw is None else f"{rw:.3f}×", f"CPU ≤ {GOAL:.2g}×", met])
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * 6 + "---|---|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return _worker_main(*argv[1:4])
    ap = argparse.ArgumentParser(prog="python -m bench.func_bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs and one round (about a minute)")
    ap.add_argument("--only", default=",".join(VARIANTS), help=f"comma-separated subset of {','.join(VARIANTS)}")
    ap.add_argument("--impl", default=f"{LG},{AG}", help="comma-separated subset of langgraph,asyncgraph")
    ap.add_argument("--runs", type=int, help="runs (new threads) per timed repeat")
    ap.add_argument("--rounds", type=int, help="fresh workers per workload and library")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--json", metavar="PATH", help="also write the raw results here")
    args = ap.parse_args(argv)
    variants = [s for s in args.only.split(",") if s]
    impls = [s for s in args.impl.split(",") if s]
    bad = (set(variants) - set(VARIANTS)) | (set(impls) - {LG, AG})
    if bad:
        ap.error(f"unknown name(s) {sorted(bad)}")
    params = dict(QUICK if args.quick else FULL)
    if args.runs:
        params["runs"] = args.runs
    n_rounds = args.rounds or params.pop("rounds")
    params.pop("rounds", None)
    timeout = 120.0 if args.quick else 300.0
    print(f"functional API bench, {'quick' if args.quick else 'full'} mode: {N_TASKS}-task entrypoint, "
          f"InMemorySaver, {params['runs']} new threads per repeat, {params['repeats']} repeats, "
          f"{n_rounds} round(s); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {v: {i: [] for i in impls} for v in variants}
    for r in range(n_rounds):
        for variant in variants:
            order = impls[r % len(impls):] + impls[: r % len(impls)]
            for impl in order:
                if any("error" in o for o in results[variant][impl]):
                    continue
                t0 = time.perf_counter()
                out = _spawn(impl, variant, params, timeout)
                results[variant][impl].append(out)
                shown = out.get("error") or f"cpu {_fmt(out['cpu_us'])} µs, wall {_fmt(out['wall_us'])} µs per task"
                print(f"  {variant:13} {impl:10} round {r + 1}/{n_rounds} {time.perf_counter() - t0:5.1f} s  {shown}",
                      flush=True)
    print()
    print(table(results, args.markdown))
    errors = [f"{v} / {i}: {o['error']}" for v, per in results.items() for i, rs in per.items()
              for o in rs if "error" in o]
    if errors:
        print("\nproblems:\n  " + "\n  ".join(errors))
    if args.json:
        Path(args.json).write_text(json.dumps({"params": params, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
