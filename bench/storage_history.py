"""Reading a long thread back: ``aget_state_history`` over 1,000 checkpoints and
``aget_state`` of a 1,000-message thread, asyncgraph next to LangGraph (issue #13).

Usage::

    python -m bench.storage_history                 # SQLite (a file in /dev/shm)
    python -m bench.storage_history --postgres URL  # PostgreSQL (creates two databases)

Each library builds the same thread with its own async saver: a one-node chat graph run
500 times on one thread (a human and an AI message per turn: 1,000 messages, 1,500
checkpoints), then times, in the same process, a full ``aget_state_history`` walk of the
newest 1,000 checkpoints and one ``aget_state``. Times are the median of 3 repeats.
"""


import argparse
import asyncio
import os
import statistics
import time
import uuid
from typing import Annotated, Any, TypedDict


def build(lib: str, saver: Any) -> Any:
    if lib == "langgraph":
        from langgraph.graph import START, StateGraph
        from langgraph.graph.message import add_messages
    else:
        from asyncgraph.graph import START, StateGraph  # type: ignore[assignment]
        from asyncgraph.graph.message import add_messages  # type: ignore[assignment]
    from langchain_core.messages import AIMessage

    class State(TypedDict):
        messages: Annotated[list[Any], add_messages]

    async def reply(state: State) -> dict[str, Any]:
        return {"messages": [AIMessage("answer " * 20)]}

    b = StateGraph(State)
    b.add_node("reply", reply)
    b.add_edge(START, "reply")
    return b.compile(checkpointer=saver)


def saver_cm(lib: str, where: str, pg: str | None) -> Any:
    if pg is None:
        if lib == "langgraph":
            from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
        else:
            from asyncgraph.checkpoint.sqlite.aio import AsyncSqliteSaver  # type: ignore[assignment]
        return AsyncSqliteSaver.from_conn_string(where)
    if lib == "langgraph":
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    else:
        from asyncgraph.checkpoint.postgres.aio import AsyncPostgresSaver  # type: ignore[assignment]
    return AsyncPostgresSaver.from_conn_string(where)


async def measure(lib: str, where: str, pg: str | None, turns: int) -> dict[str, float]:
    from langchain_core.messages import HumanMessage

    async with saver_cm(lib, where, pg) as saver:
        if pg is not None:
            await saver.setup()
        graph = build(lib, saver)
        config = {"configurable": {"thread_id": "long"}}
        for i in range(turns):
            await graph.ainvoke({"messages": [HumanMessage(f"question {i} " * 20)]}, config)
        hist, state = [], []
        for _ in range(3):
            t = time.perf_counter()
            n = 0
            async for _snap in graph.aget_state_history(config, limit=1000):
                n += 1
            hist.append(time.perf_counter() - t)
            t = time.perf_counter()
            snap = await graph.aget_state(config)
            state.append(time.perf_counter() - t)
        assert n == 1000 and len(snap.values["messages"]) == 2 * turns
        return {"history_ms": statistics.median(hist) * 1e3,
                "state_ms": statistics.median(state) * 1e3}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--postgres", metavar="URL", help="server URL (default: SQLite)")
    ap.add_argument("--turns", type=int, default=500)
    args = ap.parse_args()
    results = {}
    for lib in ("langgraph", "asyncgraph"):
        if args.postgres:
            import psycopg

            name = f"bench_hist_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.postgres, autocommit=True) as admin:
                admin.execute(f"CREATE DATABASE {name}")
            where = args.postgres.rsplit("/", 1)[0] + "/" + name
            try:
                results[lib] = asyncio.run(measure(lib, where, args.postgres, args.turns))
            finally:
                with psycopg.connect(args.postgres, autocommit=True) as admin:
                    admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        else:
            where = f"/dev/shm/bench-hist-{uuid.uuid4().hex}.db"
            try:
                results[lib] = asyncio.run(measure(lib, where, None, args.turns))
            finally:
                for suffix in ("", "-wal", "-shm"):
                    if os.path.exists(where + suffix):
                        os.remove(where + suffix)
    lg, ag = results["langgraph"], results["asyncgraph"]
    print(f"{'':34s} {'LangGraph ms':>12s} {'asyncgraph ms':>13s} {'ag/LG':>6s}")
    for key, title in (("history_ms", "aget_state_history, 1,000 ckpts"),
                       ("state_ms", "aget_state, 1,000 messages")):
        print(f"{title:34s} {lg[key]:12.1f} {ag[key]:13.1f} {ag[key] / lg[key]:6.2f}")


if __name__ == "__main__":
    main()
