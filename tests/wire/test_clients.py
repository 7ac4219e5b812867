"""The real LangChain chat clients, driven end to end through the local wire servers.

These prove what later graph tests rely on: ``ChatAnthropic`` and ``ChatOpenAI`` accept
what the servers send (text, streamed tokens, streamed tool calls, errors), and the
servers see what the clients put on the wire (tool results with the right ids).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, cast

import anthropic
import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from ._http import WireServer
from .anthropic_server import AnthropicServer
from .openai_server import OpenAIServer
from .script import ErrorResponse, Text, ToolCall, ToolCalls, routed


@tool
def get_weather(city: str, unit: str = "celsius") -> str:
    """Current weather in a city."""
    return f"18 degrees {unit} and sunny in {city}"


def _merge(chunks: Sequence[BaseMessage]) -> AIMessageChunk:
    """Add up streamed chunks the way a graph's message reducer would see them."""
    assert chunks and all(isinstance(chunk, AIMessageChunk) for chunk in chunks)
    merged = cast(AIMessageChunk, chunks[0])
    for chunk in chunks[1:]:
        merged += cast(AIMessageChunk, chunk)
    return merged


def _text_pieces(chunks: Sequence[BaseMessage]) -> list[str]:
    """The text each chunk carried, whatever the provider's content shape."""
    return [str(chunk.text) for chunk in chunks if chunk.text]


# -- plain text -------------------------------------------------------------------


def test_invoke_returns_the_scripted_text_with_usage(wire_server: WireServer) -> None:
    wire_server.push("Hello from the wire.")

    reply = wire_server.chat_model().invoke("Say hello")

    assert isinstance(reply, AIMessage)
    assert reply.content == "Hello from the wire."
    assert reply.usage_metadata is not None and reply.usage_metadata["output_tokens"] > 0
    [sent] = wire_server.requests
    assert sent.status == 200 and not sent.stream
    assert sent.messages[-1]["role"] == "user"
    assert sent.first_user_text == "Say hello"


async def test_ainvoke_returns_the_scripted_text(wire_server: WireServer) -> None:
    wire_server.push("Async hello.")

    reply = await wire_server.chat_model().ainvoke([HumanMessage("hi")])

    assert reply.content == "Async hello."
    default_model = "claude-test" if isinstance(wire_server, AnthropicServer) else "gpt-4o-mini"
    assert wire_server.requests[0].model == default_model


async def test_astream_yields_each_scripted_token_in_order(wire_server: WireServer) -> None:
    wire_server.push(Text("Hello, streaming world!", tokens=("Hel", "lo,", " stream", "ing", " world!")))

    chunks = [chunk async for chunk in wire_server.chat_model().astream("hi")]

    assert _text_pieces(chunks) == ["Hel", "lo,", " stream", "ing", " world!"]
    merged = _merge(chunks)
    assert merged.text == "Hello, streaming world!"
    assert merged.usage_metadata is not None and merged.usage_metadata["output_tokens"] == 5
    assert wire_server.requests[0].stream


def test_sync_stream_matches_invoke(wire_server: WireServer) -> None:
    wire_server.push("one two three", "one two three")
    model = wire_server.chat_model()

    whole = model.invoke("count")
    streamed = list(model.stream("count"))

    assert _text_pieces(streamed) == ["one", " two", " three"]
    assert _merge(streamed).text == whole.text
    assert _merge(streamed).usage_metadata == whole.usage_metadata


async def test_tokens_reach_the_client_as_they_are_sent(wire_server: WireServer) -> None:
    # Timestamps on arrival: a buffered (non-incremental) stream would deliver all at once.
    wire_server.token_delay = 0.25
    wire_server.push(Text("a b c", tokens=("a", " b", " c")))

    arrivals = []
    async for chunk in wire_server.chat_model().astream("go"):
        if _text_pieces([chunk]):
            arrivals.append(time.monotonic())

    assert len(arrivals) == 3
    assert arrivals[-1] - arrivals[0] >= 0.4


# -- tool calls -------------------------------------------------------------------


