"""Channels, unit tier: no graph, no event loop. Each channel is driven with ``update``
as the engine would drive it (one call per step, with every write of that step)."""

from __future__ import annotations

import operator
from typing import Annotated, Any

import pytest

from asyncgraph.channels import (
    BinaryOperatorAggregate,
    EphemeralValue,
    LastValue,
    LastValueAfterFinish,
    NamedBarrierValue,
    NamedBarrierValueAfterFinish,
    Topic,
)
from asyncgraph.channels.base import MISSING, BaseChannel
from asyncgraph.errors import EmptyChannelError, InvalidUpdateError
from asyncgraph.types import Overwrite

# --- LastValue ----------------------------------------------------------------------


def test_last_value_starts_empty_and_keeps_one_write() -> None:
    ch = LastValue(int, key="x")
    assert not ch.is_available()
    with pytest.raises(EmptyChannelError):
        ch.get()
    assert ch.update([1]) is True
    assert ch.get() == 1
    assert ch.update([2]) is True
    assert ch.get() == 2


def test_last_value_no_writes_is_not_a_change() -> None:
    ch = LastValue(int, key="x")
    ch.update([5])
    assert ch.update([]) is False
    assert ch.get() == 5


def test_last_value_rejects_two_writes_in_one_step_naming_the_key() -> None:
    ch = LastValue(int, key="answer")
    ch.update([1])
    with pytest.raises(InvalidUpdateError) as info:
        ch.update([2, 3])
    assert info.value.key == "answer"
    assert "answer" in str(info.value)
    assert "INVALID_CONCURRENT_GRAPH_UPDATE" in str(info.value)
    # The failed step did not change the value.
    assert ch.get() == 1


def test_last_value_stores_none_as_a_value() -> None:
    ch = LastValue(Any, key="x")
    ch.update([None])
    assert ch.is_available()
    assert ch.get() is None
    assert ch.checkpoint() is None


# --- BinaryOperatorAggregate ----------------------------------------------------------


def test_binop_starts_from_the_types_empty_value() -> None:
    assert BinaryOperatorAggregate(list, operator.add).get() == []
    assert BinaryOperatorAggregate(int, operator.add).get() == 0
    assert BinaryOperatorAggregate(list[str], operator.add).get() == []
    assert BinaryOperatorAggregate(dict, operator.or_).get() == {}


def test_binop_new_run_starts_from_a_new_empty_value() -> None:
    spec = BinaryOperatorAggregate(list, operator.add, key="log")
    a, b = spec.new_run(), spec.new_run()
    assert a is not None and b is not None
    assert a.get() == [] and b.get() == []
    assert a.value is not b.value and a.value is not spec.value


def test_channels_without_a_starting_value_are_made_on_first_write() -> None:
    assert LastValue(int, key="x").new_run() is None
    assert EphemeralValue(key="e").new_run() is None
    assert NamedBarrierValue(names={"a", "b"}, key="j").new_run() is None
    assert BinaryOperatorAggregate(int, operator.add, key="n").new_run() is not None


def test_binop_folds_every_write_of_a_step_in_order() -> None:
    ch = BinaryOperatorAggregate(list, operator.add, key="log")
    assert ch.update([["a"], ["b"]]) is True
    assert ch.update([["c"]]) is True
    assert ch.get() == ["a", "b", "c"]


def test_binop_no_writes_keeps_value_and_reports_no_change() -> None:
    ch = BinaryOperatorAggregate(int, operator.add)
    ch.update([3])
    assert ch.update([]) is False
    assert ch.get() == 3


def test_binop_without_an_empty_value_takes_the_first_write() -> None:
    class NoDefault:
        def __init__(self, v: int) -> None:
            self.v = v

    ch = BinaryOperatorAggregate(NoDefault, lambda a, b: NoDefault(a.v + b.v))
    assert not ch.is_available()
    ch.update([NoDefault(2), NoDefault(5)])
    assert ch.get().v == 7


def test_binop_custom_reducer_order_is_left_then_write() -> None:
    ch = BinaryOperatorAggregate(str, lambda left, right: f"({left}{right})")
    ch.update(["a", "b"])
    assert ch.get() == "((a)b)"


def test_binop_overwrite_replaces_instead_of_reducing() -> None:
    ch = BinaryOperatorAggregate(list, operator.add, key="items")
    ch.update([[1, 2]])
    assert ch.update([Overwrite([9])]) is True
    assert ch.get() == [9]
    ch.update([[10]])
    assert ch.get() == [9, 10]


