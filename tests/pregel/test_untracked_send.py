"""An UntrackedValue in a ``Send``'s argument (often the whole state) is never saved."""

from __future__ import annotations

import operator
import threading
from typing import Annotated

from typing_extensions import TypedDict

from asyncgraph.channels.untracked_value import UntrackedValue
from asyncgraph.checkpoint.memory import InMemorySaver
from asyncgraph.constants import TASKS
from asyncgraph.graph import START, StateGraph
from asyncgraph.types import Send


class Resource:
    """A live object no checkpoint could hold (a lock)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()


class State(TypedDict):
    messages: Annotated[list[str], operator.add]
    session: Annotated[Resource, UntrackedValue]


def test_a_send_of_the_whole_state_runs_with_a_saver_and_keeps_the_live_value_unsaved() -> None:
    def setup(state: State) -> dict:
        return {"messages": ["setup"], "session": Resource("first")}

    def tool(state: State) -> dict:
        return {"messages": [f"used {state['session'].name}"], "session": Resource("second")}

    g = StateGraph(State)
    g.add_node("setup", setup)
    g.add_node("tool", tool)
    g.add_edge(START, "setup")
    g.add_conditional_edges("setup", lambda s: [Send("tool", s)])
    config = {"configurable": {"thread_id": "1"}}
    out = g.compile(checkpointer=InMemorySaver()).invoke({}, config)
    assert out["messages"] == ["setup", "used first"] and out["session"].name == "second"
    # Paused before the Send runs: the saved packet holds the state without the live value.
    saver = InMemorySaver()
    g.compile(checkpointer=saver, interrupt_before=["tool"]).invoke({}, config)
    saved = saver.get_tuple(config).checkpoint["channel_values"][TASKS]
    assert [(s.node, s.arg) for s in saved] == [("tool", {"messages": ["setup"]})]
