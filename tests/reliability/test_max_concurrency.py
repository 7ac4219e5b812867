"""config["max_concurrency"] bounds the tasks of one step that run at once."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any, TypedDict

import pytest

from asyncgraph.errors import InvalidInputError
from asyncgraph.graph import START, StateGraph
from asyncgraph.types import Send


class S(TypedDict):
    n: int
    out: Annotated[list[int], operator.add]


def _fanout(active: list[int], peak: list[int]) -> Any:
    async def work(i: int) -> dict[str, list[int]]:
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        await asyncio.sleep(0.01)
        active[0] -= 1
        return {"out": [i]}

    g = StateGraph(S)
    g.add_node("work", work)
    g.add_conditional_edges(START, lambda s: [Send("work", i) for i in range(s["n"])])
    return g.compile()


@pytest.mark.parametrize("limit", [1, 3, 7])
async def test_fanout_never_exceeds_max_concurrency(limit: int) -> None:
    active, peak = [0], [0]
    out = await _fanout(active, peak).ainvoke({"n": 20}, {"max_concurrency": limit})
    assert sorted(out["out"]) == list(range(20))
    assert peak[0] == limit


async def test_without_a_limit_the_whole_fanout_runs_at_once() -> None:
    active, peak = [0], [0]
    await _fanout(active, peak).ainvoke({"n": 20})
    assert peak[0] == 20


@pytest.mark.parametrize("bad", [0, -2, 1.5, "4", True])
async def test_a_bad_max_concurrency_is_an_input_error(bad: Any) -> None:
    with pytest.raises(InvalidInputError, match="max_concurrency"):
        await _fanout([0], [0]).ainvoke({"n": 2}, {"max_concurrency": bad})
