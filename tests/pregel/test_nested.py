"""pregel/_nested: subgraph namespaces and the replay bound, with no event loop."""

from __future__ import annotations

from asyncgraph.pregel._nested import ReplayBound, child_namespace, own_namespace, with_map


def test_own_namespace_drops_task_ids_and_keeps_call_numbers() -> None:
    assert own_namespace("") == ""
    assert own_namespace("sub:1f2e") == "sub"
    assert own_namespace("outer:ab|inner:cd|1") == "outer|inner|1"


def test_child_namespace_numbers_later_runs_of_one_task() -> None:
    assert child_namespace("node:ab", 0) == "node:ab"
    assert child_namespace("node:ab", 2) == "node:ab|2"


def test_replay_bound_first_visit_per_subgraph_node_not_per_task() -> None:
    bound = ReplayBound("cid")
    assert bound.first_visit("sub:task1")
    assert not bound.first_visit("sub:task2")  # the same node in a later step
    assert bound.first_visit("other:task1")
    assert bound.first_visit("kept")  # a checkpointer=True subgraph's own namespace
    assert not bound.first_visit("kept")


def test_with_map_adds_the_config_own_entry() -> None:
    cfg = {"configurable": {"thread_id": "t", "checkpoint_ns": "sub", "checkpoint_id": "c2"}}
    out = with_map(cfg, {"": "c1"})
    assert out["configurable"]["checkpoint_map"] == {"": "c1", "sub": "c2"}
    root = {"configurable": {"thread_id": "t", "checkpoint_ns": "", "checkpoint_id": "c1"}}
    assert with_map(root, {}) is root
