"""LangChain's ``create_agent``: N concurrent runs on LangGraph, then on asyncgraph.

Usage (needs LangChain 1.x in the interpreter; ``bash scripts/ecosystem.sh`` builds a venv
that has it, and ``pip install 'asyncgraph[ecosystem]'`` adds it to yours)::

    python -m bench.create_agent_bench                       # N = 1000, 3 rounds
    python -m bench.create_agent_bench --n 200 --rounds 1    # quick
    python -m bench.create_agent_bench --floor               # also the no-engine floors
    python -m bench.create_agent_bench --floor --no-saver    # the agent without a checkpointer
    python -m bench.create_agent_bench --both                # with, then without (two tables)
    /tmp/asyncgraph-ecosystem/venv/bin/python -m bench.create_agent_bench

The agent is the one a LangChain user writes: ``create_agent(model, tools=[search])``, a
model that calls the tool once and then answers (asyncgraph.testing's scripted model, 50 ms
per call, as in ``python -m bench``), every run on its own ``thread_id`` with an
``InMemorySaver``. The same code runs on both: the asyncgraph worker calls
``asyncgraph.install_as_langgraph()`` before importing LangChain, so LangChain's own
``langgraph`` imports resolve to asyncgraph. Each (library, round) runs in a fresh
interpreter, rounds alternate the order. Reported: runs per second (N / wall time) and
process CPU ms per run; the goal (issue #14) is asyncgraph >= 3x LangGraph's throughput.
``--floor`` also runs the agent's own work with no engine (see ``_floor_run``), and with the
checkpointer the same plus the least a saver must do (each checkpoint's changed values
encoded once, kept in memory): the most any engine can reach is that floor's throughput
over LangGraph's; below 3x the row is blocked by LangChain's own work. The worker runs the code of the
checkout it is started from (its root goes first on ``PYTHONPATH``), not an installed copy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MARK = "@@RESULT@@"
GOAL = 3.0
FLOORS = ("floor", "floor_saver")


def _worker(impl: str, n: int, saver: bool = True) -> dict[str, Any]:
    if impl == "asyncgraph":
        import asyncgraph

        asyncgraph.install_as_langgraph()
    from langchain.agents import create_agent
    from langchain_core.messages import AIMessage, ToolMessage
    from langchain_core.tools import tool
    from langgraph.checkpoint.memory import InMemorySaver

    from asyncgraph.testing import ScriptedChatModel

    @tool
    def search(query: str) -> str:
        """Search the web."""
        return f"results for {query}"

    def respond(messages: list[Any]) -> Any:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            return f"answer: {last.content}"
        return AIMessage(content="", tool_calls=[{"name": "search", "args": {"query": str(last.content)}, "id": "c1"}])

    model = ScriptedChatModel(respond=respond, latency=0.05, record_calls=False)
    agent = create_agent(model, tools=[search], checkpointer=InMemorySaver() if saver else None)
    if impl in FLOORS:
        engine = impl
        run = _floor_run(agent, search, snapshots=impl == "floor_saver")
    else:
        engine = type(agent).__module__.split(".")[0]
        run = agent.ainvoke

    async def one(i: int) -> None:
        out = await run({"messages": [("user", f"q{i}")]}, {"configurable": {"thread_id": f"t{i}"}})
        if out["messages"][-1].content != f"answer: results for q{i}":
            raise AssertionError(f"run {i} ended with {out['messages'][-1].content!r}")

    async def main() -> tuple[float, float]:
        await asyncio.gather(*(one(-1 - i) for i in range(20)))  # warm-up
        c0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - t0, time.process_time() - c0

    wall, cpu = asyncio.run(main())
    return {"engine": engine, "runs_per_s": n / wall, "wall_s": wall, "cpu_ms_per_run": cpu / n * 1e3}


def _floor_run(agent: Any, tool: Any, snapshots: bool = False) -> Any:
    """The agent's own work with no engine: what a run costs if the graph cost nothing.

    LangChain's model-node function (the one ``create_agent`` hands the graph, with its
    middleware chain, model binding and model call), then the tool through its own
    ``ainvoke`` (what any tool node ends up calling), then the model node again, the
    messages merged with ``add_messages`` and the routing done inline. No checkpoint, no
    channels, no tasks, no callbacks or config merging beyond what LangChain and
    langchain-core do themselves: a lower bound for any engine.

    ``snapshots``: plus the least a checkpointer must do, the floor of the row with a
    saver. At each of the points where the agent's run saves a checkpoint (its input,
    then after each of its four steps) the values that changed are encoded once with
    asyncgraph's serializer (the input; the message list, whole, since any message in it
    may have been changed in place since the last checkpoint) and the bytes are kept per
    thread for the life of the process, as an in-memory saver keeps them. No ids, no
    versions, no metadata, no writes, no index: less than any saver can do.
    """
    from langgraph.graph.message import add_messages
    from langgraph.runtime import Runtime

    from asyncgraph.checkpoint.serde import MsgpackSerde

    model_node = agent.builder.nodes["model"].runnable.afunc  # LangChain's amodel_node
    dumps = MsgpackSerde().dumps
    kept: dict[str, list[bytes]] = {}

    async def run(inputs: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
        if snapshots:
            saved = kept[config["configurable"]["thread_id"]] = [dumps(inputs)]
        state: dict[str, Any] = {"messages": add_messages([], inputs["messages"])}
        if snapshots:
            saved.append(dumps(state["messages"]))
        runtime = Runtime(context=None, store=None)
        while True:
            for command in await model_node(state, runtime):
                state["messages"] = add_messages(state["messages"], command.update["messages"])
            if snapshots:
                saved.append(dumps(state["messages"]))
            calls = state["messages"][-1].tool_calls
            if not calls:
                return state
            results = [await tool.ainvoke({**call, "type": "tool_call"}) for call in calls]
            state["messages"] = add_messages(state["messages"], results)
            if snapshots:
                saved.append(dumps(state["messages"]))

    return run


def _spawn(impl: str, n: int, saver: bool) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    for var in ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "ASYNCGRAPH_AS_LANGGRAPH"):
        env.pop(var, None)
    proc = subprocess.run([sys.executable, "-m", "bench.create_agent_bench", "--worker", impl, str(n), *([] if saver else ["--no-saver"])],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])  # type: ignore[no-any-return]
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    raise SystemExit(f"{impl} worker failed ({proc.returncode}): {tail}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="concurrent runs (default 1000)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--floor", action="store_true",
                    help="also run the floor: LangChain's node code called directly, no engine")
    ap.add_argument("--no-saver", action="store_true",
                    help="the agent without its checkpointer (the floor never has one)")
    ap.add_argument("--both", action="store_true",
                    help="the agent with its checkpointer (the headline) and without, interleaved")
    ap.add_argument("--worker", nargs=2, metavar=("IMPL", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        impl, n = args.worker
        print(MARK + json.dumps(_worker(impl, int(n), not args.no_saver)), flush=True)
        return 0
    savers = (True, False) if args.both else (not args.no_saver,)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the start", flush=True)
    results: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    for r in range(args.rounds):
        for saver in savers:
            impls = _impls(args, saver)
            for impl in impls if r % 2 == 0 else impls[::-1]:
                if impl == "floor" and saver and args.both:
                    continue  # the floor never has a checkpointer: run once per round, below
                res = _spawn(impl, args.n, saver and impl not in FLOORS)
                if res["engine"] != impl:
                    raise SystemExit(f"the {impl} worker ran on {res['engine']}")
                results.setdefault((impl, saver), []).append(res)
    if args.both and args.floor:
        results["floor", True] = results["floor", False]
    for saver in savers:
        _report(args, _impls(args, saver), {impl: results[impl, saver] for impl in _impls(args, saver)}, saver)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    return 0


def _impls(args: Any, saver: bool) -> tuple[str, ...]:
    if not args.floor:
        return ("langgraph", "asyncgraph")
    return ("langgraph", "asyncgraph", "floor", "floor_saver") if saver else ("langgraph", "asyncgraph", "floor")


def _report(args: Any, impls: tuple[str, ...], results: dict[str, list[dict[str, Any]]], saver: bool) -> None:
    rate = {impl: statistics.median(x["runs_per_s"] for x in results[impl]) for impl in impls}
    cpu = {impl: statistics.median(x["cpu_ms_per_run"] for x in results[impl]) for impl in impls}
    names = {"langgraph": "LangGraph", "asyncgraph": "asyncgraph", "floor": "floor (no engine)",
             "floor_saver": "floor + snapshots (no engine, least saver)"}
    saver_text = "InMemorySaver" if saver else "no checkpointer"
    print(f"create_agent ({saver_text}), N={args.n} concurrent runs, {args.rounds} round(s), medians")
    print("| library | runs/s | CPU ms per run | runs/s per round | ratio to LangGraph per round |")
    print("|---|---:|---:|---|---|")
    for impl in impls:
        rounds = ", ".join(f"{x['runs_per_s']:,.0f}" for x in results[impl])
        per = ", ".join(f"{x['runs_per_s'] / lg['runs_per_s']:.2f}x" for x, lg in zip(results[impl], results["langgraph"]))
        print(f"| {names[impl]} | {rate[impl]:,.0f} | {cpu[impl]:.2f} | {rounds} | {per} |")
    ratio = rate["asyncgraph"] / rate["langgraph"]
    print(f"throughput ag/LG: {ratio:.2f}x (goal >= {GOAL:.0f}x: {'met' if ratio >= GOAL else 'not met'}); "
          f"CPU per run LG/ag: {cpu['langgraph'] / cpu['asyncgraph']:.2f}x")
    if args.floor:
        # The runs are CPU-bound (1,000 in flight, 50 ms model), so throughput is 1 / CPU
        # per run on an idle machine; on a shared one the CPU ratio is the steadier.
        best = "floor_saver" if saver else "floor"
        reach = cpu["langgraph"] / cpu[best]
        print(f"{names[best]}/LG (the most any engine can reach): {rate[best] / rate['langgraph']:.2f}x throughput, "
              f"{reach:.2f}x in CPU per run; LangGraph/3 = {cpu['langgraph'] / GOAL:.2f} ms CPU per run against "
              f"the floor's {cpu[best]:.2f}: "
              + ("the row is BLOCKED by the floor in this invocation" if reach < GOAL else
                 f"{cpu['langgraph'] / GOAL - cpu[best]:.2f} ms per run left for engine and saver "
                 f"(asyncgraph uses {cpu['asyncgraph'] - cpu[best]:.2f})"))
        print(f"CPU ms per run above the floor: LangGraph {cpu['langgraph'] - cpu[best]:.2f}, "
              f"asyncgraph {cpu['asyncgraph'] - cpu[best]:.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
