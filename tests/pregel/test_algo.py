"""``pregel._algo``, unit tier: planning and write application on plain values.

The plan comes from compiling a real ``StateGraph`` (compiling is pure); steps are
simulated by building ``Task`` objects with the writes a node would have produced and
calling ``apply_writes`` / ``triggered_nodes`` directly. No event loop anywhere.
"""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any, TypedDict

import pytest

from asyncgraph.constants import END, START, TASKS
from asyncgraph.errors import InvalidUpdateError
from asyncgraph.graph import StateGraph
from asyncgraph.pregel._algo import (
    PULL,
    PUSH,
    RunState,
    Task,
    apply_writes,
    pending_sends,
    task_sort_key,
    triggered_nodes,
)
from asyncgraph.pregel._plan import Plan, branch_channel
from asyncgraph.types import Send


class State(TypedDict):
    log: Annotated[list[str], operator.add]
    last: str


def _noop(state: Any) -> dict[str, Any]:
    return {}


def _plan(join: bool = False) -> Plan:
    """START -> a, START -> b, a -> c, b -> c (or the join [a, b] -> c)."""
    g = StateGraph(State)
    for name in ("a", "b", "c"):
        g.add_node(name, _noop)
    g.add_edge(START, "a")
    g.add_edge(START, "b")
    if join:
        g.add_edge(["a", "b"], "c")
    else:
        g.add_edge("a", "c")
        g.add_edge("b", "c")
    g.add_edge("c", END)
    plan: Plan = g.compile().plan
    return plan


def _started(plan: Plan, value: Any) -> RunState:
    """A run whose input has been written to the START channel (step -1)."""
    run = RunState(plan)
    apply_writes(plan, run, [Task(plan.nodes[START], None, PULL, 0, ())])
    run.channel(START).update([value])
    run.versions[START] = 1
    run.live = (*run.live, START)
    run.updated = {START}
    return run


def _pull(plan: Plan, run: RunState, name: str, writes: list[tuple[str, Any]]) -> Task:
    node = plan.nodes[name]
    triggers = tuple(t for t in node.triggers if run.channel(t).is_available())
    task = Task(node, None, PULL, 0, triggers)
    task.writes.extend(writes)
    return task


def _push(plan: Plan, name: str, index: int, writes: list[tuple[str, Any]]) -> Task:
    task = Task(plan.nodes[name], None, PUSH, index, ())
    task.writes.extend(writes)
    return task


def _names(nodes: list[Any]) -> list[str]:
    return [n.name for n in nodes]


def test_the_algorithm_module_does_not_use_asyncio() -> None:
    import asyncgraph.pregel._algo as algo

    assert "asyncio" not in vars(algo)
    assert not any(v is asyncio for v in vars(algo).values())


# --- triggered_nodes ---------------------------------------------------------------


def test_nothing_is_triggered_before_input() -> None:
    plan = _plan()
    assert triggered_nodes(plan, RunState(plan)) == []


def test_input_triggers_only_the_start_task() -> None:
    plan = _plan()
    run = _started(plan, {"last": "x"})
    assert _names(triggered_nodes(plan, run)) == [START]


def test_edges_trigger_their_targets_in_declaration_order() -> None:
    plan = _plan()
    run = _started(plan, {})
    start = _pull(plan, run, START, [("last", "in"), *plan.nodes[START].after])
    apply_writes(plan, run, [start])
    assert _names(triggered_nodes(plan, run)) == ["a", "b"]


def test_a_node_that_saw_its_trigger_does_not_run_again() -> None:
    plan = _plan()
    run = _started(plan, {})
    apply_writes(plan, run, [_pull(plan, run, START, list(plan.nodes[START].after))])
    a = _pull(plan, run, "a", [])
    b = _pull(plan, run, "b", [])
    apply_writes(plan, run, [a, b])  # no out-edge writes: nothing new is triggered
    assert triggered_nodes(plan, run) == []
    run.updated = None  # "unknown": every node is checked against what it has seen
    assert triggered_nodes(plan, run) == []


def test_writes_to_a_state_key_alone_trigger_nothing() -> None:
    plan = _plan()
    run = _started(plan, {})
    apply_writes(plan, run, [_pull(plan, run, START, [("last", "x")])])
    assert triggered_nodes(plan, run) == []


def test_two_edges_into_one_node_start_it_once() -> None:
    plan = _plan()
    run = _started(plan, {})
    apply_writes(plan, run, [_pull(plan, run, START, list(plan.nodes[START].after))])
    a = _pull(plan, run, "a", list(plan.nodes["a"].after))
    b = _pull(plan, run, "b", list(plan.nodes["b"].after))
    apply_writes(plan, run, [a, b])
    assert _names(triggered_nodes(plan, run)) == ["c"]


