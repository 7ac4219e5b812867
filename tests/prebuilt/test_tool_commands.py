"""Tools that return a Command: their updates and gotos reach the graph."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AnyMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, InjectedToolCallId, tool

from asyncgraph.constants import START
from asyncgraph.graph import StateGraph
from asyncgraph.graph.message import add_messages
from asyncgraph.prebuilt import ToolNode
from asyncgraph.types import Command


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    user: str
    followed_up: bool


class SetUser(BaseTool):
    """A tool whose own ``ainvoke`` answers with a Command (as custom tools may)."""

    name: str = "set_user"
    description: str = "Set the user's name."
    goto: str | None = None
    answer: bool = True

    def _run(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        messages = [ToolMessage(f"user set to {input['args']['name']}", tool_call_id=input["id"])] if self.answer else []
        return Command(update={"messages": messages, "user": input["args"]["name"]}, goto=self.goto or ())


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def _graph(node: ToolNode) -> Any:
    builder = StateGraph(State)
    builder.add_node("tools", node)
    builder.add_node("follow_up", lambda state: {"followed_up": True})
    builder.add_edge(START, "tools")
    return builder.compile()


async def test_command_update_and_goto_are_applied_alongside_plain_results(ai_calls: Any) -> None:
    graph = _graph(ToolNode([SetUser(goto="follow_up"), add]))
    out = await graph.ainvoke({"messages": [ai_calls(("set_user", {"name": "ann"}), ("add", {"a": 1, "b": 2}))]})
    assert out["user"] == "ann"
    assert out["followed_up"] is True
    # Every call answered, in call order.
    assert [(m.tool_call_id, m.content) for m in out["messages"][1:]] == [("c0", "user set to ann"), ("c1", "3")]


async def test_node_output_with_commands_mixes_commands_and_plain_updates(ai_calls: Any) -> None:
    # As in LangGraph 1.2: a tool's Command as is, every other answer as its own update.
    out = await ToolNode([SetUser(), add]).ainvoke({"messages": [ai_calls(("set_user", {"name": "bo"}), ("add", {"a": 1, "b": 1}))]})
    assert isinstance(out, list) and len(out) == 2
    assert isinstance(out[0], Command) and out[0].update["user"] == "bo"
    assert [m.content for m in out[1]["messages"]] == ["2"]


async def test_command_without_an_answer_for_its_call_is_rejected(ai_calls: Any) -> None:
    with pytest.raises(ValueError, match="Expected to have a matching ToolMessage in Command.update for tool 'set_user'"):
        await ToolNode([SetUser(answer=False)]).ainvoke({"messages": [ai_calls(("set_user", {"name": "x"}))]})


@tool
def rename(name: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
    """Rename the user."""
    return Command(update={"messages": [ToolMessage("renamed", tool_call_id=tool_call_id)], "user": name})


async def test_decorated_tool_returning_a_command_updates_state(ai_calls: Any) -> None:
    # Fails today: asyncgraph.types.Command is not a langchain-core ToolOutputMixin, so
    # langchain-core's BaseTool stringifies the Command into a ToolMessage's content
    # before ToolNode sees it (LangGraph's Command subclasses ToolOutputMixin).
    out = await _graph(ToolNode([rename])).ainvoke({"messages": [ai_calls(("rename", {"name": "zed"}))]})
    assert out.get("user") == "zed"
    assert [m.content for m in out["messages"][1:]] == ["renamed"]