def test_bind_tools_invoke_returns_parsed_tool_calls(wire_server: WireServer) -> None:
    wire_server.push(
        ToolCalls(
            ToolCall("get_weather", {"city": "Paris"}),
            ToolCall("get_weather", {"city": "Oslo", "unit": "fahrenheit"}, id=_call_id(wire_server, "fixed")),
            text="Checking both.",
        )
    )

    reply = wire_server.chat_model().bind_tools([get_weather]).invoke("Weather in Paris and Oslo?")

    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Oslo", "unit": "fahrenheit"}),
    ]
    assert reply.tool_calls[1]["id"] == _call_id(wire_server, "fixed")
    assert reply.tool_calls[0]["id"] != reply.tool_calls[1]["id"]
    assert "Checking both." in reply.text
    [sent_tool] = wire_server.requests[0].tools
    assert "get_weather" in str(sent_tool)


async def test_bind_tools_astream_assembles_arguments_from_fragments(wire_server: WireServer) -> None:
    wire_server.json_fragments = 4
    wire_server.push(ToolCall("get_weather", {"city": "San Francisco", "unit": "celsius"}))

    model = wire_server.chat_model().bind_tools([get_weather])
    chunks = [chunk async for chunk in model.astream("Weather in SF?")]

    fragments = [tc["args"] for chunk in chunks for tc in cast(AIMessageChunk, chunk).tool_call_chunks if tc["args"]]
    assert len(fragments) >= 3  # arguments really arrived in pieces
    merged = _merge(chunks)
    [call] = merged.tool_calls
    assert call["name"] == "get_weather"
    assert call["args"] == {"city": "San Francisco", "unit": "celsius"}
    assert call["id"]


@pytest.mark.parametrize("streamed", [False, True], ids=["invoke", "astream"])
async def test_tool_result_goes_back_with_the_issued_id(wire_server: WireServer, streamed: bool) -> None:
    wire_server.push(ToolCall("get_weather", {"city": "Paris"}), "It is 18 degrees and sunny in Paris.")
    model = wire_server.chat_model().bind_tools([get_weather])
    history: list[BaseMessage] = [HumanMessage("Weather in Paris?")]

    if streamed:
        ai: BaseMessage = _merge([chunk async for chunk in model.astream(history)])
    else:
        ai = await model.ainvoke(history)
    [call] = ai.tool_calls  # type: ignore[attr-defined]
    observation = await get_weather.ainvoke(call["args"])
    history += [ai, ToolMessage(observation, tool_call_id=call["id"])]
    final = await model.ainvoke(history)

    assert final.text == "It is 18 degrees and sunny in Paris."
    second = wire_server.requests[1]
    assert second.status == 200  # the server's validator accepted the history
    if isinstance(wire_server, AnthropicServer):
        user, assistant, results = second.messages
        [tool_use] = [b for b in assistant["content"] if b["type"] == "tool_use"]
        assert tool_use == {"type": "tool_use", "id": call["id"], "name": "get_weather", "input": {"city": "Paris"}}
        [result] = results["content"]
        assert results["role"] == "user" and result["type"] == "tool_result"
        assert result["tool_use_id"] == call["id"]
        assert "sunny in Paris" in str(result["content"])
    else:
        user, assistant, tool_message = second.messages
        [sent_call] = assistant["tool_calls"]
        assert sent_call["id"] == call["id"]
        assert sent_call["function"]["name"] == "get_weather"
        assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == call["id"]
        assert "sunny in Paris" in tool_message["content"]


def test_history_with_an_unanswered_tool_call_is_rejected(wire_server: WireServer) -> None:
    # A graph that drops the ToolMessage would send this; the real API refuses it.
    broken = [
        HumanMessage("Weather?"),
        AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "toolu_01abc"}]),
        HumanMessage("Well?"),
    ]
    model = wire_server.chat_model().bind_tools([get_weather])

    sdk_error = anthropic.BadRequestError if isinstance(wire_server, AnthropicServer) else openai.BadRequestError
    with pytest.raises(sdk_error) as caught:
        model.invoke(broken)

    assert "toolu_01abc" in str(caught.value)
    [rejected] = wire_server.requests
    assert rejected.status == 400 and rejected.error is not None


