"""create_react_agent: end to end on the scripted model, and differentially against LangGraph.

The differential tests run the same scripted dialogue through LangGraph's
``create_react_agent`` (the oracle) and ours, and compare the ``updates`` streams with
message ids (random on both sides) left out.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool

# The oracle, imported with the module: a first import inside an async test blocks the
# event loop long enough for the blocking watchdog to fail the test on a loaded machine.
from langgraph.prebuilt import create_react_agent as lg_create_react_agent

from asyncgraph.errors import GraphRecursionError
from asyncgraph.graph.message import add_messages
from asyncgraph.managed import RemainingSteps
from asyncgraph.prebuilt import InjectedState, ToolNode, create_react_agent
from asyncgraph.testing import ScriptedChatModel


@tool
async def search(query: str) -> str:
    """Search the web."""
    await asyncio.sleep(0.05 if query == "slow" else 0.0)
    return f"results for {query}"


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool(return_direct=True)
def final_answer(text: str) -> str:
    """Answer the user directly."""
    return text


TOOLS = [search, add, final_answer]


def call(name: str, args: dict[str, Any], id: str) -> dict[str, Any]:
    return {"name": name, "args": args, "id": id, "type": "tool_call"}


def calls(*items: dict[str, Any]) -> AIMessage:
    return AIMessage("", tool_calls=list(items))


def shape(message: BaseMessage) -> tuple[Any, ...]:
    """What a user sees of a message, without the random id."""
    if isinstance(message, ToolMessage):
        return ("tool", message.content, message.name, message.tool_call_id, message.status)
    if isinstance(message, AIMessage):
        return ("ai", message.content, [(c["name"], c["args"], c["id"]) for c in message.tool_calls], message.name)
    return (message.type, message.content)


def shape_update(chunk: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for node, update in chunk.items():
        if isinstance(update, dict):
            out.append((node, {k: [shape(m) for m in v] if isinstance(v, list) else v for k, v in update.items()}))
        else:
            out.append((node, update))
    return out


async def updates(agent: Any, input: Any, config: dict[str, Any] | None = None) -> list[Any]:
    return [shape_update(c) async for c in agent.astream(input, config, stream_mode="updates")]


def oracle(model: Any, tools: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LangGraph deprecates this name in favour of langchain's
        return lg_create_react_agent(model, tools, **kwargs)


Dialogue = list[Any]

DIALOGUES: dict[str, Dialogue] = {
    "one_round": [calls(call("search", {"query": "weather"}, "c1")), "It is sunny."],
    "no_tools_needed": ["Hello there."],
    "parallel_calls_finish_out_of_order": [
        calls(call("search", {"query": "slow"}, "c1"), call("search", {"query": "fast"}, "c2")),
        "Both done.",
    ],
    "two_rounds": [
        calls(call("add", {"a": 1, "b": 2}, "c1")),
        calls(call("add", {"a": 3, "b": 4}, "c2")),
        "3 and 7.",
    ],
    "bad_arguments_and_unknown_tool": [
        calls(call("add", {"a": "one"}, "c1"), call("nope", {}, "c2")),
        "Sorry.",
    ],
    "return_direct": [calls(call("final_answer", {"text": "42"}, "c1"))],
    # With one task per call (v2), the normal tool's task must also see that its
    # sibling returned directly.
    "return_direct_beside_a_normal_tool": [
        calls(call("final_answer", {"text": "42"}, "c1"), call("add", {"a": 1, "b": 2}, "c2")),
        "unused",
    ],
}


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("dialogue", list(DIALOGUES))
async def test_updates_stream_matches_langgraph(dialogue: str, version: str) -> None:
    script = DIALOGUES[dialogue]
    inp = {"messages": [HumanMessage("hi", id="h1")]}
    model = ScriptedChatModel(responses=script, check_tool_names=False)
    expected = await updates(oracle(model, TOOLS, prompt="Be brief.", version=version), inp)
    model.reset()
    got = await updates(create_react_agent(model, TOOLS, prompt="Be brief.", version=version), inp)
    assert got == expected


@pytest.mark.parametrize("limit", [2, 3, 4, 5, 6])
async def test_running_out_of_steps_matches_langgraph(limit: int) -> None:
    model = ScriptedChatModel(responses=[calls(call("search", {"query": "q"}, None))], cycle=True)  # type: ignore[arg-type]
    inp = {"messages": [HumanMessage("loop forever", id="h1")]}

    async def run(agent: Any) -> Any:
        model.reset()
        try:
            chunks = await updates(agent, inp, {"recursion_limit": limit})
        except Exception as exc:  # noqa: BLE001  (the outcome compared is the error type)
            return type(exc).__name__
        return [(node, [m[:2] for m in u["messages"]]) for c in chunks for node, u in c]

    expected = await run(oracle(model, [search]))
    got = await run(create_react_agent(model, [search]))
    assert got == expected
    if limit % 2 == 0:
        assert got[-1] == ("agent", [("ai", "Sorry, need more steps to process this request.")])
    else:
        assert got == GraphRecursionError.__name__


async def test_tool_round_then_answer_with_ainvoke() -> None:
    model = ScriptedChatModel(responses=[calls(call("search", {"query": "weather"}, "c1")), "It is sunny."])
    agent = create_react_agent(model, [search])
    assert set(agent.get_graph().nodes) == {"__start__", "agent", "tools", "__end__"}
    out = await agent.ainvoke({"messages": [HumanMessage("weather?")]})
    assert [shape(m)[:2] for m in out["messages"]] == [
        ("human", "weather?"), ("ai", ""), ("tool", "results for weather"), ("ai", "It is sunny.")
    ]
    assert "remaining_steps" not in out


async def test_messages_stream_yields_agent_tokens() -> None:
    model = ScriptedChatModel(responses=[calls(call("search", {"query": "w"}, "c1")), "It is very sunny today."])
    agent = create_react_agent(model, [search])
    tokens: list[str] = []
    tool_messages: list[str] = []
    async for message, metadata in agent.astream({"messages": [HumanMessage("weather?")]}, stream_mode="messages"):
        if isinstance(message, AIMessageChunk) and message.content:
            assert metadata["langgraph_node"] == "agent"
            tokens.append(str(message.content))
        elif isinstance(message, ToolMessage):
            assert metadata["langgraph_node"] == "tools"
            tool_messages.append(str(message.content))
    assert tokens == ["It ", "is ", "very ", "sunny ", "today."]
    assert tool_messages == ["results for w"]


async def test_messages_stream_matches_langgraph_node_sequence() -> None:
    script = [calls(call("search", {"query": "w"}, "c1")), "It is very sunny today."]
    inp = {"messages": [HumanMessage("weather?", id="h1")]}

    async def run(agent: Any) -> list[tuple[str, str, Any]]:
        model.reset()
        return [
            (type(m).__name__, meta["langgraph_node"], m.content)
            async for m, meta in agent.astream(inp, stream_mode="messages")
        ]

    model = ScriptedChatModel(responses=script)
    assert await run(create_react_agent(model, [search])) == await run(oracle(model, [search]))


# -- model binding and prompts ----------------------------------------------------------------


async def test_binds_tools_unless_already_bound() -> None:
    model = ScriptedChatModel(responses=["ok"], cycle=True)
    await updates(create_react_agent(model, [search, add]), {"messages": [HumanMessage("x")]})
    assert [t.name for t in model.bound_tools] == ["search", "add"]
    model.bound_tools.clear()
    bound = model.bind_tools([search])
    model.bound_tools.clear()
    await updates(create_react_agent(bound, [search]), {"messages": [HumanMessage("x")]})
    assert model.bound_tools == []  # not bound a second time
    with pytest.raises(ValueError, match="must match. Got 2 tools, expected 1"):
        create_react_agent(bound, [search, add])
    with pytest.raises(ValueError, match="Missing tools '{'add'}' in the model"):
        create_react_agent(bound, [add])


@pytest.mark.parametrize(
    "prompt",
    [
        "You are terse.",
        SystemMessage("You are terse."),
        lambda state: [SystemMessage("You are terse."), *state["messages"]],
        RunnableLambda(lambda state: [SystemMessage("You are terse."), *state["messages"]]),
    ],
    ids=["str", "system_message", "callable", "runnable"],
)
async def test_prompt_variants_put_the_system_message_first(prompt: Any) -> None:
    model = ScriptedChatModel(responses=["ok"])
    await updates(create_react_agent(model, [search], prompt=prompt), {"messages": [HumanMessage("hi")]})
    (sent,) = model.calls
    assert [(m.type, m.content) for m in sent] == [("system", "You are terse."), ("human", "hi")]


async def test_async_callable_prompt() -> None:
    async def prompt(state: Any) -> list[BaseMessage]:
        return [SystemMessage("async"), *state["messages"]]

    model = ScriptedChatModel(responses=["ok"])
    await updates(create_react_agent(model, [], prompt=prompt), {"messages": [HumanMessage("hi")]})
    assert model.calls[0][0].content == "async"


async def test_name_is_set_on_model_messages() -> None:
    model = ScriptedChatModel(responses=["ok"])
    agent = create_react_agent(model, [search], name="helper")
    (chunk,) = [c async for c in agent.astream({"messages": [HumanMessage("hi")]}, stream_mode="updates")]
    assert chunk["agent"]["messages"][0].name == "helper"
    assert agent.get_name() == "helper"


async def test_history_with_unanswered_tool_calls_is_rejected() -> None:
    agent = create_react_agent(ScriptedChatModel(responses=["ok"]), [search])
    with pytest.raises(ValueError, match="do not have a corresponding ToolMessage"):
        await updates(agent, {"messages": [calls(call("search", {"query": "x"}, "c9"))]})


# -- state schema, hooks, structured output, memory ----------------------------------------------


class CustomState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    remaining_steps: RemainingSteps
    user: str


def test_state_schema_must_have_the_agent_keys() -> None:
    class Bare(TypedDict):
        user: str

    with pytest.raises(ValueError, match="Missing required key"):
        create_react_agent(ScriptedChatModel(responses=["x"]), [search], state_schema=Bare)


async def test_custom_state_reaches_prompt_and_tools() -> None:
    @tool
    def greet(user: Annotated[str, InjectedState("user")]) -> str:
        """Greet the user."""
        return f"hello {user}"

    model = ScriptedChatModel(responses=[calls(call("greet", {}, "c1")), "done"])
    agent = create_react_agent(
        model, [greet], state_schema=CustomState, prompt=lambda s: [SystemMessage(f"user={s['user']}"), *s["messages"]]
    )
    chunks = await updates(agent, {"messages": [HumanMessage("hi")], "user": "ann"})
    assert chunks[1] == [("tools", {"messages": [("tool", "hello ann", "greet", "c1", "success")]})]
    assert model.calls[0][0].content == "user=ann"


async def test_hooks_match_langgraph_node_sequence() -> None:
    def pre(state: Any) -> dict[str, Any]:
        return {"llm_input_messages": state["messages"][-1:]}

    def post(state: Any) -> dict[str, Any]:
        return {"messages": []}

    script = [calls(call("search", {"query": "a"}, "c1")), "done"]
    inp = {"messages": [HumanMessage("hi", id="h1")]}
    model = ScriptedChatModel(responses=script)
    expected = await updates(oracle(model, [search], pre_model_hook=pre, post_model_hook=post), inp)
    seen_by_oracle = [[shape(m) for m in c] for c in model.calls]
    model.reset()
    got = await updates(create_react_agent(model, [search], pre_model_hook=pre, post_model_hook=post), inp)
    assert got == expected
    assert [[shape(m) for m in c] for c in model.calls] == seen_by_oracle  # the model saw only the hook's input


async def test_checkpointer_keeps_the_conversation_across_turns() -> None:
    from asyncgraph.checkpoint.memory import InMemorySaver

    model = ScriptedChatModel(responses=["first answer", "second answer"])
    agent = create_react_agent(model, [search], checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "t1"}}
    await updates(agent, {"messages": [HumanMessage("one")]}, cfg)
    await updates(agent, {"messages": [HumanMessage("two")]}, cfg)
    assert [m.content for m in model.calls[1]] == ["one", "first answer", "two"]
    state = await agent.aget_state(cfg)
    assert [m.content for m in state.values["messages"]][-1] == "second answer"


async def test_tool_node_instance_is_used_as_is() -> None:
    node = ToolNode([add], handle_tool_errors="nope")
    model = ScriptedChatModel(responses=[calls(call("add", {"a": "x"}, "c1")), "ok"])
    chunks = await updates(create_react_agent(model, node), {"messages": [HumanMessage("hi")]})
    assert chunks[1] == [("tools", {"messages": [("tool", "nope", "add", "c1", "error")]})]


async def test_concurrent_runs_share_one_agent() -> None:
    # The runs overlap: every run's tool call is in flight at the same moment (the tool
    # waits until all 50 have arrived), so one slow run never holds the others back.
    arrived = 0
    everyone_here = asyncio.Event()

    @tool("search")
    async def gated_search(query: str) -> str:
        """Search the web."""
        nonlocal arrived
        arrived += 1
        if arrived == 50:
            everyone_here.set()
        await asyncio.wait_for(everyone_here.wait(), timeout=30)
        return f"results for {query}"

    def respond(messages: list[BaseMessage]) -> AIMessage | str:
        if isinstance(messages[-1], ToolMessage):
            return f"answer: {messages[-1].content}"
        return calls(call("search", {"query": str(messages[-1].content)}, None))  # type: ignore[arg-type]

    model = ScriptedChatModel(respond=respond, latency=0.05)
    agent = create_react_agent(model, [gated_search])
    results = await asyncio.gather(*(updates(agent, {"messages": [HumanMessage(f"q{i}")]}) for i in range(50)))
    assert arrived == 50
    for i, chunks in enumerate(results):
        assert chunks[-1] == [("agent", {"messages": [("ai", f"answer: results for q{i}", [], None)]})]


# -- LangGraph's chat_agent_executor helpers (langgraph-supervisor imports them) -------------


def test_should_bind_tools_and_get_model() -> None:
    from asyncgraph.prebuilt.chat_agent_executor import _get_model, _should_bind_tools

    model = ScriptedChatModel(responses=["ok"])
    assert _should_bind_tools(model, [search])
    assert _should_bind_tools(model | RunnableLambda(lambda m: m), [search])
    bound = model.bind_tools([search])
    assert not _should_bind_tools(bound, [search])
    assert not _should_bind_tools(bound | RunnableLambda(lambda m: m), [search])
    assert not _should_bind_tools(model.bind_tools([search, {"type": "web_search"}]), [search], num_builtin=1)
    with pytest.raises(ValueError, match="must match"):
        _should_bind_tools(bound, [])
    with pytest.raises(ValueError, match="Missing tools"):
        _should_bind_tools(bound, [add])
    assert _get_model(model) is model
    assert _get_model(bound) is model
    assert _get_model(bound | RunnableLambda(lambda m: m)) is model
    with pytest.raises(TypeError, match="Expected `model` to be a ChatModel"):
        _get_model(RunnableLambda(lambda m: m))


def test_validate_chat_history_rejects_unanswered_tool_calls() -> None:
    from asyncgraph.prebuilt.chat_agent_executor import _validate_chat_history

    _validate_chat_history([HumanMessage("hi"), calls(call("add", {}, "c1")), ToolMessage("3", tool_call_id="c1")])
    with pytest.raises(ValueError, match="do not have a corresponding ToolMessage"):
        _validate_chat_history([HumanMessage("hi"), calls(call("add", {}, "c1"), call("add", {}, "c2")), ToolMessage("3", tool_call_id="c1")])


def test_chat_agent_executor_type_names() -> None:
    from pydantic import BaseModel

    from asyncgraph.prebuilt import chat_agent_executor as cae

    class Answer(BaseModel):
        text: str

    assert isinstance(Answer(text="x"), cae.StructuredResponse) and isinstance({}, cae.StructuredResponse)
    assert cae.StructuredResponseSchema == dict | type[BaseModel]
    for name in ("Prompt", "StateSchemaType", "ToolCallWithContext", "AgentState"):
        assert hasattr(cae, name)


async def test_post_hook_router_counts_a_reused_call_id_as_answered() -> None:
    # A model that asks again with a call id the history already answered: the call
    # is not run again (LangGraph's rule), so the agent finishes instead of looping.
    def post(state: Any) -> dict[str, Any]:
        return {}

    script = [calls(call("search", {"query": "a"}, "c1")), calls(call("search", {"query": "a"}, "c1"))]
    inp = {"messages": [HumanMessage("hi", id="h1")]}
    model = ScriptedChatModel(responses=script)
    expected = await updates(oracle(model, [search], post_model_hook=post), inp)
    model.reset()
    got = await updates(create_react_agent(model, [search], post_model_hook=post), inp)
    assert got == expected
    assert len(model.calls) == 2


def test_callable_prompt_gets_config_and_store_from_the_run() -> None:
    from asyncgraph.store.memory import InMemoryStore

    store = InMemoryStore()
    store.put(("profile", "u1"), "name", {"text": "The user is Ada."})
    seen: list[Any] = []

    def prompt(state: dict[str, Any], config: dict[str, Any], *, store: Any) -> list[BaseMessage]:
        user = config["configurable"]["user_id"]
        seen.append(user)
        return [SystemMessage(store.get(("profile", user), "name").value["text"]), *state["messages"]]

    model = ScriptedChatModel(responses=["Hi Ada."])
    agent = create_react_agent(model, [add], prompt=prompt, store=store)
    out = agent.invoke({"messages": [HumanMessage("hi")]}, {"configurable": {"user_id": "u1"}})
    assert seen == ["u1"]
    assert out["messages"][-1].content == "Hi Ada."
    assert [m.content for m in model.calls[0]] == ["The user is Ada.", "hi"]


@pytest.mark.parametrize("response_format", [None, "schema"])
@pytest.mark.parametrize("hook", [False, True])
def test_drawing_lists_edges_in_langgraphs_order(hook: bool, response_format: Any) -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        text: str

    def pre_model_hook(state: dict[str, Any]) -> dict[str, Any]:
        return {}

    kwargs: dict[str, Any] = {}
    if hook:
        kwargs["pre_model_hook"] = pre_model_hook
    if response_format:
        kwargs["response_format"] = Answer
    ours = create_react_agent(ScriptedChatModel(responses=["x"]), [add], **kwargs)
    theirs = oracle(ScriptedChatModel(responses=["x"]), [add], **kwargs)
    assert ours.get_graph().draw_mermaid(with_styles=False) == theirs.get_graph().draw_mermaid(with_styles=False)


def test_prompt_returning_a_prompt_template_is_run_on_the_state() -> None:
    def prompt(state: dict[str, Any]) -> Any:
        return SystemMessage("Be brief.") + state["messages"]  # a ChatPromptTemplate

    model = ScriptedChatModel(responses=["ok"])
    create_react_agent(model, [add], prompt=prompt).invoke({"messages": [HumanMessage("hi")]})
    assert [m.content for m in model.calls[0]] == ["Be brief.", "hi"]


def test_llm_input_messages_is_not_part_of_the_output() -> None:
    def hook(state: dict[str, Any]) -> dict[str, Any]:
        return {"llm_input_messages": [HumanMessage("rewritten")]}

    model = ScriptedChatModel(responses=["ok"])
    out = create_react_agent(model, [], pre_model_hook=hook).invoke({"messages": [HumanMessage("hi")]})
    assert set(out) == {"messages"}
    assert [m.content for m in model.calls[0]] == ["rewritten"]


def test_model_node_has_a_sync_function_like_langgraphs() -> None:
    """``agent.nodes["agent"].bound.func`` is the model node's sync function (code
    inspects it), and sync ``stream`` runs it: same updates as LangGraph's."""
    import inspect

    def prompt(state: Any) -> list[BaseMessage]:
        return [SystemMessage("be brief"), *state["messages"]]

    script = [calls(call("add", {"a": 1, "b": 2}, "c1")), "3."]
    ours = create_react_agent(ScriptedChatModel(responses=list(script)), TOOLS, prompt=prompt)
    theirs = oracle(ScriptedChatModel(responses=list(script)), TOOLS, prompt=prompt)
    func = ours.nodes["agent"].bound.func
    assert callable(func) and not inspect.iscoroutinefunction(func)
    inspect.getclosurevars(func)
    inp = {"messages": [HumanMessage("add 1 and 2")]}
    got = [shape_update(c) for c in ours.stream(inp, stream_mode="updates")]
    want = [shape_update(c) for c in theirs.stream(inp, stream_mode="updates")]
    assert got == want


