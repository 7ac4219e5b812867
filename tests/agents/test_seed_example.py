"""The seed program's graph, exactly, against real provider clients on the local wire servers.

``StateGraph(State)`` with ``messages: Annotated[list, add_messages]``, an async
``call_model`` node awaiting a ``bind_tools`` model, ``ToolNode([search])`` and a
``should_continue`` edge with a path map, run three ways: ``ainvoke``,
``astream(stream_mode="updates")`` and ``astream_log(include_types=["llm"])``.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from asyncgraph.graph import END, StateGraph
from asyncgraph.graph.message import add_messages
from asyncgraph.prebuilt import ToolNode
from tests.wire import Text, ToolCall


class State(TypedDict):
    messages: Annotated[list, add_messages]


@tool
def search(query: str) -> str:
    """Call to surf the web."""
    return "It's 60 degrees and foggy in San Francisco."


def build_app(server: Any) -> Any:
    tools = [search]
    tool_node = ToolNode(tools)
    model = server.chat_model(max_retries=0, api_key="test").bind_tools(tools)

    def should_continue(state: State) -> str:
        last_message = state["messages"][-1]
        return "continue" if last_message.tool_calls else "end"

    async def call_model(state: State) -> dict[str, Any]:
        response = await model.ainvoke(state["messages"])
        return {"messages": [response]}

    workflow = StateGraph(State)
    workflow.add_node("agent", call_model)
    workflow.add_node("action", tool_node)
    workflow.set_entry_point("agent")
    workflow.add_conditional_edges("agent", should_continue, {"continue": "action", "end": END})
    workflow.add_edge("action", "agent")
    return workflow.compile()


ANSWER = "It is 60 degrees and foggy in San Francisco."
INPUTS = {"messages": [HumanMessage(content="what is the weather in sf")]}


def script(server: Any) -> None:
    server.push(ToolCall("search", {"query": "weather in sf"}), Text(ANSWER))


def assert_tool_result_turn(server: Any) -> None:
    """The second request carried the tool's result, answering the first reply's call."""
    first, second = server.requests
    assert first.status == second.status == 200
    sent = second.messages
    if first.path.endswith("/messages"):  # Anthropic: assistant tool_use, then user tool_result
        (use,) = [b for b in sent[-2]["content"] if b["type"] == "tool_use"]
        assert sent[-2]["role"] == "assistant" and use["name"] == "search" and use["input"] == {"query": "weather in sf"}
        assert sent[-1]["role"] == "user"
        (result,) = sent[-1]["content"]
        assert result["type"] == "tool_result" and result["tool_use_id"] == use["id"]
        content = result["content"]
        text = content if isinstance(content, str) else "".join(b["text"] for b in content)
    else:  # OpenAI: assistant tool_calls, then a tool message
        (use,) = sent[-2]["tool_calls"]
        assert sent[-2]["role"] == "assistant" and use["function"]["name"] == "search"
        assert sent[-1]["role"] == "tool" and sent[-1]["tool_call_id"] == use["id"]
        text = sent[-1]["content"]
    assert text == "It's 60 degrees and foggy in San Francisco."
    assert [t.get("name") or t.get("function", {}).get("name") for t in second.tools] == ["search"]


async def test_ainvoke(wire_server: Any) -> None:
    script(wire_server)
    out = await build_app(wire_server).ainvoke(INPUTS)
    _human, ai, tool_msg, final = out["messages"]
    assert isinstance(ai, AIMessage) and ai.tool_calls[0]["name"] == "search"
    assert isinstance(tool_msg, ToolMessage) and tool_msg.tool_call_id == ai.tool_calls[0]["id"]
    assert isinstance(final, AIMessage) and final.text == ANSWER
    assert_tool_result_turn(wire_server)


async def test_astream_updates_and_pretty_print(wire_server: Any, capsys: Any) -> None:
    script(wire_server)
    seen = []
    async for output in build_app(wire_server).astream(INPUTS, stream_mode="updates"):
        for key, value in output.items():
            last = value["messages"][-1]
            last.pretty_print()
            seen.append((key, type(last).__name__))
    assert seen == [("agent", "AIMessage"), ("action", "ToolMessage"), ("agent", "AIMessage")]
    printed = capsys.readouterr().out
    assert "Tool Calls:" in printed and "search" in printed
    assert "Tool Message" in printed and "foggy" in printed
    assert ANSWER in printed
    assert_tool_result_turn(wire_server)


# langchain-core deprecates astream_log itself; the seed program still uses it.
@pytest.mark.filterwarnings("ignore:astream_log is deprecated")
async def test_astream_log_streams_llm_tokens(wire_server: Any) -> None:
    script(wire_server)
    streamed: list[str] = []
    paths: list[str] = []
    async for output in build_app(wire_server).astream_log(INPUTS, include_types=["llm"]):
        for op in output.ops:
            if op["path"].startswith("/logs/") and op["path"].endswith("/streamed_output/-"):
                paths.append(op["path"])
                content = op["value"].content
                if isinstance(content, str):
                    streamed.append(content)
                else:
                    streamed.extend(b.get("text", "") for b in content if isinstance(b, dict))
    assert "".join(streamed) == ANSWER
    assert len([s for s in streamed if s]) > 1, "the answer arrived in one piece, not streamed"
    assert all(wire_server.requests[i].stream for i in (0, 1))
    assert_tool_result_turn(wire_server)