def test_binop_overwrite_discards_the_other_writes_of_its_step() -> None:
    # LangGraph semantics: once a step overwrites a reducer key, that step's plain
    # writes to the key (before or after the Overwrite) do not reduce onto it.
    ch = BinaryOperatorAggregate(list, operator.add, key="items")
    ch.update([[1]])
    ch.update([[2], Overwrite([9]), [3]])
    assert ch.get() == [9]


def test_binop_two_overwrites_in_one_step_is_an_error() -> None:
    ch = BinaryOperatorAggregate(list, operator.add, key="items")
    with pytest.raises(InvalidUpdateError) as info:
        ch.update([Overwrite([1]), Overwrite([2])])
    assert "Overwrite" in str(info.value)


# --- Topic --------------------------------------------------------------------------


def test_topic_collects_a_steps_writes_and_flattens_lists() -> None:
    ch = Topic(int, key="t")
    assert not ch.is_available()
    assert ch.update([1, [2, 3], 4]) is True
    assert ch.get() == [1, 2, 3, 4]


def test_topic_without_accumulate_is_cleared_by_a_step_without_writes() -> None:
    ch = Topic(int, key="t")
    ch.update([1])
    ch.update([2])
    assert ch.get() == [2]
    assert ch.update([]) is True
    assert not ch.is_available()
    with pytest.raises(EmptyChannelError):
        ch.get()
    assert ch.update([]) is False


def test_topic_accumulate_keeps_values_across_steps() -> None:
    ch = Topic(int, accumulate=True, key="t")
    ch.update([1])
    ch.update([2, 3])
    assert ch.update([]) is False
    assert ch.get() == [1, 2, 3]


# --- EphemeralValue --------------------------------------------------------------------


def test_ephemeral_value_lasts_one_step() -> None:
    ch = EphemeralValue(int, key="e")
    assert ch.update([]) is False
    assert ch.update([7]) is True
    assert ch.get() == 7
    assert ch.update([]) is True
    assert not ch.is_available()


def test_ephemeral_value_guard_rejects_two_writes() -> None:
    ch = EphemeralValue(int, key="e")
    with pytest.raises(InvalidUpdateError) as info:
        ch.update([1, 2])
    assert info.value.key == "e"


def test_ephemeral_value_without_guard_keeps_the_last_write() -> None:
    ch = EphemeralValue(int, guard=False, key="e")
    ch.update([1, 2])
    assert ch.get() == 2


# --- NamedBarrierValue --------------------------------------------------------------


def test_barrier_opens_when_every_name_wrote_and_closes_on_consume() -> None:
    ch = NamedBarrierValue(str, names={"a", "b"}, key="join")
    assert not ch.is_available()
    assert ch.update(["a"]) is True
    assert not ch.is_available()
    assert ch.update(["a"]) is False  # already seen: no change
    assert ch.update(["b"]) is True
    assert ch.is_available()
    assert ch.consume() is True
    assert not ch.is_available()
    assert ch.consume() is False


def test_barrier_accepts_all_names_in_one_step() -> None:
    ch = NamedBarrierValue(str, names={"a", "b", "c"}, key="join")
    ch.update(["c", "a", "b"])
    assert ch.is_available()


def test_barrier_rejects_an_unknown_name() -> None:
    ch = NamedBarrierValue(str, names={"a", "b"}, key="join")
    with pytest.raises(InvalidUpdateError) as info:
        ch.update(["z"])
    assert info.value.key == "join"
    assert "'z'" in str(info.value)


def test_barrier_get_before_open_is_empty() -> None:
    ch = NamedBarrierValue(str, names={"a", "b"}, key="join")
    ch.update(["a"])
    with pytest.raises(EmptyChannelError):
        ch.get()


# --- deferred triggers: available only after finish ---------------------------------


def test_last_value_after_finish_opens_on_finish_and_closes_on_consume() -> None:
    ch = LastValueAfterFinish(key="branch:to:d")
    assert not ch.finish()  # nothing written: nothing to open
    assert ch.update([None])
    assert not ch.is_available()  # written, but the run has not reached its end
    with pytest.raises(EmptyChannelError):
        ch.get()
    assert ch.finish() and ch.is_available() and ch.get() is None
    assert not ch.finish()  # already open
    assert ch.consume() and not ch.is_available()
    assert ch.checkpoint() is MISSING


def test_last_value_after_finish_a_new_write_waits_for_the_next_finish() -> None:
    ch = LastValueAfterFinish(key="t")
    ch.update(["a"])
    ch.finish()
    ch.update(["b"])
    assert not ch.is_available()
    ch.finish()
    assert ch.get() == "b"
    restored = ch.from_checkpoint(ch.checkpoint())
    assert restored.is_available() and restored.get() == "b"