# -- errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "anthropic_error", "openai_error"),
    [
        (400, anthropic.BadRequestError, openai.BadRequestError),
        (429, anthropic.RateLimitError, openai.RateLimitError),
        (500, anthropic.InternalServerError, openai.InternalServerError),
    ],
)
def test_error_status_surfaces_as_the_sdk_exception(
    wire_server: WireServer, status: int, anthropic_error: type[Exception], openai_error: type[Exception]
) -> None:
    wire_server.push(ErrorResponse(status, "scripted failure"))

    expected = anthropic_error if isinstance(wire_server, AnthropicServer) else openai_error
    with pytest.raises(expected) as caught:
        wire_server.chat_model().invoke("hi")

    error: Any = caught.value
    assert error.status_code == status
    assert "scripted failure" in str(error)
    assert error.request_id == wire_server.requests[0].request_id
    assert len(wire_server.requests) == 1  # max_retries=0: no retry


async def test_anthropic_overloaded_529_raises_overloaded_error(anthropic_server: AnthropicServer) -> None:
    anthropic_server.push(ErrorResponse(529))

    with pytest.raises(anthropic.OverloadedError) as caught:
        await anthropic_server.chat_model().ainvoke("hi")

    assert caught.value.status_code == 529
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": anthropic_server.requests[0].request_id,
    }


async def test_sdk_retries_a_retryable_error_then_succeeds(wire_server: WireServer) -> None:
    # retry-after-ms keeps the SDK's back-off to 10 ms instead of half a second.
    status = 529 if isinstance(wire_server, AnthropicServer) else 503
    wire_server.push(ErrorResponse(status, headers={"retry-after-ms": "10"}), "Recovered.")

    reply = await wire_server.chat_model(max_retries=1).ainvoke("hi")

    assert reply.content == "Recovered."
    assert [r.status for r in wire_server.requests] == [status, 200]


async def test_error_in_the_middle_of_a_stream_raises_after_partial_tokens(wire_server: WireServer) -> None:
    wire_server.push(ErrorResponse(529, "Overloaded", mid_stream=True, partial_text="Half a"))

    received: list[BaseMessage] = []
    expected = anthropic.APIError if isinstance(wire_server, AnthropicServer) else openai.APIError
    with pytest.raises(expected, match="Overloaded"):
        async for chunk in wire_server.chat_model().astream("hi"):
            received.append(chunk)

    assert "".join(_text_pieces(received)) == "Half a"
    assert wire_server.requests[0].status == 200


def _call_id(server: WireServer, suffix: str) -> str:
    return ("toolu_01" if isinstance(server, AnthropicServer) else "call_") + suffix


def test_openai_stream_usage_arrives_only_when_asked(openai_server: OpenAIServer) -> None:
    openai_server.push("with usage", "without usage")

    with_usage = _merge(list(openai_server.chat_model(stream_usage=True).stream("hi")))
    without = _merge(list(openai_server.chat_model(stream_usage=False).stream("hi")))

    assert with_usage.usage_metadata is not None and with_usage.usage_metadata["output_tokens"] == 2
    assert without.usage_metadata is None
    first, second = openai_server.requests
    assert first.body["stream_options"] == {"include_usage": True}
    assert "stream_options" not in second.body


# -- concurrent conversations -----------------------------------------------------------


async def test_routed_responder_keeps_concurrent_conversations_apart(wire_server: WireServer) -> None:
    cities = ["Paris", "Oslo", "Lima"]
    wire_server.token_delay = 0.1  # keeps each first turn open while the others are sent
    wire_server.responder = routed(
        lambda request: request.first_user_text,
        {
            f"Weather in {city}?": [ToolCall("get_weather", {"city": city}), f"It is sunny in {city}, honestly."]
            for city in cities
        },
    )
    model = wire_server.chat_model().bind_tools([get_weather])

    async def conversation(city: str) -> str:
        history: list[BaseMessage] = [HumanMessage(f"Weather in {city}?")]
        ai = _merge([chunk async for chunk in model.astream(history)])
        [call] = ai.tool_calls
        history += [ai, ToolMessage(await get_weather.ainvoke(call["args"]), tool_call_id=call["id"])]
        final = _merge([chunk async for chunk in model.astream(history)])
        return final.text

    answers = await asyncio.gather(*(conversation(city) for city in cities))

    assert answers == [f"It is sunny in {city}, honestly." for city in cities]
    requests = wire_server.requests
    assert len(requests) == 6
    # All first turns were in flight together: none waited for another conversation.
    assert all(len(r.messages) == 1 for r in requests[:3])
