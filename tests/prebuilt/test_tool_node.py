"""ToolNode: concurrency, result order, error handling, input shapes, injection."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langchain_core.tools import InjectedToolCallId, tool
from pydantic import BaseModel

from asyncgraph.graph.message import add_messages
from asyncgraph.prebuilt import (
    InjectedState,
    InjectedStore,
    ToolNode,
    ToolRuntime,
    tools_condition,
)


@tool
async def slow_echo(text: str, delay: float) -> str:
    """Echo text after a delay."""
    await asyncio.sleep(delay)
    return f"echo {text}"


@tool
def sync_sleep(seconds: float) -> str:
    """Block for a while (a sync tool)."""
    time.sleep(seconds)
    return f"slept {seconds} in {threading.current_thread().name}"


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def explode(reason: str) -> str:
    """Always fails."""
    raise ValueError(reason)


@tool
def lookup(key: str) -> str:
    """Fails with a KeyError."""
    raise KeyError(key)


def contents(out: dict[str, list[ToolMessage]]) -> list[Any]:
    return [m.content for m in out["messages"]]


# -- concurrency and order ------------------------------------------------------------------


async def test_async_tools_run_concurrently_and_results_keep_call_order(ai_calls: Any) -> None:
    node = ToolNode([slow_echo])
    msg = ai_calls(("slow_echo", {"text": "first", "delay": 0.2}), ("slow_echo", {"text": "second", "delay": 0.05}),
                   ("slow_echo", {"text": "third", "delay": 0.2}))
    start = time.perf_counter()
    out = await node.ainvoke({"messages": [msg]})
    elapsed = time.perf_counter() - start
    assert elapsed < 0.35, f"three tools sleeping 0.2 s took {elapsed:.2f} s: not concurrent"
    assert contents(out) == ["echo first", "echo second", "echo third"]
    assert [m.tool_call_id for m in out["messages"]] == ["c0", "c1", "c2"]
    assert all(m.name == "slow_echo" for m in out["messages"])


async def test_sync_tools_run_in_threads_without_blocking_the_loop(ai_calls: Any) -> None:
    node = ToolNode([sync_sleep])
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    start = time.perf_counter()
    out = await node.ainvoke({"messages": [ai_calls(("sync_sleep", {"seconds": 0.2}), ("sync_sleep", {"seconds": 0.2}))]})
    elapsed = time.perf_counter() - start
    ticking.cancel()
    assert elapsed < 0.35, f"two sync tools sleeping 0.2 s took {elapsed:.2f} s: not concurrent"
    assert ticks >= 10, f"the event loop ticked only {ticks} times while sync tools ran: it was blocked"
    assert all(threading.main_thread().name not in m.content for m in out["messages"])


def test_sync_invoke_works(ai_calls: Any) -> None:
    out = ToolNode([add]).invoke({"messages": [ai_calls(("add", {"a": 1, "b": 2}))]})
    assert contents(out) == ["3"]


# -- errors -----------------------------------------------------------------------------------


async def test_unknown_tool_gets_an_error_message_naming_the_available_tools(ai_calls: Any) -> None:
    out = await ToolNode([add, explode]).ainvoke({"messages": [ai_calls(("add", {"a": 1, "b": 1}), ("nope", {}))]})
    ok, bad = out["messages"]
    assert ok.content == "2" and ok.status == "success"
    assert bad.status == "error" and bad.tool_call_id == "c1" and bad.name == "nope"
    assert bad.content == "Error: nope is not a valid tool, try one of [add, explode]."


async def test_unknown_tool_is_answered_even_with_error_handling_off(ai_calls: Any) -> None:
    out = await ToolNode([add], handle_tool_errors=False).ainvoke({"messages": [ai_calls(("nope", {}))]})
    assert out["messages"][0].status == "error"


async def test_default_answers_bad_arguments_and_raises_tool_failures(ai_calls: Any) -> None:
    node = ToolNode([add, explode])
    out = await node.ainvoke({"messages": [ai_calls(("add", {"a": "x"}))]})
    (msg,) = out["messages"]
    assert msg.status == "error"
    assert msg.content.startswith("Error invoking tool 'add' with kwargs {'a': 'x'} with error:\n")
    assert "a: Input should be a valid integer" in msg.content and "b: Field required" in msg.content
    with pytest.raises(ValueError, match="kaboom"):
        await node.ainvoke({"messages": [ai_calls(("explode", {"reason": "kaboom"}))]})


async def test_handle_tool_errors_true_answers_every_error(ai_calls: Any) -> None:
    out = await ToolNode([explode], handle_tool_errors=True).ainvoke({"messages": [ai_calls(("explode", {"reason": "kaboom"}))]})
    assert contents(out) == ["Error: ValueError('kaboom')\n Please fix your mistakes."]
    assert out["messages"][0].status == "error"


async def test_handle_tool_errors_string_replaces_the_message(ai_calls: Any) -> None:
    out = await ToolNode([explode], handle_tool_errors="try again later").ainvoke(
        {"messages": [ai_calls(("explode", {"reason": "kaboom"}))]}
    )
    assert contents(out) == ["try again later"]


async def test_handle_tool_errors_callable_handles_the_types_it_is_annotated_with(ai_calls: Any) -> None:
    def on_value_error(exc: ValueError) -> str:
        return f"handled: {exc}"

    node = ToolNode([explode, lookup], handle_tool_errors=on_value_error)
    out = await node.ainvoke({"messages": [ai_calls(("explode", {"reason": "kaboom"}))]})
    assert contents(out) == ["handled: kaboom"]
    with pytest.raises(KeyError):
        await node.ainvoke({"messages": [ai_calls(("lookup", {"key": "k"}))]})

    def on_either(exc: ValueError | KeyError) -> str:
        return type(exc).__name__

    out = await ToolNode([lookup], handle_tool_errors=on_either).ainvoke({"messages": [ai_calls(("lookup", {"key": "k"}))]})
    assert contents(out) == ["KeyError"]
    out = await ToolNode([lookup], handle_tool_errors=lambda e: "any").ainvoke({"messages": [ai_calls(("lookup", {"key": "k"}))]})
    assert contents(out) == ["any"]


async def test_handle_tool_errors_exception_types(ai_calls: Any) -> None:
    out = await ToolNode([explode], handle_tool_errors=(KeyError, ValueError)).ainvoke(
        {"messages": [ai_calls(("explode", {"reason": "kaboom"}))]}
    )
    assert contents(out) == ["Error: ValueError('kaboom')\n Please fix your mistakes."]
    with pytest.raises(ValueError):
        await ToolNode([explode], handle_tool_errors=KeyError).ainvoke({"messages": [ai_calls(("explode", {"reason": "x"}))]})


async def test_handle_tool_errors_false_raises_bad_arguments_too(ai_calls: Any) -> None:
    with pytest.raises(Exception, match="Error invoking tool 'add'"):
        await ToolNode([add], handle_tool_errors=False).ainvoke({"messages": [ai_calls(("add", {"a": "x", "b": 1}))]})


def test_handle_tool_errors_rejects_nonsense() -> None:
    with pytest.raises(TypeError, match="handle_tool_errors"):
        ToolNode([add], handle_tool_errors=3)  # type: ignore[arg-type]


async def test_several_failures_raise_the_first_in_call_order_with_the_others_noted(ai_calls: Any) -> None:
    @tool
    async def fail_late(reason: str) -> str:
        """Fails after a while."""
        await asyncio.sleep(0.05)
        raise RuntimeError(reason)

    node = ToolNode([fail_late, explode])
    msg = ai_calls(("fail_late", {"reason": "late"}), ("explode", {"reason": "early"}))
    with pytest.raises(ValueError, match="early") as info:
        await node.ainvoke({"messages": [msg]})
    # The late failure was cancelled once the early one failed; nothing is left running.
    assert not isinstance(info.value, BaseExceptionGroup)


# -- inputs and outputs -------------------------------------------------------------------------


async def test_list_of_messages_in_list_of_tool_messages_out(ai_calls: Any) -> None:
    out = await ToolNode([add]).ainvoke([HumanMessage("hi"), ai_calls(("add", {"a": 2, "b": 3}))])
    assert isinstance(out, list) and [m.content for m in out] == ["5"]


async def test_direct_tool_calls_input_answers_as_a_state_update() -> None:
    # A list of tool calls is what an agent sends to its tools node (Send("tools", [call])):
    # the answer is a state update, as in LangGraph 1.2.
    out = await ToolNode([add]).ainvoke([{"name": "add", "args": {"a": 1, "b": 1}, "id": "x", "type": "tool_call"}])
    assert [(m.content, m.tool_call_id) for m in out["messages"]] == [("2", "x")]


async def test_last_ai_message_is_found_behind_later_messages(ai_calls: Any) -> None:
    out = await ToolNode([add]).ainvoke({"messages": [ai_calls(("add", {"a": 1, "b": 1})), HumanMessage("later")]})
    assert contents(out) == ["2"]


async def test_no_ai_message_is_an_error() -> None:
    with pytest.raises(ValueError, match="no AIMessage"):
        await ToolNode([add]).ainvoke({"messages": [HumanMessage("hi")]})


async def test_messages_key(ai_calls: Any) -> None:
    out = await ToolNode([add], messages_key="history").ainvoke({"history": [ai_calls(("add", {"a": 1, "b": 2}))]})
    assert [m.content for m in out["history"]] == ["3"]
    with pytest.raises(ValueError, match="history"):
        await ToolNode([add], messages_key="history").ainvoke({"messages": []})


async def test_plain_functions_become_tools(ai_calls: Any) -> None:
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b

    node = ToolNode([multiply])
    assert list(node.tools_by_name) == ["multiply"]
    assert contents(await node.ainvoke({"messages": [ai_calls(("multiply", {"a": 3, "b": 4}))]})) == ["12"]


class PydanticState(BaseModel):
    messages: Annotated[list[AnyMessage], add_messages]
    user: str = "ann"


class GraphState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    user: str


@dataclasses.dataclass
class DataclassState:
    messages: Annotated[list[AnyMessage], add_messages]
    user: str = "ann"


@tool
def whoami(user: Annotated[str, InjectedState("user")]) -> str:
    """The current user."""
    return f"you are {user}"


@pytest.mark.parametrize("schema", [PydanticState, DataclassState], ids=["pydantic", "dataclass"])
async def test_object_states_in_a_graph(schema: Any, tools_graph: Any, ai_calls: Any) -> None:
    graph = tools_graph(ToolNode([add, whoami]), schema)
    out = await graph.ainvoke({"messages": [ai_calls(("add", {"a": 1, "b": 2}), ("whoami", {}))], "user": "bob"})
    assert [m.content for m in out["messages"][1:]] == ["3", "you are bob"]


async def test_graph_updates_stream_holds_the_tool_messages(tools_graph: Any, ai_calls: Any) -> None:
    graph = tools_graph(ToolNode([add]))
    chunks = [c async for c in graph.astream({"messages": [ai_calls(("add", {"a": 1, "b": 2}))]}, stream_mode="updates")]
    assert [(list(c), [m.content for m in c["tools"]["messages"]]) for c in chunks] == [(["tools"], ["3"])]


# -- injection ----------------------------------------------------------------------------------


@tool
def count_messages(prefix: str, state: Annotated[dict, InjectedState]) -> str:
    """Count the messages in the conversation."""
    return f"{prefix}{len(state['messages'])}"


@tool
def last_text(messages: Annotated[list, InjectedState("messages")]) -> str:
    """The first message's text."""
    return str(messages[0].content)


