"""One measurement in a fresh interpreter: ``python -m bench._worker KIND IMPL PARAMS``.

``bench/run.py`` starts one of these per workload and implementation so that
memory, GC state and import caches never leak from one side into the other.
The worker prints exactly one result line, prefixed with ``RESULT_MARK``,
holding a JSON object: either the metrics or an ``error`` (and ``skipped`` when
the implementation lacks the API the workload needs).

IMPL is ``langgraph``, ``asyncgraph`` or ``floor`` (plain Python, agent
workloads only).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

RESULT_MARK = "@@bench-result@@ "

Params = dict[str, Any]
Metrics = dict[str, Any]


class WrongResult(AssertionError):
    """The graph ran but produced something other than the expected output."""


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise WrongResult(what)


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sample(repeats: int, once: Callable[[], float]) -> list[float]:
    samples = []
    for _ in range(repeats):
        gc.collect()
        samples.append(once())
    return samples


def _summary(samples: list[float], key: str) -> Metrics:
    return {
        key: statistics.median(samples),
        f"{key}_min": min(samples),
        f"{key}_n": len(samples),
    }


# -- 1, 2: a chain of trivial nodes --------------------------------------------------


def chain_async(impl: str, p: Params) -> Metrics:
    from bench._graphs import chain

    length, inner = p["length"], p["inner"]
    graph = chain(impl, length, sync=False)
    config = {"recursion_limit": length + 10}

    async def main() -> list[float]:
        async def once() -> float:
            t0 = time.perf_counter()
            for _ in range(inner):
                out = await graph.ainvoke({"x": 0}, config)
            elapsed = time.perf_counter() - t0
            _check(out == {"x": length}, f"chain returned {out!r}")
            return elapsed / (inner * length) * 1e6

        for _ in range(p["warmup"]):
            await once()
        samples = []
        for _ in range(p["repeats"]):
            gc.collect()
            samples.append(await once())
        return samples

    return _summary(asyncio.run(main()), "us_per_step")


def chain_sync(impl: str, p: Params) -> Metrics:
    from bench._graphs import chain

    length, inner = p["length"], p["inner"]
    graph = chain(impl, length, sync=True)
    config = {"recursion_limit": length + 10}

    def once() -> float:
        t0 = time.perf_counter()
        for _ in range(inner):
            out = graph.invoke({"x": 0}, config)
        elapsed = time.perf_counter() - t0
        _check(out == {"x": length}, f"chain returned {out!r}")
        return elapsed / (inner * length) * 1e6

    for _ in range(p["warmup"]):
        once()
    return _summary(_sample(p["repeats"], once), "us_per_step")


# -- 3: Send fan-out -------------------------------------------------------------------


def fanout(impl: str, p: Params) -> Metrics:
    from bench._graphs import fanout as build

    width = p["width"]
    graph = build(impl, width)

    async def main() -> list[float]:
        async def once() -> float:
            t0 = time.perf_counter()
            out = await graph.ainvoke({"results": []})
            elapsed = time.perf_counter() - t0
            _check(out.get("total") == width, f"join saw {out.get('total')!r} results")
            _check(
                sorted(out["results"]) == list(range(width)), "results list is wrong"
            )
            return elapsed / width * 1e6

        for _ in range(p["warmup"]):
            await once()
        samples = []
        for _ in range(p["repeats"]):
            gc.collect()
            samples.append(await once())
        return samples

    return _summary(asyncio.run(main()), "us_per_task")


# -- 4: many concurrent agent runs -----------------------------------------------------


def _agent_runner(impl: str, variant: str, model: Any) -> Callable[[int], Any]:
    """Return ``run(i)``: the coroutine of one full dialogue, made by the API under test
    itself (``floor_run`` or the graph's ``ainvoke``), with no coroutine of the harness
    around it: every side runs the same number of harness frames (none). It yields the
    message list (the floor) or the graph's output state (see ``_check_dialogue``)."""
    from langchain_core.messages import HumanMessage

    from bench import _graphs

    if impl == "floor":
        return lambda i: _graphs.floor_run(model, f"question {i}")
    graph = _graphs.AGENT_BUILDERS[variant](impl, model)
    return lambda i: graph.ainvoke({"messages": [HumanMessage(f"question {i}")]})


def _check_dialogue(out: Any) -> None:
    from bench._fake_model import FINAL_ANSWER

    messages = out["messages"] if isinstance(out, dict) else out
    _check(len(messages) == 4, f"expected 4 messages, got {len(messages)}")
    _check(str(messages[-1].content).endswith(FINAL_ANSWER), "no final answer")


def agent(impl: str, p: Params) -> Metrics:
    from bench._fake_model import FakeAgentModel

    n = p["n"]
    model = FakeAgentModel(latency=p["latency"])

    async def main() -> Metrics:
        run = _agent_runner(impl, p.get("variant", "agent"), model)
        for m in await asyncio.gather(*(run(i) for i in range(min(n, 20)))):
            _check_dialogue(m)
        baseline_rss = _peak_rss_mb()
        # One batch of N, not timed: the heap, the allocator's arenas and the collector's
        # schedule are then those of a process serving this load. The timed batches
        # follow back to back, with no gc.collect() between them: a collect before each
        # batch would restart the collector's schedule every N runs, and the number of
        # full collections in a batch would then be a step function of what each run
        # allocates (the floor sat on the edge at N = 1,000: one full collection or
        # two, +-15 % of its time, by the timing of the run; see docs/performance.md).
        # Back to back, each side pays its share of the full collections its runs cause:
        # the mean over the batches is reported (a median would drop the batches that
        # drew one collection more, and with it the difference between the sides).
        for m in await asyncio.gather(*(run(i) for i in range(n))):
            _check_dialogue(m)
        walls, cpus, fulls = [], [], [0]

        def count_full(phase: str, info: dict[str, Any]) -> None:
            if phase == "stop" and info["generation"] == 2:
                fulls[-1] += 1

        gc.callbacks.append(count_full)
        for _ in range(p["repeats"]):
            c0, t0 = time.process_time(), time.perf_counter()
            results = await asyncio.gather(*(run(i) for i in range(n)))
            walls.append(time.perf_counter() - t0)
            cpus.append((time.process_time() - c0) / n * 1e3)
            fulls.append(0)
            for m in results:
                _check_dialogue(m)
            del results
        gc.callbacks.remove(count_full)
        return {
            "wall_s": statistics.mean(walls),
            "wall_s_min": min(walls),
            "wall_s_n": len(walls),
            "cpu_ms_per_run": statistics.mean(cpus),
            "full_gc_per_batch": statistics.mean(fulls[:-1]),
            "peak_rss_mb": _peak_rss_mb(),
            "baseline_rss_mb": baseline_rss,
            # What the N concurrent runs added on top of the imports and warm-up.
            "run_rss_mb": _peak_rss_mb() - baseline_rss,
        }

    return asyncio.run(main())


# -- 5: import time --------------------------------------------------------------------

_IMPORT_PROBE = (
    "import time; t = time.perf_counter(); from {module} import StateGraph; "
    "print(repr(time.perf_counter() - t))"
)


def import_time(impl: str, p: Params) -> Metrics:
    module = f"{impl}.graph"
    code = _IMPORT_PROBE.format(module=module)

    def once() -> float:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise ImportError(f"from {module} import StateGraph failed: {last}")
        return float(proc.stdout.strip()) * 1e3

    once()  # compiles the .pyc files, so every timed run sees the same warm cache
    samples = [once() for _ in range(p["repeats"])]
    return _summary(samples, "import_ms")


# -- 6: streaming ----------------------------------------------------------------------


def _stream(impl: str, p: Params, mode: str) -> Metrics:
    from langchain_core.messages import HumanMessage

    from bench._fake_model import FakeAgentModel
    from bench._graphs import agent as build

    tokens = p["tokens"]
    graph = build(impl, FakeAgentModel(latency=0, tokens=tokens))

    async def one_run(i: int) -> int:
        inp = {"messages": [HumanMessage(f"question {i}")]}
        count = token_count = 0
        if mode == "events":
            async for ev in graph.astream_events(inp, version="v2"):
                count += 1
                token_count += ev["event"] == "on_chat_model_stream"
        else:
            async for chunk, _meta in graph.astream(inp, stream_mode="messages"):
                count += 1
                token_count += chunk.type == "AIMessageChunk"
        # Two model calls of ``tokens`` chunks each (langchain-core may add one empty
        # closing chunk per call).
        _check(
            2 * tokens <= token_count <= 2 * tokens + 2,
            f"expected {2 * tokens} streamed token chunks (two calls), got {token_count}",
        )
        return count

    async def main() -> Metrics:
        counts = set()
        for i in range(p["warmup"]):
            counts.add(await one_run(i))

        samples = []
        for _ in range(p["repeats"]):
            gc.collect()
            t0 = time.perf_counter()
            for i in range(p["inner"]):
                counts.add(await one_run(i))
            samples.append((time.perf_counter() - t0) / p["inner"] * 1e3)
        _check(len(counts) == 1, f"item count varies between runs: {sorted(counts)}")
        return {**_summary(samples, "ms_per_run"), "items_per_run": counts.pop()}

    return asyncio.run(main())


def stream_events(impl: str, p: Params) -> Metrics:
    return _stream(impl, p, "events")


def stream_messages(impl: str, p: Params) -> Metrics:
    return _stream(impl, p, "messages")


KINDS: dict[str, Callable[[str, Params], Metrics]] = {
    "chain_async": chain_async,
    "chain_sync": chain_sync,
    "fanout": fanout,
    "agent": agent,
    "import": import_time,
    "stream_events": stream_events,
    "stream_messages": stream_messages,
}


def main(argv: list[str]) -> int:
    kind, impl, params = argv[0], argv[1], json.loads(argv[2])
    try:
        result: Metrics = KINDS[kind](impl, params)
    except ImportError as exc:
        # The implementation does not (yet) provide the module this workload needs.
        result = {"skipped": True, "error": f"{type(exc).__name__}: {exc}"}
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a table row
        tb = traceback.format_exc(limit=-4)
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": tb}
    result["pid_peak_rss_mb"] = _peak_rss_mb()
    sys.stdout.write(RESULT_MARK + json.dumps(result, default=str) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    os.environ.pop("LANGSMITH_TRACING", None)
    os.environ.pop("LANGCHAIN_TRACING_V2", None)
    sys.exit(main(sys.argv[1:]))
