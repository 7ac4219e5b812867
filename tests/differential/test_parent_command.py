"""``Command(graph=Command.PARENT)``: a subgraph's node hands off to a node of its
parent graph (the multi-agent handoff), compared with LangGraph."""

from __future__ import annotations

import operator
from types import SimpleNamespace
from typing import Annotated, Any, TypedDict

import pytest

from ._harness import assert_same


class Team(TypedDict):
    log: Annotated[list[str], operator.add]
    who: str


def _agent(m: SimpleNamespace, name: str, to: str) -> Any:
    """A two-node agent subgraph whose last node hands off to ``to`` in the parent."""

    def think(state: Team) -> dict[str, Any]:
        return {"log": [f"{name} thinks"]}

    def handoff(state: Team) -> Any:
        return m.types.Command(graph=m.types.Command.PARENT, goto=to, update={"log": [f"{name} -> {to}"], "who": to})

    g = m.graph.StateGraph(Team)
    g.add_node("think", think)
    g.add_node("handoff", handoff)
    g.add_edge(m.graph.START, "think")
    g.add_edge("think", "handoff")
    return g.compile()


@pytest.mark.parametrize("how", ["subgraph node", "sync node invoking it", "async node invoking it"])
async def test_subgraph_hands_off_to_a_parent_node(how: str) -> None:
    def build(m: SimpleNamespace) -> Any:
        alice = _agent(m, "alice", "bob")

        def sync_alice(state: Team) -> Any:
            return alice.invoke(state)

        async def async_alice(state: Team) -> Any:
            return await alice.ainvoke(state)

        node = {"subgraph node": alice, "sync node invoking it": sync_alice, "async node invoking it": async_alice}[how]

        def bob(state: Team) -> dict[str, Any]:
            return {"log": ["bob answers"]}

        g = m.graph.StateGraph(Team)
        g.add_node("alice", node, destinations=("bob",))
        g.add_node("bob", bob)
        g.add_edge(m.graph.START, "alice")
        return g.compile()

    ours = await assert_same(build, {"log": [], "who": "alice"})
    assert ours.final == {"log": ["alice -> bob", "bob answers"], "who": "bob"}


async def test_handoff_goes_only_one_level_up() -> None:
    # A grandchild's PARENT command is handled by the child graph, whose node then
    # routes inside the child graph.
    def build(m: SimpleNamespace) -> Any:
        inner = _agent(m, "inner", "after")

        def after(state: Team) -> dict[str, Any]:
            return {"log": ["child after"]}

        child = m.graph.StateGraph(Team)
        child.add_node("inner", inner, destinations=("after",))
        child.add_node("after", after)
        child.add_edge(m.graph.START, "inner")
        g = m.graph.StateGraph(Team)
        g.add_node("child", child.compile())
        g.add_edge(m.graph.START, "child")
        return g.compile()

    await assert_same(build, {"log": [], "who": ""})