def test_barrier_after_finish_needs_every_name_then_the_finish() -> None:
    ch = NamedBarrierValueAfterFinish(str, names={"a", "b"}, key="join")
    ch.update(["a"])
    assert not ch.finish()  # incomplete: the finish does not open it
    ch.update(["b"])
    assert not ch.is_available()
    assert ch.finish() and ch.is_available()
    assert ch.consume() and not ch.is_available()
    assert ch.checkpoint() is MISSING


# --- checkpoint / from_checkpoint ----------------------------------------------------


def _channels() -> list[tuple[BaseChannel[Any, Any], list[Any]]]:
    """A channel of each kind and the writes that give it a value."""
    return [
        (LastValue(int, key="lv"), [3]),
        (BinaryOperatorAggregate(list, operator.add, key="bo"), [[1], [2]]),
        (Topic(int, key="tp"), [1, 2]),
        (Topic(int, accumulate=True, key="tpa"), [1, [2]]),
        (EphemeralValue(str, key="ev"), ["x"]),
        (NamedBarrierValue(str, names={"a", "b"}, key="nb"), ["a"]),
        (LastValueAfterFinish(str, key="lvf"), ["x"]),
        (NamedBarrierValueAfterFinish(str, names={"a", "b"}, key="nbf"), ["a", "b"]),
    ]


@pytest.mark.parametrize("index", range(8))
def test_checkpoint_round_trip_restores_value_and_kind(index: int) -> None:
    ch, writes = _channels()[index]
    ch.update(writes)
    saved = ch.checkpoint()
    restored = ch.from_checkpoint(saved)
    assert type(restored) is type(ch)
    assert restored.key == ch.key
    assert restored.is_available() == ch.is_available()
    assert restored.checkpoint() == saved
    if ch.is_available():
        assert restored.get() == ch.get()


@pytest.mark.parametrize("index", range(8))
def test_restored_channel_is_independent_of_the_original(index: int) -> None:
    ch, writes = _channels()[index]
    ch.update(writes)
    before = ch.checkpoint()
    restored = ch.from_checkpoint(before)
    restored.update(writes)
    restored.update(["b"] if isinstance(ch, NamedBarrierValue) else writes[:1])
    assert ch.checkpoint() == before


# A reducer channel (index 1) starts with its type's empty value instead.
@pytest.mark.parametrize("index", [0, 2, 3, 4, 5, 6, 7])
def test_empty_channel_checkpoints_as_missing(index: int) -> None:
    ch, _ = _channels()[index]
    assert ch.checkpoint() is MISSING
    assert not ch.from_checkpoint(MISSING).is_available()


def test_restored_reducer_keeps_its_operator() -> None:
    ch = BinaryOperatorAggregate(Annotated[list, "meta"], operator.add, key="bo")
    ch.update([[1]])
    restored = ch.from_checkpoint(ch.checkpoint())
    restored.update([[2]])
    assert restored.get() == [1, 2]


def test_restored_barrier_remembers_who_wrote() -> None:
    ch = NamedBarrierValue(str, names={"a", "b"}, key="nb")
    ch.update(["a"])
    restored = ch.from_checkpoint(ch.checkpoint())
    assert not restored.is_available()
    restored.update(["b"])
    assert restored.is_available()


def test_copy_is_a_snapshot() -> None:
    ch = BinaryOperatorAggregate(list, operator.add, key="bo")
    ch.update([[1]])
    snap = ch.copy()
    ch.update([[2]])
    assert snap.get() == [1]
    assert ch.get() == [1, 2]


def test_binop_copy_keeps_its_reducer_and_is_independent() -> None:
    ch = BinaryOperatorAggregate(list, operator.add, key="xs")
    ch.update([[1]])
    twin = ch.copy()
    assert (type(twin), twin.key, twin.operator, twin.get()) == (BinaryOperatorAggregate, "xs", operator.add, [1])
    twin.update([[2]])
    assert (ch.get(), twin.get()) == ([1], [1, 2])
    fresh = twin.from_checkpoint(MISSING)
    fresh.update([[3]])  # its empty factory came along: starts from the first write
    assert fresh.get() == [3]


def test_binop_subclass_copy_goes_through_its_own_checkpoint() -> None:
    class Tagged(BinaryOperatorAggregate):
        __slots__ = ("tag",)

        def checkpoint(self) -> Any:
            return ("saved", self.value)

        def from_checkpoint(self, checkpoint: Any) -> Tagged:
            new = super().from_checkpoint(checkpoint[1] if isinstance(checkpoint, tuple) else checkpoint)
            return new  # type: ignore[return-value]

    ch = Tagged(list, operator.add, key="xs")
    ch.tag = "t"
    ch.update([[1]])
    twin = ch.copy()
    assert (type(twin), twin.tag, twin.get()) == (Tagged, "t", [1])
