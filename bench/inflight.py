"""Objects the garbage collector tracks per agent run in flight, by type, against the floor.

Usage::

    python -m bench.inflight            # N = 500 runs, each waiting on its first model call
    python -m bench.inflight --n 1000

Each driver (``floor``: the dialogue in plain Python; ``asyncgraph``) runs in its own
fresh interpreter: 20 warm-up runs, then N concurrent runs of ``bench/run.py``'s agent
dialogue, counted 50 ms in, while every run waits on its first model call (latency
200 ms). Printed: tracked objects per run, and the types with at least half an object
per run more than before the runs started. See docs/performance.md ("Where the agent
workload's time goes") for what the count is worth.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def count(impl: str, n: int) -> None:
    from bench._fake_model import FakeAgentModel
    from bench._worker import _agent_runner

    run = _agent_runner(impl, "agent", FakeAgentModel(latency=0.2))

    async def main() -> None:
        await asyncio.gather(*(run(i) for i in range(20)))
        gc.collect()
        gc.disable()
        before = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
        tasks = [asyncio.ensure_future(run(i)) for i in range(n)]
        await asyncio.sleep(0.05)
        gc.collect()
        objs = gc.get_objects()
        after = collections.Counter(type(o).__qualname__ for o in objs)
        print(f"{impl}: {(len(objs) - before.total()) / n:.1f} tracked objects per run in flight")
        for name, k in sorted((after - before).items(), key=lambda kv: -kv[1]):
            if k >= n // 2:
                print(f"  {name:32s} {k / n:5.2f}")
        await asyncio.gather(*tasks)
        gc.enable()

    asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.inflight", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=500, help="concurrent runs")
    ap.add_argument("--impl", default="floor,asyncgraph", help="comma-separated drivers")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        count(args.worker, args.n)
        return 0
    for impl in args.impl.split(","):
        subprocess.run([sys.executable, "-m", "bench.inflight", "--worker", impl, "--n", str(args.n)],
                       cwd=ROOT, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
