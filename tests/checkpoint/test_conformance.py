"""The contract every saver keeps (asyncgraph.checkpoint.base), run against each of them."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from asyncgraph.checkpoint.base import create_checkpoint, empty_checkpoint
from asyncgraph.types import Interrupt, Send


def cfg(thread_id: str = "t1", ns: str = "", checkpoint_id: str | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns}
    if checkpoint_id:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


def ckpt(values: dict[str, Any], versions: dict[str, Any] | None = None) -> Any:
    versions = versions if versions is not None else {k: 1 for k in values}
    return create_checkpoint(values, versions, {"node": dict(versions)}, sorted(versions))


async def put(saver: Any, config: dict[str, Any], values: dict[str, Any], step: int = 0,
              versions: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    c = ckpt(values, versions)
    return await saver.aput(config, c, {"source": "loop", "step": step, **meta},
                            dict(c["channel_versions"]))


# -- put / get ------------------------------------------------------------------------


async def test_put_then_get_round_trips_everything(saver: Any) -> None:
    values = {
        "messages": [HumanMessage("hi", id="h1"), AIMessage("yo", id="a1")],
        "count": 3,
        "when": dt.datetime(2024, 5, 1, 12, tzinfo=dt.timezone.utc),
        "tags": {"a", "b"},
        "sends": [Send("node", {"x": (1, 2)})],
    }
    c = create_checkpoint(values, {k: 1 for k in values}, {"n": {"a": 1}}, ["count"])
    meta = {"source": "input", "step": -1, "parents": {}, "user": "ann"}
    returned = await saver.aput(cfg(), c, meta, {k: 1 for k in values})

    assert returned == cfg(checkpoint_id=c["id"])
    got = await saver.aget_tuple(cfg())
    assert got is not None
    assert got.config == returned
    assert got.checkpoint == c
    assert got.metadata == meta
    assert got.parent_config is None
    assert got.pending_writes == []
    assert type(got.checkpoint["channel_values"]["messages"][1]) is AIMessage


async def test_latest_is_returned_without_checkpoint_id_and_parent_is_linked(saver: Any) -> None:
    first = await put(saver, cfg(), {"x": 1}, step=0)
    second = await put(saver, first, {"x": 2}, step=1, versions={"x": 2})

    latest = await saver.aget_tuple(cfg())
    assert latest.config == second
    assert latest.checkpoint["channel_values"] == {"x": 2}
    assert latest.parent_config == first
    older = await saver.aget_tuple(first)
    assert older.checkpoint["channel_values"] == {"x": 1}
    assert older.metadata["step"] == 0


async def test_absent_thread_or_checkpoint_gives_none(saver: Any) -> None:
    assert await saver.aget_tuple(cfg("nobody")) is None
    await put(saver, cfg(), {"x": 1})
    assert await saver.aget_tuple(cfg(checkpoint_id=str(uuid.uuid4()))) is None
    assert await saver.aget(cfg("nobody")) is None


async def test_namespaces_are_separate(saver: Any) -> None:
    await put(saver, cfg(ns=""), {"x": "root"})
    await put(saver, cfg(ns="child:1"), {"x": "child"})
    assert (await saver.aget_tuple(cfg(ns=""))).checkpoint["channel_values"] == {"x": "root"}
    assert (await saver.aget_tuple(cfg(ns="child:1"))).checkpoint["channel_values"] == {"x": "child"}


async def test_unchanged_channels_carry_over_from_the_parent(saver: Any, Thread: Any) -> None:
    t = Thread(saver)
    await t.aput({"a": "A", "b": [1]})
    await t.aput({"b": [1, 2]})
    await t.aput({"c": {"k": "v"}})
    got = await saver.aget_tuple(cfg())
    assert got.checkpoint["channel_values"] == {"a": "A", "b": [1, 2], "c": {"k": "v"}}
    assert got.checkpoint["channel_versions"] == t.versions


async def test_a_channel_cleared_in_new_versions_is_absent(saver: Any, Thread: Any) -> None:
    t = Thread(saver)
    await t.aput({"a": 1, "branch": None})
    await t.aput({}, cleared=("branch",))
    got = await saver.aget_tuple(cfg())
    assert got.checkpoint["channel_values"] == {"a": 1}
    assert "branch" in got.checkpoint["channel_versions"]
    first = await saver.aget_tuple(cfg(checkpoint_id=t.history[0][0]))
    assert first.checkpoint["channel_values"] == {"a": 1, "branch": None}


async def test_empty_checkpoint_round_trips(saver: Any) -> None:
    c = empty_checkpoint()
    await saver.aput(cfg(), c, {"source": "input", "step": -1}, {})
    assert (await saver.aget_tuple(cfg())).checkpoint == c


def test_versions_are_increasing_ints(saver: Any) -> None:
    v1 = saver.get_next_version(None, None)
    assert isinstance(v1, int)
    assert saver.get_next_version(v1, None) > v1


# -- list -----------------------------------------------------------------------------


async def test_list_newest_first_with_filter_before_and_limit(saver: Any) -> None:
    c = cfg()
    ids = []
    for step in range(5):
        c = await put(saver, c, {"x": step}, step=step, versions={"x": step + 1},
                      source="input" if step % 2 else "loop")
        ids.append(c["configurable"]["checkpoint_id"])
    await put(saver, cfg("other"), {"x": 0})

    listed = [t.config["configurable"]["checkpoint_id"] async for t in saver.alist(cfg())]
    assert listed == ids[::-1]
    inputs = [t.metadata["step"] async for t in saver.alist(cfg(), filter={"source": "input"})]
    assert inputs == [3, 1]
    before = [t.metadata["step"] async for t in saver.alist(cfg(), before=cfg(checkpoint_id=ids[3]))]
    assert before == [2, 1, 0]
    limited = [t.metadata["step"] async for t in saver.alist(cfg(), limit=2)]
    assert limited == [4, 3]
    filtered_limited = [
        t.metadata["step"] async for t in saver.alist(cfg(), filter={"source": "loop"}, limit=2)
    ]
    assert filtered_limited == [4, 2]
    everything = [t async for t in saver.alist(None)]
    assert len(everything) == 6
    assert [t.checkpoint["channel_values"]["x"] async for t in saver.alist(cfg(), limit=1)] == [4]


async def test_list_without_namespace_covers_all_namespaces(saver: Any) -> None:
    await put(saver, cfg(ns=""), {"x": 1})
    await put(saver, cfg(ns="sub:1"), {"x": 2})
    listed = [t async for t in saver.alist({"configurable": {"thread_id": "t1"}})]
    assert sorted(t.config["configurable"]["checkpoint_ns"] for t in listed) == ["", "sub:1"]


# -- writes ---------------------------------------------------------------------------


async def test_pending_writes_belong_to_their_checkpoint(saver: Any) -> None:
    first = await put(saver, cfg(), {"x": 1})
    await saver.aput_writes(first, [("x", 2), ("y", {"deep": [1]})], "task-a")
    await saver.aput_writes(first, [("x", 3)], "task-b", "path")
    second = await put(saver, first, {"x": 2}, versions={"x": 2})

    got = await saver.aget_tuple(first)
    assert sorted(got.pending_writes) == sorted(
        [("task-a", "x", 2), ("task-a", "y", {"deep": [1]}), ("task-b", "x", 3)]
    )
    assert (await saver.aget_tuple(second)).pending_writes == []


async def test_writes_are_idempotent_except_special_channels(saver: Any) -> None:
    c = await put(saver, cfg(), {"x": 1})
    await saver.aput_writes(c, [("x", "first")], "task")
    await saver.aput_writes(c, [("x", "retry")], "task")
    await saver.aput_writes(c, [("__interrupt__", [Interrupt("q1", id="i")])], "task")
    await saver.aput_writes(c, [("__interrupt__", [Interrupt("q2", id="i")])], "task")
    await saver.aput_writes(c, [("__error__", ValueError("boom"))], "task")
    writes = (await saver.aget_tuple(c)).pending_writes
    by_channel = {ch: v for _, ch, v in writes}
    assert len(writes) == 3
    assert by_channel["x"] == "first"
    assert by_channel["__interrupt__"] == [Interrupt("q2", id="i")]
    assert isinstance(by_channel["__error__"], ValueError)
    assert by_channel["__error__"].args == ("boom",)


async def test_put_step_stores_checkpoint_and_writes_together(saver: Any) -> None:
    parent = await put(saver, cfg(), {"x": 1})
    c = ckpt({"x": 2}, {"x": 2})
    new = await saver.aput_step(
        parent, c, {"source": "loop", "step": 1}, {"x": 2},
        parent_writes=[("t1", "x", 2), ("t1", "y", 3), ("t2", "x", 4)],
        writes=[("t3", "__interrupt__", [Interrupt("ask")])],
    )
    assert sorted((await saver.aget_tuple(parent)).pending_writes) == [
        ("t1", "x", 2), ("t1", "y", 3), ("t2", "x", 4)
    ]
    got = await saver.aget_tuple(new)
    assert got.checkpoint == c
    assert got.pending_writes == [("t3", "__interrupt__", [Interrupt("ask")])]


async def test_put_step_is_all_or_nothing(saver: Any) -> None:
    parent = await put(saver, cfg(), {"x": 1})
    c = ckpt({"x": 2}, {"x": 2})
    with pytest.raises(TypeError, match="__error__|task t9"):
        await saver.aput_step(
            parent, c, {"source": "loop", "step": 1}, {"x": 2},
            parent_writes=[("t1", "x", 2), ("t9", "__error__", [object()])],
        )
    assert (await saver.aget_tuple(cfg())).config == parent
    assert (await saver.aget_tuple(parent)).pending_writes == []


# -- errors ---------------------------------------------------------------------------


class NotStorable:
    pass


async def test_unserializable_value_is_a_type_error_naming_channel_and_type(saver: Any) -> None:
    first = await put(saver, cfg(), {"x": 1})
    c = ckpt({"x": 1, "bad": [NotStorable()]}, {"x": 2, "bad": 2})
    with pytest.raises(TypeError) as info:
        await saver.aput(first, c, {"source": "loop", "step": 1}, {"x": 2, "bad": 2})
    assert "'bad'" in str(info.value) and "NotStorable" in str(info.value)
    assert (await saver.aget_tuple(cfg())).config == first  # nothing was stored

    with pytest.raises(TypeError, match="'out'.*NotStorable"):
        await saver.aput_writes(first, [("out", NotStorable())], "task")
    assert (await saver.aget_tuple(first)).pending_writes == []


async def test_an_unregistered_class_is_stored_with_a_warning_and_read_back_as_its_data(
    saver: Any, caplog: pytest.LogCaptureFixture
) -> None:
    @dataclasses.dataclass
    class Local:
        a: int

    c = ckpt({"x": Local(1)})
    stored = await saver.aput(cfg(), c, {"source": "loop", "step": 0}, {"x": 1})
    assert "inside a function" in caplog.text
    assert (await saver.aget_tuple(stored)).checkpoint["channel_values"]["x"] == {"a": 1}
    assert "Blocked deserialization" in caplog.text


async def test_missing_thread_id_is_a_clear_error(saver: Any) -> None:
    with pytest.raises(ValueError, match="thread_id"):
        await saver.aget_tuple({"configurable": {}})


# -- threads --------------------------------------------------------------------------


async def test_delete_thread_removes_all_namespaces_and_nothing_else(saver: Any) -> None:
    c = await put(saver, cfg("a"), {"x": [1, 2]})
    await saver.aput_writes(c, [("x", 1)], "task")
    await put(saver, cfg("a", ns="sub:1"), {"x": 1})
    keep = await put(saver, cfg("b"), {"x": 3})

    await saver.adelete_thread("a")
    assert await saver.aget_tuple(cfg("a")) is None
    assert await saver.aget_tuple(cfg("a", ns="sub:1")) is None
    assert [t async for t in saver.alist({"configurable": {"thread_id": "a"}})] == []
    assert (await saver.aget_tuple(cfg("b"))).config == keep
    # The thread can be used again from scratch.
    await put(saver, cfg("a"), {"x": "again"})
    assert (await saver.aget_tuple(cfg("a"))).checkpoint["channel_values"] == {"x": "again"}


async def test_list_threads_reports_newest_first(saver: Any) -> None:
    await put(saver, cfg("old"), {"x": 1})
    c = await put(saver, cfg("new"), {"x": 1})
    c = await put(saver, c, {"x": 2}, versions={"x": 2})
    await put(saver, cfg("new", ns="sub:1"), {"x": 1})
    threads = await saver.alist_threads()
    assert [t.thread_id for t in threads] == ["new", "old"]
    assert threads[0].checkpoints == 3
    assert threads[1].checkpoints == 1
    assert (await saver.alist_threads(limit=1))[0].thread_id == "new"


# -- linear storage -----------------------------------------------------------------------


def _turn(i: int) -> list[Any]:
    return [HumanMessage(f"question {i} " * 10, id=f"h{i}"), AIMessage(f"answer {i} " * 10, id=f"a{i}")]


async def test_every_checkpoint_of_a_growing_conversation_reads_back_exactly(
    saver: Any, Thread: Any
) -> None:
    t = Thread(saver)
    messages: list[Any] = []
    for i in range(30):
        messages = messages + _turn(i)[:1]
        await t.aput({"messages": messages, "turn": i})
        messages = messages + _turn(i)[1:]
        await t.aput({"messages": messages})
    for cid, values, _ in t.history:
        got = await saver.aget_tuple(cfg(checkpoint_id=cid))
        assert got.checkpoint["channel_values"] == values


async def test_edits_removals_and_equal_but_new_objects_read_back_exactly(
    saver: Any, Thread: Any
) -> None:
    t = Thread(saver)
    msgs = _turn(0) + _turn(1)
    await t.aput({"messages": msgs})
    msgs = msgs + _turn(2)
    await t.aput({"messages": msgs})
    msgs = [HumanMessage("edited", id="h0")] + msgs[1:]  # replaced by id
    await t.aput({"messages": msgs})
    msgs = msgs[:2] + msgs[3:] + _turn(3)  # a removal, then appends
    await t.aput({"messages": msgs})
    msgs = [m.model_copy() for m in msgs] + _turn(4)  # equal copies, then appends
    await t.aput({"messages": msgs})
    msgs = msgs + [ToolMessage("result", tool_call_id="c1", id="tool1")]
    await t.aput({"messages": msgs})
    await t.aput({"messages": []})
    await t.aput({"messages": ["not a message", 1]})
    for cid, values, _ in t.history:
        got = await saver.aget_tuple(cfg(checkpoint_id=cid))
        assert got.checkpoint["channel_values"] == values


async def test_mutating_the_list_after_put_does_not_change_what_was_stored(
    saver: Any, Thread: Any
) -> None:
    t = Thread(saver)
    msgs = _turn(0)
    await t.aput({"messages": msgs})
    msgs.append(HumanMessage("sneaky", id="s"))  # in place, after the put
    await t.aput({"messages": msgs})
    first = await saver.aget_tuple(cfg(checkpoint_id=t.history[0][0]))
    assert first.checkpoint["channel_values"]["messages"] == _turn(0)
    latest = await saver.aget_tuple(cfg())
    assert latest.checkpoint["channel_values"]["messages"] == msgs


async def test_forks_reusing_versions_keep_both_branches_exact(saver: Any, Thread: Any) -> None:
    t = Thread(saver)
    msgs: list[Any] = []
    for i in range(4):
        msgs = msgs + _turn(i)
        await t.aput({"messages": msgs, "n": i})
    fork_point = t.history[1][0]
    t.fork(fork_point)
    branch = t.values["messages"] + [HumanMessage("other way", id="o1")]
    await t.aput({"messages": branch, "n": 100})
    await t.aput({"messages": branch + [AIMessage("sure", id="o2")]})
    t.fork(fork_point)  # and a second fork from the same point
    await t.aput({"messages": t.values["messages"] + [HumanMessage("third", id="x")], "n": -1})
    for cid, values, _ in t.history:
        got = await saver.aget_tuple(cfg(checkpoint_id=cid))
        assert got.checkpoint["channel_values"] == values


async def test_a_new_saver_on_the_same_database_continues_exactly(
    saver_kind: str, make_saver: Any, Thread: Any
) -> None:
    if saver_kind == "memory":
        pytest.skip("an in-memory saver's data dies with it")
    async with make_saver() as first:
        t = Thread(first)
        msgs = _turn(0)
        await t.aput({"messages": msgs})
    async with make_saver() as second:
        t.saver = second
        latest = await second.aget_tuple(cfg())
        msgs = latest.checkpoint["channel_values"]["messages"] + _turn(1)
        await t.aput({"messages": msgs})
        t.saver = second
        third = Thread(second)  # a saver that never read the thread: no cache at all
        third.config, third.values, third.versions = t.config, dict(t.values), dict(t.versions)
    async with make_saver() as fresh:
        third.saver = fresh
        await third.aput({"messages": msgs + _turn(2)})
        got = await fresh.aget_tuple(cfg())
        assert got.checkpoint["channel_values"]["messages"] == msgs + _turn(2)
        for cid, values, _ in t.history:
            assert (await fresh.aget_tuple(cfg(checkpoint_id=cid))).checkpoint[
                "channel_values"
            ] == values


# -- retention ------------------------------------------------------------------------------


async def test_keep_last_keeps_exactly_the_newest_checkpoints_intact(
    make_saver: Any, Thread: Any
) -> None:
    async with make_saver(keep_last=3) as saver:
        t = Thread(saver)
        msgs: list[Any] = []
        for i in range(40):
            if i % 7 == 6:
                msgs = msgs[2:]  # trimming history: a new snapshot lineage
            msgs = msgs + _turn(i)
            await t.aput({"messages": msgs, "i": i})
            await saver.aput_writes(t.config, [("i", i)], f"task{i}")
        listed = [x async for x in saver.alist(cfg())]
        assert [x.config["configurable"]["checkpoint_id"] for x in listed] == [
            cid for cid, _, _ in t.history[-3:]
        ][::-1]
        for (cid, values, _), got in zip(t.history[-3:][::-1], listed):
            assert got.checkpoint["channel_values"] == values
            assert [w[2] for w in got.pending_writes] == [values["i"]]
        # and the thread goes on exactly after pruning
        await t.aput({"messages": msgs + _turn(99)})
        got = await saver.aget_tuple(cfg())
        assert got.checkpoint["channel_values"]["messages"] == msgs + _turn(99)


async def test_prune_keeps_newest_per_namespace(saver: Any, Thread: Any) -> None:
    root, sub = Thread(saver), Thread(saver, ns="sub:1")
    other = Thread(saver, thread_id="t2")
    for i in range(6):
        await root.aput({"messages": [f"m{j}" for j in range(i + 1)]})
        await sub.aput({"v": i})
        await other.aput({"v": i})
    removed = await saver.aprune("t1", keep_last=2)
    assert removed == 8
    assert len([x async for x in saver.alist(cfg(ns=""))]) == 2
    assert len([x async for x in saver.alist(cfg(ns="sub:1"))]) == 2
    assert len([x async for x in saver.alist(cfg("t2"))]) == 6
    for thread in (root, sub):
        for cid, values, _ in thread.history[-2:]:
            got = await saver.aget_tuple(cfg(ns=thread.config["configurable"]["checkpoint_ns"],
                                             checkpoint_id=cid))
            assert got.checkpoint["channel_values"] == values
    assert await saver.aprune(None, keep_last=1) == 1 + 1 + 5


# -- sync API --------------------------------------------------------------------------


async def test_sync_api_from_a_worker_thread(saver: Any) -> None:
    c = await put(saver, cfg(), {"x": [1, 2]})

    def work() -> Any:
        got = saver.get_tuple(cfg())
        new = saver.put(c, ckpt({"x": [1, 2, 3]}, {"x": 2}), {"source": "loop", "step": 1}, {"x": 2})
        saver.put_writes(new, [("x", 9)], "task")
        return got, list(saver.list(cfg())), saver.get_tuple(new), saver.list_threads()

    got, listed, latest, threads = await asyncio.to_thread(work)
    assert got.config == c
    assert len(listed) == 2
    assert latest.checkpoint["channel_values"] == {"x": [1, 2, 3]}
    assert latest.pending_writes == [("task", "x", 9)]
    assert threads[0].thread_id == "t1"


async def test_sync_api_of_async_savers_refuses_on_the_event_loop(
    saver_kind: str, saver: Any
) -> None:
    if not saver_kind.endswith("_aio"):
        pytest.skip("sync savers are natively sync")
    await put(saver, cfg(), {"x": 1})
    with pytest.raises(RuntimeError, match="aget_tuple"):
        saver.get_tuple(cfg())
