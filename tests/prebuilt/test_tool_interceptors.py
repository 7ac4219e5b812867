"""``ToolNode(wrap_tool_call=, awrap_tool_call=)``: tool-call interceptors.

Most tests run the same code on LangGraph (the oracle) and on asyncgraph, inside a
one-node graph, and both must pass; the asyncgraph-only ones say why.
"""

# No `from __future__ import annotations`: the tools below are annotated with the
# package under test, which @tool must resolve where they are defined.

import importlib
import types
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langchain_core.tools import InjectedToolCallId, tool

from asyncgraph.prebuilt.tool_node import ToolCallRequest as AgToolCallRequest


def _pkg(name: str) -> types.SimpleNamespace:
    prebuilt = importlib.import_module(f"{name}.prebuilt")
    return types.SimpleNamespace(
        name=name,
        prebuilt=prebuilt,
        tool_node=importlib.import_module(f"{name}.prebuilt.tool_node"),
        graph=importlib.import_module(f"{name}.graph"),
        message=importlib.import_module(f"{name}.graph.message"),
        types=importlib.import_module(f"{name}.types"),
        memory=importlib.import_module(f"{name}.checkpoint.memory"),
        runtime=importlib.import_module(f"{name}.runtime"),
    )


@pytest.fixture(params=["langgraph", "asyncgraph"])
def pkg(request: pytest.FixtureRequest) -> types.SimpleNamespace:
    return _pkg(request.param)


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def flaky(a: int) -> int:
    """Fails on its first call."""
    flaky_calls.append(a)
    if len(flaky_calls) == 1:
        raise ValueError("first call fails")
    return a


flaky_calls: list[int] = []


@tool
async def async_only(a: int) -> str:
    """A tool with no sync implementation."""
    return f"async {a}"


def _ai(*calls: tuple[str, dict[str, Any]]) -> AIMessage:
    return AIMessage(
        "",
        tool_calls=[{"name": n, "args": a, "id": f"c{i}", "type": "tool_call"} for i, (n, a) in enumerate(calls)],
    )


def _graph(pkg: Any, node: Any, checkpointer: Any = None) -> Any:
    class State(TypedDict, total=False):
        messages: Annotated[list[AnyMessage], pkg.message.add_messages]
        user: str

    builder = pkg.graph.StateGraph(State)
    builder.add_node("tools", node)
    builder.add_edge(pkg.graph.START, "tools")
    return builder.compile(checkpointer=checkpointer)


def _answers(out: dict[str, Any]) -> list[tuple[str, Any, str]]:
    return [(m.tool_call_id, m.content, m.status) for m in out["messages"] if isinstance(m, ToolMessage)]


async def test_passthrough_interceptor_sees_the_call_and_changes_nothing(pkg: Any) -> None:
    seen: list[Any] = []

    def passthrough(request: Any, execute: Callable[[Any], Any]) -> Any:
        seen.append(request)
        return execute(request)

    graph = _graph(pkg, pkg.prebuilt.ToolNode([add], wrap_tool_call=passthrough))
    out = await graph.ainvoke({"messages": [_ai(("add", {"a": 1, "b": 2}))], "user": "ann"})
    assert _answers(out) == [("c0", "3", "success")]
    (request,) = seen
    assert isinstance(request, pkg.tool_node.ToolCallRequest)
    assert request.tool_call["name"] == "add" and request.tool_call["args"] == {"a": 1, "b": 2}
    assert request.tool is not None and request.tool.name == "add"
    assert request.state["user"] == "ann"
    assert request.runtime.tool_call_id == "c0"
    assert request.runtime.state["user"] == "ann"


async def test_interceptor_rewrites_the_arguments_without_touching_the_request(pkg: Any) -> None:
    originals: list[Any] = []

    def double(request: Any, execute: Callable[[Any], Any]) -> Any:
        originals.append(request)
        args = {k: v * 2 for k, v in request.tool_call["args"].items()}
        return execute(request.override(tool_call={**request.tool_call, "args": args}))

    graph = _graph(pkg, pkg.prebuilt.ToolNode([add], wrap_tool_call=double))
    out = await graph.ainvoke({"messages": [_ai(("add", {"a": 1, "b": 2}))]})
    assert _answers(out) == [("c0", "6", "success")]
    assert originals[0].tool_call["args"] == {"a": 1, "b": 2}


async def test_interceptor_retries_by_calling_execute_again(pkg: Any) -> None:
    flaky_calls.clear()

    def retry(request: Any, execute: Callable[[Any], Any]) -> Any:
        for attempt in range(3):
            try:
                return execute(request)
            except ValueError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    node = pkg.prebuilt.ToolNode([flaky], wrap_tool_call=retry, handle_tool_errors=False)
    out = await _graph(pkg, node).ainvoke({"messages": [_ai(("flaky", {"a": 5}))]})
    assert _answers(out) == [("c0", "5", "success")]
    assert flaky_calls == [5, 5]


