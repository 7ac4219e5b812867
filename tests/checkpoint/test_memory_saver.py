"""InMemorySaver beyond the shared contract: LangGraph's constructor and layout, subclasses
that override its methods, PersistentDict files, and isolation of stored values."""

from __future__ import annotations

import asyncio
import operator
import threading
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage

from asyncgraph.checkpoint.base import create_checkpoint
from asyncgraph.checkpoint.memory import InMemorySaver, MemorySaver, PersistentDict
from asyncgraph.checkpoint.serde import default_serde
from asyncgraph.errors import CheckpointError
from asyncgraph.graph import END, START, StateGraph
from asyncgraph.graph.message import add_messages


class State(TypedDict):
    log: Annotated[list, operator.add]
    data: dict


def _graph(saver: Any) -> Any:
    def a(state: State) -> dict[str, Any]:
        return {"log": ["a"], "data": {"items": [1]}}

    def b(state: State) -> dict[str, Any]:
        return {"log": ["b"]}

    builder = StateGraph(State)
    builder.add_node("a", a)
    builder.add_node("b", b)
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", END)
    return builder.compile(checkpointer=saver)


def cfg(thread_id: str = "t1", checkpoint_id: str | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


# -- LangGraph's constructor and layout -------------------------------------------------


def test_langgraph_layout_after_a_run() -> None:
    saver = InMemorySaver(serde=None, factory=defaultdict)
    assert MemorySaver is InMemorySaver
    _graph(saver).invoke({"log": []}, cfg())
    chain = saver.storage["t1"][""]
    assert len(chain) == 4  # input, after START, after a, after b
    latest = saver.get_tuple(cfg())
    assert latest is not None
    record = chain[latest.config["configurable"]["checkpoint_id"]]
    assert len(record) == 3 and record[2] == latest.parent_config["configurable"]["checkpoint_id"]
    assert {key[:3] for key in saver.blobs} >= {("t1", "", "log"), ("t1", "", "data")}
    assert all(len(key) == 4 for key in saver.blobs)
    assert all(len(key) == 3 for key in saver.writes)
    with saver as entered:  # a context manager, as LangGraph's (its stack closes on exit)
        assert entered is saver


def test_keep_last_must_be_positive() -> None:
    with pytest.raises(ValueError, match="keep_last"):
        InMemorySaver(keep_last=0)


# -- subclasses, as LangGraph's own tests write them ---------------------------------------


class CheckingSaver(InMemorySaver):
    """Keeps its own serialized copy of every put and checks the parent is unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.copies: dict[str, Any] = {}
        self.put_threads: set[int] = set()

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        self.put_threads.add(threading.get_ident())
        if saved := super().get(config):
            assert self.serde.loads_typed(self.copies[saved["id"]]) == saved
        self.copies[checkpoint["id"]] = self.serde.dumps_typed(checkpoint)
        return super().put(config, checkpoint, metadata, new_versions)


def test_engine_calls_an_overridden_put_and_get_returns_exactly_what_was_put() -> None:
    saver = CheckingSaver()
    out = _graph(saver).invoke({"log": []}, cfg())
    assert out["log"] == ["a", "b"]
    assert len(saver.copies) == 4
    for cid, copy in saver.copies.items():
        assert saver.get(cfg(checkpoint_id=cid)) == saver.serde.loads_typed(copy)


async def test_async_runs_call_the_sync_methods_on_the_loop_thread() -> None:
    saver = CheckingSaver()
    await _graph(saver).ainvoke({"log": []}, cfg())
    assert saver.put_threads == {threading.get_ident()}  # no thread hop per operation


def test_put_step_goes_through_overridden_put_and_put_writes() -> None:
    seen: list[str] = []

    class Spy(InMemorySaver):
        def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
            seen.append("put")
            return super().put(config, checkpoint, metadata, new_versions)

        def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
            seen.append(f"writes {task_id}")
            super().put_writes(config, writes, task_id, task_path)

    saver = Spy()
    parent = saver.put(cfg(), create_checkpoint({"x": 1}, {"x": 1}, {}, ["x"]), {"step": 0}, {"x": 1})
    seen.clear()
    new = saver.put_step(
        parent, create_checkpoint({"x": 2}, {"x": 2}, {}, ["x"]), {"step": 1}, {"x": 2},
        parent_writes=[("t1", "x", 2)], writes=[("t2", "__interrupt__", "ask")],
    )
    assert seen == ["writes t1", "put", "writes t2"]
    assert saver.get_tuple(parent).pending_writes == [("t1", "x", 2)]  # type: ignore[union-attr]
    assert saver.get_tuple(new).pending_writes == [("t2", "__interrupt__", "ask")]  # type: ignore[union-attr]


class NoPendingSaver(InMemorySaver):
    def get_tuple(self, config: Any) -> Any:
        tup = super().get_tuple(config)
        return tup._replace(pending_writes=None) if tup else tup


def test_engine_reads_through_an_overridden_get_tuple() -> None:
    saver = NoPendingSaver()
    graph = _graph(saver)
    graph.invoke({"log": []}, cfg())
    assert graph.get_state(cfg()).values["log"] == ["a", "b"]


# -- stored values are isolated from the caller's objects ----------------------------------


def test_mutating_results_or_read_back_values_never_changes_what_is_stored() -> None:
    saver = InMemorySaver()
    graph = _graph(saver)
    out = graph.invoke({"log": []}, cfg())
    out["data"]["items"].append("changed after the run")
    out["log"].append("changed")
    got = saver.get_tuple(cfg())
    assert got is not None
    got.checkpoint["channel_values"]["data"]["items"].append("changed after reading")
    got.checkpoint["channel_versions"].clear()
    again = saver.get_tuple(cfg())
    assert again is not None
    assert again.checkpoint["channel_values"]["data"] == {"items": [1]}
    assert again.checkpoint["channel_values"]["log"] == ["a", "b"]
    assert again.checkpoint["channel_versions"]
    assert graph.get_state(cfg()).values["data"] == {"items": [1]}


def test_a_message_changed_in_place_between_checkpoints_is_saved_as_it_was_each_time() -> None:
    """Each checkpoint is a snapshot: a message saved in one step (in the list and in
    the write that added it) and changed in place by a later node is stored as it was
    then, and as it is now by the next checkpoint that saves the list."""
    class S(TypedDict):
        messages: Annotated[list, add_messages]

    def a(state: S) -> dict[str, Any]:
        return {"messages": [AIMessage(content="first", id="m1", tool_calls=[
            {"name": "f", "args": {"q": 1}, "id": "c1"}])]}

    def b(state: S) -> dict[str, Any]:
        msg = state["messages"][-1]
        msg.content = "edited"
        msg.tool_calls[0]["args"]["q"] = 2
        return {"messages": [AIMessage(content="second", id="m2")]}

    builder = StateGraph(S)
    builder.add_node("a", a)
    builder.add_node("b", b)
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", END)
    saver = InMemorySaver()
    graph = builder.compile(checkpointer=saver)
    graph.invoke({"messages": []}, cfg())
    after_a, after_b = (
        [m for m in snap.values["messages"]]
        for snap in [*graph.get_state_history(cfg())][1::-1]
    )
    assert [(m.content, m.tool_calls[0]["args"]) for m in after_a] == [("first", {"q": 1})]
    assert [m.content for m in after_b] == ["edited", "second"]
    assert after_b[0].tool_calls[0]["args"] == {"q": 2}
    # The write of a, saved with the checkpoint after a's step, is as a returned it.
    history = [*saver.list(cfg())]
    written = [w for tup in history for w in tup.pending_writes if w[1] == "messages"]
    assert any(v[0].content == "first" and v[0].tool_calls[0]["args"] == {"q": 1} for _, _, v in written)


def test_a_value_without_a_version_round_trips() -> None:
    saver = InMemorySaver()
    c = create_checkpoint({"agg": [], "x": 1}, {"x": 1}, {}, ["x"])
    saver.put(cfg(), c, {"source": "input", "step": -1}, {"x": 1})
    got = saver.get_tuple(cfg())
    assert got is not None and got.checkpoint == c


# -- retention and deletion free memory --------------------------------------------------------


def test_keep_last_also_frees_the_values_only_pruned_checkpoints_used() -> None:
    saver = InMemorySaver(keep_last=2)
    config = cfg()
    for i in range(100):
        c = create_checkpoint({"x": [i] * 3}, {"x": i + 1}, {}, ["x"])
        config = saver.put(config, c, {"source": "loop", "step": i}, {"x": i + 1})
        saver.put_writes(config, [("x", i)], f"task{i}")
    assert len(saver.storage["t1"][""]) == 2
    assert len(saver.blobs) <= 2 + 16  # the kept ones, plus garbage not yet collected
    assert len(saver.writes) == 2
    assert [t.checkpoint["channel_values"]["x"] for t in saver.list(cfg())] == [[99] * 3, [98] * 3]
    assert saver.prune("t1", keep_last=1) == 1
    assert len(saver.blobs) == 1


def test_delete_thread_frees_its_values_and_writes_only() -> None:
    saver = InMemorySaver()
    graph = _graph(saver)
    graph.invoke({"log": []}, cfg("a"))
    graph.invoke({"log": []}, cfg("b"))
    blobs_b = {k for k in saver.blobs if k[0] == "b"}
    saver.delete_thread("a")
    assert {k[0] for k in saver.blobs} == {"b"} and set(saver.blobs) == blobs_b
    assert {k[0] for k in saver.writes} == {"b"}
    assert "a" not in saver.storage
    assert graph.get_state(cfg("b")).values["log"] == ["a", "b"]


# -- serializers ---------------------------------------------------------------------------


class CountingSerde:
    """A serializer with only LangGraph's protocol (dumps_typed / loads_typed)."""

    def __init__(self) -> None:
        self.inner = default_serde()
        self.dumped: list[Any] = []

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        self.dumped.append(obj)
        return "counted", self.inner.dumps(obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        assert data[0] == "counted"
        return self.inner.loads(data[1])


def test_a_custom_serializer_sees_every_value() -> None:
    serde = CountingSerde()
    saver = InMemorySaver(serde=serde)
    out = _graph(saver).invoke({"log": []}, cfg())
    assert out == {"log": ["a", "b"], "data": {"items": [1]}}
    assert {"items": [1]} in serde.dumped
    # Every stored value went through it (no "raw" scalars); "empty" marks a cleared channel.
    assert {tag for tag, _ in saver.blobs.values()} == {"counted", "empty"}
    assert saver.get_tuple(cfg()).checkpoint["channel_values"]["log"] == ["a", "b"]  # type: ignore[union-attr]


# -- PersistentDict ----------------------------------------------------------------------------


def test_persistent_dict_keeps_the_threads_in_a_file_across_savers(tmp_path: Path) -> None:
    path = str(tmp_path / "checkpoints.bin")
    with InMemorySaver(factory=partial(PersistentDict, filename=path)) as first:
        _graph(first).invoke({"log": []}, cfg())
        history = [t.config for t in first.list(cfg())]
    data = Path(path).read_bytes()
    assert data and not data.startswith(b"\x80")  # never a pickle

    second = InMemorySaver(factory=partial(PersistentDict, filename=path))
    assert [t.config for t in second.list(cfg())] == history
    graph = _graph(second)
    assert graph.get_state(cfg()).values == {"log": ["a", "b"], "data": {"items": [1]}}
    graph.invoke({"log": ["again"]}, cfg())  # the thread goes on
    assert graph.get_state(cfg()).values["log"] == ["a", "b", "again", "a", "b"]


async def test_persistent_dict_written_on_async_exit(tmp_path: Path) -> None:
    path = str(tmp_path / "checkpoints.bin")
    async with InMemorySaver(factory=partial(PersistentDict, filename=path)) as saver:
        await _graph(saver).ainvoke({"log": []}, cfg())
    reopened = InMemorySaver(factory=partial(PersistentDict, filename=path))
    got = await reopened.aget_tuple(cfg())
    assert got is not None and got.checkpoint["channel_values"]["log"] == ["a", "b"]


def test_persistent_dict_on_its_own(tmp_path: Path) -> None:
    path = str(tmp_path / "d.bin")
    d = PersistentDict(filename=path)
    d[("k", 1)] = {"nested": (1, 2)}
    d["s"] = b"bytes"
    d.sync()
    again = PersistentDict(filename=path)
    assert dict(again) == {("k", 1): {"nested": (1, 2)}, "s": b"bytes"}


def test_a_file_that_is_not_a_persistent_dict_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "foreign.bin"
    path.write_bytes(b"\x80\x04not ours")
    with pytest.raises(CheckpointError, match="foreign.bin"):
        PersistentDict(filename=str(path))
    assert path.read_bytes() == b"\x80\x04not ours"


def test_an_empty_file_is_an_empty_dict(tmp_path: Path) -> None:
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    saver = InMemorySaver(factory=partial(PersistentDict, filename=str(path)))
    assert saver.get_tuple(cfg()) is None


async def test_concurrent_runs_on_one_saver_keep_threads_apart() -> None:
    saver = InMemorySaver()
    graph = _graph(saver)
    await asyncio.gather(*(graph.ainvoke({"log": [str(i)]}, cfg(str(i))) for i in range(20)))
    for i in range(20):
        assert (await graph.aget_state(cfg(str(i)))).values["log"] == [str(i), "a", "b"]
    assert len(await saver.alist_threads()) == 20


def test_copy_checkpoint_shares_no_maps_with_the_original() -> None:
    from asyncgraph.checkpoint.base import create_checkpoint
    from asyncgraph.pregel._checkpoint import copy_checkpoint
    original = create_checkpoint({"a": [1]}, {"a": 1}, {"n": {"a": 1}}, ["a"])
    copy = copy_checkpoint(original)
    assert copy == original and copy["id"] == original["id"]
    copy["channel_values"]["b"] = 2
    copy["channel_versions"]["a"] = 2
    copy["versions_seen"]["n"]["a"] = 2
    assert original["channel_values"] == {"a": [1]}
    assert original["channel_versions"] == {"a": 1}
    assert original["versions_seen"] == {"n": {"a": 1}}


def test_thread_ids_are_checked_for_new_threads_and_known_ones_alike() -> None:
    from asyncgraph.checkpoint.base import empty_checkpoint

    saver = InMemorySaver()

    def put(thread_id: Any, cid: str, parent: str | None = None, ns: str = "") -> Any:
        conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns}
        if parent:
            conf["checkpoint_id"] = parent
        c = empty_checkpoint()
        c["id"] = cid
        c["channel_values"] = {"n": 3, "s": "x", "none": None, "big": 10**6}
        c["channel_versions"] = {"n": 1, "s": 1, "none": 1, "big": 1}
        return saver.put({"configurable": conf}, c, {"step": 1}, dict(c["channel_versions"]))

    assert put(7, "1")["configurable"]["thread_id"] == "7"  # as str, as before
    assert put(7, "2", "1")["configurable"]["thread_id"] == "7"  # a known thread, again
    assert put("7", "3", "2")["configurable"] == {"thread_id": "7", "checkpoint_ns": "", "checkpoint_id": "3"}
    assert list(saver.storage["7"][""]) == ["1", "2", "3"]
    for bad in ("a\x00b", "x" * 2000):
        with pytest.raises(ValueError):
            put(bad, "1")
    with pytest.raises(ValueError):
        put("7", "4", "3", ns="n\x00s")  # a known thread in a bad namespace
    assert saver.get_tuple({"configurable": {"thread_id": "7"}}).checkpoint["channel_values"] == {
        "n": 3, "s": "x", "big": 10**6, "none": None,
    }
    # Stored values are the serializer's typed pairs; a small int is a shared one.
    assert saver.blobs[("7", "", "n", 1)] == ("raw", 3) and saver.blobs[("7", "", "big", 1)] == ("raw", 10**6)
