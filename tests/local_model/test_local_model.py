"""The embedded SmolLM2 model: real generation, streaming, cancellation, tool calls.

These run the real 135M model in-process (greedy decoding, so replies are reproducible)
with small token budgets; the folder's conftest skips them without the `local` extra.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncGenerator, Generator
from pathlib import Path
from typing import cast

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool

from asyncgraph.models.local import LocalChatModel

# Loading the weights holds the GIL for ~0.5 s (xllamacpp does not release it), which
# blocks any event loop in the process; that is a known, documented pause of the
# model, not of asyncgraph. The watchdog (tests/conftest.py) would flag it.
pytestmark = pytest.mark.allow_blocking

WORKER_THREAD = "asyncgraph-local-model"


@tool
def search(query: str) -> str:
    """Search the web for current information."""
    return "Sunny, 18 C"


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression."""
    return "84"


def _workers_alive() -> list[threading.Thread]:
    return [
        t for t in threading.enumerate() if t.name == WORKER_THREAD and t.is_alive()
    ]


async def _wait_for_workers_to_exit(deadline: float) -> None:
    end = time.monotonic() + deadline
    while _workers_alive() and time.monotonic() < end:
        await asyncio.sleep(0.01)


async def test_generates_non_empty_text(model: LocalChatModel) -> None:
    reply = await model.ainvoke("What is the capital of France?")
    assert isinstance(reply, AIMessage)
    assert isinstance(reply.content, str) and reply.content.strip()
    assert reply.tool_calls == []
    assert reply.usage_metadata is not None
    assert 0 < reply.usage_metadata["output_tokens"] <= 24
    assert reply.response_metadata["finish_reason"] in ("stop", "length")
    assert reply.response_metadata["model_name"].startswith("SmolLM2-135M-Instruct")


async def test_astream_yields_tokens_that_add_up_and_never_block_the_loop(
    model: LocalChatModel,
) -> None:
    # Loading pauses every thread (xllamacpp holds the GIL): keep it out of the measurement.
    model.load()
    prompt = "Write a haiku about the sea."
    gaps: list[float] = []
    streaming = True

    async def ticker() -> None:
        last = time.perf_counter()
        while streaming:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async with asyncio.TaskGroup() as group:
        group.create_task(ticker())
        started = time.perf_counter()
        chunks = [chunk async for chunk in model.astream(prompt)]
        took = time.perf_counter() - started
        streaming = False

    texts = [chunk.content for chunk in chunks if chunk.content]
    assert len(texts) >= 5, "expected one chunk per token"
    assert all(isinstance(chunk, AIMessageChunk) for chunk in chunks)
    final = await model.ainvoke(prompt)
    assert "".join(texts) == final.content  # type: ignore[arg-type]  # texts are str here
    # The loop kept running while tokens were generated: it ticked throughout, and no
    # pause came anywhere near the time the whole generation took. (Generation holding
    # the loop would make one gap as long as the generation; a fixed bound such as 0.1 s
    # failed on a loaded machine, where a 5 ms sleep can take that long by itself.)
    assert len(gaps) >= 10
    assert max(gaps) < took / 2


async def test_cancelling_the_consumer_stops_generation() -> None:
    model = LocalChatModel(max_tokens=400)  # ~6 s of tokens if nothing stopped it
    model.load()
    received: list[str] = []

    async def consume() -> None:
        async for chunk in model.astream("Write a very long story about a dragon."):
            received.append(str(chunk.content))

    task = asyncio.create_task(consume())
    while len(received) < 3:
        await asyncio.sleep(0.005)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _wait_for_workers_to_exit(deadline=2.0)
    assert _workers_alive() == []
    assert time.monotonic() - started < 1.0
    assert len(received) < 100
    # The model is free again at once: a short request does not wait behind the story.
    started = time.monotonic()
    reply = await model.ainvoke("Say hi.", max_tokens=4)
    assert reply.content
    assert time.monotonic() - started < 3.0


async def test_breaking_out_of_the_stream_stops_generation() -> None:
    model = LocalChatModel(max_tokens=400)
    stream = cast(
        AsyncGenerator[AIMessageChunk],
        model.astream("Write a very long story about a castle."),
    )
    async for chunk in stream:
        if chunk.content:
            break
    await stream.aclose()
    await _wait_for_workers_to_exit(deadline=2.0)
    assert _workers_alive() == []


async def test_concurrent_callers_take_turns_and_get_their_own_answers(
    model: LocalChatModel,
) -> None:
    prompts = ["Name a fruit.", "Name a color."]
    alone = [(await model.ainvoke(p)).content for p in prompts]
    together = await asyncio.gather(*(model.ainvoke(p) for p in prompts))
    assert [reply.content for reply in together] == alone