async def test_interceptor_answers_without_running_the_tool(pkg: Any) -> None:
    def cached(request: Any, execute: Callable[[Any], Any]) -> Any:
        return ToolMessage("from cache", tool_call_id=request.tool_call["id"], name=request.tool_call["name"])

    flaky_calls.clear()
    out = await _graph(pkg, pkg.prebuilt.ToolNode([flaky], wrap_tool_call=cached)).ainvoke(
        {"messages": [_ai(("flaky", {"a": 1}))]}
    )
    assert _answers(out) == [("c0", "from cache", "success")]
    assert flaky_calls == []


async def test_unregistered_tool_reaches_the_interceptor_with_no_tool(pkg: Any) -> None:
    def handle_unknown(request: Any, execute: Callable[[Any], Any]) -> Any:
        if request.tool is None and request.tool_call["name"] == "virtual":
            return ToolMessage("virtual answer", tool_call_id=request.tool_call["id"])
        return execute(request)

    node = pkg.prebuilt.ToolNode([add], wrap_tool_call=handle_unknown)
    out = await _graph(pkg, node).ainvoke({"messages": [_ai(("virtual", {}), ("missing", {}))]})
    answers = _answers(out)
    assert answers[0] == ("c0", "virtual answer", "success")
    # execute() on a tool the node does not have: the usual error message.
    assert answers[1][0] == "c1" and answers[1][2] == "error"
    assert answers[1][1] == "Error: missing is not a valid tool, try one of [add]."


@pytest.mark.parametrize("handle_tool_errors", [True, "custom text"])
async def test_an_error_raised_by_the_interceptor_follows_handle_tool_errors(pkg: Any, handle_tool_errors: Any) -> None:
    def broken(request: Any, execute: Callable[[Any], Any]) -> Any:
        raise RuntimeError("interceptor broke")

    node = pkg.prebuilt.ToolNode([add], wrap_tool_call=broken, handle_tool_errors=handle_tool_errors)
    out = await _graph(pkg, node).ainvoke({"messages": [_ai(("add", {"a": 1, "b": 2}))]})
    ((call_id, content, status),) = _answers(out)
    assert (call_id, status) == ("c0", "error")
    expected = "custom text" if isinstance(handle_tool_errors, str) else "Error: RuntimeError('interceptor broke')\n Please fix your mistakes."
    assert content == expected


async def test_an_error_raised_by_the_interceptor_propagates_by_default(pkg: Any) -> None:
    def broken(request: Any, execute: Callable[[Any], Any]) -> Any:
        raise RuntimeError("interceptor broke")

    with pytest.raises(RuntimeError, match="interceptor broke"):
        await _graph(pkg, pkg.prebuilt.ToolNode([add], wrap_tool_call=broken)).ainvoke(
            {"messages": [_ai(("add", {"a": 1, "b": 2}))]}
        )


async def test_async_interceptor_under_ainvoke_sync_one_under_invoke(pkg: Any) -> None:
    used: list[str] = []

    def sync_wrap(request: Any, execute: Callable[[Any], Any]) -> Any:
        used.append("sync")
        return execute(request)

    async def async_wrap(request: Any, execute: Callable[[Any], Any]) -> Any:
        used.append("async")
        return await execute(request)

    node = pkg.prebuilt.ToolNode([add], wrap_tool_call=sync_wrap, awrap_tool_call=async_wrap)
    graph = _graph(pkg, node)
    inp = {"messages": [_ai(("add", {"a": 1, "b": 2}))]}
    assert _answers(await graph.ainvoke(inp)) == [("c0", "3", "success")]
    assert _answers(graph.invoke(inp)) == [("c0", "3", "success")]
    assert used == ["async", "sync"]


async def test_interrupt_inside_an_intercepted_tool_pauses_and_resumes(pkg: Any) -> None:
    @tool
    def ask(question: str) -> str:
        """Ask a human."""
        return f"human said {pkg.types.interrupt(question)}"

    async def passthrough(request: Any, execute: Callable[[Any], Any]) -> Any:
        return await execute(request)

    graph = _graph(pkg, pkg.prebuilt.ToolNode([ask], awrap_tool_call=passthrough), pkg.memory.InMemorySaver())
    config = {"configurable": {"thread_id": "1"}}
    paused = await graph.ainvoke({"messages": [_ai(("ask", {"question": "ok?"}))]}, config)
    assert [i.value for i in paused["__interrupt__"]] == ["ok?"]
    out = await graph.ainvoke(pkg.types.Command(resume="yes"), config)
    assert _answers(out) == [("c0", "human said yes", "success")]


