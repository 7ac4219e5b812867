"""Run every workload on LangGraph and on asyncgraph, side by side, in one go.

Usage::

    python -m bench                    # full run (about 4-5 minutes)
    python -m bench --quick            # small sizes, few repeats (under ~2 minutes)
    python -m bench --only chain,fanout
    python -m bench --write-docs       # also rewrite docs/performance.md
    python bench/run.py --quick        # the same, started as a script

Each (workload, implementation) pair runs in its own fresh interpreter
(``bench/_worker.py``) with a timeout; a failure or a missing API becomes a row
with the error rather than aborting the run. Ratios are always
``asyncgraph / baseline``, so smaller is better.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

if not __package__:
    # Started as a script (``python bench/run.py``): make the ``bench`` package importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._worker import RESULT_MARK

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "performance.md"

LG, AG, FLOOR = "langgraph", "asyncgraph", "floor"
IMPL_LABEL = {LG: "LangGraph", AG: "asyncgraph", FLOOR: "floor"}


@dataclass(frozen=True)
class Target:
    """``asyncgraph / base <= max_ratio`` is the goal for one metric."""

    base: str
    max_ratio: float

    def describe(self) -> str:
        return f"≤ {self.max_ratio:.3g}× {IMPL_LABEL[self.base]}"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    target: Target | None = None


@dataclass(frozen=True)
class Workload:
    """One row group of the table: a worker kind run with fixed parameters."""

    name: str
    kind: str
    title: str
    metrics: tuple[Metric, ...]
    quick: dict[str, Any] | None  # None: not part of --quick
    full: dict[str, Any] | None  # None: quick mode only
    impls: tuple[str, ...] = (LG, AG)
    timeout_s: float = 300.0
    # Rounds (quick, full): each round runs every implementation once, in a rotating
    # order, so a change in machine load hits all sides alike; the reported value
    # is the median over rounds.
    rounds: tuple[int, int] = (1, 3)


_CHAIN = {"length": 100}
_AGENT = {"latency": 0.05}
_STREAM = {"tokens": 50}


def _agent_workloads() -> list[Workload]:
    out = []
    variants = [
        ("agent", "agent loop, hand-built graph"),
        ("agent_toolnode", "agent loop, ToolNode + tools_condition"),
        ("agent_react", "agent loop, create_react_agent"),
    ]
    for variant, title in variants:
        hand_built = variant == "agent"
        sizes = (100, 1000, 5000) if hand_built else (1000,)
        quick_sizes = (100, 1000) if hand_built else (100,)
        for n in sorted(set(sizes) | set(quick_sizes)):
            # The goals are stated for many concurrent runs, where overhead dominates.
            judged = hand_built and n >= 1000
            # Timed batches per worker, back to back after an untimed one (see
            # bench/_worker.agent); their mean is reported. 3 in quick mode.
            repeats = 5 if n <= 1000 else 1
            out.append(
                Workload(
                    name=f"{variant}_n{n}",
                    kind="agent",
                    title=f"{title}, N={n} concurrent",
                    metrics=(
                        Metric(
                            "wall_s",
                            "wall time, s (ideal 0.1)",
                            Target(FLOOR, 1.3) if judged else None,
                        ),
                        Metric("cpu_ms_per_run", "CPU ms per run"),
                        Metric("full_gc_per_batch", "full GC collections per batch"),
                        Metric(
                            "peak_rss_mb",
                            "peak RSS, MB",
                            Target(LG, 0.6) if judged else None,
                        ),
                        Metric("run_rss_mb", "RSS growth during the runs, MB"),
                    ),
                    quick={**_AGENT, "variant": variant, "n": n, "repeats": min(repeats, 3)}
                    if n in quick_sizes
                    else None,
                    full={**_AGENT, "variant": variant, "n": n, "repeats": repeats}
                    if n in sizes
                    else None,
                    impls=(LG, AG, FLOOR),
                    timeout_s=900.0 if n >= 5000 else 300.0,
                    # The judged rows: 5 rounds, their ratio the median of the
                    # per-round ratios (``_ratio``): one worker pair landing on a busy
                    # moment of the machine moves it by 0.1-0.3.
                    rounds=(1, 5 if judged else 3 if hand_built else 2),
                )
            )
    return out


WORKLOADS: list[Workload] = [
    Workload(
        "chain_async",
        "chain_async",
        "100-node chain, async nodes, ainvoke",
        (Metric("us_per_step", "µs per node step", Target(LG, 0.1)),),
        quick={**_CHAIN, "inner": 2, "warmup": 2, "repeats": 5},
        full={**_CHAIN, "inner": 5, "warmup": 5, "repeats": 5},
    ),
    Workload(
        "chain_sync",
        "chain_sync",
        "100-node chain, sync nodes, invoke",
        (Metric("us_per_step", "µs per node step"),),
        quick={**_CHAIN, "inner": 2, "warmup": 2, "repeats": 5},
        full={**_CHAIN, "inner": 5, "warmup": 5, "repeats": 5},
    ),
    Workload(
        "fanout",
        "fanout",
        "1,000-way Send fan-out + join, ainvoke",
        (Metric("us_per_task", "µs per task", Target(LG, 0.125)),),
        quick={"width": 1000, "warmup": 1, "repeats": 3},
        full={"width": 1000, "warmup": 3, "repeats": 4},
    ),
    *_agent_workloads(),
    Workload(
        "import",
        "import",
        "from <pkg>.graph import StateGraph, fresh interpreter",
        (Metric("import_ms", "ms", Target(LG, 0.5)),),
        quick={"repeats": 3},
        full={"repeats": 3},
    ),
    Workload(
        "stream_events",
        "stream_events",
        "astream_events(v2), agent, 2×50 tokens",
        (
            Metric("ms_per_run", "ms per run", Target(LG, 1 / 3)),
            Metric("items_per_run", "events per run"),
        ),
        quick={**_STREAM, "warmup": 3, "repeats": 3, "inner": 10},
        full={**_STREAM, "warmup": 10, "repeats": 3, "inner": 30},
    ),
    Workload(
        "stream_messages",
        "stream_messages",
        'astream(stream_mode="messages"), agent, 2×50 tokens',
        (
            Metric("ms_per_run", "ms per run", Target(LG, 1 / 3)),
            Metric("items_per_run", "chunks per run"),
        ),
        quick={**_STREAM, "warmup": 3, "repeats": 3, "inner": 10},
        full={**_STREAM, "warmup": 10, "repeats": 3, "inner": 30},
    ),
]


@dataclass
class Outcome:
    """What one worker reported (or why it did not)."""

    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    skipped: bool = False
    seconds: float = 0.0


def combine(rounds: list[Outcome]) -> Outcome:
    """One outcome from several rounds: the first failure, else per-key medians."""
    seconds = sum(o.seconds for o in rounds)
    for o in rounds:
        if o.error:
            return Outcome(
                metrics=o.metrics, error=o.error, skipped=o.skipped, seconds=seconds
            )
    keys = [k for k, v in rounds[0].metrics.items() if isinstance(v, (int, float))]
    merged: dict[str, Any] = {
        k: statistics.median(o.metrics[k] for o in rounds) for k in keys
    }
    merged["rounds"] = [o.metrics for o in rounds]
    return Outcome(metrics=merged, seconds=seconds)


def run_worker(
    w: Workload, impl: str, params: dict[str, Any], timeout: float
) -> Outcome:
    cmd = [sys.executable, "-m", "bench._worker", w.kind, impl, json.dumps(params)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
        ),
    }
    t0 = time.perf_counter()
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
        return Outcome(
            error=f"timed out after {timeout:.0f} s", seconds=time.perf_counter() - t0
        )
    seconds = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARK)]
    if not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return Outcome(
            error=f"worker exited {proc.returncode}: {tail}", seconds=seconds
        )
    data = json.loads(lines[-1][len(RESULT_MARK) :])
    if "error" in data:
        return Outcome(
            error=data["error"],
            skipped=bool(data.get("skipped")),
            seconds=seconds,
            metrics={"traceback": data.get("traceback", "")},
        )
    return Outcome(metrics=data, seconds=seconds)


# -- presentation -----------------------------------------------------------------------


def _fmt(v: float | None) -> str:
    if v is None:
        return "—"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def _ratio(results: dict[str, Outcome], key: str, base: str) -> float | None:
    """asyncgraph's ``key`` over ``base``'s: the median of the per-round ratios when
    both sides ran the same rounds (each round's two workers ran one after the other,
    so a change in machine load between rounds cancels in the ratio), else the ratio
    of the medians."""
    a, b = results.get(AG), results.get(base)
    if not a or not b or a.error or b.error:
        return None
    ra, rb = a.metrics.get("rounds"), b.metrics.get("rounds")
    if ra and rb and len(ra) == len(rb) > 1:
        pairs = [(x.get(key), y.get(key)) for x, y in zip(ra, rb, strict=True)]
        if all(x is not None and y for x, y in pairs):
            return statistics.median(x / y for x, y in pairs)
    va, vb = a.metrics.get(key), b.metrics.get(key)
    if va is None or not vb:
        return None
    return va / vb


def _show_round_ratios(w: Workload, res: dict[str, Outcome]) -> None:
    """Print a judged metric's per-round ratios and both summaries (the table shows
    the median of the per-round ratios), so a verdict near the line can be read."""
    for m in w.metrics:
        if m.target is None:
            continue
        a, b = res.get(AG), res.get(m.target.base)
        if not a or not b or a.error or b.error:
            continue
        ra, rb = a.metrics.get("rounds") or [], b.metrics.get("rounds") or []
        if len(ra) != len(rb) or len(ra) < 2:
            continue
        per = [x.get(m.key) / y[m.key] for x, y in zip(ra, rb, strict=True)
               if x.get(m.key) is not None and y.get(m.key)]
        of_medians = a.metrics[m.key] / b.metrics[m.key] if b.metrics.get(m.key) else float("nan")
        print(f"  {w.name:22} {m.key} ag/{m.target.base} per round: "
              f"{', '.join(f'{r:.2f}' for r in per)}; median {statistics.median(per):.2f}, "
              f"ratio of medians {of_medians:.2f}", flush=True)


def _cell(o: Outcome | None, key: str) -> str:
    if o is None:
        return "—"
    if o.error:
        return "skipped" if o.skipped else "error"
    return _fmt(o.metrics.get(key))


def build_rows(
    all_results: list[tuple[Workload, dict[str, Outcome]]],
) -> list[list[str]]:
    rows = []
    for w, res in all_results:
        for m in w.metrics:
            r_lg, r_floor = _ratio(res, m.key, LG), _ratio(res, m.key, FLOOR)
            met = "—"
            if m.target:
                r = r_lg if m.target.base == LG else r_floor
                met = (
                    "n/a" if r is None else ("yes" if r <= m.target.max_ratio else "no")
                )
            rows.append(
                [
                    w.title,
                    m.label,
                    _cell(res.get(LG), m.key),
                    _cell(res.get(AG), m.key),
                    _cell(res.get(FLOOR), m.key) if FLOOR in w.impls else "—",
                    "—" if r_lg is None else f"{r_lg:.2f}×",
                    "—" if r_floor is None else f"{r_floor:.2f}×",
                    m.target.describe() if m.target else "—",
                    met,
                ]
            )
    return rows


HEADER = [
    "workload",
    "metric",
    "LangGraph",
    "asyncgraph",
    "floor",
    "ag/LG",
    "ag/floor",
    "target",
    "met",
]


def markdown_table(rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join(["---", "---"] + ["---:"] * 5 + ["---", "---"]) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(HEADER, *rows)]

    def fmt(r: list[str]) -> str:
        # Text columns left-aligned, numbers right-aligned.
        cells = zip(r, widths, strict=True)
        return "  ".join(
            c.ljust(wd) if i < 2 else c.rjust(wd) for i, (c, wd) in enumerate(cells)
        )

    return "\n".join([fmt(HEADER), fmt(["-" * wd for wd in widths]), *map(fmt, rows)])


def problems(all_results: list[tuple[Workload, dict[str, Outcome]]]) -> list[str]:
    out = []
    for w, res in all_results:
        for impl, o in res.items():
            if o.error:
                kind = "skipped" if o.skipped else "error"
                out.append(f"{w.name} / {IMPL_LABEL[impl]} ({kind}): {o.error}")
    return out


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "asyncgraph"],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return head + (" (asyncgraph/ has uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, str]:
    usable = (
        len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count()
    )
    return {
        "cpu": _cpu_model(),
        "nproc": f"{usable} usable ({os.cpu_count()} online)",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
        "langgraph": _version("langgraph"),
        "langchain-core": _version("langchain-core"),
        "asyncgraph commit": _git_commit(),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def write_docs(
    rows: list[list[str]],
    info: dict[str, str],
    command: str,
    mode: str,
    notes: list[str],
) -> None:
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if notes:
        note_text = (
            "Cells read `error` when an implementation failed the workload and "
            "`skipped` when\nit does not provide the needed module yet. Reasons:\n\n"
            + "\n".join(f"- {n}" for n in notes)
        )
    else:
        note_text = "Every workload ran to completion on every implementation."
    # Hand-written sections below the marker (soak, streaming floors) survive a rewrite.
    kept = ""
    if DOCS.exists():
        old = DOCS.read_text()
        at = old.find(KEEP_MARKER)
        if at >= 0:
            kept = "\n" + old[at:]
    DOCS.write_text(kept and _generated_docs(rows, info, command, mode, note_text, when).rstrip() + "\n" + kept
                    or _generated_docs(rows, info, command, mode, note_text, when))


KEEP_MARKER = "<!-- bench --write-docs keeps everything below this line -->"


def _generated_docs(rows: list[list[str]], info: dict[str, str], command: str, mode: str,
                    note_text: str, when: str) -> str:
    machine = "\n".join(f"- {k}: {v}" for k, v in info.items())
    return (f"""# Performance