def test_sync_stream_and_invoke_agree(model: LocalChatModel) -> None:
    chunks = list(model.stream("Say hello."))
    text = "".join(str(chunk.content) for chunk in chunks)
    assert len([c for c in chunks if c.content]) >= 2
    assert text == model.invoke("Say hello.").content
    assert _workers_alive() == []


def test_closing_a_sync_stream_early_stops_generation() -> None:
    model = LocalChatModel(max_tokens=400)
    stream = cast(
        Generator[AIMessageChunk], model.stream("Write a very long story about a ship.")
    )
    next(stream)
    started = time.monotonic()
    stream.close()  # joins the worker, which stops at the next token
    assert time.monotonic() - started < 1.0
    assert _workers_alive() == []


async def test_max_tokens_and_stop_sequences(model: LocalChatModel) -> None:
    short = await model.ainvoke("Tell me about the moon.", max_tokens=3)
    assert (
        short.usage_metadata is not None and short.usage_metadata["output_tokens"] == 3
    )
    assert short.response_metadata["finish_reason"] == "length"

    full = str((await model.ainvoke("Say hello.")).content)
    assert "!" in full, f"the stop-sequence check needs a '!' in {full!r}"
    stopped = await model.ainvoke("Say hello.", stop=["!"])
    assert stopped.content == full.split("!")[0]
    assert stopped.response_metadata["finish_reason"] == "stop"


async def test_bound_tool_is_called_with_valid_arguments(model: LocalChatModel) -> None:
    with_tools = model.bind_tools([search])
    reply = await with_tools.ainvoke("Search the web for the weather in SF")
    assert isinstance(reply, AIMessage)
    assert reply.invalid_tool_calls == []
    [call] = reply.tool_calls
    assert call["name"] == "search"
    assert set(call["args"]) == {"query"}
    assert isinstance(call["args"]["query"], str) and call["args"]["query"].strip()
    assert call["id"]
    # The arguments are valid for the tool: it runs.
    assert search.invoke(call).content == "Sunny, 18 C"


async def test_tool_choice_picks_the_named_tool(model: LocalChatModel) -> None:
    with_tools = model.bind_tools([search, calculator], tool_choice="calculator")
    reply = await with_tools.ainvoke("What is 12*7?")
    [call] = reply.tool_calls
    assert call["name"] == "calculator"
    assert set(call["args"]) == {"expression"}


async def test_after_a_tool_result_it_answers_in_text(model: LocalChatModel) -> None:
    with_tools = model.bind_tools([search])
    question = HumanMessage("Search the web for the weather in SF")
    call = await with_tools.ainvoke([question])
    result = ToolMessage(
        "Sunny, 18 C", tool_call_id=call.tool_calls[0]["id"], name="search"
    )
    answer = await with_tools.ainvoke([question, call, result])
    assert answer.tool_calls == [] and answer.invalid_tool_calls == []
    assert isinstance(answer.content, str) and answer.content.strip()
    assert "sunny" in answer.content.lower() or "18" in answer.content


async def test_a_tool_call_cut_short_is_reported_invalid(model: LocalChatModel) -> None:
    reply = await model.bind_tools([search]).ainvoke(
        "Search the web for the weather in SF", max_tokens=8
    )
    assert reply.tool_calls == []
    [invalid] = reply.invalid_tool_calls
    assert invalid["name"] == "search"
    assert reply.response_metadata["finish_reason"] == "length"


async def test_tool_choice_none_answers_in_text(model: LocalChatModel) -> None:
    reply = await model.bind_tools([search], tool_choice="none").ainvoke("Hello!")
    assert reply.tool_calls == [] and str(reply.content).strip()


def test_tool_choice_must_name_a_bound_tool(model: LocalChatModel) -> None:
    with pytest.raises(ValueError, match="not one of the bound tools"):
        model.bind_tools([search], tool_choice="calculator")


def _listening_inet_inodes() -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6"):
        path = Path(table)
        if path.exists():
            for line in path.read_text().splitlines()[1:]:
                fields = line.split()
                # TCP LISTEN, or an unconnected (bound) UDP socket.
                if fields[3] in ("0A", "07"):
                    inodes.add(fields[9])
    return inodes


@pytest.mark.skipif(
    not Path("/proc/self/fd").exists(), reason="needs Linux /proc to list sockets"
)
async def test_nothing_listens_on_a_network_port(model: LocalChatModel) -> None:
    await model.ainvoke("Hi", max_tokens=2)
    own_sockets = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            own_sockets.add(target[len("socket:[") : -1])
    assert own_sockets & _listening_inet_inodes() == set()
