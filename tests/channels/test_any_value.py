"""AnyValue: the last of several (equal) writes; emptied by a step without writes."""

from __future__ import annotations

from asyncgraph.channels import AnyValue
from asyncgraph.channels.base import MISSING


def test_several_writes_in_a_step_keep_the_last() -> None:
    ch = AnyValue(int, key="k").from_checkpoint(MISSING)
    assert ch.update([1, 1]) is True
    assert ch.get() == 1


def test_a_step_without_writes_empties_it_once() -> None:
    ch = AnyValue(int, key="k").from_checkpoint(MISSING)
    ch.update([2])
    assert ch.update([]) is True
    assert not ch.is_available()
    assert ch.update([]) is False


def test_it_checkpoints_and_restores_its_value() -> None:
    ch = AnyValue(int, key="k").from_checkpoint(MISSING)
    ch.update([3])
    assert ch.from_checkpoint(ch.checkpoint()).get() == 3


def test_the_langgraph_path_is_the_same_class() -> None:
    from asyncgraph.channels.any_value import AnyValue as FromModule

    assert FromModule is AnyValue
