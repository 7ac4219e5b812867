"""Where the concurrent agent workload's time goes, beyond the no-graph floor.

Usage::

    python -m bench.gap                  # N = 1,000, 5 rounds, all four drivers
    python -m bench.gap --n 5000 --rounds 3
    python -m bench.gap --json /tmp/gap.json

The agent workload of ``bench/run.py`` (``agent_n1000``) compares a graph runtime with
the *floor*: the same dialogue driven by plain Python. This script splits the gap
between them into parts, by running four drivers of the same dialogue:

* ``floor``: two ``model.ainvoke`` and one ``tool.ainvoke``, nothing else.
* ``minimal``: what any StateGraph engine must do for this graph and no more: call
  the user's node functions (the same ones the graph uses) with a fresh state dict,
  merge their output with ``add_messages``, call the routing function. No versions,
  no tasks, no channels. No engine can do less and still run these node functions.
* ``asyncgraph`` and ``langgraph``: the hand-built graph of ``bench/_graphs.py``.

Each driver runs in its own fresh interpreter, once with the garbage collector on
(as users run) and once with it off, in rounds whose order rotates. Reported: CPU ms
per run (median over rounds) and, with the collector on, how many collections of
each generation one batch of N runs triggered and the time they took. The part of a
runtime's cost above ``minimal`` is orchestration; the difference between its GC-on
and GC-off time is what its objects cost the collector.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._worker import RESULT_MARK

ROOT = Path(__file__).resolve().parent.parent
DRIVERS = ("floor", "minimal", "asyncgraph", "langgraph")


# -- in the worker process ------------------------------------------------------------


def _minimal_driver(model: Any) -> Any:
    """The dialogue as the least any graph engine must do to run the bench's graph."""
    from langchain_core.messages import AIMessage, HumanMessage

    from asyncgraph.graph.message import add_messages
    from bench._fake_model import TOOLS

    tools_by_name = {t.name: t for t in TOOLS}

    # The node and path functions of bench._graphs.agent, line for line.
    async def call_model(state: dict[str, Any]) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    async def call_tools(state: dict[str, Any]) -> dict[str, Any]:
        last = state["messages"][-1]
        return {"messages": [await tools_by_name[tc["name"]].ainvoke(tc) for tc in last.tool_calls]}

    def route(state: dict[str, Any]) -> str | None:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else None

    async def run(i: int) -> Any:
        inp = {"messages": [HumanMessage(f"question {i}")]}
        state = {"messages": add_messages([], inp["messages"])}
        node: str | None = "model"
        while node is not None:
            update = await (call_model if node == "model" else call_tools)(dict(state))
            state["messages"] = add_messages(state["messages"], update["messages"])
            node = route(state) if node == "model" else "model"
        return dict(state)["messages"]

    return run


def _driver(name: str, model: Any) -> Any:
    from langchain_core.messages import HumanMessage

    from bench import _graphs

    if name == "floor":
        return lambda i: _graphs.floor_run(model, f"question {i}")
    if name == "minimal":
        return _minimal_driver(model)
    graph = _graphs.agent(name, model)
    # The graph's own coroutine, no harness coroutine around it (as the floor's).
    return lambda i: graph.ainvoke({"messages": [HumanMessage(f"question {i}")]})


def _messages(out: Any) -> Any:
    return out["messages"] if isinstance(out, dict) else out


