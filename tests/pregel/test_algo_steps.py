"""The loop's decisions as pure functions, unit tier: planning a step, applying the
input, restoring a failed step's finished tasks, handing out resume values, and turning
node output into writes. Plain values in and out; no event loop anywhere.
"""

from __future__ import annotations

import dataclasses

import json
import operator
import subprocess
import sys
from typing import Annotated, Any, TypedDict

import pytest

import asyncgraph.pregel._algo as algo_module
import asyncgraph.pregel._writes as writes_module
from asyncgraph.constants import END, ERROR, INTERRUPT, NO_WRITES, RESUME, START, TASKS
from asyncgraph.errors import InvalidInputError, InvalidUpdateError, TaskNotFound, UndeclaredKeyWarning
from asyncgraph.graph import StateGraph
from asyncgraph.pregel._algo import (
    PULL,
    PUSH,
    RunState,
    Task,
    apply_input,
    apply_writes,
    assign_resume,
    unanswered_interrupts,
    prepare_tasks,
    restore_pending,
    task_id,
    with_pending_applied,
)
from asyncgraph.pregel._plan import Plan, branch_channel
from asyncgraph.pregel._writes import branch_writes, command_writes, input_writes, output_writes
from asyncgraph.types import Command, Interrupt, Send


class State(TypedDict):
    log: Annotated[list[str], operator.add]
    last: str


def _noop(state: Any) -> dict[str, Any]:
    return {}


def _route(state: Any) -> str:
    return "a"


def _plan(strict: bool = False) -> Plan:
    """START -> a -> b, and a conditional edge out of b with a path map."""
    g = StateGraph(State)
    g.add_node("a", _noop)
    g.add_node("b", _noop)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_conditional_edges("b", _route, {"again": "a", "stop": END})
    plan: Plan = g.compile(strict=strict).plan
    return plan


def _after_input(plan: Plan, value: Any) -> RunState:
    """A run whose START task has mapped ``value`` onto the state (step 0 done)."""
    run = RunState(plan)
    apply_input(run, value)
    [start] = prepare_tasks(plan, run, 0, stop=100)
    input_writes(plan, start)
    start.writes.extend(start.node.after)
    apply_writes(plan, run, [start])
    return run


_IMPORTS = (
    "import ast, json, sys; tree = ast.parse(open(sys.argv[1]).read()); "
    "names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]; "
    "names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]; "
    "print(json.dumps(names))"
)


