"""The engine's per-step entry into InMemorySaver (``step_entry``): it stores exactly what
``put_step`` / ``put`` store, and it is left alone by subclasses that watch those."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any, TypedDict

import ormsgpack

from asyncgraph.checkpoint.memory import InMemorySaver, packed_metadata
from asyncgraph.checkpoint.serde import MsgpackSerde
from asyncgraph.graph import END, START, StateGraph


class State(TypedDict):
    log: Annotated[list, operator.add]
    n: int
    flag: bool
    text: str


def _graph(saver: Any) -> Any:
    async def a(state: State) -> dict[str, Any]:
        return {"log": ["a"], "n": 300, "flag": True, "text": "x"}  # (not a small int)

    async def b(state: State) -> dict[str, Any]:
        return {"log": [{"b": 1}], "n": 7}

    builder = StateGraph(State)
    builder.add_node("a", a)
    builder.add_node("b", b)
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", END)
    return builder.compile(checkpointer=saver)


class Watching(InMemorySaver):
    """Overrides put_step (calling it through): the engine must not use the entry."""

    def __init__(self) -> None:
        super().__init__()
        self.steps = 0

    def put_step(self, *args: Any, **kwargs: Any) -> Any:
        self.steps += 1
        return super().put_step(*args, **kwargs)


def _decoded(saver: InMemorySaver, thread: str) -> list[Any]:
    """Every stored record, blob and write of ``thread``, decoded, with the ids and
    timestamps (which differ run to run) left out."""
    serde = saver.serde
    out = []
    for rec in saver.storage[thread][""].values():
        skeleton = serde.loads_typed(rec[0])
        del skeleton["id"], skeleton["ts"]
        out.append((list(skeleton.items()), serde.loads_typed(rec[1]), rec[2] is None))
    out.append(sorted((k[2:], v) for k, v in saver.blobs.items() if k[0] == thread))
    writes = [
        sorted((row[1], row[2], row[3]) for row in rows.values())
        for key, rows in saver.writes.items() if key[0] == thread
    ]
    out.append(writes)
    return out


def test_the_step_entry_stores_what_put_step_stores() -> None:
    plain, watching = InMemorySaver(), Watching()
    assert plain.step_entry() is not None and watching.step_entry() is None
    for saver in (plain, watching):
        graph = _graph(saver)
        for _ in range(2):  # (a second run continues the thread)
            out = asyncio.run(graph.ainvoke({"log": ["in"]}, {"configurable": {"thread_id": "t"}}))
        assert out == {"log": ["in", "a", {"b": 1}, "in", "a", {"b": 1}], "n": 7, "flag": True, "text": "x"}
    assert watching.steps > 0  # it saw the steps through put_step
    assert _decoded(plain, "t") == _decoded(watching, "t")
    # The held writes are stored as put_step stores them, raw scalars included.
    rows = [row for rows in plain.writes.values() for row in rows.values()]
    assert ("n", ("raw", 300)) in [(r[1], r[2]) for r in rows]
    assert ("flag", ("raw", True)) in [(r[1], r[2]) for r in rows]


def test_the_entry_is_not_used_with_another_serializer() -> None:
    class Other(MsgpackSerde):
        pass

    saver = InMemorySaver(serde=Other())
    assert saver.step_entry() is None
    graph = _graph(saver)
    out = asyncio.run(graph.ainvoke({"log": []}, {"configurable": {"thread_id": "t"}}))
    assert out["n"] == 7
    assert saver.get_tuple({"configurable": {"thread_id": "t"}}).metadata["step"] == 2


def test_packed_metadata_is_the_plain_metadata_packed() -> None:
    for source, step in (("loop", 3), ("input", -1), ("loop", 100000)):
        t = packed_metadata(source, step)
        assert t[0] == "msgpack"
        plain = {"source": source, "step": step, "parents": {}}
        assert ormsgpack.unpackb(t[1]) == plain
        assert list(MsgpackSerde().loads_typed(t)) == ["source", "step", "parents"]


def test_metadata_with_parents_or_config_values_is_stored_as_before() -> None:
    saver = InMemorySaver()
    graph = _graph(saver)
    config = {"configurable": {"thread_id": "t", "user": "u1"}, "metadata": {"run": "r"}}
    asyncio.run(graph.ainvoke({"log": []}, config))
    metas = [t.metadata for t in saver.list({"configurable": {"thread_id": "t"}})]
    assert all(m["user"] == "u1" and m["run"] == "r" for m in metas)
    assert [m["step"] for m in metas] == [2, 1, 0, -1]