async def test_override_state_reaches_injected_state_and_tool_runtime(pkg: Any) -> None:
    seen: dict[str, Any] = {}

    @tool
    def whoami(
        user: Annotated[str, pkg.prebuilt.InjectedState("user")], runtime: pkg.prebuilt.ToolRuntime
    ) -> str:
        """Who is asking."""
        seen["runtime_user"] = runtime.state["user"]
        return user

    def as_bo(request: Any, execute: Callable[[Any], Any]) -> Any:
        return execute(request.override(state={**request.state, "user": "bo"}))

    out = await _graph(pkg, pkg.prebuilt.ToolNode([whoami], wrap_tool_call=as_bo)).ainvoke(
        {"messages": [_ai(("whoami", {}))], "user": "ann"}
    )
    assert _answers(out) == [("c0", "bo", "success")]
    assert seen["runtime_user"] == "bo"


def test_assigning_a_request_attribute_is_deprecated(pkg: Any) -> None:
    request = pkg.tool_node.ToolCallRequest(
        tool_call={"name": "add", "args": {}, "id": "1"}, tool=add, state={}, runtime=None
    )
    with pytest.warns(DeprecationWarning, match="Setting attribute 'state' on ToolCallRequest is deprecated"):
        request.state = {"x": 1}
    copy = request.override(tool_call={"name": "other", "args": {}, "id": "2"})
    assert copy.tool_call["name"] == "other" and request.tool_call["name"] == "add"