@pytest.mark.parametrize("module", [algo_module, writes_module])
def test_the_pure_modules_import_no_asyncio(module: Any) -> None:
    # Parsed in a fresh interpreter: on CPython 3.11, ast.parse in a long test session can
    # fail with "AST constructor recursion depth mismatch" (see test_import_graph.py).
    done = subprocess.run([sys.executable, "-c", _IMPORTS, module.__file__], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    imported = set(json.loads(done.stdout))
    assert not {m for m in imported if m.split(".")[0] == "asyncio"}


# --- apply_input / prepare_tasks ---------------------------------------------------


def test_the_input_makes_a_start_task_that_maps_it_onto_the_state() -> None:
    plan = _plan()
    run = RunState(plan)
    apply_input(run, {"log": ["in"]})
    tasks = prepare_tasks(plan, run, 0, stop=100)
    assert [t.name for t in tasks] == [START]
    assert tasks[0].input == {"log": ["in"]}


def test_a_new_input_replaces_one_that_never_reached_its_first_step() -> None:
    plan = _plan()
    run = RunState(plan)
    apply_input(run, {"log": ["lost"]})
    # The START task failed (or the run was cancelled); the thread gets another input.
    apply_input(run, {"log": ["next"]})
    assert run.live.count(START) == 1
    [start] = prepare_tasks(plan, run, 0, stop=100)
    assert start.input == {"log": ["next"]}
    input_writes(plan, start)
    apply_writes(plan, run, [start])  # raised KeyError '__start__' before the fix
    assert run.channels["log"].value == ["next"]


def test_sends_come_first_in_packet_order_then_triggered_nodes() -> None:
    plan = _plan()
    run = _after_input(plan, {"log": []})
    sender = Task(plan.nodes["a"], None, PULL, 0, (branch_channel("a"),))
    sender.writes = [(TASKS, Send("b", {"n": 1})), (TASKS, Send("a", {"n": 2})), (branch_channel("b"), None)]
    apply_writes(plan, run, [sender])
    tasks = prepare_tasks(plan, run, 2, stop=100)
    assert [(t.name, t.kind, t.index, t.input) for t in tasks] == [
        ("b", PUSH, 0, {"n": 1}),
        ("a", PUSH, 1, {"n": 2}),
        ("b", PULL, 0, {"log": []}),
    ]


def test_a_pending_send_to_a_missing_node_is_skipped_with_a_warning_or_refused_when_strict() -> None:
    # A saved Send to a node the graph no longer has: LangGraph skips it; so do we, saying so.
    for strict in (False, True):
        plan = dataclasses.replace(_plan(), strict=strict)
        run = _after_input(plan, {"log": []})
        sender = Task(plan.nodes["a"], None, PULL, 0, (branch_channel("a"),))
        sender.writes = [(TASKS, Send("nope", None))]
        apply_writes(plan, run, [sender])
        if strict:
            with pytest.raises(TaskNotFound, match="nope"):
                prepare_tasks(plan, run, 2, stop=100)
        else:
            with pytest.warns(UserWarning, match="Unknown node 'nope'.*ignored"):
                tasks = prepare_tasks(plan, run, 2, stop=100)
            assert all(t.name != "nope" for t in tasks)


def test_task_ids_are_stable_and_distinct() -> None:
    plan = _plan()
    one = prepare_tasks(plan, _after_input(plan, {"log": []}), 1, stop=9, checkpoint_id="c1", with_ids=True)
    two = prepare_tasks(plan, _after_input(plan, {"log": []}), 1, stop=9, checkpoint_id="c1", with_ids=True)
    other = prepare_tasks(plan, _after_input(plan, {"log": []}), 1, stop=9, checkpoint_id="c2", with_ids=True)
    assert [t.id for t in one] == [t.id for t in two]
    assert [t.id for t in one] != [t.id for t in other]
    assert one[0].id == task_id("c1", "", 1, "a", PULL, 0)
    assert prepare_tasks(plan, _after_input(plan, {"log": []}), 1, stop=9)[0].id == ""


# --- restore_pending / assign_resume -------------------------------------------------


def _two_tasks(plan: Plan) -> list[Task]:
    a = Task(plan.nodes["a"], {}, PULL, 0, ())
    b = Task(plan.nodes["b"], {}, PULL, 0, ())
    a.id, b.id = task_id(None, "", 1, "a", PULL, 0), task_id(None, "", 1, "b", PULL, 0)
    return [a, b]


def test_finished_tasks_keep_their_saved_writes_and_the_rest_run_again() -> None:
    plan = _plan()
    a, b = _two_tasks(plan)
    pending = [(a.id, "log", ["a"]), (b.id, ERROR, ValueError("boom"))]
    assert restore_pending(plan, [a, b], pending) == [b]
    assert a.done and a.writes == [("log", ["a"])] and a.update == {"log": ["a"]}
    assert not b.done


def test_a_task_that_wrote_nothing_is_done_and_an_interrupted_one_runs_again() -> None:
    plan = _plan()
    a, b = _two_tasks(plan)
    ask = Interrupt("ok?", id="i1")
    pending = [(a.id, NO_WRITES, None), (b.id, INTERRUPT, [ask]), (b.id, RESUME, ["yes"])]
    assert restore_pending(plan, [a, b], pending) == [b]
    assert a.done and a.writes == []
    assert b.prior_interrupts == [ask] and b.resume == ["yes"]


def test_a_resume_dict_answers_interrupts_by_id() -> None:
    plan = _plan()
    a, b = _two_tasks(plan)
    i1, i2 = "1" * 32, "2" * 32
    a.prior_interrupts = [Interrupt("q1", id=i1)]
    b.prior_interrupts = [Interrupt("q2", id=i2)]
    assign_resume([a, b], {i2: "two"})
    assert a.resume is None and b.resume == ["two"]
    assert a.resume_raw == b.resume_raw == {i2: "two"}


def test_a_resume_map_naming_no_waiting_interrupt_answers_nobody() -> None:
    # As in LangGraph: a map of interrupt ids is never handed out as a plain value.
    plan = _plan()
    a, b = _two_tasks(plan)
    a.prior_interrupts = [Interrupt("q1", id="1" * 32)]
    assign_resume([a, b], {"f" * 32: "elsewhere"})
    assert a.resume is None and b.resume is None


def test_a_dict_whose_keys_are_not_interrupt_ids_is_a_plain_value() -> None:
    plan = _plan()
    a, b = _two_tasks(plan)
    a.prior_interrupts = [Interrupt("q1", id="1" * 32)]
    assign_resume([a, b], {"answer": "yes"})
    assert a.resume == [{"answer": "yes"}] and b.resume is None


def test_unanswered_interrupts_are_counted_as_langgraph_counts_them() -> None:
    one, two = Interrupt("q1", id="1" * 32), Interrupt("q2", id="2" * 32)
    assert unanswered_interrupts([("a", INTERRUPT, [one]), ("b", INTERRUPT, [two])]) == 2
    # one interrupt saved by a task and by its caller counts once
    assert unanswered_interrupts([("a", INTERRUPT, [one]), ("caller", INTERRUPT, [one])]) == 1
    # a task that was answered and paused again counts as answered
    assert unanswered_interrupts([("a", INTERRUPT, [one]), ("a", RESUME, ["x"]), ("b", INTERRUPT, [two])]) == 1


def test_a_plain_resume_value_answers_every_waiting_task() -> None:
    plan = _plan()
    a, b = _two_tasks(plan)
    b.prior_interrupts = [Interrupt("q", id="i")]
    assign_resume([a, b], "yes")
    assert a.resume is None and b.resume == ["yes"]


def test_with_pending_applied_leaves_the_run_untouched() -> None:
    plan = _plan()
    run = _after_input(plan, {"log": ["in"]})
    done = Task(plan.nodes["a"], {}, PULL, 0, (branch_channel("a"),))
    done.writes = [("log", ["a"])]
    shown = with_pending_applied(plan, run, [done])
    assert shown.channels["log"].value == ["in", "a"]
    assert run.channels["log"].value == ["in"]


# --- node output -> writes -------------------------------------------------------------


def test_output_writes_drops_an_unknown_key_with_a_warning() -> None:
    plan = _plan()
    task = Task(plan.nodes["a"], {}, PULL, 0, ())
    with pytest.warns(UndeclaredKeyWarning, match="'a'.*'typo'"):
        assert output_writes(plan, task, {"typo": 1}) is None
    assert task.writes == []


def test_output_writes_names_an_unknown_key_and_the_node_when_strict() -> None:
    plan = _plan(strict=True)
    task = Task(plan.nodes["a"], {}, PULL, 0, ())
    with pytest.raises(InvalidUpdateError, match="'a'.*'typo'"):
        output_writes(plan, task, {"typo": 1})


def test_a_command_writes_its_update_then_its_goto() -> None:
    plan = _plan()
    task = Task(plan.nodes["a"], {}, PULL, 0, ())
    update = command_writes(plan, task, Command(update={"last": "x"}, goto=["b", Send("a", 1)]))
    assert update == {"last": "x"}
    assert task.writes == [("last", "x"), (branch_channel("b"), None), (TASKS, Send("a", 1))]


def test_a_path_result_missing_from_the_path_map_names_edge_and_value() -> None:
    plan = _plan()
    task = Task(plan.nodes["b"], {}, PULL, 0, ())
    [branch] = plan.nodes["b"].branches
    branch_writes(plan, task, branch, "again")
    assert task.writes == [(branch_channel("a"), None)]
    with pytest.raises(InvalidUpdateError, match="'maybe'"):
        branch_writes(plan, task, branch, "maybe")


def test_input_with_an_undeclared_key_is_refused_when_strict() -> None:
    plan = _plan(strict=True)
    start = Task(plan.nodes[START], {"nope": 1}, PULL, 0, ())
    with pytest.raises(InvalidInputError, match="'nope'"):
        input_writes(plan, start)