def test_join_waits_for_every_source_across_steps() -> None:
    plan = _plan(join=True)
    run = _started(plan, {})
    apply_writes(plan, run, [_pull(plan, run, START, [(branch_channel("a"), None)])])
    a = _pull(
        plan, run, "a", list(plan.nodes["a"].after) + [(branch_channel("b"), None)]
    )
    apply_writes(plan, run, [a])
    # Only "a" has arrived at the join: "b" runs, "c" waits.
    assert _names(triggered_nodes(plan, run)) == ["b"]
    b = _pull(plan, run, "b", list(plan.nodes["b"].after))
    apply_writes(plan, run, [b])
    assert _names(triggered_nodes(plan, run)) == ["c"]
    c = _pull(plan, run, "c", [])
    apply_writes(plan, run, [c])
    # Running "c" consumed the barrier.
    join = next(k for k in plan.channels if k.startswith("join:"))
    assert not run.channel(join).is_available()
    assert triggered_nodes(plan, run) == []


# --- apply_writes: ordering ----------------------------------------------------------


def test_sort_key_puts_pull_tasks_by_name_before_push_tasks_by_send_order() -> None:
    plan = _plan()
    run = _started(plan, {})
    tasks = [
        _push(plan, "a", 1, []),
        _pull(plan, run, "c", []),
        _push(plan, "c", 0, []),
        _pull(plan, run, "a", []),
    ]
    ordered = sorted(tasks, key=task_sort_key)
    assert [(t.kind, t.name, t.index) for t in ordered] == [
        (PULL, "a", 0),
        (PULL, "c", 0),
        (PUSH, "c", 0),
        (PUSH, "a", 1),
    ]


def test_writes_apply_in_sorted_task_order_not_completion_order() -> None:
    plan = _plan()
    run = _started(plan, {})
    # Completion order: push #1, pull b, push #0, pull a.
    tasks = [
        _push(plan, "a", 1, [("log", ["push1"])]),
        _pull(plan, run, "b", [("log", ["b"])]),
        _push(plan, "c", 0, [("log", ["push0"])]),
        _pull(plan, run, "a", [("log", ["a1"]), ("log", ["a2"])]),
    ]
    apply_writes(plan, run, tasks)
    assert run.channel("log").get() == ["a1", "a2", "b", "push0", "push1"]


def test_order_does_not_depend_on_the_input_sequence() -> None:
    plan = _plan()
    results = []
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        run = _started(plan, {})
        tasks = [
            _pull(plan, run, "c", [("log", ["c"])]),
            _pull(plan, run, "a", [("log", ["a"])]),
            _push(plan, "b", 0, [("log", ["p"])]),
        ]
        apply_writes(plan, run, [tasks[i] for i in order])
        results.append(run.channel("log").get())
    assert results == [["a", "c", "p"]] * 3


# --- apply_writes: versions and updated channels -------------------------------------


def test_changed_channels_get_a_newer_version_and_are_reported() -> None:
    plan = _plan()
    run = _started(plan, {})
    before = dict(run.versions)
    updated = apply_writes(
        plan, run, [_pull(plan, run, START, [("last", "x"), ("log", ["l"])])]
    )
    assert {"last", "log"} <= updated.keys()
    assert run.versions["last"] > before.get("last", 0)
    assert run.versions["log"] > before.get("log", 0)
    v_last = run.versions["last"]
    updated = apply_writes(plan, run, [_pull(plan, run, "a", [("log", ["m"])])])
    assert "last" not in updated
    assert run.versions["last"] == v_last


def test_a_reducer_with_no_writes_keeps_its_version() -> None:
    plan = _plan()
    run = _started(plan, {})
    apply_writes(plan, run, [_pull(plan, run, START, [("log", ["x"])])])
    version = run.versions["log"]
    assert "log" not in apply_writes(
        plan, run, [_pull(plan, run, "a", [("last", "y")])]
    )
    assert run.versions["log"] == version


def test_ephemeral_triggers_reset_at_the_next_barrier() -> None:
    plan = _plan()
    run = _started(plan, {})
    trigger = branch_channel("a")
    apply_writes(plan, run, [_pull(plan, run, START, [(trigger, None)])])
    assert not run.channel(START).is_available()  # the input lasted one step
    assert run.channel(trigger).is_available()
    version = run.versions[trigger]
    updated = apply_writes(plan, run, [_pull(plan, run, "a", [("last", "done")])])
    assert not run.channel(trigger).is_available()
    assert trigger in updated
    assert run.versions[trigger] > version


