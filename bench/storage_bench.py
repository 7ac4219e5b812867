"""Storage benchmark: a 500-turn chat stored by asyncgraph's SqliteSaver vs LangGraph's.

The checkpoint stream is recorded once from LangGraph itself running the tiny graph
START -> bot -> END over ``MessagesState`` (one HumanMessage in, one AIMessage out per
turn, ~200 bytes of text each): three checkpoints per turn (input, after ``__start__``,
after ``bot``) and the task writes, with integer channel versions. The very same stream
is then replayed into both savers, so they store identical data.

Reported: bytes on disk (database + WAL after a checkpoint) vs the raw message text,
mean ``put`` cost over the run and over the last 50 turns, and the time to load the
latest checkpoint of the thread in a fresh saver (cold cache, warm OS page cache).

Run: ``python bench/storage_bench.py [--turns 500]``.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import tempfile
import time
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage

WORDS = (
    "the model agent graph state tool call result answer question user data value step "
    "node edge memory thread checkpoint message token stream async python function run "
    "search weather city report summary plan task error retry time cost fast small"
).split()


def text(rng: random.Random, size: int = 200) -> str:
    out: list[str] = []
    n = 0
    while n < size:
        w = rng.choice(WORDS)
        out.append(w)
        n += len(w) + 1
    return " ".join(out)[:size]


def record_stream(turns: int) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """Run the graph on LangGraph and capture every put / put_writes, in order."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import END, START, MessagesState, StateGraph

    stream: list[tuple[Any, ...]] = []

    def clean(config: Any) -> Any:
        conf = config["configurable"]
        keep = {k: conf[k] for k in ("thread_id", "checkpoint_ns", "checkpoint_id") if k in conf}
        return {"configurable": keep}

    class Recorder(InMemorySaver):
        def get_next_version(self, current: Any, channel: Any) -> int:
            return 1 if current is None else int(current) + 1

        def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
            stream.append(("put", clean(config), checkpoint, dict(metadata), dict(new_versions)))
            return super().put(config, checkpoint, metadata, new_versions)

        def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
            stream.append(("writes", clean(config), list(writes), task_id, task_path))
            return super().put_writes(config, writes, task_id, task_path)

    rng = random.Random(7)
    replies = iter([text(rng) for _ in range(turns)])

    def bot(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(next(replies))]}

    graph = (
        StateGraph(MessagesState).add_node("bot", bot).add_edge(START, "bot")
        .add_edge("bot", END).compile(checkpointer=Recorder())
    )
    config = {"configurable": {"thread_id": "9b2c4e1a-5d7f-4c3b-8a61-2f0e9d8c7b6a"}}
    for _ in range(turns):
        graph.invoke({"messages": [HumanMessage(text(rng))]}, config)
    messages = graph.get_state(config).values["messages"]
    return stream, messages


def replay(saver: Any, stream: list[tuple[Any, ...]], with_writes: bool) -> tuple[list[float], list[float]]:
    """Feed the stream to a saver; return the put and put_writes durations."""
    put_times: list[float] = []
    write_times: list[float] = []
    for entry in stream:
        if entry[0] == "put":
            _, config, checkpoint, metadata, new_versions = entry
            t0 = time.perf_counter()
            saver.put(config, checkpoint, metadata, new_versions)
            put_times.append(time.perf_counter() - t0)
        elif with_writes:
            _, config, writes, task_id, task_path = entry
            t0 = time.perf_counter()
            saver.put_writes(config, writes, task_id, task_path)
            write_times.append(time.perf_counter() - t0)
    return put_times, write_times


def disk_bytes(path: str, conn: sqlite3.Connection) -> int:
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def open_ours(path: str, synchronous: str) -> Any:
    from asyncgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    return SqliteSaver(conn, synchronous=synchronous), conn  # type: ignore[arg-type]


def open_theirs(path: str, synchronous: str) -> Any:
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(path, check_same_thread=False)
    saver = SqliteSaver(conn)
    saver.setup()
    conn.execute(f"PRAGMA synchronous={synchronous}")
    return saver, conn


def load_time(opener: Any, path: str, thread_id: str, repeat: int = 15) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        saver, conn = opener(path, "NORMAL")
        saver.get_tuple({"configurable": {"thread_id": "warmup"}})  # setup outside the timing
        t0 = time.perf_counter()
        result = saver.get_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}})
        times.append(time.perf_counter() - t0)
        conn.close()
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=500)
    args = parser.parse_args()

    print(f"recording {args.turns} turns from LangGraph ...")
    stream, messages = record_stream(args.turns)
    puts = sum(1 for e in stream if e[0] == "put")
    raw = sum(len(m.content.encode()) for m in messages)
    thread_id = stream[0][1]["configurable"]["thread_id"]
    print(f"{len(messages)} messages, {puts} checkpoints, {len(stream) - puts} put_writes calls")
    print(f"raw message text: {raw:,} bytes\n")

    rows = []
    for with_writes in (False, True):
        for sync in ("NORMAL", "FULL"):
            sizes, means, tails, loads = {}, {}, {}, {}
            for name, opener in (("asyncgraph", open_ours), ("langgraph", open_theirs)):
                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, "c.db")
                    saver, conn = opener(path, sync)
                    put_t, write_t = replay(saver, stream, with_writes)
                    sizes[name] = disk_bytes(path, conn)
                    conn.close()
                    per_turn = [a + b for a, b in zip(put_t[0::3], put_t[1::3])]
                    means[name] = statistics.mean(put_t + write_t)
                    tails[name] = statistics.mean(put_t[-150:])
                    if sync == "NORMAL":
                        loads[name], tup = load_time(opener, path, thread_id)
                        got = tup.checkpoint["channel_values"]["messages"]
                        assert got == messages, f"{name} did not read back the conversation"
                    del per_turn
            rows.append((with_writes, sync, sizes, means, tails, loads))

    for with_writes, sync, sizes, means, tails, loads in rows:
        what = "checkpoints + writes" if with_writes else "checkpoints only"
        ours, theirs = sizes["asyncgraph"], sizes["langgraph"]
        print(f"== {what}, synchronous={sync} (both savers)")
        print(f"  on disk   asyncgraph {ours:>12,} B = {ours / raw:5.2f}x raw   "
              f"langgraph {theirs:>13,} B = {theirs / raw:7.1f}x raw   -> {theirs / ours:6.1f}x smaller")
        print(f"  op cost   asyncgraph {means['asyncgraph'] * 1e6:8.1f} us/op   "
              f"langgraph {means['langgraph'] * 1e6:9.1f} us/op   -> {means['langgraph'] / means['asyncgraph']:6.1f}x less")
        print(f"  put cost, last 50 turns: asyncgraph {tails['asyncgraph'] * 1e6:8.1f} us   "
              f"langgraph {tails['langgraph'] * 1e6:9.1f} us   -> {tails['langgraph'] / tails['asyncgraph']:6.1f}x less")
        if loads:
            print(f"  load latest (turn {args.turns}): asyncgraph {loads['asyncgraph'] * 1e3:6.2f} ms   "
                  f"langgraph {loads['langgraph'] * 1e3:6.2f} ms   -> {loads['langgraph'] / loads['asyncgraph']:5.2f}x faster")
        print()


if __name__ == "__main__":
    main()
