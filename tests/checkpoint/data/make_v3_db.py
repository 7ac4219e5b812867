"""Writes ``v3.db`` (checkpoint schema version 3) and ``v3_expected.json``.

Run with asyncgraph at commit a80e067 (the last one writing schema version 3, where a
pending write's channel and task path are always text) on the path:
``PYTHONPATH=<checkout> python tests/checkpoint/data/make_v3_db.py``. The threads hold
what version 4 stores differently: writes saved with their step's checkpoint (node task
paths, references to value rows), writes of parallel tasks saved on their own, and
writes with other task paths and special channels. The expected file holds what that
version read back (``list()`` of every thread, as plain tuples; see ``expected_json``).
"""

from __future__ import annotations

import operator
import os
import sqlite3
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, HumanMessage

from asyncgraph.checkpoint.sqlite import SqliteSaver
from asyncgraph.graph import END, START, StateGraph
from asyncgraph.graph.message import add_messages
from expected_json import dump_expected  # beside this script

HERE = os.path.dirname(os.path.abspath(__file__))
THREADS = ("chat", "fan")


class Chat(TypedDict):
    messages: Annotated[list[Any], add_messages]


class Fan(TypedDict):
    items: Annotated[list[str], operator.add]


def main() -> None:
    path = os.path.join(HERE, "v3.db")
    for p in (path, path + "-wal", path + "-shm"):
        if os.path.exists(p):
            os.remove(p)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    saver = SqliteSaver(conn)

    chat = StateGraph(Chat)
    chat.add_node("bot", lambda s: {"messages": [AIMessage(f"answer {len(s['messages'])} " * 8, id=f"a{len(s['messages'])}")]})
    chat.add_edge(START, "bot")
    chat.add_edge("bot", END)
    g = chat.compile(checkpointer=saver)
    cfg: Any = {"configurable": {"thread_id": "chat"}}
    for i in range(3):
        g.invoke({"messages": [HumanMessage(f"question {i} " * 8, id=f"h{i}")]}, cfg)

    fan = StateGraph(Fan)
    for name in ("left", "right"):
        fan.add_node(name, lambda s, n=name: {"items": [n]})
        fan.add_edge(START, name)
        fan.add_edge(name, "join")
    fan.add_node("join", lambda s: {"items": ["joined"]})
    fan.add_edge("join", END)
    f = fan.compile(checkpointer=saver)
    fcfg: Any = {"configurable": {"thread_id": "fan"}}
    f.invoke({"items": ["start"]}, fcfg)
    latest = saver.get_tuple(fcfg)
    assert latest is not None
    saver.put_writes(latest.config, [("items", ["extra"]), ("__error__", "boom")], "task-x", "custom/path")
    saver.put_writes(latest.config, [("items", ["pull"])], "task-y", "('__pregel_pull', 'left')")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    expected = {t: [tuple(tup) for tup in saver.list({"configurable": {"thread_id": t}})] for t in THREADS}
    conn.close()
    with open(os.path.join(HERE, "v3_expected.json"), "w", encoding="utf-8") as out:
        dump_expected(expected, out)


if __name__ == "__main__":
    main()
