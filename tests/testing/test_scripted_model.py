"""ScriptedChatModel: the script, streaming, tools, concurrency, timing."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
    message_chunk_to_message,
)
from langchain_core.runnables import RunnableBinding, RunnableLambda
from langchain_core.tools import tool
from pydantic import BaseModel, ValidationError

from asyncgraph.testing import ScriptedChatModel, ScriptExhaustedError


@tool
def search(query: str) -> str:
    """Search the web."""
    return f"results for {query}"


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _calling(name: str, args: dict[str, Any], call_id: str | None = "c1") -> AIMessage:
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": call_id}])


def _merge(chunks: list[AIMessageChunk]) -> AIMessage:
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    message = message_chunk_to_message(total)
    assert isinstance(message, AIMessage)
    return message


def _same_reply(a: AIMessage, b: AIMessage) -> None:
    assert a.content == b.content
    assert a.tool_calls == b.tool_calls
    assert a.usage_metadata == b.usage_metadata
    assert a.response_metadata == b.response_metadata
    assert a.additional_kwargs == b.additional_kwargs
    assert a.name == b.name


# --- the script ---------------------------------------------------------------------


def test_invoke_returns_responses_in_order() -> None:
    model = ScriptedChatModel(responses=["first", _calling("search", {"query": "x"})])
    one = model.invoke("hi")
    two = model.invoke("again")
    assert type(one) is AIMessage and one.content == "first" and not one.tool_calls
    assert two.tool_calls == [
        {"name": "search", "args": {"query": "x"}, "id": "c1", "type": "tool_call"}
    ]
    assert one.id and two.id and one.id != two.id


async def test_ainvoke_returns_responses_in_order() -> None:
    model = ScriptedChatModel(responses=["a", AIMessage("b", name="bot")])
    assert (await model.ainvoke("x")).content == "a"
    second = await model.ainvoke("y")
    assert (second.content, second.name) == ("b", "bot")


def test_running_out_says_how_many_were_scripted() -> None:
    model = ScriptedChatModel(responses=["a", "b"])
    model.invoke("1")
    model.invoke("2")
    expected = r"call #3: 2 response\(s\) were scripted"
    with pytest.raises(ScriptExhaustedError, match=expected) as info:
        model.invoke("3")
    assert (info.value.scripted, info.value.call) == (2, 3)


async def test_running_out_async() -> None:
    model = ScriptedChatModel(responses=["a"])
    await model.ainvoke("1")
    with pytest.raises(ScriptExhaustedError):
        await model.ainvoke("2")
    with pytest.raises(ScriptExhaustedError):
        [c async for c in model.astream("3")]


async def test_cycle_repeats_with_fresh_messages() -> None:
    scripted = AIMessage("again")
    model = ScriptedChatModel(responses=[scripted], cycle=True)
    replies = [await model.ainvoke("x") for _ in range(3)]
    assert [r.content for r in replies] == ["again"] * 3
    assert len({r.id for r in replies}) == 3
    assert scripted.id is None and scripted.usage_metadata is None  # script untouched


def test_scripted_exception_is_raised_on_its_turn_only() -> None:
    model = ScriptedChatModel(responses=["ok", TimeoutError("provider timed out"), "after"])
    assert model.invoke("1").content == "ok"
    with pytest.raises(TimeoutError, match="provider timed out"):
        model.invoke("2")
    assert model.invoke("3").content == "after"


async def test_scripted_exception_in_stream() -> None:
    model = ScriptedChatModel(responses=[ConnectionError("down")])
    with pytest.raises(ConnectionError, match="down"):
        [c async for c in model.astream("x")]


def test_missing_tool_call_ids_are_filled_per_call() -> None:
    no_id = _calling("search", {"query": "q"}, call_id=None)
    model = ScriptedChatModel(responses=[no_id], cycle=True)
    first = model.invoke("x").tool_calls[0]["id"]
    second = model.invoke("x").tool_calls[0]["id"]
    assert first and second and first != second


def test_calls_are_recorded_and_reset() -> None:
    model = ScriptedChatModel(responses=["a", "b"])
    model.invoke([HumanMessage("hello")])
    model.invoke([HumanMessage("hello"), AIMessage("a"), HumanMessage("more")])
    assert [[m.content for m in call] for call in model.calls] == [
        ["hello"],
        ["hello", "a", "more"],
    ]
    model.reset()
    assert model.calls == []
    assert model.invoke("x").content == "a"


def test_record_calls_off() -> None:
    model = ScriptedChatModel(responses=["a"], record_calls=False)
    model.invoke("x")
    assert model.calls == []


def test_usage_metadata_counts_words() -> None:
    model = ScriptedChatModel(responses=["one two three"])
    reply = model.invoke([HumanMessage("four five"), HumanMessage("six")])
    assert reply.usage_metadata == {"input_tokens": 3, "output_tokens": 3, "total_tokens": 6}


def test_scripted_usage_metadata_is_kept() -> None:
    usage = {"input_tokens": 10, "output_tokens": 1, "total_tokens": 11}
    model = ScriptedChatModel(responses=[AIMessage("x", usage_metadata=usage)])
    assert model.invoke("x").usage_metadata == usage


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({}, ValueError),
        ({"responses": ["a"], "respond": lambda m: "b"}, ValueError),
        ({"responses": [HumanMessage("not a reply")]}, TypeError),
    ],
)
def test_bad_configuration_is_rejected(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises((error, ValidationError)):
        ScriptedChatModel(**kwargs)


# --- respond= -------------------------------------------------------------------------


def _echo(messages: list[BaseMessage]) -> str:
    return f"echo: {messages[-1].content}"


def test_respond_answers_per_conversation() -> None:
    model = ScriptedChatModel(respond=_echo)
    assert model.invoke("a").content == "echo: a"
    assert model.invoke("b").content == "echo: b"
    assert len(model.calls) == 2


async def test_async_respond() -> None:
    async def respond(messages: list[BaseMessage]) -> AIMessage:
        await asyncio.sleep(0)
        return AIMessage(f"async {messages[-1].content}")

    model = ScriptedChatModel(respond=respond)
    assert (await model.ainvoke("x")).content == "async x"
    chunks = [c async for c in model.astream("y")]
    assert "".join(str(c.content) for c in chunks) == "async y"
    with pytest.raises(TypeError, match="ainvoke"):
        model.invoke("z")


def test_respond_returning_junk_is_a_clear_error() -> None:
    model = ScriptedChatModel(respond=lambda m: 42)
    with pytest.raises(TypeError, match="int"):
        model.invoke("x")


# --- streaming ----------------------------------------------------------------------


def test_stream_yields_one_chunk_per_word_and_adds_up() -> None:
    text = "The answer  is 42."
    model = ScriptedChatModel(responses=[text], cycle=True)
    chunks = list(model.stream("q"))
    assert [c.content for c in chunks] == ["The ", "answer  ", "is ", "42."]
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[-1].chunk_position == "last"
    _same_reply(_merge(chunks), model.invoke("q"))


async def test_astream_tool_calls_arrive_as_tool_call_chunks() -> None:
    reply = AIMessage(
        "Let me look.",
        tool_calls=[
            {"name": "search", "args": {"query": "big cats"}, "id": "a"},
            {"name": "add", "args": {"a": 1, "b": 2}, "id": "b"},
        ],
    )
    model = ScriptedChatModel(responses=[reply], cycle=True)
    chunks = [c async for c in model.astream("q")]
    with_calls = [c for c in chunks if c.tool_call_chunks]
    assert len(with_calls) > 2  # arguments are streamed in pieces
    assert {c.tool_call_chunks[0]["name"] for c in with_calls} == {"search", "add", None}
    merged = _merge(chunks)
    assert merged.tool_calls == [
        {"name": "search", "args": {"query": "big cats"}, "id": "a", "type": "tool_call"},
        {"name": "add", "args": {"a": 1, "b": 2}, "id": "b", "type": "tool_call"},
    ]
    _same_reply(merged, await model.ainvoke("q"))


@pytest.mark.parametrize(
    ("chunking", "expected"), [("char", ["h", "i", " ", "y", "o"]), ("message", ["hi yo"])]
)
def test_chunking_modes(
    chunking: Literal["word", "char", "message"], expected: list[str]
) -> None:
    model = ScriptedChatModel(responses=["hi yo"], chunking=chunking)
    assert [c.content for c in model.stream("x")] == expected


def test_empty_reply_streams_one_chunk() -> None:
    model = ScriptedChatModel(responses=[""])
    chunks = list(model.stream("x"))
    assert [c.content for c in chunks] == [""]


async def test_astream_events_sees_each_token() -> None:
    model = ScriptedChatModel(responses=["alpha beta gamma"])
    events = [e async for e in model.astream_events("x", version="v2")]
    tokens = [e["data"]["chunk"].content for e in events if e["event"] == "on_chat_model_stream"]
    assert tokens == ["alpha ", "beta ", "gamma"]
    assert events[-1]["event"] == "on_chat_model_end"


async def test_ainvoke_streams_when_a_streaming_handler_listens() -> None:
    model = ScriptedChatModel(responses=["one two three"])

    async def node(question: str) -> str:
        reply = await model.ainvoke(question)  # a plain ainvoke, as in a graph node
        return str(reply.content)

    events = [e async for e in RunnableLambda(node).astream_events("x", version="v2")]
    tokens = [e["data"]["chunk"].content for e in events if e["event"] == "on_chat_model_stream"]
    assert tokens == ["one ", "two ", "three"]
    assert events[-1]["data"]["output"] == "one two three"


async def test_tokens_reach_a_graphs_messages_stream() -> None:
    # LangGraph is the host here: this checks the model side of stream_mode="messages".
    from langgraph.graph import START, MessagesState, StateGraph

    model = ScriptedChatModel(responses=["hello from the model"])

    async def call(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState).add_node("call", call).add_edge(START, "call").compile()
    stream = graph.astream(
        # LangGraph's overloads want a typed input dict
        {"messages": [("user", "hi")]},  # type: ignore[call-overload]
        stream_mode="messages",
    )
    seen = [chunk.content async for chunk, _meta in stream]
    assert seen == ["hello ", "from ", "the ", "model"]


@pytest.mark.filterwarnings("ignore:astream_log is deprecated")
async def test_astream_log_sees_tokens() -> None:
    model = ScriptedChatModel(responses=["x y"])
    ops = [op async for patch in model.astream_log("q") for op in patch.ops]
    streamed = [op["value"] for op in ops if op["path"] == "/streamed_output/-"]
    assert [c.content for c in streamed] == ["x ", "y"]


# --- tools --------------------------------------------------------------------------


def test_bind_tools_returns_a_binding_like_provider_models() -> None:
    model = ScriptedChatModel(responses=[_calling("search", {"query": "cats"})])
    bound = model.bind_tools([search, add], tool_choice="any")
    assert isinstance(bound, RunnableBinding)
    assert [t["function"]["name"] for t in bound.kwargs["tools"]] == ["search", "add"]
    assert bound.kwargs["tool_choice"] == "any"
    assert model.bound_tools == [search, add]
    assert bound.invoke("find cats").tool_calls[0]["name"] == "search"


async def test_calling_an_unbound_tool_is_a_clear_error() -> None:
    model = ScriptedChatModel(responses=[_calling("delete_everything", {})], cycle=True)
    bound = model.bind_tools([search, add])
    with pytest.raises(ValueError, match=r"'delete_everything'.*\['add', 'search'\]"):
        await bound.ainvoke("x")
    with pytest.raises(ValueError, match="delete_everything"):
        list(bound.stream("x"))
    # without bound tools, or with the check off, the script is trusted
    assert (await model.ainvoke("x")).tool_calls[0]["name"] == "delete_everything"
    lax = ScriptedChatModel(responses=[_calling("delete_everything", {})], check_tool_names=False)
    assert lax.bind_tools([search]).invoke("x").tool_calls


def test_with_structured_output() -> None:
    class Answer(BaseModel):
        value: int

    model = ScriptedChatModel(responses=[_calling("Answer", {"value": 42})])
    assert model.with_structured_output(Answer).invoke("q") == Answer(value=42)


def test_tool_round_trip_conversation_is_recorded() -> None:
    model = ScriptedChatModel(responses=[_calling("add", {"a": 1, "b": 2}), "It is 3."])
    bound = model.bind_tools([add])
    history: list[BaseMessage] = [HumanMessage("1+2?")]
    first = bound.invoke(history)
    history += [first, ToolMessage("3", tool_call_id=first.tool_calls[0]["id"])]
    assert bound.invoke(history).content == "It is 3."
    kinds = [type(m).__name__ for m in model.calls[1]]
    assert kinds == ["HumanMessage", "AIMessage", "ToolMessage"]


# --- concurrency and timing -----------------------------------------------------------


async def test_concurrent_async_calls_each_take_one_response() -> None:
    n = 300
    model = ScriptedChatModel(responses=[f"r{i}" for i in range(n)], latency=0.001)
    replies = await asyncio.gather(*(model.ainvoke(f"q{i}") for i in range(n)))
    assert sorted(r.content for r in replies) == sorted(f"r{i}" for i in range(n))
    assert len(model.calls) == n
    with pytest.raises(ScriptExhaustedError):
        await model.ainvoke("one more")


def test_concurrent_threads_each_take_one_response() -> None:
    n = 200
    model = ScriptedChatModel(responses=[f"r{i}" for i in range(n)])
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda i: model.invoke(f"q{i}").content, range(n)))
    assert sorted(replies) == sorted(f"r{i}" for i in range(n))


async def test_many_concurrent_conversations_share_one_model() -> None:
    n, latency = 300, 0.3
    model = ScriptedChatModel(respond=_echo, latency=latency, record_calls=False)
    threads_before = threading.active_count()
    start = time.perf_counter()
    replies = await asyncio.gather(*(model.ainvoke(f"user {i}") for i in range(n)))
    elapsed = time.perf_counter() - start
    assert [r.content for r in replies] == [f"echo: user {i}" for i in range(n)]
    # Async latency is asyncio.sleep: the calls overlap (one after another would take
    # n * latency = 90 s; a thread pool, several seconds) and start no threads.
    # Generous bound (a loaded CI machine): far below the 90 s of one-by-one calls.
    assert elapsed < n * latency / 10
    assert threading.active_count() <= threads_before  # (an earlier test's thread may end meanwhile)


def test_sync_latency_waits() -> None:
    model = ScriptedChatModel(responses=["a"], latency=0.05)
    start = time.perf_counter()
    model.invoke("x")
    assert time.perf_counter() - start >= 0.05


async def test_token_delay_spaces_out_chunks() -> None:
    model = ScriptedChatModel(responses=["a b c d"], token_delay=0.02)
    stamps = []
    async for _ in model.astream("x"):
        stamps.append(time.perf_counter())
    assert len(stamps) == 4
    assert stamps[-1] - stamps[0] >= 3 * 0.02