@tool
def my_call_id(tool_call_id: Annotated[str, InjectedToolCallId]) -> str:
    """The id of this call."""
    return f"id={tool_call_id}"


def test_injected_arguments_are_hidden_from_the_model() -> None:
    for t in (count_messages, last_text, my_call_id, whoami):
        shown = set(t.tool_call_schema.model_json_schema().get("properties", {}))
        assert shown <= {"prefix"}, (t.name, shown)


async def test_injected_state_whole_and_by_key_and_call_id(ai_calls: Any) -> None:
    node = ToolNode([count_messages, last_text, my_call_id])
    state = {"messages": [HumanMessage("hello"), ai_calls(("count_messages", {"prefix": "n="}), ("last_text", {}), ("my_call_id", {}))]}
    assert contents(await node.ainvoke(state)) == ["n=2", "hello", "id=c2"]


async def test_missing_injected_state_key_names_the_tool(ai_calls: Any) -> None:
    node = ToolNode([whoami], handle_tool_errors=False)
    with pytest.raises(KeyError, match="whoami.*'user'"):
        await node.ainvoke({"messages": [ai_calls(("whoami", {}))]})


async def test_injected_store_and_tool_runtime_in_a_graph(ai_calls: Any) -> None:
    from asyncgraph.constants import START
    from asyncgraph.graph import StateGraph

    seen: dict[str, Any] = {}

    @tool
    def remember(fact: str, store: Annotated[Any, InjectedStore()]) -> str:
        """Remember a fact."""
        seen["store"] = store
        return "ok"

    @tool
    def introspect(runtime: ToolRuntime) -> str:
        """Look at the runtime."""
        seen["runtime"] = runtime
        return "ok"

    assert set(introspect.tool_call_schema.model_json_schema().get("properties", {})) == set()
    store = object()
    builder = StateGraph(GraphState)
    builder.add_node("tools", ToolNode([remember, introspect]))
    builder.add_edge(START, "tools")
    graph = builder.compile(store=store)
    msg = ai_calls(("remember", {"fact": "sky is blue"}), ("introspect", {}))
    await graph.ainvoke({"messages": [msg], "user": "ann"}, context={"tenant": "t1"})
    assert seen["store"] is store
    runtime = seen["runtime"]
    assert isinstance(runtime, ToolRuntime)
    assert runtime.tool_call_id == "c1"
    assert runtime.store is store and runtime.context == {"tenant": "t1"}
    assert runtime.state["user"] == "ann" and runtime.state["messages"][-1].tool_calls
    assert [t.name for t in runtime.tools] == ["remember", "introspect"]
    assert runtime.config["metadata"]["langgraph_node"] == "tools"


async def test_tools_condition_routes_on_tool_calls(ai_calls: Any) -> None:
    assert tools_condition({"messages": [ai_calls(("add", {}))]}) == "tools"
    assert tools_condition({"messages": [AIMessage("done")]}) == "__end__"
    assert tools_condition([ai_calls(("add", {}))]) == "tools"
    assert tools_condition(PydanticState(messages=[AIMessage("done")])) == "__end__"
    assert tools_condition({"history": [ai_calls(("add", {}))]}, messages_key="history") == "tools"
    with pytest.raises(ValueError, match="no messages"):
        tools_condition({"messages": []})
