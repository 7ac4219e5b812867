"""The seed agent (model node + ToolNode loop) on LangGraph, the compatibility oracle,
through the wire servers: the reference run that asyncgraph's own graph tests compare with,
and proof that the servers carry a whole agent conversation, streamed or not."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from ._http import WireServer
from .script import Text, ToolCall


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"sunny in {city}"


def _agent(server: WireServer) -> Any:
    model = server.chat_model().bind_tools([get_weather])

    async def call_model(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("call_model", call_model)
    builder.add_node("tools", ToolNode([get_weather]))
    builder.add_edge(START, "call_model")
    builder.add_conditional_edges("call_model", tools_condition, ["tools", END])
    builder.add_edge("tools", "call_model")
    return builder.compile()


async def test_agent_loop_runs_a_tool_round_trip(wire_server: WireServer) -> None:
    wire_server.push(ToolCall("get_weather", {"city": "Paris"}), "It is sunny in Paris.")

    result = await _agent(wire_server).ainvoke({"messages": [HumanMessage("Weather in Paris?")]})

    human, ai, tool_message, final = result["messages"]
    assert isinstance(ai, AIMessage) and ai.tool_calls[0]["args"] == {"city": "Paris"}
    assert isinstance(tool_message, ToolMessage) and tool_message.content == "sunny in Paris"
    assert tool_message.tool_call_id == ai.tool_calls[0]["id"]
    assert final.content == "It is sunny in Paris."
    assert [r.status for r in wire_server.requests] == [200, 200]


async def test_agent_streams_model_tokens_in_messages_mode(wire_server: WireServer) -> None:
    wire_server.push(
        ToolCall("get_weather", {"city": "Oslo"}),
        Text("Sunny in Oslo today.", tokens=("Sunny", " in", " Oslo", " today.")),
    )

    tokens = []
    updates = []
    async for mode, payload in _agent(wire_server).astream(
        {"messages": [HumanMessage("Weather in Oslo?")]}, stream_mode=["messages", "updates"]
    ):
        if mode == "updates":
            updates.append(next(iter(payload)))
        else:
            chunk, metadata = payload
            if isinstance(chunk, AIMessageChunk) and chunk.text and metadata["langgraph_node"] == "call_model":
                tokens.append(str(chunk.text))

    assert tokens == ["Sunny", " in", " Oslo", " today."]
    assert updates == ["call_model", "tools", "call_model"]
    assert all(r.stream for r in wire_server.requests)  # the graph made the model stream
