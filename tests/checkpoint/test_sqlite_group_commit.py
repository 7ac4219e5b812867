"""AsyncSqliteSaver under concurrent callers: puts of many threads share transactions
(one hop to aiosqlite's thread each), reads share snapshots, and every caller still gets
exactly its own result or its own error, with the rows one-at-a-time saves store."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asyncgraph.checkpoint.base import StepPut
from tests.checkpoint.test_group_commit import _dump, _reset, _steps


def _count_hops(saver: Any) -> list[Any]:
    """Every transaction the saver runs from now on (one hop to aiosqlite's thread each):
    the store operation's name and, for ``op_put_steps``, how many steps it stores."""
    hops: list[Any] = []
    conn = saver.conn
    execute = conn._execute

    async def spy(fn: Any, *args: Any, **kwargs: Any) -> Any:
        if args and callable(args[0]):
            name = getattr(args[0], "__name__", "?")
            hops.append((name, len(args[1][0]) if name == "op_put_steps" else 1))
        return await execute(fn, *args, **kwargs)

    conn._execute = spy
    return hops


async def _thread(saver: Any, steps: list[StepPut]) -> list[Any]:
    first = await saver.aput(steps[0].config, steps[0].checkpoint, steps[0].metadata, steps[0].new_versions)
    return [first, *await saver.aput_steps(steps[1:])]


@pytest.mark.parametrize("saver_kind", ["sqlite_aio"], indirect=True)
async def test_concurrent_puts_of_many_threads_share_hops_and_each_gets_its_own(make_saver: Any) -> None:
    async with make_saver() as saver:
        hops = _count_hops(saver)
        threads = [_steps(f"t{i}", 3) for i in range(30)]
        configs = await asyncio.gather(*(_thread(saver, steps) for steps in threads))
        assert len(hops) < 30, hops  # 60 calls, one thread hop each before
        assert max(n for _, n in hops) > 2
        for steps, got in zip(threads, configs):
            assert [c["configurable"]["checkpoint_id"] for c in got] == [s.checkpoint["id"] for s in steps]
            latest = await saver.aget_tuple(steps[0].config)
            assert latest.checkpoint["id"] == steps[-1].checkpoint["id"]
            assert [m.id for m in latest.checkpoint["channel_values"]["messages"]] == ["m0", "m1", "m2"]
            assert latest.parent_config == got[-2]


async def _history(saver: Any, threads: list[list[StepPut]]) -> list[Any]:
    out = []
    for steps in threads:
        async for tup in saver.alist(steps[0].config):
            out.append((tup.config, tup.checkpoint, tup.metadata, tup.parent_config, tup.pending_writes))
    return out


@pytest.mark.parametrize("saver_kind", ["sqlite_aio"], indirect=True)
async def test_shared_transactions_store_what_one_at_a_time_puts_store(
    saver_kind: str, make_saver: Any, tmp_path: Any
) -> None:
    threads = [_steps(f"t{i}", 4) for i in range(12)]
    async with make_saver() as saver:
        for steps in threads:  # one caller at a time: nothing queues
            await _thread(saver, steps)
        alone, alone_rows = await _history(saver, threads), _dump(saver_kind, saver, tmp_path)
    _reset(saver_kind, saver, tmp_path)
    async with make_saver() as saver:
        hops = _count_hops(saver)
        await asyncio.gather(*(_thread(saver, steps) for steps in threads))
        assert len(hops) < 2 * len(threads)  # (shared transactions did happen: 24 calls)
        together, together_rows = await _history(saver, threads), _dump(saver_kind, saver, tmp_path)
    assert together == alone
    # The same rows; names ids (global, given in order of first use) may be numbered
    # in another order, as with any two runs interleaved differently.
    assert {t: len(rows) for t, rows in together_rows.items()} == {t: len(rows) for t, rows in alone_rows.items()}
    assert {r.rsplit(",", 1)[0] for r in together_rows["asyncgraph_names"]} == \
        {r.rsplit(",", 1)[0] for r in alone_rows["asyncgraph_names"]}


@pytest.mark.parametrize("saver_kind", ["sqlite_aio"], indirect=True)
async def test_a_put_that_fails_in_a_shared_transaction_fails_alone(make_saver: Any) -> None:
    async with make_saver() as saver:
        threads = [_steps(f"t{i}", 2) for i in range(20)]
        bad = threads[7][1]
        threads[7][1] = bad._replace(checkpoint={**bad.checkpoint, "channel_values": {"n": object()}})
        for steps in threads:
            await saver.aput(steps[0].config, steps[0].checkpoint, steps[0].metadata, steps[0].new_versions)
        hops = _count_hops(saver)
        results = await asyncio.gather(*(saver.aput_steps(steps[1:]) for steps in threads),
                                       return_exceptions=True)
        # One went on its own (one lane), the rest queued and were tried together; that
        # failed (thread 7), so each ran again on its own.
        assert max(n for _, n in hops) > 1 and len(hops) > 20
        assert isinstance(results[7], TypeError)
        for i, steps in enumerate(threads):
            if i != 7:
                assert results[i] == [{"configurable": {"thread_id": f"t{i}", "checkpoint_ns": "",
                                                        "checkpoint_id": steps[1].checkpoint["id"]}}]
            latest = await saver.aget_tuple(steps[0].config)
            assert latest.checkpoint["id"] == steps[0 if i == 7 else 1].checkpoint["id"]


@pytest.mark.parametrize("saver_kind", ["sqlite_aio"], indirect=True)
async def test_concurrent_reads_share_snapshots_and_each_gets_its_own_thread(make_saver: Any) -> None:
    async with make_saver() as saver:
        threads = [_steps(f"t{i}", 1 + i % 3) for i in range(30)]
        for steps in threads[:20]:  # the last ten threads have nothing stored
            await saver.aput_steps(steps)
        hops = _count_hops(saver)
        got = await asyncio.gather(*(saver.aget_tuple(steps[0].config) for steps in threads))
        assert len(hops) < 30, hops
        for i, (steps, tup) in enumerate(zip(threads, got)):
            if i >= 20:
                assert tup is None
            else:
                assert tup.checkpoint["id"] == steps[-1].checkpoint["id"]
                assert [m.id for m in tup.checkpoint["channel_values"]["messages"]] == \
                    [f"m{j}" for j in range(len(steps))]


@pytest.mark.parametrize("saver_kind", ["sqlite_aio"], indirect=True)
async def test_sync_calls_from_other_threads_still_work_while_puts_are_shared(make_saver: Any) -> None:
    async with make_saver() as saver:
        threads = [_steps(f"t{i}", 2) for i in range(10)]
        await saver.setup()  # (binds the saver to this loop)

        def sync_put(steps: list[StepPut]) -> Any:  # another thread, the saver's loop busy
            return saver.put_steps(steps)

        got = await asyncio.gather(*(asyncio.to_thread(sync_put, steps) for steps in threads[:5]),
                                   *(saver.aput_steps(steps) for steps in threads[5:]))
        for steps, configs in zip(threads, got):
            assert [c["configurable"]["checkpoint_id"] for c in configs] == [s.checkpoint["id"] for s in steps]
            assert (await saver.aget_tuple(steps[0].config)).checkpoint["id"] == steps[-1].checkpoint["id"]


@pytest.mark.parametrize("saver_kind", ["sqlite_aio"], indirect=True)
async def test_a_loop_stopped_with_a_put_in_flight_does_not_block_the_next_loop(
    make_saver: Any,
) -> None:
    async with make_saver() as saver:
        threads = [_steps(f"t{i}", 2) for i in range(4)]

        def abandon() -> asyncio.AbstractEventLoop:
            # A loop stopped (and never run again) while its put holds the write lane.
            loop = asyncio.new_event_loop()
            task = loop.create_task(saver.aput_steps(threads[0]))
            loop.call_soon(loop.stop)
            loop.run_forever()
            assert not task.done()
            return loop

        old = await asyncio.to_thread(abandon)
        got = await asyncio.wait_for(asyncio.gather(*(saver.aput_steps(steps) for steps in threads[1:])), 10)
        for steps, configs in zip(threads[1:], got):
            assert [c["configurable"]["checkpoint_id"] for c in configs] == [s.checkpoint["id"] for s in steps]
        await asyncio.to_thread(old.run_until_complete, asyncio.sleep(0.1))  # (its put ends)
        old.close()