def test_async_prompt_under_sync_invoke_says_to_use_ainvoke() -> None:
    async def prompt(state: Any) -> list[BaseMessage]:
        return list(state["messages"])

    agent = create_react_agent(ScriptedChatModel(responses=["hi"]), TOOLS, prompt=prompt)
    with pytest.raises(TypeError, match="async.*ainvoke"):
        agent.invoke({"messages": [HumanMessage("hello")]})
    out = asyncio.run(agent.ainvoke({"messages": [HumanMessage("hello")]}))
    assert out["messages"][-1].content == "hi"


def test_agent_state_has_a_json_schema() -> None:
    # Pydantic refuses typing.TypedDict before Python 3.12; the prebuilt state must be
    # readable (LangGraph's is), for get_input_jsonschema and the server's /schemas.
    from langchain_core.tools import tool

    from asyncgraph.prebuilt import create_react_agent
    from asyncgraph.testing import ScriptedChatModel

    @tool
    def lookup(q: str) -> str:
        """Look q up."""
        return q

    agent = create_react_agent(ScriptedChatModel(responses=["x"]), [lookup])
    schema = agent.get_input_jsonschema()
    assert schema["title"] == "AgentState" and "messages" in schema["properties"]
    assert agent.get_output_jsonschema()["required"] == ["messages"]