asyncgraph is measured against LangGraph by the benchmark in `bench/`: both
libraries run the same graph-building code, each in its own fresh
interpreter, one after the other on the same machine in the same invocation.
Every ratio is asyncgraph divided by the baseline, so **smaller is better**.
The *floor* column is the same agent dialogue driven by plain Python with no
graph at all (langchain-core model and tool only): no orchestration can beat it.

What each workload does, and how to run a subset, is in
[`bench/README.md`](../bench/README.md).

## Latest results ({mode} mode)

Produced by:

```
{command}
```

{machine}
- date: {when}

{markdown_table(rows)}

{note_text}

## Reading the numbers

- Each number is a median twice over: over the timed repeats inside one
  worker process (after warm-up; the agent rows take their mean, see below),
  then over rounds. A round starts one fresh
  worker per implementation, in an order that rotates from round to round,
  so a change in machine load lands on every side alike. A ratio is the median
  of the per-round ratios (the two workers of a round ran one after the other);
  the judged agent rows (N = 1,000 and 5,000) take 5 rounds.
- The agent rows use a fake model that sleeps 50 ms per call, so 0.1 s is
  the ideal wall time for one run; anything above it is orchestration and
  Python overhead for N concurrent runs on one event loop. From N = 1,000 on,
  every side is CPU-bound on that one loop (wall time ≈ N × CPU per run), so
  CPU ms per run is what decides the wall time, and it is also the steadier
  number on a busy machine.