async def test_model_cannot_forge_injected_arguments(pkg: Any) -> None:
    @tool
    def reply(text: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> str:
        """Reply, quoting the call id."""
        return f"{text}@{tool_call_id}"

    out = await _graph(pkg, pkg.prebuilt.ToolNode([reply])).ainvoke(
        {"messages": [_ai(("reply", {"text": "hi", "tool_call_id": "forged"}))]}
    )
    assert _answers(out) == [("c0", "hi@c0", "success")]


async def test_parent_sends_of_several_calls_become_one_command(pkg: Any) -> None:
    Command, Send = pkg.types.Command, pkg.types.Send

    @tool
    def handoff(to: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Any:
        """Hand off."""
        return Command(graph=Command.PARENT, goto=[Send(to, {"from": tool_call_id})])

    # Outside a graph, LangGraph's ToolNode needs a Runtime in the config.
    config = {"configurable": {"__pregel_runtime": pkg.runtime.Runtime()}}
    out = await pkg.prebuilt.ToolNode([handoff]).ainvoke(
        {"messages": [_ai(("handoff", {"to": "a"}), ("handoff", {"to": "b"}))]}, config
    )
    (command,) = out
    assert command.graph == Command.PARENT
    assert [(s.node, s.arg) for s in command.goto] == [("a", {"from": "c0"}), ("b", {"from": "c1"})]


async def test_a_tool_may_answer_with_a_list_holding_exactly_one_answer(pkg: Any) -> None:
    Command = pkg.types.Command

    @tool
    def two(tool_call_id: Annotated[str, InjectedToolCallId]) -> Any:
        """Answer and set the user."""
        return [Command(update={"user": "cy"}), ToolMessage("done", tool_call_id=tool_call_id)]

    @tool
    def none(tool_call_id: Annotated[str, InjectedToolCallId]) -> Any:
        """Forgets to answer."""
        return [Command(update={"user": "cy"})]

    out = await _graph(pkg, pkg.prebuilt.ToolNode([two])).ainvoke({"messages": [_ai(("two", {}))]})
    assert out["user"] == "cy" and _answers(out) == [("c0", "done", "success")]
    with pytest.raises(ValueError, match="0 messages bound to tool_call_id 'c0'"):
        await _graph(pkg, pkg.prebuilt.ToolNode([none], handle_tool_errors=False)).ainvoke({"messages": [_ai(("none", {}))]})


async def test_injected_store_without_a_store_is_a_clear_error(pkg: Any) -> None:
    @tool
    def remember(fact: str, store: Annotated[Any, pkg.prebuilt.InjectedStore()]) -> str:
        """Remember."""
        return fact

    with pytest.raises(ValueError, match="store"):
        await _graph(pkg, pkg.prebuilt.ToolNode([remember])).ainvoke({"messages": [_ai(("remember", {"fact": "x"}))]})


# -- asyncgraph only ---------------------------------------------------------------------


async def test_sync_interceptor_runs_async_only_tools_without_blocking_the_loop() -> None:
    # LangGraph calls a sync interceptor on the event loop and runs the tool with its
    # sync invoke (an async-only tool fails). asyncgraph runs the interceptor in a
    # worker thread and the tool on the loop.
    from asyncgraph.prebuilt import ToolNode

    threads: list[str] = []

    def wrap(request: AgToolCallRequest, execute: Callable[[Any], Any]) -> Any:
        import threading

        threads.append(threading.current_thread().name)
        return execute(request)

    pkg = _pkg("asyncgraph")
    out = await _graph(pkg, ToolNode([async_only], wrap_tool_call=wrap)).ainvoke({"messages": [_ai(("async_only", {"a": 2}))]})
    assert _answers(out) == [("c0", "async 2", "success")]
    assert threads and threads[0] != "MainThread"


async def test_tool_runtime_carries_execution_and_server_info() -> None:
    from asyncgraph.prebuilt import ToolNode, ToolRuntime

    seen: dict[str, Any] = {}

    @tool
    def where(runtime: ToolRuntime) -> str:
        """Where am I."""
        seen["info"] = runtime.execution_info
        seen["server"] = runtime.server_info
        return "here"

    pkg = _pkg("asyncgraph")
    graph = _graph(pkg, ToolNode([where]), pkg.memory.InMemorySaver())
    await graph.ainvoke(
        {"messages": [_ai(("where", {}))]},
        {"configurable": {"thread_id": "t9", "assistant_id": "asst", "graph_id": "g"}},
    )
    info = seen["info"]
    assert info.thread_id == "t9" and info.checkpoint_ns == f"tools:{info.task_id}" and info.node_attempt == 1
    assert (seen["server"].assistant_id, seen["server"].graph_id) == ("asst", "g")


def test_langgraph_supervisor_can_rebuild_a_tool_node_from_its_settings() -> None:
    # langgraph-supervisor copies a ToolNode's settings into a new one through these
    # attributes.
    from asyncgraph.prebuilt import ToolNode

    def handler(e: ValueError) -> str:
        return "bad"

    node = ToolNode([add], name="my_tools", tags=["t"], handle_tool_errors=handler, messages_key="chat")
    copy = ToolNode(
        [add],
        name=str(node.name),
        tags=list(node.tags or ()),
        handle_tool_errors=node._handle_tool_errors,
        messages_key=node._messages_key,
    )
    assert (copy.name, copy.tags, copy._handle_tool_errors, copy._messages_key) == ("my_tools", ["t"], handler, "chat")
    default = ToolNode([add])
    assert ToolNode([add], handle_tool_errors=default._handle_tool_errors)._handle_tool_errors is default._handle_tool_errors


def test_an_async_only_interceptor_is_not_skipped_under_sync_invoke() -> None:
    # LangGraph's sync path ignores awrap_tool_call when no wrap_tool_call is given, so the
    # interceptor silently does not run; asyncgraph runs it (README's differences table).
    used: dict[str, list[str]] = {"langgraph": [], "asyncgraph": []}
    for name in used:
        pkg = _pkg(name)

        async def awrap(request: Any, execute: Callable[[Any], Any], seen: list[str] = used[name]) -> Any:
            seen.append(request.tool_call["id"])
            return await execute(request)

        out = _graph(pkg, pkg.prebuilt.ToolNode([add], awrap_tool_call=awrap)).invoke({"messages": [_ai(("add", {"a": 1, "b": 2}))]})
        assert _answers(out) == [("c0", "3", "success")]
    assert used == {"langgraph": [], "asyncgraph": ["c0"]}


async def test_calls_sent_without_state_read_it_from_the_graph(pkg: Any) -> None:
    # LangChain's create_agent sends each call as Send("tools", [call]): the tools node
    # then reads the state itself, for InjectedState, ToolRuntime and interceptors.
    seen: dict[str, Any] = {}

    @tool
    def whoami(user: Annotated[str, pkg.prebuilt.InjectedState("user")], runtime: pkg.prebuilt.ToolRuntime) -> str:
        """Who is asking."""
        seen["runtime_keys"] = sorted(runtime.state)
        return user

    def record(request: Any, execute: Callable[[Any], Any]) -> Any:
        seen["request_user"] = request.state["user"]
        return execute(request)

    class State(TypedDict, total=False):
        messages: Annotated[list[AnyMessage], pkg.message.add_messages]
        user: str

    def model(state: State) -> dict[str, Any]:
        return {"messages": [_ai(("whoami", {}))]}

    def route(state: State) -> list[Any]:
        return [pkg.types.Send("tools", [call]) for call in state["messages"][-1].tool_calls]

    builder = pkg.graph.StateGraph(State)
    builder.add_node("model", model)
    builder.add_node("tools", pkg.prebuilt.ToolNode([whoami], wrap_tool_call=record))
    builder.add_edge(pkg.graph.START, "model")
    builder.add_conditional_edges("model", route, ["tools"])
    out = await builder.compile().ainvoke({"messages": [], "user": "ann"})
    assert _answers(out) == [("c0", "ann", "success")]
    assert seen == {"runtime_keys": ["messages", "user"], "request_user": "ann"}
