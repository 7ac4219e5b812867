"""Rolling a run's checkpoints out of its thread (``rollback_checkpoints``), on the memory
saver: the thread keeps every other checkpoint, a run that wrote none costs no write, and a
rollback stopped half-way (its worker fenced out after it deleted the thread) is finished
by the next one from its scratch copy."""

from __future__ import annotations

import operator
from typing import Annotated, Any

from typing_extensions import TypedDict

from asyncgraph.checkpoint.memory import InMemorySaver
from asyncgraph.graph import START, StateGraph
from asyncgraph.server._state import copy_checkpoints, rollback_checkpoints


class _S(TypedDict):
    items: Annotated[list[str], operator.add]


def _graph(saver: Any) -> Any:
    g = StateGraph(_S)
    g.add_node("add", lambda s: {"items": ["x"]})
    g.add_edge(START, "add")
    return g.compile(checkpointer=saver)


def _config(run_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": "t"}, "metadata": {"run_id": run_id}}


async def _ids(saver: Any, thread_id: str) -> list[tuple[str, str]]:
    return [(t.checkpoint["id"], t.metadata.get("run_id")) async for t in saver.alist({"configurable": {"thread_id": thread_id}})]


async def test_rollback_keeps_the_other_runs_checkpoints_and_writes_nothing_without_the_run() -> None:
    saver = InMemorySaver()
    graph = _graph(saver)
    await graph.ainvoke({"items": ["a"]}, _config("earlier"))
    before = await _ids(saver, "t")
    assert not await rollback_checkpoints(saver, "t", "never-ran")
    assert await _ids(saver, "t") == before
    await graph.ainvoke({"items": ["b"]}, _config("doomed"))
    assert await rollback_checkpoints(saver, "t", "doomed")
    assert await _ids(saver, "t") == before
    assert await _ids(saver, "__rollback__doomed") == []
    assert (await graph.aget_state({"configurable": {"thread_id": "t"}})).values == {"items": ["a", "x"]}


async def test_a_rollback_stopped_after_deleting_the_thread_is_finished_by_the_next() -> None:
    saver = InMemorySaver()
    graph = _graph(saver)
    await graph.ainvoke({"items": ["a"]}, _config("earlier"))
    before = await _ids(saver, "t")
    await graph.ainvoke({"items": ["b"]}, _config("doomed"))
    # The first rollback copied the thread's other checkpoints aside, deleted the thread,
    # and stopped before copying them back.
    await copy_checkpoints(saver, "t", "__rollback__doomed", skip_run_id="doomed")
    await saver.adelete_thread("t")
    assert await _ids(saver, "t") == []
    assert await rollback_checkpoints(saver, "t", "doomed")
    assert await _ids(saver, "t") == before
    assert await _ids(saver, "__rollback__doomed") == []
    assert (await graph.aget_state({"configurable": {"thread_id": "t"}})).values == {"items": ["a", "x"]}
