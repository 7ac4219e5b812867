"""Group commit: under durability="async" the checkpoints of steps that ran while a save
was in flight are saved together (``aput_steps``, one transaction on the SQL savers).

What a user must see: exactly the rows one-at-a-time saves store, the same history, the
same resumes after an interrupt or an error, and a failed save as the run's error.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Annotated, Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from typing_extensions import TypedDict

from asyncgraph.checkpoint.base import StepPut, create_checkpoint
from asyncgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from asyncgraph.graph import START, StateGraph
from asyncgraph.graph.message import add_messages
from asyncgraph.types import Command, interrupt

SQL_KINDS = [
    "sqlite",
    "sqlite_aio",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("postgres_aio", marks=pytest.mark.postgres),
]
ASYNC_KINDS = ["sqlite_aio", pytest.param("postgres_aio", marks=pytest.mark.postgres)]


class Chat(TypedDict):
    messages: Annotated[list[Any], add_messages]
    n: int


def _steps(thread_id: str, count: int) -> list[StepPut]:
    """``count`` steps of one thread as the engine puts them: each appends a message to
    a list (stored as list deltas), writes it (a write referring to the value row), and
    names its parent, the step before it."""
    out = []
    parent: dict[str, Any] = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    messages: list[Any] = []
    seen: dict[str, Any] = {}
    for i in range(count):
        msg = AIMessage(f"answer {i} " * 10, id=f"m{i}")
        messages = [*messages, msg]
        versions = {"messages": i + 1, "n": i + 1, f"branch:to:node{i}": i + 1}
        seen = {**seen, f"node{i}": {"messages": i}}
        ckpt = create_checkpoint({"messages": messages, "n": i}, versions, seen, ["messages", "n"])
        meta = {"source": "loop", "step": i, "parents": {}}
        writes = [(f"task-{i}", "messages", [msg], f"('__pregel_pull', 'node{i}')"),
                  (f"task-{i}", "n", i, f"('__pregel_pull', 'node{i}')")] if i else []
        out.append(StepPut(parent, ckpt, meta, dict(versions), writes, ()))
        parent = {"configurable": {"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": ckpt["id"]}}
    return out


_TABLES = ("asyncgraph_threads", "asyncgraph_names", "asyncgraph_checkpoints", "asyncgraph_blobs",
           "asyncgraph_writes")


def _dump(saver_kind: str, saver: Any, tmp_path: Any) -> dict[str, list[Any]]:
    if saver_kind.startswith("sqlite"):
        conn = sqlite3.connect(tmp_path / "checkpoints.db")  # the make_saver fixture's file
        try:
            return {t: sorted(map(repr, conn.execute(f"SELECT * FROM {t}"))) for t in _TABLES}
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(_dsn(saver)) as conn:
        return {t: sorted(map(repr, conn.execute(f"SELECT * FROM {t}"))) for t in _TABLES}


def _dsn(saver: Any) -> str:
    return saver.conn.conninfo


def _reset(saver_kind: str, saver: Any, tmp_path: Any) -> None:
    """An empty database with its ids restarting, for a second saver (fresh caches)."""
    if saver_kind.startswith("sqlite"):
        # (SQLite: ids restart by themselves in an empty table; a fresh file has none.)
        conn = sqlite3.connect(tmp_path / "checkpoints.db")
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'asyncgraph_threads'").fetchall():
            conn.close()
            return
        with conn:
            for t in _TABLES:
                conn.execute(f"DELETE FROM {t}")
        conn.close()
        return
    import psycopg

    with psycopg.connect(_dsn(saver), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(_TABLES)} RESTART IDENTITY")


async def _call(saver: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """The async method when the saver is async-native, else the sync one."""
    if type(saver).__name__.startswith("Async"):
        return await getattr(saver, f"a{name}")(*args, **kwargs)
    return await asyncio.to_thread(getattr(saver, name), *args, **kwargs)  # (blocking I/O)


@pytest.mark.parametrize("saver_kind", SQL_KINDS, indirect=True)
async def test_put_steps_stores_exactly_the_rows_put_step_stores_one_at_a_time(
    saver_kind: str, make_saver: Any, tmp_path: Any
) -> None:
    steps = _steps("t", 6)
    async with make_saver() as saver:
        _reset(saver_kind, saver, tmp_path)
        one_by_one = [await _call(saver, "put_step", s.config, s.checkpoint, s.metadata, s.new_versions,
                                  parent_writes=s.parent_writes) for s in steps]
        expected = _dump(saver_kind, saver, tmp_path)
        _reset(saver_kind, saver, tmp_path)
    async with make_saver() as saver:  # fresh caches, empty database
        # The first step on its own (the engine saves it before anything queues), the
        # rest in one call: the second step's parent is then in the cache.
        first = await _call(saver, "put_step", steps[0].config, steps[0].checkpoint, steps[0].metadata,
                            steps[0].new_versions)
        together = await _call(saver, "put_steps", steps[1:])
        assert [first, *together] == one_by_one
        assert _dump(saver_kind, saver, tmp_path) == expected
        history = [t async for t in saver.alist({"configurable": {"thread_id": "t"}})]
        assert [h.checkpoint["channel_values"]["messages"][-1].id for h in history] == \
            [f"m{i}" for i in reversed(range(6))]


@pytest.mark.parametrize("saver_kind", SQL_KINDS, indirect=True)
async def test_put_steps_on_a_fresh_database_stores_the_rows_of_one_at_a_time_puts(
    saver_kind: str, make_saver: Any, tmp_path: Any
) -> None:
    # All in one call, the names dictionary empty: the names the first put inserts are
    # used by the puts after it as if it had committed.
    steps = _steps("t", 4)
    async with make_saver() as saver:
        _reset(saver_kind, saver, tmp_path)
        for s in steps:
            await _call(saver, "put_step", s.config, s.checkpoint, s.metadata, s.new_versions,
                        parent_writes=s.parent_writes)
        expected = _dump(saver_kind, saver, tmp_path)
        _reset(saver_kind, saver, tmp_path)
    async with make_saver() as saver:
        await _call(saver, "put_steps", steps)
        assert _dump(saver_kind, saver, tmp_path) == expected


@pytest.mark.parametrize("saver_kind", SQL_KINDS, indirect=True)
async def test_a_put_steps_that_fails_stores_none_of_its_steps(saver_kind: str, make_saver: Any) -> None:
    steps = _steps("t", 4)
    bad = steps[2]._replace(checkpoint={**steps[2].checkpoint,
                                        "channel_values": {**steps[2].checkpoint["channel_values"], "n": object()}})
    async with make_saver() as saver:
        await _call(saver, "put_step", steps[0].config, steps[0].checkpoint, steps[0].metadata,
                    steps[0].new_versions)
        with pytest.raises(TypeError, match="'n'"):
            await _call(saver, "put_steps", [steps[1], bad, steps[3]])
        latest = await _call(saver, "get_tuple", {"configurable": {"thread_id": "t"}})
        assert latest.checkpoint["id"] == steps[0].checkpoint["id"]
        # The same steps go in afterwards (the caches learned nothing of the failed call).
        await _call(saver, "put_steps", steps[1:])
        latest = await _call(saver, "get_tuple", {"configurable": {"thread_id": "t"}})
        assert [m.id for m in latest.checkpoint["channel_values"]["messages"]] == ["m0", "m1", "m2", "m3"]


# -- the engine ----------------------------------------------------------------------


def _chain(saver: Any, length: int = 8, pause_at: int | None = None, fail_at: int | None = None) -> Any:
    builder = StateGraph(Chat)

    def make(i: int) -> Any:
        async def node(state: Chat) -> dict[str, Any]:
            if i == pause_at:
                answer = interrupt(f"ok {i}?")
                return {"messages": [HumanMessage(str(answer), id=f"r{i}")], "n": state["n"] + 1}
            if i == fail_at:
                return {"n": object()}  # cannot be stored
            return {"messages": [AIMessage(f"step {i}", id=f"s{i}")], "n": state["n"] + 1}
        return node

    for i in range(length):
        builder.add_node(f"n{i}", make(i))
        builder.add_edge(START if i == 0 else f"n{i - 1}", f"n{i}")
    return builder.compile(checkpointer=saver)


class _Count:
    """Counts the saver's calls by wrapping its class's methods on the instance."""

    def __init__(self, saver: Any) -> None:
        self.calls: list[tuple[str, int]] = []
        for name in ("aput", "aput_step", "aput_steps"):
            self._wrap(saver, name)

    def _wrap(self, saver: Any, name: str) -> None:
        method = getattr(saver, name)

        async def spy(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, len(args[0]) if name == "aput_steps" else 1))
            return await method(*args, **kwargs)

        setattr(saver, name, spy)

    @property
    def checkpoints(self) -> int:
        return sum(n for _, n in self.calls)


async def _history(graph: Any, config: dict[str, Any]) -> list[Any]:
    return [(s.values["n"] if "n" in s.values else None, [m.id for m in s.values.get("messages", [])],
             s.next, s.metadata["step"], s.metadata["source"])
            async for s in graph.aget_state_history(config)]


@pytest.mark.parametrize("saver_kind", ASYNC_KINDS, indirect=True)
async def test_steps_that_run_while_a_save_is_in_flight_are_saved_together(make_saver: Any) -> None:
    async with make_saver() as saver:
        graph = _chain(saver)
        count = _Count(saver)
        out = await graph.ainvoke({"messages": [], "n": 0}, {"configurable": {"thread_id": "a"}})
        assert out["n"] == 8
        # Ten checkpoints (input, START, eight nodes) in fewer saver calls.
        assert count.checkpoints == 10
        assert any(name == "aput_steps" and n > 1 for name, n in count.calls), count.calls
        assert len(count.calls) < 10
        await graph.ainvoke({"messages": [], "n": 0}, {"configurable": {"thread_id": "s"}}, durability="sync")
        assert await _history(graph, {"configurable": {"thread_id": "a"}}) == \
            await _history(graph, {"configurable": {"thread_id": "s"}})


@pytest.mark.parametrize("saver_kind", ASYNC_KINDS, indirect=True)
async def test_an_interrupt_after_queued_steps_resumes_as_with_one_save_per_step(make_saver: Any) -> None:
    async with make_saver() as saver:
        graph = _chain(saver, pause_at=5)
        count = _Count(saver)
        for thread, durability in (("a", "async"), ("s", "sync")):
            config = {"configurable": {"thread_id": thread}}
            out = await graph.ainvoke({"messages": [], "n": 0}, config, durability=durability)
            assert out["__interrupt__"][0].value == "ok 5?"
            # A fresh reader (another process) sees the pause, queued steps included.
            state = await graph.aget_state(config)
            assert state.next == ("n5",) and state.values["n"] == 5
            out = await graph.ainvoke(Command(resume="yes"), config, durability=durability)
            assert out["n"] == 8 and [m.id for m in out["messages"]][5] == "r5"
        assert any(name == "aput_steps" and n > 1 for name, n in count.calls), count.calls
        assert await _history(graph, {"configurable": {"thread_id": "a"}}) == \
            await _history(graph, {"configurable": {"thread_id": "s"}})


@pytest.mark.parametrize("saver_kind", ASYNC_KINDS, indirect=True)
async def test_a_queued_save_that_fails_is_the_runs_error(make_saver: Any) -> None:
    async with make_saver() as saver:
        graph = _chain(saver, fail_at=4)
        config = {"configurable": {"thread_id": "a"}}
        with pytest.raises(TypeError, match="'n'"):
            await graph.ainvoke({"messages": [], "n": 0}, config)
        # What was stored is a consistent prefix of the run (the failed batch stored
        # nothing): the same graph with a node that can be stored finishes it from there.
        state = await graph.aget_state(config)
        assert state.values.get("n", 0) == len(state.values.get("messages", ())) < 4
        out = await _chain(saver).ainvoke(None, config)
        assert out["n"] == 8 and [m.id for m in out["messages"]] == [f"s{i}" for i in range(8)]


async def test_a_saver_that_watches_aput_step_sees_every_step(tmp_path: Any) -> None:
    seen: list[int] = []

    class Watched(AsyncSqliteSaver):
        async def aput_step(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any,
                            **kwargs: Any) -> Any:
            seen.append(metadata["step"])
            return await super().aput_step(config, checkpoint, metadata, new_versions, **kwargs)

    async with Watched.from_conn_string(str(tmp_path / "w.db")) as saver:
        graph = _chain(saver)
        await graph.ainvoke({"messages": [], "n": 0}, {"configurable": {"thread_id": "a"}})
        assert seen == list(range(9))  # START and every node (the input is a plain aput)
        # Called directly, put_steps goes through the override too.
        seen.clear()
        await saver.aput_steps(_steps("b", 3))
        assert seen == [0, 1, 2]


@pytest.mark.parametrize("saver_kind", ASYNC_KINDS, indirect=True)
async def test_at_most_max_unsaved_checkpoints_wait_to_be_committed(
    make_saver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asyncgraph.pregel import _saving

    monkeypatch.setattr(_saving, "MAX_UNSAVED", 3)
    async with make_saver() as saver:
        graph = _chain(saver, length=12)
        count = _Count(saver)
        out = await graph.ainvoke({"messages": [], "n": 0}, {"configurable": {"thread_id": "a"}})
        assert out["n"] == 12
        assert count.checkpoints == 14
        # One save in flight and two queued at most: a batch holds two, never more.
        assert max(n for _, n in count.calls) == 2, count.calls


# -- across callers (AsyncPostgresSaver) -----------------------------------------------


def _count_transactions(saver: Any) -> list[Any]:
    calls: list[Any] = []
    one = saver._arun_one

    async def spy(op: Any, args: Any, write: bool) -> Any:
        name = getattr(op, "__name__", op)
        calls.append((name, len(args[0])) if name == "op_put_steps" else (name, 1))
        return await one(op, args, write)

    saver._arun_one = spy
    return calls


@pytest.mark.postgres
@pytest.mark.parametrize("saver_kind", ["postgres_aio"], indirect=True)
async def test_concurrent_puts_of_many_threads_share_transactions_and_each_gets_its_own(
    make_saver: Any,
) -> None:
    async with make_saver() as saver:  # a pool of 4: two write lanes
        transactions = _count_transactions(saver)
        threads = [_steps(f"t{i}", 3) for i in range(30)]

        async def thread(steps: list[StepPut]) -> list[Any]:
            first = await saver.aput(steps[0].config, steps[0].checkpoint, steps[0].metadata,
                                     steps[0].new_versions)
            return [first, *await saver.aput_steps(steps[1:])]

        configs = await asyncio.gather(*(thread(steps) for steps in threads))
        assert len(transactions) < 60  # 60 calls
        for steps, got in zip(threads, configs):
            assert [c["configurable"]["checkpoint_id"] for c in got] == [s.checkpoint["id"] for s in steps]
            latest = await saver.aget_tuple(steps[0].config)
            assert latest.checkpoint["id"] == steps[-1].checkpoint["id"]
            assert [m.id for m in latest.checkpoint["channel_values"]["messages"]] == ["m0", "m1", "m2"]
            assert latest.parent_config == got[-2]


@pytest.mark.postgres
@pytest.mark.parametrize("saver_kind", ["postgres_aio"], indirect=True)
async def test_a_put_that_fails_in_a_shared_transaction_fails_alone(make_saver: Any) -> None:
    async with make_saver() as saver:
        threads = [_steps(f"t{i}", 2) for i in range(20)]
        bad = threads[7][1]
        threads[7][1] = bad._replace(checkpoint={**bad.checkpoint, "channel_values": {"n": object()}})
        for steps in threads:
            await saver.aput(steps[0].config, steps[0].checkpoint, steps[0].metadata, steps[0].new_versions)
        transactions = _count_transactions(saver)
        results = await asyncio.gather(*(saver.aput_steps(steps[1:]) for steps in threads),
                                       return_exceptions=True)
        # Two went on their own (two lanes), the rest queued and were tried together;
        # that failed (thread 7), so each ran again on its own.
        assert max(n for _, n in transactions) > 1 and len(transactions) > 20
        assert isinstance(results[7], TypeError)
        for i, steps in enumerate(threads):
            latest = await saver.aget_tuple(steps[0].config)
            assert latest.checkpoint["id"] == steps[0 if i == 7 else 1].checkpoint["id"]


@pytest.mark.postgres
@pytest.mark.parametrize("saver_kind", ["postgres_aio"], indirect=True)
async def test_concurrent_reads_share_snapshots_and_each_gets_its_own_thread(make_saver: Any) -> None:
    async with make_saver() as saver:
        threads = [_steps(f"t{i}", 1 + i % 3) for i in range(30)]
        for steps in threads[:20]:  # the last ten threads have nothing stored
            await saver.aput_steps(steps)
        transactions = _count_transactions(saver)
        got = await asyncio.gather(*(saver.aget_tuple(steps[0].config) for steps in threads))
        assert len(transactions) < 30
        for i, (steps, tup) in enumerate(zip(threads, got)):
            if i >= 20:
                assert tup is None
            else:
                assert tup.checkpoint["id"] == steps[-1].checkpoint["id"]
                assert [m.id for m in tup.checkpoint["channel_values"]["messages"]] == \
                    [f"m{j}" for j in range(len(steps))]
                assert [w[2] for w in tup.pending_writes] == []


@pytest.mark.parametrize("saver_kind", ["memory", *SQL_KINDS], indirect=True)
async def test_put_steps_of_nothing_stores_nothing(saver_kind: str, make_saver: Any) -> None:
    async with make_saver() as saver:
        assert await _call(saver, "put_steps", []) == []
        assert await _call(saver, "list_threads") == []
        # And the in-memory saver (its default: one put_step per step) stores steps too.
        steps = _steps("t", 3)
        configs = await _call(saver, "put_steps", steps)
        assert [c["configurable"]["checkpoint_id"] for c in configs] == [s.checkpoint["id"] for s in steps]
