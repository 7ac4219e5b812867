"""``create_react_agent``: a model that calls tools in a loop until it answers.

The graph (node names as in LangGraph, so streams and checkpoints look the same)::

    START -> [pre_model_hook] -> agent -> [post_model_hook] -> tools -> (back to the start)
                                                            -> [generate_structured_response] -> END

Everything that depends only on the arguments (the bound model, how the prompt is
applied, which tools return directly) is decided here once; a model call does no
inspection.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage
from langchain_core.runnables import (
    Runnable,
    RunnableBinding,
    RunnableConfig,
    RunnableSequence,
)
from langchain_core.tools import BaseTool
from pydantic import BaseModel
from typing_extensions import NotRequired, TypedDict  # (Pydantic reads these on Python 3.11)

from asyncgraph._internal._runnable import RunnableCallable
from asyncgraph.constants import END, START
from asyncgraph.graph import StateGraph
from asyncgraph.graph.message import add_messages
from asyncgraph.managed import RemainingSteps
from asyncgraph.prebuilt._tool_node import TOOL_CALL_WITH_CONTEXT, ToolNode
from asyncgraph.runtime import get_runtime
from asyncgraph.types import Send
from asyncgraph.warnings import LangGraphDeprecatedSinceV10

if typing.TYPE_CHECKING:
    from asyncgraph.pregel.main import CompiledStateGraph

__all__ = [
    "AgentState",
    "AgentStatePydantic",
    "AgentStateWithStructuredResponse",
    "AgentStateWithStructuredResponsePydantic",
    "create_react_agent",
]

NEED_MORE_STEPS = "Sorry, need more steps to process this request."


class AgentState(TypedDict):
    """The default state of :func:`create_react_agent`."""

    messages: Annotated[Sequence[BaseMessage], add_messages]
    remaining_steps: NotRequired[RemainingSteps]


class AgentStatePydantic(BaseModel):
    """:class:`AgentState` as a Pydantic model."""

    messages: Annotated[Sequence[BaseMessage], add_messages]
    remaining_steps: RemainingSteps = 25


class AgentStateWithStructuredResponse(AgentState):
    """:class:`AgentState` plus the ``response_format`` answer."""

    structured_response: Any


class AgentStateWithStructuredResponsePydantic(AgentStatePydantic):
    """:class:`AgentStatePydantic` plus the ``response_format`` answer."""

    structured_response: Any = None


# -- reading the state (dict for TypedDict schemas, an object otherwise) -----------------


def _get(state: Any, key: str, default: Any = None) -> Any:
    if isinstance(state, dict):
        return state.get(key, default)
    return getattr(state, key, default)


def _with_messages(state: Any, messages: list[BaseMessage]) -> Any:
    if isinstance(state, dict):
        return {**state, "messages": messages}
    if isinstance(state, BaseModel):
        return state.model_copy(update={"messages": messages})
    if dataclasses.is_dataclass(state) and not isinstance(state, type):
        return dataclasses.replace(state, messages=messages)
    return state


def _schema_keys(schema: Any) -> set[str]:
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return set(schema.model_fields)
    if dataclasses.is_dataclass(schema):
        return {f.name for f in dataclasses.fields(schema)}
    return set(typing.get_type_hints(schema))


def _extend_schema(schema: Any, extra: dict[str, Any]) -> Any:
    """``schema`` with extra optional keys (e.g. ``llm_input_messages``) it lacks."""
    missing = {k: tp for k, tp in extra.items() if k not in _schema_keys(schema)}
    if not missing:
        return schema
    name = f"{schema.__name__}Extended"
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        from pydantic import create_model

        fields: Any = {k: (tp | None, None) for k, tp in missing.items()}
        return create_model(name, __base__=schema, **fields)
    if dataclasses.is_dataclass(schema):
        return dataclasses.make_dataclass(
            name, [(k, tp, dataclasses.field(default=None)) for k, tp in missing.items()], bases=(typing.cast(type, schema),)
        )
    hints = typing.get_type_hints(schema, include_extras=True)
    return TypedDict(name, {**hints, **{k: NotRequired[tp] for k, tp in missing.items()}})  # type: ignore[operator]


# -- the model and the prompt -----------------------------------------------------------


def _tool_name(tool: Any) -> str | None:
    if isinstance(tool, BaseTool):
        return tool.name
    if isinstance(tool, dict):
        fn = tool.get("function")
        return (fn or tool).get("name") if isinstance(fn or tool, dict) else None
    return getattr(tool, "__name__", None)


def _bound_tool_names(model: Any) -> set[str] | None:
    """Names of the tools already bound to ``model``, or None if it has no tools bound."""
    if isinstance(model, RunnableSequence):
        for step in model.steps:
            names = _bound_tool_names(step)
            if names is not None:
                return names
        return None
    if isinstance(model, RunnableBinding):
        tools = model.kwargs.get("tools")
        if tools is not None:
            return {n for n in map(_tool_name, tools) if n}
        return _bound_tool_names(model.bound)
    return None


def _first_model_step(model: Any) -> Any:
    """The chat model (or binding) step of a ``RunnableSequence``; ``model`` otherwise."""
    if isinstance(model, RunnableSequence):
        return next((s for s in model.steps if isinstance(s, (RunnableBinding, BaseChatModel))), model)
    return model


def _should_bind_tools(model: Any, tools: Sequence[BaseTool], num_builtin: int = 0) -> bool:
    """Whether ``tools`` still have to be bound to ``model``: False when the model (or
    its model step) is already bound to exactly these tools (plus ``num_builtin``
    provider tools).

    Raises:
        ValueError: the model is bound to a different number of tools, or lacks some.
    """
    model = _first_model_step(model)
    if not isinstance(model, RunnableBinding) or "tools" not in model.kwargs:
        return True
    bound = model.kwargs["tools"]
    if len(tools) != len(bound) - num_builtin:
        raise ValueError(
            "Number of tools in the model.bind_tools() and tools passed to create_react_agent "
            f"must match. Got {len(tools)} tools, expected {len(bound) - num_builtin}"
        )
    bound_names = {n for n in map(_tool_name, bound) if n}
    missing = {t.name for t in tools} - bound_names
    if missing:
        raise ValueError(f"Missing tools '{missing}' in the model.bind_tools()")
    return False


def _get_model(model: Any) -> BaseChatModel:
    """The chat model inside a binding (``model.bind_tools(...)``) or a sequence.

    Raises:
        TypeError: there is no chat model in ``model``.
    """
    model = _first_model_step(model)
    if isinstance(model, RunnableBinding):
        model = model.bound
    if not isinstance(model, BaseChatModel):
        raise TypeError(
            "Expected `model` to be a ChatModel or RunnableBinding (e.g. model.bind_tools(...)), "
            f"got {type(model)}"
        )
    return model


def _bind_tools(model: Any, tools: list[Any]) -> Any:
    if not tools:
        return model
    runnable = [t for t in tools if isinstance(t, BaseTool)]
    if not _should_bind_tools(model, runnable, num_builtin=len(tools) - len(runnable)):
        return model
    if _bound_tool_names(model) is not None:
        return model  # bound inside a binding we cannot see through: keep the user's
    if not hasattr(model, "bind_tools"):
        raise TypeError(
            f"create_react_agent: the model {type(model).__name__} has no bind_tools(); "
            "pass a chat model, or one you have bound the tools to yourself"
        )
    return model.bind_tools(tools)


Prompt = SystemMessage | str | Callable[[Any], Any] | Runnable[Any, Any]
"""What ``create_react_agent(prompt=...)`` takes."""

StructuredResponse = dict | BaseModel
"""What ``create_react_agent(response_format=...)`` stores in ``structured_response``."""

StructuredResponseSchema = dict | type[BaseModel]
"""What ``create_react_agent(response_format=...)`` takes (or a ``(prompt, schema)`` pair)."""

StateSchema = TypeVar("StateSchema", bound=AgentState | AgentStatePydantic)
StateSchemaType = type[StateSchema]
"""A state schema for ``create_react_agent(state_schema=...)``."""


def _prompt_appliers(prompt: Prompt | None) -> tuple[Callable[[Any, list[BaseMessage], RunnableConfig], Any],
                                                     Callable[[Any, list[BaseMessage], RunnableConfig], Any]]:
    """How to turn (state, messages) into the model's input: the sync way and the async
    way (whose result may be awaitable: callable or Runnable prompts)."""
    if prompt is None:
        def passthrough(state: Any, messages: list[BaseMessage], config: RunnableConfig) -> Any:
            return messages

        return passthrough, passthrough
    if isinstance(prompt, str):
        prompt = SystemMessage(content=prompt)
    if isinstance(prompt, SystemMessage):
        system = prompt

        def with_system(state: Any, messages: list[BaseMessage], config: RunnableConfig) -> Any:
            return [system, *messages]

        return with_system, with_system
    if isinstance(prompt, Runnable):
        runnable = prompt
        return (lambda state, messages, config: runnable.invoke(_with_messages(state, messages), config),
                lambda state, messages, config: runnable.ainvoke(_with_messages(state, messages), config))
    if callable(prompt):
        # Called as LangGraph calls it: parameters named config / store / runtime /
        # writer are filled from the run.
        fn = prompt
        injected = RunnableCallable(fn, name="Prompt", trace=False)

        def apply_sync(state: Any, messages: list[BaseMessage], config: RunnableConfig) -> Any:
            value = _with_messages(state, messages)
            args, kwargs = injected._call_args(value, config, {})
            out = _not_awaitable(fn(*args, **kwargs), "prompt", fn)
            if isinstance(out, Runnable):  # e.g. ``SystemMessage(...) + messages``, a prompt template
                out = out.invoke(value, config)
            return out

        async def apply(state: Any, messages: list[BaseMessage], config: RunnableConfig) -> Any:
            value = _with_messages(state, messages)
            args, kwargs = injected._call_args(value, config, {})
            out = fn(*args, **kwargs)
            if inspect.isawaitable(out):
                out = await out
            if isinstance(out, Runnable):
                out = await out.ainvoke(value, config)
            return out

        return apply_sync, apply
    raise TypeError(f"create_react_agent: prompt must be a str, SystemMessage, callable or Runnable, got {prompt!r}")


def _not_awaitable(value: Any, what: str, fn: Any) -> Any:
    """``value``, returned by the user's ``fn`` in the agent's sync path; an awaitable
    there (an async ``fn``) is a ``TypeError`` saying to run the agent asynchronously."""
    if inspect.isawaitable(value):
        close = getattr(value, "close", None)
        if close is not None:
            close()  # a coroutine never awaited: no "was never awaited" warning
        raise TypeError(
            f"create_react_agent: the {what} {getattr(fn, '__name__', fn)!r} is async, but the "
            "agent was run synchronously; use ainvoke / astream"
        )
    return value


def _validate_chat_history(messages: Sequence[BaseMessage]) -> None:
    """Every tool call in the history must have its ToolMessage: providers reject the
    conversation otherwise, with a less helpful message."""
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    missing = [
        call
        for m in messages
        if isinstance(m, AIMessage) and m.tool_calls
        for call in m.tool_calls
        if call["id"] not in answered
    ]
    if missing:
        raise ValueError(
            "Found AIMessages with tool_calls that do not have a corresponding ToolMessage. "
            f"Here are the first few of those tool calls: {missing[:3]}.\n\n"
            "Every tool call (LLM requesting to call a tool) in the message history MUST have "
            "a corresponding ToolMessage (result of a tool invocation to return to the LLM) - "
            "this is required by most LLM providers."
        )


# -- the graph ----------------------------------------------------------------------------


def create_react_agent(
    model: Any,
    tools: Sequence[BaseTool | Callable[..., Any] | dict[str, Any]] | ToolNode,
    *,
    prompt: Prompt | None = None,
    response_format: Any = None,
    pre_model_hook: Any = None,
    post_model_hook: Any = None,
    state_schema: Any = None,
    context_schema: Any = None,
    checkpointer: Any = None,
    store: Any = None,
    interrupt_before: list[str] | None = None,
    interrupt_after: list[str] | None = None,
    debug: bool = False,
    version: str = "v2",
    name: str | None = None,
    **deprecated_kwargs: Any,
) -> CompiledStateGraph:
    """A compiled graph that calls ``model`` and runs the tools it asks for, in a loop.

    Args:
        model: a chat model (its ``bind_tools`` is called unless tools are already
            bound), or a callable ``(state, runtime) -> model`` choosing one per call
            (it must return a model with the tools bound).
        tools: tools or functions, or a :class:`ToolNode`. Provider tool dicts are bound
            to the model but not run by the agent.
        prompt: a ``str`` or ``SystemMessage`` put before the messages, or a callable /
            Runnable taking the state and returning the model's input.
        response_format: a schema (or ``(system prompt, schema)``); when the loop ends the
            model is asked once more, with structured output, and the answer is stored in
            ``structured_response``.
        pre_model_hook: a node run before each model call; if it returns
            ``llm_input_messages``, the model sees those instead of ``messages``.
        post_model_hook: a node run after each model call.
        state_schema: the state; it must have ``messages`` and ``remaining_steps`` keys.
        version: ``"v2"`` (default) runs each tool call as its own ``tools`` task (one
            stream update each); ``"v1"`` runs all calls of a message in one task.
        name: the graph's name; also set as the ``name`` of the model's messages.

    When the step budget (``recursion_limit``) would run out before the tools and the next
    model call, the agent answers "Sorry, need more steps to process this request."
    instead of calling tools, so the run ends cleanly.

    ``config_schema=`` is the deprecated name of ``context_schema`` (warns).

    Raises:
        ValueError: the state schema lacks a required key, the model is bound to other
            tools, or ``version`` is unknown.
        TypeError: an unknown keyword argument.
    """
    if "config_schema" in deprecated_kwargs:
        warnings.warn(
            "`config_schema` is deprecated and will be removed. Please use `context_schema` instead.",
            LangGraphDeprecatedSinceV10,
            stacklevel=2,
        )
        config_schema = deprecated_kwargs.pop("config_schema")
        context_schema = context_schema if context_schema is not None else config_schema
    if deprecated_kwargs:
        raise TypeError(f"create_react_agent() got unexpected keyword arguments: {deprecated_kwargs}")
    if version not in ("v1", "v2"):
        raise ValueError(f"create_react_agent: version must be 'v1' or 'v2', got {version!r}")
    if state_schema is not None:
        missing = {"messages", "remaining_steps"} - _schema_keys(state_schema)
        if missing:
            raise ValueError(f"Missing required key(s) {missing} in state_schema")
    else:
        state_schema = AgentStateWithStructuredResponse if response_format is not None else AgentState
    if response_format is not None:
        state_schema = _extend_schema(state_schema, {"structured_response": Any})
    # The model node also reads ``llm_input_messages`` (what a pre-model hook wants the
    # model to see): a key of that node's input, not of the graph's state or output.
    agent_input = _extend_schema(state_schema, {"llm_input_messages": list}) if pre_model_hook is not None else None

    if isinstance(tools, ToolNode):
        tool_node: ToolNode | None = tools
        model_tools: list[Any] = list(tools.tools_by_name.values())
    else:
        runnable_tools = [t for t in tools if not isinstance(t, dict)]
        tool_node = ToolNode(runnable_tools) if runnable_tools else None
        model_tools = list(tool_node.tools_by_name.values()) if tool_node else []
        model_tools += [t for t in tools if isinstance(t, dict)]
    return_direct = frozenset(
        n for n, t in (tool_node.tools_by_name.items() if tool_node else ()) if t.return_direct
    )

    if isinstance(model, str):
        try:
            from langchain.chat_models import init_chat_model  # type: ignore[import-not-found]
        except ImportError:
            raise ImportError(
                f"create_react_agent got the model name {model!r}; naming a model needs the "
                "'langchain' package (init_chat_model). Pass a chat model object instead."
            ) from None
        model = init_chat_model(model)
    dynamic = callable(model) and not isinstance(model, Runnable)
    static_model = None if dynamic else _bind_tools(model, model_tools)
    apply_prompt_sync, apply_prompt = _prompt_appliers(prompt)
    has_hook = pre_model_hook is not None

    def needs_more_steps(state: Any, response: BaseMessage) -> bool:
        calls = getattr(response, "tool_calls", None)
        if not calls or tool_node is None:
            return False
        if _get(state, "is_last_step", False):
            return True
        remaining = _get(state, "remaining_steps")
        if remaining is None:
            return False
        if all(c["name"] in return_direct for c in calls):
            return remaining < 1
        return remaining < 2

    def model_messages(state: Any) -> list[BaseMessage]:
        messages = _get(state, "messages")
        if has_hook:
            llm_input = _get(state, "llm_input_messages")
            if llm_input:
                messages = llm_input
        _validate_chat_history(messages)
        return messages  # type: ignore[no-any-return]

    def model_answer(state: Any, response: Any) -> dict[str, Any]:
        if name:
            response.name = name
        if needs_more_steps(state, response):
            return {"messages": [AIMessage(id=response.id, content=NEED_MORE_STEPS)]}
        return {"messages": [response]}

    # The model node, as in LangGraph: a sync function (what sync ``invoke`` / ``stream``
    # run, in a worker thread) and an async one.
    def call_model(state: Any, config: RunnableConfig) -> dict[str, Any]:
        messages = model_messages(state)
        model_input = apply_prompt_sync(state, messages, config)
        chosen = static_model if static_model is not None else _dynamic_model_sync(model, state)
        return model_answer(state, chosen.invoke(model_input, config))

    async def acall_model(state: Any, config: RunnableConfig) -> dict[str, Any]:
        messages = model_messages(state)
        model_input = apply_prompt(state, messages, config)
        if inspect.isawaitable(model_input):
            model_input = await model_input
        chosen = static_model if static_model is not None else await _dynamic_model(model, state)
        return model_answer(state, await chosen.ainvoke(model_input, config))

    agent = RunnableCallable(call_model, acall_model, name="agent", trace=False)

    entry = "pre_model_hook" if has_hook else "agent"
    finish = "generate_structured_response" if response_format is not None else END

    def to_tools(state: Any, calls: list[Any]) -> Any:
        if version == "v1":
            return "tools"
        return [Send("tools", {"__type": TOOL_CALL_WITH_CONTEXT, "tool_call": c, "state": state}) for c in calls]

    def after_model(state: Any) -> Any:
        messages = _get(state, "messages")
        last = messages[-1] if messages else None
        if not isinstance(last, AIMessage) or not last.tool_calls:
            return finish
        return to_tools(state, last.tool_calls)

    def after_post_hook(state: Any) -> Any:
        # The hook may have answered some calls itself, or replaced the AI message.
        # A call counts as answered when any ToolMessage in the history carries its
        # id (as in LangGraph: a model that reuses a call id does not loop forever).
        messages = _get(state, "messages")
        answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
        for m in reversed(messages):
            if isinstance(m, AIMessage):
                pending = [c for c in m.tool_calls if c["id"] not in answered]
                if pending:
                    return to_tools(state, pending)
                break
        if messages and isinstance(messages[-1], ToolMessage):
            return entry
        return finish

    def after_tools(state: Any) -> str:
        for m in reversed(_get(state, "messages")):
            if not isinstance(m, ToolMessage):
                # With one task per call (v2), a sibling task may have run the
                # return_direct tool: this task's edge sees only its own answer.
                if isinstance(m, AIMessage) and any(c["name"] in return_direct for c in m.tool_calls):
                    return END
                break
            if m.name in return_direct:
                return END
        return entry

    builder: StateGraph[Any, Any, Any, Any] = StateGraph(state_schema, context_schema)
    if has_hook:
        builder.add_node("pre_model_hook", pre_model_hook)
        builder.add_edge(START, "pre_model_hook")
        builder.add_edge("pre_model_hook", "agent")
    else:
        builder.add_edge(START, "agent")
    builder.add_node("agent", agent, input_schema=agent_input)
    decide_from = "agent"
    router = after_model
    if post_model_hook is not None:
        builder.add_node("post_model_hook", post_model_hook)
        builder.add_edge("agent", "post_model_hook")
        decide_from = "post_model_hook"
        router = after_post_hook
    if response_format is not None:
        builder.add_node("generate_structured_response", _structured_response_node(model, static_model, response_format))
        builder.add_edge("generate_structured_response", END)
    if tool_node is None:
        if post_model_hook is not None:
            builder.add_edge("post_model_hook", finish)
        else:
            builder.add_edge("agent", finish)
        return builder.compile(checkpointer, store=store, interrupt_before=interrupt_before,
                               interrupt_after=interrupt_after, debug=debug, name=name)
    builder.add_node("tools", tool_node)
    targets = ["tools", finish] + ([entry] if post_model_hook is not None else [])
    builder.add_conditional_edges(decide_from, router, path_map=targets)  # type: ignore[arg-type]
    if return_direct:
        builder.add_conditional_edges("tools", after_tools, path_map=[entry, END])
    else:
        builder.add_edge("tools", entry)
    return builder.compile(checkpointer, store=store, interrupt_before=interrupt_before,
                           interrupt_after=interrupt_after, debug=debug, name=name)


async def _dynamic_model(select: Callable[..., Any], state: Any) -> Any:
    chosen = select(state, get_runtime())
    if inspect.isawaitable(chosen):
        chosen = await chosen
    return chosen


def _dynamic_model_sync(select: Callable[..., Any], state: Any) -> Any:
    return _not_awaitable(select(state, get_runtime()), "model function", select)


def _structured_response_node(model: Any, static_model: Any, response_format: Any) -> Callable[..., Awaitable[Any]]:
    system: SystemMessage | None = None
    schema = response_format
    if isinstance(response_format, tuple):
        text, schema = response_format
        system = SystemMessage(content=text)

    async def generate_structured_response(state: Any, config: RunnableConfig) -> dict[str, Any]:
        base = model if static_model is None else _unbound(model)
        if callable(base) and not isinstance(base, Runnable):
            base = await _dynamic_model(base, state)
        structured = base.with_structured_output(schema)
        messages = list(_get(state, "messages"))
        if system is not None:
            messages = [system, *messages]
        return {"structured_response": await structured.ainvoke(messages, config)}

    return generate_structured_response


def _unbound(model: Any) -> Any:
    while isinstance(model, RunnableBinding) and not isinstance(model, BaseChatModel):
        model = model.bound
    return model
