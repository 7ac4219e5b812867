"""Writes ``v1.db`` (checkpoint schema version 1) and ``v1_expected.json``.

Run with asyncgraph at commit 759a485 (the last one writing schema version 1) on the
path: ``PYTHONPATH=<checkout> python tests/checkpoint/data/make_v1_db.py``. The expected
file holds what that version read back: ``list()`` of every thread, as plain tuples,
written with ``expected_json`` (a pickle of messages breaks when langchain-core changes).
"""

from __future__ import annotations

import os
import sqlite3

from langchain_core.messages import AIMessage, HumanMessage

from asyncgraph.checkpoint.base import create_checkpoint
from asyncgraph.checkpoint.sqlite import SqliteSaver
from expected_json import dump_expected  # beside this script

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    path = os.path.join(HERE, "v1.db")
    for p in (path, path + "-wal", path + "-shm"):
        if os.path.exists(p):
            os.remove(p)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    saver = SqliteSaver(conn)
    cfg = {"configurable": {"thread_id": "t1", "checkpoint_ns": ""}}
    msgs: list = []
    config = cfg
    for i in range(4):
        msgs = msgs + [HumanMessage(f"question {i} " * 5, id=f"h{i}"), AIMessage(f"answer {i}", id=f"a{i}")]
        values = {"messages": msgs, "branch": None}
        if i % 2:
            values.pop("branch")  # an empty channel at this version
        c = create_checkpoint(values, {"messages": i + 1, "branch": i + 1}, {"bot": {"messages": i}},
                              ["messages"])
        meta = {"source": "loop", "step": i, "parents": {}}
        if i == 2:
            meta["writes"] = {"bot": {"messages": [msgs[-1]]}}  # not plain data
        config = saver.put(config, c, meta, {"messages": i + 1, "branch": i + 1})
        saver.put_writes(config, [("messages", [AIMessage("pending")])], f"task{i}")
    # A fork from the second checkpoint reusing version numbers: a variant.
    second = list(saver.list(cfg))[-2].config
    fork = create_checkpoint({"messages": [HumanMessage("forked", id="f")]}, {"messages": 3}, {},
                             None)
    saver.put(second, fork, {"source": "fork", "step": 2}, {"messages": 3})
    saver.put({"configurable": {"thread_id": "t2", "checkpoint_ns": "sub"}},
              create_checkpoint({"x": 1.5}, {"x": "a.1"}, {}, None), {}, {"x": "a.1"})
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    expected = {
        t: [tuple(tup) for tup in saver.list({"configurable": {"thread_id": t}})]
        for t in ("t1", "t2")
    }
    conn.close()
    with open(os.path.join(HERE, "v1_expected.json"), "w", encoding="utf-8") as f:
        dump_expected(expected, f)


if __name__ == "__main__":
    main()