def test_ephemeral_trigger_written_again_stays() -> None:
    plan = _plan()
    run = _started(plan, {})
    trigger = branch_channel("a")
    apply_writes(plan, run, [_pull(plan, run, START, [(trigger, None)])])
    apply_writes(plan, run, [_pull(plan, run, "a", [(trigger, None)])])
    assert run.channel(trigger).is_available()
    assert _names(triggered_nodes(plan, run)) == ["a"]


def test_sends_are_queued_for_the_next_step_only() -> None:
    plan = _plan()
    run = _started(plan, {})
    sends = [Send("c", {"i": 0}), Send("a", {"i": 1})]
    apply_writes(plan, run, [_pull(plan, run, START, [(TASKS, s) for s in sends])])
    assert list(pending_sends(run)) == sends
    apply_writes(plan, run, [_push(plan, "c", 0, []), _push(plan, "a", 1, [])])
    assert list(pending_sends(run)) == []


# --- apply_writes: errors ----------------------------------------------------------


def test_concurrent_writes_to_a_last_value_key_name_key_and_nodes() -> None:
    plan = _plan()
    run = _started(plan, {})
    tasks = [
        _pull(plan, run, "b", [("last", "from b")]),
        _pull(plan, run, "a", [("last", "from a")]),
    ]
    with pytest.raises(InvalidUpdateError) as info:
        apply_writes(plan, run, tasks)
    err = info.value
    assert err.key == "last"
    assert set(err.nodes) == {"a", "b"}
    assert "'last'" in str(err)
    assert "a" in str(err) and "b" in str(err)


def test_a_write_to_an_unknown_channel_names_key_and_node() -> None:
    plan = _plan()
    run = _started(plan, {})
    with pytest.raises(InvalidUpdateError) as info:
        apply_writes(plan, run, [_pull(plan, run, "a", [("nope", 1)])])
    assert info.value.key == "nope"
    assert info.value.nodes == ("a",)


def _boom(left: list[str], right: list[str]) -> list[str]:
    raise ZeroDivisionError("reducer broke")


class BoomState(TypedDict):
    x: Annotated[list[str], _boom]


def test_a_failing_reducer_keeps_its_exception_with_a_note() -> None:
    g = StateGraph(BoomState)
    g.add_node("n", _noop)
    g.add_edge(START, "n")
    plan = g.compile().plan
    run = RunState(plan)
    task = Task(plan.nodes["n"], None, PULL, 0, ())
    task.writes.append(("x", ["v"]))
    with pytest.raises(ZeroDivisionError) as info:
        apply_writes(plan, run, [task])
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "'x'" in notes and "n" in notes


# --- edge triggers: one channel object shared by every run (Plan.fired) -------------


def _fired_values(plan: Plan) -> list[Any]:
    return [ch.value for ch in plan.fired.values()]


def test_a_fired_edge_is_the_plans_shared_channel_and_is_dropped_at_the_next_barrier() -> None:
    plan = _plan()
    a = branch_channel("a")
    runs = [_started(plan, {}) for _ in range(2)]
    for run in runs:
        apply_writes(plan, run, [_pull(plan, run, START, list(plan.nodes[START].after))])
    # Both runs hold the plan's own channel: no channel object per run and edge.
    assert runs[0].channels[a] is runs[1].channels[a] is plan.fired[a]
    run = runs[0]
    v = run.versions[a]
    task = Task(plan.nodes["a"], None, PULL, 0, (a,))
    task.writes.append(("log", ["a"]))
    updated = apply_writes(plan, run, [task])
    assert a not in run.channels and a in updated and run.versions[a] > v
    assert runs[1].channels[a] is plan.fired[a]  # the other run's edge is still fired
    assert _fired_values(plan) == [None] * len(plan.fired)


def test_a_run_writes_a_shared_edge_channel_only_through_its_own_copy() -> None:
    from asyncgraph.pregel._algo import apply_null_writes

    plan = _plan()
    a, b = branch_channel("a"), branch_channel("b")
    run = _started(plan, {})
    apply_writes(plan, run, [_pull(plan, run, START, list(plan.nodes[START].after))])
    assert run.channels[b] is plan.fired[b]
    # A value other than an edge's None, and writes between steps, go to a copy.
    apply_writes(plan, run, [_pull(plan, run, "a", [(b, "x")])])
    assert run.channels[b] is not plan.fired[b] and run.channels[b].value == "x"
    apply_writes(plan, run, [_pull(plan, run, START, list(plan.nodes[START].after))])
    assert run.channels[a] is plan.fired[a]
    apply_null_writes(plan, run, [(a, None)])
    assert run.channels[a] is not plan.fired[a] and run.channels[a].value is None
    run.channel(b).update([])  # emptying a run's channel leaves the plan's alone
    assert _fired_values(plan) == [None] * len(plan.fired)
