"""Reading a long thread back: ``aget_state_history`` over 1,000 checkpoints and
``aget_state`` of a 1,000-message thread, asyncgraph next to LangGraph (issue #13).

Usage::

    python -m bench.storage_history                 # SQLite (a file in /dev/shm)
    python -m bench.storage_history --postgres URL  # PostgreSQL (creates two databases)

Each library builds the same thread with its own async saver: a one-node chat graph run
500 times on one thread (a human and an AI message per turn: 1,000 messages, 1,500
checkpoints), then times, in the same process, a full ``aget_state_history`` walk of the
newest 1,000 checkpoints and one ``aget_state``. Times are the median of 3 repeats.

``--state-only`` (PostgreSQL): builds both threads, then times ``aget_state`` alone,
LangGraph and asyncgraph alternately in one process (``--repeats`` each, medians), next
to the floor: asyncgraph's own statements (the latest checkpoint row; its message
lineage and pending writes) sent by hand through psycopg in one pipelined round trip
after the first, without decoding and with the rows decoded by msgpack.
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


async def _build(lib: str, where: str, turns: int) -> tuple[Any, Any, Any]:
    from langchain_core.messages import HumanMessage

    cm = saver_cm(lib, where, where)
    saver = await cm.__aenter__()
    await saver.setup()
    graph = build(lib, saver)
    config = {"configurable": {"thread_id": "long"}}
    for i in range(turns):
        await graph.ainvoke({"messages": [HumanMessage(f"question {i} " * 20)]}, config)
    return cm, graph, config


async def _lineage(where: str) -> tuple[Any, ...]:
    """The longest lineage of the thread (the messages): channel, version, variant, seq."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(where, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT channel, lin_version, lin_variant, max(seq) FROM asyncgraph_blobs "
            "GROUP BY 1, 2, 3 ORDER BY count(*) DESC LIMIT 1")
        return tuple(await cur.fetchone())  # type: ignore[arg-type]


async def _floor(where: str, lineage: tuple[Any, ...], decode: bool) -> float:
    """asyncgraph's read of the latest state, by hand: same statements, same round trips
    (BEGIN + latest row; then lineage + writes + COMMIT), no graph, no store."""
    import psycopg
    from psycopg.rows import tuple_row

    from asyncgraph.checkpoint import _sql as S
    from asyncgraph.checkpoint._refs import MARK, parse
    from asyncgraph.checkpoint.serde import default_serde

    serde = default_serde()
    q = lambda sql: sql.replace("?", "%s")  # noqa: E731
    async with await psycopg.AsyncConnection.connect(where, autocommit=True) as conn:
        t = time.perf_counter()
        async with conn.pipeline() as p:
            c0 = conn.cursor(binary=True, row_factory=tuple_row)
            await c0.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            c1 = conn.cursor(binary=True, row_factory=tuple_row)
            await c1.execute(q(S.SELECT_LATEST), ("long", ""))
            await p.sync()
            (row,) = await c1.fetchall()
        tid, cid = row[0], row[1]
        async with conn.pipeline() as p:
            c2 = conn.cursor(binary=True, row_factory=tuple_row)
            await c2.execute(q(S.SELECT_VALUE), (tid, *lineage))
            c3 = conn.cursor(binary=True, row_factory=tuple_row)
            await c3.execute(q(S.SELECT_WRITES), (tid, cid))
            c4 = conn.cursor()
            await c4.execute("COMMIT")
            await p.sync()
            rows = await c2.fetchall()
            await c3.fetchall()
        if decode:
            items: list[Any] = []
            by_seq = {r[0]: r[2] for r in rows}
            for r in rows:
                data = r[2]
                if data[:1] == MARK:  # a reference to a row of the same lineage
                    (_, _, _, seq), start, end = parse(bytes(data))
                    data = by_seq[seq][start:end]
                v = serde.loads(bytes(data))
                items.extend(v) if type(v) is list else None
        elapsed = time.perf_counter() - t
    assert len(rows) >= 900, len(rows)
    return elapsed


async def state_only(url: str, turns: int, repeats: int) -> None:
    import psycopg

    names = {lib: f"saver2_hist_{lib[:2]}_{uuid.uuid4().hex[:6]}" for lib in ("langgraph", "asyncgraph")}
    base = url.rsplit("/", 1)[0]
    with psycopg.connect(url, autocommit=True) as admin:
        for name in names.values():
            admin.execute(f"CREATE DATABASE {name}")
    try:
        built = {lib: await _build(lib, f"{base}/{names[lib]}", turns) for lib in names}
        times: dict[str, list[float]] = {k: [] for k in ("langgraph", "asyncgraph", "floor", "floor+decode")}
        for _ in range(2):  # warm-up
            for lib, (_, graph, config) in built.items():
                await graph.aget_state(config)
        ag_where = f"{base}/{names['asyncgraph']}"
        lineage = await _lineage(ag_where)
        for _ in range(repeats):
            for lib, (_, graph, config) in built.items():
                t = time.perf_counter()
                snap = await graph.aget_state(config)
                times[lib].append(time.perf_counter() - t)
                assert len(snap.values["messages"]) == 2 * turns
            times["floor"].append(await _floor(ag_where, lineage, False))
            times["floor+decode"].append(await _floor(ag_where, lineage, True))
        for cm, _, _ in built.values():
            await cm.__aexit__(None, None, None)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            for name in names.values():
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    lg = med["langgraph"]
    print(f"aget_state, {2 * turns} messages, PostgreSQL, median of {repeats} "
          f"(alternating; load {os.getloadavg()[0]:.1f})")
    for k, v in med.items():
        q1, _, q3 = statistics.quantiles([x * 1e3 for x in times[k]], n=4)
        print(f"  {k:14s} {v:8.2f} ms  (IQR {q1:.2f}-{q3:.2f})  /LG {v / lg:5.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--postgres", metavar="URL", help="server URL (default: SQLite)")
    ap.add_argument("--turns", type=int, default=500)
    ap.add_argument("--state-only", action="store_true",
                    help="PostgreSQL: time aget_state alone, alternating, with the floor")
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    if args.state_only:
        asyncio.run(state_only(args.postgres, args.turns, args.repeats))
        return
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
