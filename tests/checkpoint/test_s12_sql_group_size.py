"""Group commit's size of a shared transaction: a saver stores at most its ``max_steps``
checkpoints in one (AsyncPostgresSaver: 32), and every caller still gets its own
configs and rows."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asyncgraph.checkpoint.base import StepPut
from asyncgraph.checkpoint.postgres.aio import SHARED_STEPS
from tests.checkpoint.test_group_commit import _count_transactions, _steps


@pytest.mark.postgres
@pytest.mark.parametrize("saver_kind", ["postgres_aio"], indirect=True)
async def test_a_shared_transaction_holds_at_most_the_savers_steps_and_each_caller_gets_its_own(
    make_saver: Any,
) -> None:
    async with make_saver() as saver:  # a pool of 4: two write lanes
        assert saver._group.max_steps == SHARED_STEPS == 32
        threads = [_steps(f"t{i}", 4) for i in range(40)]
        for steps in threads:
            await saver.aput(steps[0].config, steps[0].checkpoint, steps[0].metadata, steps[0].new_versions)
        transactions = _count_transactions(saver)

        async def rest(steps: list[StepPut]) -> list[Any]:
            return [*await saver.aput_steps(steps[1:3]), *await saver.aput_steps(steps[3:])]

        configs = await asyncio.gather(*(rest(steps) for steps in threads))
        shared = [n for name, n in transactions if name == "op_put_steps"]
        # 120 checkpoints of 80 calls: more than one transaction's worth queued, so the
        # largest shared transactions are full, and none is larger.
        assert max(shared) == SHARED_STEPS
        assert sum(shared) == 120
        for steps, got in zip(threads, configs):
            assert [c["configurable"]["checkpoint_id"] for c in got] == [s.checkpoint["id"] for s in steps[1:]]
            latest = await saver.aget_tuple(steps[0].config)
            assert latest.checkpoint["id"] == steps[-1].checkpoint["id"]
            assert [m.id for m in latest.checkpoint["channel_values"]["messages"]] == ["m0", "m1", "m2", "m3"]


async def test_a_group_commit_takes_queued_puts_up_to_its_max_steps() -> None:
    from asyncgraph.checkpoint._group import MAX_STEPS, GroupCommit

    class Store:
        def op_put(self) -> None: ...
        def op_put_steps(self) -> None: ...

    class Saver:
        _store = Store()

        def __init__(self) -> None:
            self.sizes: list[int] = []

        async def _arun_one(self, op: Any, args: tuple[Any, ...], write: bool) -> Any:
            steps = args[0]
            self.sizes.append(len(steps))
            await asyncio.sleep(0)
            return [{"configurable": {"n": id(s)}} for s in steps]

    for most in (4, MAX_STEPS):
        saver = Saver()
        group = GroupCommit(saver, 2, most)  # one lane
        calls = [[StepPut({"configurable": {"thread_id": f"t{i}"}}, {}, {}, {}, (), ())] * 2 for i in range(40)]
        got = await asyncio.gather(*(group.run(saver._store.op_put_steps, (c,)) for c in calls))
        assert max(saver.sizes) == min(most, 78) and sum(saver.sizes) == 80
        assert all(len(g) == 2 for g in got)
