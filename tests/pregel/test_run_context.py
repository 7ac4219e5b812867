"""The run's configuration is one frozen object built once; what changes while the run
goes (RunProgress) is the loop's."""

from __future__ import annotations

import dataclasses
from typing import Any, TypedDict

import pytest

from asyncgraph._context import current_task
from asyncgraph.checkpoint.memory import InMemorySaver
from asyncgraph.graph import StateGraph
from asyncgraph.pregel._context import RunContext, RunProgress


class S(TypedDict):
    x: int


def _graph(seen: list[Any], checkpointer: Any = None) -> Any:
    def node(state: S) -> S:
        tc = current_task.get()
        assert tc is not None
        seen.append((tc.run, tc.run.progress.step, tc.run.progress.checkpoint_id))
        return {"x": state["x"] + 1}

    g = StateGraph(S)
    g.add_node("a", node)
    g.add_node("b", node)
    g.add_edge("__start__", "a")
    g.add_edge("a", "b")
    return g.compile(checkpointer=checkpointer)


def test_the_run_configuration_is_frozen() -> None:
    seen: list[Any] = []
    assert _graph(seen).invoke({"x": 0}) == {"x": 2}
    rc = seen[0][0]
    assert isinstance(rc, RunContext)
    for attr, value in (("config", {}), ("sink", None), ("callbacks", None), ("propagate", True),
                        ("durability", "exit")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(rc, attr, value)
    with pytest.raises((dataclasses.FrozenInstanceError, AttributeError, TypeError)):
        rc.checkpoint_id = "x"  # type: ignore[attr-defined]  # per-step state is not here


def test_both_steps_share_one_configuration_and_progress_moves_on() -> None:
    seen: list[Any] = []
    _graph(seen, InMemorySaver()).invoke({"x": 0}, {"configurable": {"thread_id": "t"}})
    (rc_a, step_a, ckpt_a), (rc_b, step_b, ckpt_b) = seen
    assert rc_a is rc_b  # built once per run
    assert (step_a, step_b) == (1, 2)
    assert ckpt_a is not None and ckpt_b is not None and ckpt_a != ckpt_b  # the loop moved it


def test_replace_makes_a_changed_copy_sharing_progress() -> None:
    rc = RunContext(None, None, {})  # type: ignore[arg-type]
    other = rc.replace(durability="exit")
    assert (rc.durability, other.durability) == ("async", "exit")
    assert other.progress is rc.progress
    assert isinstance(rc.progress, RunProgress)
    rc.progress.step = 3  # the mutable part is the loop's to write
    assert other.progress.step == 3