- An agent worker runs one untimed batch of N after its warm-up, then its
  timed batches (5 up to N = 1,000, 3 in quick mode) back to back with no `gc.collect()` between
  them, and reports their mean, so each side pays its share of the full garbage
  collections its runs cause. (Collecting
  before each batch restarts the collector's schedule: the count of full
  collections in a batch is then a step function of what a run allocates, and
  at N = 1,000 the floor sat on a step, one or two ~90 ms collections by the
  timing of the run.) "full GC collections per batch" is that count.
- Peak RSS is `ru_maxrss` of the worker process, which includes the
  interpreter and the imported libraries (about 65–75 MB here), not only the
  runs; "RSS growth" subtracts the peak measured after imports and warm-up,
  leaving what the N concurrent runs themselves held. At N = 1,000 the floor
  alone is above 0.6× LangGraph's peak, so the peak-RSS goal can only be met
  at the larger N.
- Numbers from a shared or busy machine drift by 10–20 % between runs; compare
  ratios from the same invocation rather than absolute values across days.
""")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument(
        "--quick", action="store_true", help="small sizes and few repeats (about 40 s)"
    )
    ap.add_argument(
        "--only", default="", help="comma-separated workload names or name prefixes"
    )
    ap.add_argument(
        "--impl",
        default="",
        help="comma-separated subset of langgraph,asyncgraph,floor",
    )
    ap.add_argument(
        "--write-docs", action="store_true", help=f"rewrite {DOCS.relative_to(ROOT)}"
    )
    ap.add_argument("--json", metavar="PATH", help="also dump the raw results as JSON")
    ap.add_argument("--list", action="store_true", help="list the workloads and exit")
    args = ap.parse_args(argv)

    mode = "quick" if args.quick else "full"
    selected = [w for w in WORKLOADS if (w.quick if args.quick else w.full) is not None]
    if args.list:
        for w in selected:
            print(f"{w.name:24} {w.title}")
        return 0
    if args.only:
        wanted = [s.strip() for s in args.only.split(",") if s.strip()]
        selected = [
            w
            for w in selected
            if any(w.name == s or w.name.startswith(s) for s in wanted)
        ]
        if not selected:
            ap.error(f"--only {args.only!r} matches no workload (see --list)")
    impls = [s.strip() for s in args.impl.split(",") if s.strip()] or [LG, AG, FLOOR]

    info = machine_info()
    command = "python -m bench " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    print(f"asyncgraph benchmark, {mode} mode: {command.strip()}")
    for k, v in info.items():
        print(f"  {k}: {v}")
    print(flush=True)

    started = time.perf_counter()
    all_results: list[tuple[Workload, dict[str, Outcome]]] = []
    for w in selected:
        params = w.quick if args.quick else w.full
        assert params is not None
        timeout = min(w.timeout_s, 240.0) if args.quick else w.timeout_s  # LangGraph: 4 batches of 1,000 agents
        n_rounds = w.rounds[0] if args.quick else w.rounds[1]
        order = [i for i in w.impls if i in impls]
        per_impl: dict[str, list[Outcome]] = {i: [] for i in order}
        for r in range(n_rounds):
            for impl in order[r % len(order) :] + order[: r % len(order)]:
                if any(o.error for o in per_impl[impl]):
                    continue  # a failure will not heal in the next round
                o = run_worker(w, impl, params, timeout)
                per_impl[impl].append(o)
                shown = o.error or ", ".join(
                    f"{m.key}={_fmt(o.metrics.get(m.key))}" for m in w.metrics
                )
                print(
                    f"  {w.name:22} {IMPL_LABEL[impl]:10} round {r + 1}/{n_rounds} "
                    f"{o.seconds:6.1f} s  {shown}",
                    flush=True,
                )
        all_results.append((w, {i: combine(os_) for i, os_ in per_impl.items() if os_}))
        _show_round_ratios(w, all_results[-1][1])

    rows = build_rows(all_results)
    notes = problems(all_results)
    print(f"\nfinished in {time.perf_counter() - started:.0f} s\n")
    print(text_table(rows))
    if notes:
        print("\nproblems:")
        for n in notes:
            print(f"  {n}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "mode": mode,
                    "command": command,
                    "machine": info,
                    "results": {
                        w.name: {i: vars(o) for i, o in r.items()}
                        for w, r in all_results
                    },
                },
                indent=2,
                default=str,
            )
        )
    if args.write_docs:
        write_docs(rows, info, command.strip(), mode, notes)
        print(f"\nwrote {DOCS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