def measure(name: str, n: int, repeats: int, collector: bool, freeze: bool = False) -> dict[str, Any]:
    """CPU ms per run over ``repeats`` batches of ``n`` concurrent runs (median), and
    the collections the median batch triggered, per generation. ``freeze``: call
    ``gc.freeze()`` after warm-up, as a server may after start-up."""
    from bench._fake_model import FINAL_ANSWER, FakeAgentModel

    run = _driver(name, FakeAgentModel(latency=0.05))
    started: list[float] = [0.0]
    batch: dict[int, list[float]] = {}

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            slot = batch.setdefault(info["generation"], [0, 0.0])
            slot[0] += 1
            slot[1] += time.perf_counter() - started[0]

    async def main() -> list[tuple[float, dict[int, list[float]]]]:
        for out in map(_messages, await asyncio.gather(*(run(i) for i in range(20)))):
            assert len(out) == 4 and str(out[-1].content).endswith(FINAL_ANSWER), out
        if freeze:
            gc.collect()
            gc.freeze()  # imports and warm-up leave the collector's view
        samples = []
        for _ in range(repeats):
            gc.collect()
            batch.clear()
            gc.callbacks.append(on_gc)
            c0 = time.process_time()
            results = await asyncio.gather(*(run(i) for i in range(n)))
            cpu = (time.process_time() - c0) / n * 1e3
            gc.callbacks.remove(on_gc)
            assert all(len(_messages(r)) == 4 for r in results)
            del results
            samples.append((cpu, {g: list(v) for g, v in batch.items()}))
        return samples

    if not collector:
        gc.disable()
    samples = asyncio.run(main())
    samples.sort(key=lambda s: s[0])
    cpu, collections = samples[len(samples) // 2]
    return {
        "cpu_ms_per_run": cpu,
        "collections": {g: {"count": c, "ms": t * 1e3} for g, (c, t) in sorted(collections.items())},
    }


# -- the driver process ----------------------------------------------------------------


def _spawn(name: str, n: int, repeats: int, collector: bool, freeze: bool) -> dict[str, Any]:
    code = (
        "import json, sys; from bench.gap import measure; "
        f"print({RESULT_MARK!r} + json.dumps(measure({name!r}, {n}, {repeats}, {collector}, {freeze})))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])  # type: ignore[no-any-return]
    raise RuntimeError(f"{name} worker failed:\n{proc.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.gap", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="concurrent runs per batch")
    ap.add_argument("--rounds", type=int, default=5, help="fresh workers per driver and GC mode")
    ap.add_argument("--repeats", type=int, default=3, help="batches per worker")
    ap.add_argument("--only", default=",".join(DRIVERS), help="comma-separated drivers")
    ap.add_argument(
        "--freeze", action="store_true", help="every driver calls gc.freeze() after its warm-up"
    )
    ap.add_argument("--json", help="also write the raw results to this file")
    args = ap.parse_args(argv)
    drivers = [d for d in args.only.split(",") if d]
    unknown = set(drivers) - set(DRIVERS)
    if unknown:
        ap.error(f"unknown driver(s) {sorted(unknown)}; choose from {', '.join(DRIVERS)}")

    raw: dict[str, dict[str, list[dict[str, Any]]]] = {d: {"gc": [], "nogc": []} for d in drivers}
    for r in range(args.rounds):
        order = drivers[r % len(drivers):] + drivers[: r % len(drivers)]
        for d in order:
            for mode in ("gc", "nogc"):
                raw[d][mode].append(_spawn(d, args.n, args.repeats, mode == "gc", args.freeze))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    def med(d: str, mode: str) -> float:
        return statistics.median(x["cpu_ms_per_run"] for x in raw[d][mode])

    base = "floor" if "floor" in drivers else drivers[0]
    frozen = ", gc.freeze() after warm-up" if args.freeze else ""
    print(f"\nN = {args.n} concurrent runs, model latency 50 ms{frozen}; CPU ms per run, median of {args.rounds} rounds")
    print(f"{'driver':<11} {'GC on':>7} {'GC off':>7} {'GC cost':>8} {'on/' + base:>10} {'off/' + base:>10}"
          "   collections per batch (gen: count, ms), median round")
    for d in drivers:
        on, off = med(d, "gc"), med(d, "nogc")
        rounds = sorted(raw[d]["gc"], key=lambda x: x["cpu_ms_per_run"])
        mid = rounds[len(rounds) // 2]["collections"]
        cols = "  ".join(f"{g}: {v['count']}, {v['ms']:.0f}" for g, v in mid.items())
        print(f"{d:<11} {on:7.3f} {off:7.3f} {on - off:8.3f} {on / med(base, 'gc'):9.2f}x {off / med(base, 'nogc'):9.2f}x   {cols}")
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
