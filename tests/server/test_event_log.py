"""The run event log on every storage back end: batched appends, batched reads, the SSE text.

What a client notices: every event once, in order, numbered 1, 2, ... (its SSE id), whether
the worker wrote it alone or in a batch and whether the reader got it alone or in a batch;
and SSE text byte for byte as sse-starlette lays it out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sse_starlette.event import ensure_bytes

from asyncgraph.server._app import _sse_bytes
from asyncgraph.server._storage import MemoryStorage, RunEvent, Storage


@contextlib.asynccontextmanager
async def _open(kind: str, tmp_path: Path, request: Any) -> AsyncIterator[Storage]:
    if kind == "memory":
        yield MemoryStorage()
    elif kind == "sqlite":
        from asyncgraph.server._sqlite_storage import SqliteStorage

        storage = await SqliteStorage.open(str(tmp_path / "server.sqlite"))
        try:
            yield storage
        finally:
            await storage.close()
    else:
        from asyncgraph.server._pg_storage import PostgresStorage

        # Never started here (blocking, in the test's event loop): the `kind` fixture,
        # a sync one, started it, so this only looks it up.
        cluster = request.getfixturevalue("pg_cluster")
        async with PostgresStorage.open(cluster.dsn, max_size=4, listen=True) as storage:
            yield storage


def _run(run_id: str) -> dict[str, Any]:
    return {"run_id": run_id, "thread_id": f"t-{run_id}", "status": "pending", "metadata": {}, "kwargs": {}}


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def kind(request: Any) -> str:
    if request.param == "postgres":
        request.getfixturevalue("pg_cluster")  # (started outside the test's event loop)
        # The first import of the pool and the PostgreSQL storage, outside the test's event
        # loop too (run alone, the tests would import them cold inside it).
        import psycopg_pool  # noqa: F401

        import asyncgraph.server._pg_storage  # noqa: F401
    return str(request.param)


async def test_batched_appends_and_reads_keep_every_event_once_in_order(kind: str, tmp_path: Path, request: Any) -> None:
    import uuid

    run_id = str(uuid.uuid4())
    async with _open(kind, tmp_path, request) as storage:
        await storage.put_run(_run(run_id))
        got: list[RunEvent] = []

        async def follow() -> None:
            async for batch in storage.read_event_batches(run_id):
                assert batch, "a batch is never empty"
                got.extend(batch)

        reader = asyncio.create_task(follow())
        assert await storage.append_event(run_id, "metadata", '{"run_id": 1}') == 1
        assert await storage.append_events(run_id, [("values", '{"n": 2}'), ("messages", '["m3"]')]) == 3
        await asyncio.sleep(0.05)
        assert await storage.append_events(run_id, [("updates", f'{{"n": {i}}}') for i in range(4, 9)]) == 8
        assert await storage.append_event(run_id, "values", '{"n": 9}') == 9
        await storage.close_events(run_id)
        await asyncio.wait_for(reader, 10)
        assert [e.seq for e in got] == list(range(1, 10))
        assert [e.event for e in got] == ["metadata", "values", "messages", *["updates"] * 5, "values"]
        assert got[1].value() == {"n": 2}
        # A late reader from an event id (Last-Event-ID) gets the rest, one by one or batched.
        assert [e.seq async for e in storage.read_events(run_id, after=6)] == [7, 8, 9]


async def test_update_run_sets_fields_and_keeps_the_rest(kind: str, tmp_path: Path, request: Any) -> None:
    import uuid

    run_id = str(uuid.uuid4())
    async with _open(kind, tmp_path, request) as storage:
        await storage.put_run({**_run(run_id), "metadata": {"k": 1}})
        new = await storage.update_run(run_id, {"status": "success", "output": {"messages": []}})
        assert new is not None and new["status"] == "success" and new["metadata"] == {"k": 1}
        assert await storage.get_run(run_id) == new
        assert await storage.update_run(str(uuid.uuid4()), {"status": "error"}) is None


async def test_memory_storage_lists_a_threads_runs_after_deletes() -> None:
    storage = MemoryStorage()
    for rid, tid in [("r1", "a"), ("r2", "b"), ("r3", "a")]:
        await storage.put_run({"run_id": rid, "thread_id": tid, "status": "pending"})
    assert [r["run_id"] for r in await storage.list_runs("a")] == ["r1", "r3"]
    await storage.delete_run("r1")
    assert [r["run_id"] for r in await storage.list_runs("a")] == ["r3"]
    await storage.put_thread({"thread_id": "a"})
    await storage.delete_thread("a")
    assert await storage.list_runs("a") == []
    assert [r["run_id"] for r in await storage.list_runs()] == ["r2"]


def test_sse_text_is_sse_starlettes_layout() -> None:
    events = [
        RunEvent(1, "metadata", '{"run_id":"x"}'),
        RunEvent(2, "messages|sub:1", '[{"content":"ünïcode"}]'),
        RunEvent(3, "values", "line one\nline two\r\nline three"),
        RunEvent(4, "updates", "{}"),
    ]
    expected = b"".join(ensure_bytes({"event": e.event, "data": e.data, "id": str(e.seq)}, "\r\n") for e in events)
    assert _sse_bytes(events, None) == expected
    kept = [e for e in events if e.event.split("|")[0] in ("metadata", "values")]
    expected = b"".join(ensure_bytes({"event": e.event, "data": e.data, "id": str(e.seq)}, "\r\n") for e in kept)
    assert _sse_bytes(events, {"metadata", "values"}) == expected
    assert _sse_bytes(events[3:], {"values"}) == b""


async def test_run_lifecycle_records_on_every_back_end(kind: str, tmp_path: Path, request: Any) -> None:
    """The record operations a run's admission and end use (one round trip each on
    PostgreSQL): a thread is inserted only once, patches set fields without touching the
    rest (and keep no reference to the caller's dicts), and a run is admitted with its
    first event and ended with its log closed."""
    async with _open(kind, tmp_path, request) as storage:
        thread = {"thread_id": "lc-thread", "status": "idle", "metadata": {"a": 1}, "values": None}
        assert await storage.insert_thread(thread) is None
        again = await storage.insert_thread({**thread, "metadata": {}})
        assert again == thread
        fields = {"status": "busy", "values": {"x": [1]}}
        await storage.patch_thread("lc-thread", fields)
        fields["values"]["x"].append(2)
        assert await storage.get_thread("lc-thread") == {**thread, "status": "busy", "values": {"x": [1]}}
        await storage.patch_thread("lc-missing", {"status": "busy"})
        assert await storage.get_thread("lc-missing") is None
        run = {"run_id": "lc-run", "thread_id": "lc-thread", "status": "pending", "assistant_id": "a"}
        await storage.add_run({**thread, "status": "idle"}, run, RunEvent(1, "metadata", '{"run_id": "lc-run"}'))
        assert (await storage.get_thread("lc-thread"))["status"] == "idle"  # type: ignore[index]
        patch = {"status": "running"}
        updated = await storage.update_run("lc-run", patch)
        assert updated == {**run, "status": "running"}
        patch["status"] = "mutated"
        assert (await storage.get_run("lc-run"))["status"] == "running"  # type: ignore[index]
        assert await storage.update_run("lc-missing", {"status": "x"}) is None
        # (Quotes, backslashes, braces and commas: what an array literal would have to escape.)
        tricky = '{"a": "q\\"u{o},te\\\\ \\n \u00e9 NULL"}'
        await storage.append_events("lc-run", [("values", tricky)])
        # The run's last events go with its end (one statement on PostgreSQL).
        await storage.finish_run("lc-run", {"status": "success", "output": {"x": 1}}, "lc-thread",
                                 {"status": "idle", "values": {"x": 1}}, [("custom|a:b", '"x"'), ("values", tricky)])
        assert [(e.seq, e.event, e.data) async for e in storage.read_events("lc-run")] == [
            (1, "metadata", '{"run_id": "lc-run"}'), (2, "values", tricky), (3, "custom|a:b", '"x"'),
            (4, "values", tricky)]
        assert (await storage.get_run("lc-run"))["output"] == {"x": 1}  # type: ignore[index]
        assert (await storage.get_thread("lc-thread"))["values"] == {"x": 1}  # type: ignore[index]
        assert await storage.get_first_assistant(["nope", "also-nope"]) is None
        await storage.put_assistant({"assistant_id": "a2", "graph_id": "g"})
        await storage.put_assistant({"assistant_id": "a1", "graph_id": "g"})
        assert (await storage.get_first_assistant(["a1", "a2"]))["assistant_id"] == "a1"  # type: ignore[index]
        assert (await storage.get_first_assistant(["zz", "a2", "a1"]))["assistant_id"] == "a2"  # type: ignore[index]
        # What creating a run reads first, together.
        a, t = await storage.get_first_assistant_and_thread(["zz", "a2", "a1"], "lc-thread")
        assert (a["assistant_id"], t) == ("a2", await storage.get_thread("lc-thread"))  # type: ignore[index]
        assert await storage.get_first_assistant_and_thread(["zz"], "lc-missing") == (None, None)
        await storage.delete_thread("lc-thread")
        await storage.delete_assistant("a1")
        await storage.delete_assistant("a2")


@pytest.mark.postgres
async def test_postgres_readers_take_small_batches_from_the_notify(pg_storage_kind: str, tmp_path: Path,
                                                                   request: Any) -> None:
    """On PostgreSQL a batch of events small enough travels in its NOTIFY's payload and the
    API process relays it without reading the table; a batch too big for the payload, and
    a single event (sent without one), are read. Either way every event arrives once, in
    order."""
    import uuid

    run_id = str(uuid.uuid4())
    async with _open(pg_storage_kind, tmp_path, request) as storage:
        reads = await _count_table_reads(storage)
        await storage.put_run(_run(run_id))
        got: list[RunEvent] = []
        seen = asyncio.Event()

        async def follow() -> None:
            async for batch in storage.read_event_batches(run_id):
                got.extend(batch)
                seen.set()

        reader = asyncio.create_task(follow())
        assert await storage.append_event(run_id, "metadata", '{"run_id": 1}') == 1
        await asyncio.wait_for(seen.wait(), 10)
        first_reads = reads[0]
        for n in (3, 5):  # two small batches: in the NOTIFYs
            seen.clear()
            start = len(got) + 1
            await storage.append_events(run_id, [("values", f'{{"n": {i}}}') for i in range(start, n + 1)])
            await asyncio.wait_for(seen.wait(), 10)
        assert reads[0] == first_reads
        big = "x" * 8000  # too big for a NOTIFY: read from the table
        assert await storage.append_events(run_id, [("custom", f'"{big}"'), ("values", '{"n": 7}')]) == 7
        assert await storage.append_event(run_id, "values", '{"n": 8}') == 8
        assert await storage.append_events(run_id, [("values", '{"n": 9}')]) == 9
        await storage.close_events(run_id)
        await asyncio.wait_for(reader, 10)
        assert [e.seq for e in got] == list(range(1, 10))
        assert got[5].data == f'"{big}"' and got[-1].value() == {"n": 9}
        assert reads[0] > first_reads


async def _count_table_reads(storage: Any) -> list[int]:
    """Count ``storage``'s reads of the event table in the returned ``[n]``, from the moment
    its listener is up (its connecting wakes every reader, to read what it missed)."""
    reads = [0]
    read_table = storage._events_after

    async def counted(*args: Any) -> Any:
        reads[0] += 1
        return await read_table(*args)

    storage._events_after = counted
    async with asyncio.timeout(10):
        while not storage._listening:
            await asyncio.sleep(0.01)
    return reads


@pytest.fixture
def pg_storage_kind(request: Any) -> str:
    request.getfixturevalue("pg_cluster")  # (started outside the test's event loop)
    import psycopg_pool  # noqa: F401

    import asyncgraph.server._pg_storage  # noqa: F401

    return "postgres"


@pytest.mark.postgres
async def test_postgres_last_batch_comes_from_the_notify_after_the_close(pg_storage_kind: str, tmp_path: Path,
                                                                          request: Any) -> None:
    """A reader that hears the log's last batch and its close before it looks (the usual
    end of a run: the worker's last events, then the run's end) takes that batch from the
    NOTIFY as well: no read of the table."""
    import uuid

    run_id = str(uuid.uuid4())
    async with _open(pg_storage_kind, tmp_path, request) as storage:
        reads = await _count_table_reads(storage)
        await storage.put_run(_run(run_id))
        assert await storage.append_event(run_id, "metadata", '{"run_id": 1}') == 1
        batches = storage.read_event_batches(run_id)
        assert [e.seq for e in await anext(batches)] == [1]
        before = reads[0]
        # Both NOTIFYs reach the listener while the reader is not looking.
        assert await storage.append_events(run_id, [("values", '{"n": 2}'), ("values", '{"n": 3}')]) == 3
        await storage.close_events(run_id)
        await asyncio.sleep(0.5)
        rest = [e.seq async for batch in batches for e in batch]
        assert rest == [2, 3]
        assert reads[0] == before


@pytest.mark.postgres
async def test_postgres_events_written_with_the_runs_end_come_from_the_notify(pg_storage_kind: str, tmp_path: Path,
                                                                               request: Any) -> None:
    """The last events a run's end writes (``finish_run``, one statement) reach a reader
    that follows the log through its NOTIFY, before the close and without a read of the
    table; a big batch there is read, and the reader still ends after it."""
    import uuid

    async with _open(pg_storage_kind, tmp_path, request) as storage:
        reads = await _count_table_reads(storage)
        for tail, read in (([("values", '{"n": 2}'), ("messages", '[1]')], False),
                           ([("custom", '"' + "x" * 8000 + '"')], True)):
            run_id = str(uuid.uuid4())
            await storage.put_run(_run(run_id))
            await storage.put_thread({"thread_id": f"t-{run_id}", "status": "busy", "metadata": {}})
            assert await storage.append_event(run_id, "metadata", '{"run_id": 1}') == 1
            batches = storage.read_event_batches(run_id)
            assert [e.seq for e in await anext(batches)] == [1]
            before = reads[0]
            await storage.finish_run(run_id, {"status": "success"}, f"t-{run_id}", {"status": "idle"}, tail)
            async with asyncio.timeout(10):
                rest = [(e.seq, e.event, e.data) async for batch in batches for e in batch]
            assert rest == [(2 + i, e, d) for i, (e, d) in enumerate(tail)]
            assert (reads[0] > before) is read
            assert (await storage.get_thread(f"t-{run_id}"))["status"] == "idle"  # type: ignore[index]
            await storage.delete_thread(f"t-{run_id}")
            await storage.delete_run(run_id)
