"""PostgreSQL throughput: 200 concurrent threads x 10 steps of puts, asyncgraph vs LangGraph.

Each step puts a checkpoint (a growing message list, a counter) and the step's task
writes, as the engine does. Both savers run in the same process against the same
server, each in a fresh database; LangGraph's AsyncPostgresSaver is used as its docs
show (``from_conn_string``: one connection), and also over a pool of the same size as
ours, for fairness.

Client CPU per step is reported too: on a small shared machine (client and server on
the same cores) wall-clock throughput is bounded by CPU, not by locking.

Run: ``python bench/storage_pg_bench.py [--dsn postgresql://root@127.0.0.1:5432/postgres]``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage

THREADS, STEPS, POOL = 200, 10, 20


def make_ckpt(kind: str, values: dict[str, Any], versions: dict[str, Any]) -> dict[str, Any]:
    if kind == "asyncgraph":
        from asyncgraph.checkpoint.base import create_checkpoint

        return dict(create_checkpoint(values, versions, {}, sorted(versions)))
    from langgraph.checkpoint.base import create_checkpoint as lg_create
    from langgraph.checkpoint.base import empty_checkpoint

    base = empty_checkpoint()
    base["channel_values"], base["channel_versions"] = values, versions
    return dict(lg_create(base, None, 0))


async def drive(saver: Any, kind: str) -> tuple[float, float]:
    async def thread(n: int) -> None:
        config: Any = {"configurable": {"thread_id": f"bench-{n}", "checkpoint_ns": ""}}
        msgs: list[Any] = []
        for step in range(STEPS):
            msgs = msgs + [HumanMessage(f"q{step} " * 40), AIMessage(f"a{step} " * 40)]
            version = saver.get_next_version(step or None, None) if kind == "langgraph" else step + 1
            versions = {"messages": version, "step": version}
            ckpt = make_ckpt(kind, {"messages": msgs, "step": step}, versions)
            config = await saver.aput(config, ckpt, {"source": "loop", "step": step}, versions)
            await saver.aput_writes(config, [("messages", msgs[-2:])], str(uuid.uuid4()))

    started, cpu = time.perf_counter(), time.process_time()
    async with asyncio.TaskGroup() as tg:
        for n in range(THREADS):
            tg.create_task(thread(n))
    return time.perf_counter() - started, time.process_time() - cpu


@asynccontextmanager
async def fresh_db(admin_dsn: str) -> Any:
    import psycopg

    name = f"asyncgraph_bench_{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(admin_dsn, autocommit=True) as admin:
        await admin.execute(f"CREATE DATABASE {name}")
        try:
            yield admin_dsn.rsplit("/", 1)[0] + "/" + name
        finally:
            await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", default="postgresql://root@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    total = THREADS * STEPS
    results = {}

    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    from asyncgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver as LGSaver

    async with fresh_db(args.dsn) as dsn:
        async with AsyncPostgresSaver.from_conn_string(dsn, pool_size=POOL) as saver:
            await saver.setup()
            results[f"asyncgraph (pool of {POOL})"] = await drive(saver, "asyncgraph")
    async with fresh_db(args.dsn) as dsn:
        async with LGSaver.from_conn_string(dsn) as saver:
            await saver.setup()
            results["langgraph from_conn_string (1 connection)"] = await drive(saver, "langgraph")
    async with fresh_db(args.dsn) as dsn:
        kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
        async with AsyncConnectionPool(dsn, max_size=POOL, kwargs=kwargs, open=False) as pool:
            saver = LGSaver(pool)
            await saver.setup()
            results[f"langgraph (pool of {POOL})"] = await drive(saver, "langgraph")

    ours, our_cpu = results[f"asyncgraph (pool of {POOL})"]
    print(f"{THREADS} threads x {STEPS} steps = {total} checkpoints (+ {total} put_writes)")
    for name, (seconds, cpu) in results.items():
        print(f"  {name:45s} {total / seconds:8.0f} checkpoints/s ({seconds:5.2f} s; "
              f"asyncgraph {seconds / ours:4.1f}x faster)   client CPU "
              f"{cpu / total * 1e6:6.0f} us/step ({cpu / our_cpu:4.1f}x ours)")


if __name__ == "__main__":
    asyncio.run(main())
