"""``ToolNode`` runs the tool calls of the last AI message; ``tools_condition`` routes to it.

Every call of one message runs concurrently: async tools on the event loop, sync tools
in worker threads (langchain-core's ``BaseTool.ainvoke`` moves a sync tool to the loop's
executor), so a slow tool never blocks other runs. Results come back in call order,
whatever order the tools finish in.
"""

from __future__ import annotations

import asyncio
import inspect
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, Literal, Union, get_args, get_origin

from langchain_core.messages import AIMessage, AnyMessage, ToolCall, ToolMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config
from langchain_core.tools import BaseTool, ToolException
from langchain_core.tools import tool as create_tool
from pydantic import BaseModel, ValidationError

from asyncgraph.constants import END
from asyncgraph.errors import GraphBubbleUp, GraphInterrupt
from asyncgraph.prebuilt._injection import (
    ToolRuntime,
    ToolSpec,
    analyze_tool,
    state_value,
)
from asyncgraph.types import Command

__all__ = ["ToolInvocationError", "ToolNode", "tools_condition"]

ErrorHandler = bool | str | Callable[..., str] | type[Exception] | tuple[type[Exception], ...]

# Input of one tools task when an agent sends each tool call as its own task
# (``create_react_agent(version="v2")``): the call and the state it was made in.
TOOL_CALL_WITH_CONTEXT = "tool_call_with_context"


class ToolInvocationError(ToolException):
    """The model called a tool with arguments its schema rejects.

    By default :class:`ToolNode` answers the model with this error's message (so it can
    retry) instead of raising it.

    Attributes:
        tool_name: the tool called.
        tool_kwargs: the arguments the model sent (injected ones left out).
        source: the ``ValidationError`` raised by the tool's argument schema.
    """

    def __init__(self, tool_name: str, tool_kwargs: dict[str, Any], source: ValidationError, hidden: frozenset[str]) -> None:
        self.tool_name = tool_name
        self.tool_kwargs = tool_kwargs
        self.source = source
        problems = "\n".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in source.errors()
            if not (e["loc"] and e["loc"][0] in hidden)
        )
        super().__init__(
            f"Error invoking tool '{tool_name}' with kwargs {tool_kwargs} with error:\n"
            f" {problems}\n Please fix the error and try again."
        )


def _default_error_content(exc: BaseException) -> str:
    return f"Error: {exc!r}\n Please fix your mistakes."


def _handler_types(handler: Callable[..., Any]) -> tuple[type[BaseException], ...]:
    """The exception types a handler callable accepts, from its first parameter's annotation."""
    try:
        params = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError):
        return (Exception,)
    if not params:
        return (Exception,)
    try:
        hints = typing.get_type_hints(handler)
    except Exception:  # noqa: BLE001  (unresolvable hints: fall back to the raw annotation)
        hints = {}
    ann = hints.get(params[0].name, params[0].annotation)
    if ann is inspect.Parameter.empty or ann is Any:
        return (Exception,)
    members = get_args(ann) if get_origin(ann) in (Union, types.UnionType) else (ann,)
    out = tuple(t for t in members if isinstance(t, type) and issubclass(t, BaseException))
    if not out:
        raise ValueError(
            f"handle_tool_errors callable {handler!r}: its first parameter is annotated "
            f"{ann!r}; annotate it with exception type(s), or leave it unannotated to "
            "handle every exception"
        )
    return out


class _ErrorPolicy:
    """``handle_tool_errors`` turned into one decision: raise, or the error text."""

    __slots__ = ("catch", "render")

    def __init__(self, spec: ErrorHandler | None) -> None:
        self.catch: tuple[type[BaseException], ...]
        self.render: Callable[[BaseException], str]
        if spec is None:  # LangGraph's default: bad arguments are answered, the rest raise
            self.catch = (ToolInvocationError,)
            self.render = str
        elif spec is True:
            self.catch = (Exception,)
            self.render = _default_error_content
        elif spec is False:
            self.catch = ()
            self.render = str
        elif isinstance(spec, str):
            text = spec
            self.catch = (Exception,)
            self.render = lambda _exc: text
        elif isinstance(spec, type) and issubclass(spec, BaseException):
            self.catch = (spec,)
            self.render = _default_error_content
        elif isinstance(spec, tuple) and all(isinstance(t, type) and issubclass(t, BaseException) for t in spec):
            self.catch = spec
            self.render = _default_error_content
        elif callable(spec):
            fn = spec
            self.catch = _handler_types(fn)
            self.render = lambda exc: str(fn(exc))  # type: ignore[call-arg]  # any callable
        else:
            raise TypeError(
                "handle_tool_errors must be a bool, a str, an exception type, a tuple of "
                f"exception types or a callable; got {spec!r}"
            )


def _as_tool(obj: BaseTool | Callable[..., Any]) -> BaseTool:
    if isinstance(obj, BaseTool):
        return obj
    if callable(obj):
        return create_tool(obj)
    raise TypeError(f"ToolNode tools must be BaseTool instances or functions, got {obj!r}")


class ToolNode(Runnable[Any, Any]):
    """A graph node that runs the tool calls of the latest ``AIMessage``.

    Input: the graph state (a dict with ``messages_key``, or a dataclass / Pydantic
    object with that field), a list of messages, or a list of tool calls. Output: one
    ``ToolMessage`` per call, in call order, as ``{messages_key: [...]}`` for a state and as
    a list for a list. When a tool returns a :class:`~asyncgraph.types.Command`, the
    output is a list of ``Command`` s (plain results are wrapped in one each).

    Args:
        tools: ``BaseTool`` s, or functions (made into tools with ``@tool``).
        name: the node's name in traces.
        tags: tags added to the node's traces.
        handle_tool_errors: what a failing tool answers instead of raising:

            - default: arguments the tool's schema rejects become an error
              ``ToolMessage`` describing the problem; other errors propagate.
            - ``True``: every exception becomes ``"Error: <repr>\\n Please fix your mistakes."``.
            - a ``str``: every exception becomes that text.
            - an exception type or tuple of types: those become the default text.
            - a callable ``(exc) -> str``: exceptions of the types its first parameter is
              annotated with (all when unannotated) become its return value.
            - ``False``: every exception propagates.

            A call to a tool that does not exist always gets an error ``ToolMessage``
            naming the available tools.
        messages_key: the state key holding the messages.
    """

    name: str | None

    def __init__(
        self,
        tools: Sequence[BaseTool | Callable[..., Any]],
        *,
        name: str = "tools",
        tags: list[str] | None = None,
        handle_tool_errors: ErrorHandler | None = None,
        messages_key: str = "messages",
    ) -> None:
        self.name = name
        self.tags = list(tags) if tags else None
        self.messages_key = messages_key
        self.handle_tool_errors = handle_tool_errors
        self._errors = _ErrorPolicy(handle_tool_errors)
        specs: dict[str, ToolSpec] = {}
        for obj in tools:
            tool = _as_tool(obj)
            specs[tool.name] = analyze_tool(tool)
        self._specs = specs
        self.tools_by_name: dict[str, BaseTool] = {n: s.tool for n, s in specs.items()}
        self._unknown_suffix = f" is not a valid tool, try one of [{', '.join(specs)}]."
        self._needs_run_info = any(s.store_args or s.runtime_args for s in specs.values())

    def __repr__(self) -> str:
        return f"ToolNode(tools=[{', '.join(self._specs)}], name={self.name!r})"

    # -- Runnable ----------------------------------------------------------------------

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        base = name or self.name or "tools"
        return f"{base}{suffix}" if suffix else base

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Run the tool calls of ``input``; see the class docstring for shapes.

        Raises:
            ValueError: the input holds no ``AIMessage``.
            Exception: a tool's error that ``handle_tool_errors`` does not cover; when
                several tools fail, the first in call order, with the others as notes.
        """
        config = ensure_config(config)
        if self.tags:
            config["tags"] = [*config.get("tags", ()), *self.tags]
        if not config.get("callbacks"):
            # Nobody listens: skip the callback manager (this is the hot path).
            return await self._run(input, config)
        # langchain-core passes the child config to a func taking ``config``; its type
        # hints list only the run-manager forms.
        return await self._acall_with_config(self._run_traced, input, config)  # type: ignore[arg-type]

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Sync twin of :meth:`ainvoke`: drives it on the sync bridge."""
        from asyncgraph.pregel._sync import run_sync

        return run_sync(lambda: self.ainvoke(input, config, **kwargs))

    async def _run_traced(self, input: Any, config: RunnableConfig) -> Any:
        return await self._run(input, config)

    # -- running -----------------------------------------------------------------------

    def _calls_and_state(self, input: Any) -> tuple[list[ToolCall], Any, Literal["list", "dict"]]:
        if isinstance(input, dict) and input.get("__type") == TOOL_CALL_WITH_CONTEXT:
            return [input["tool_call"]], input["state"], "dict"
        if isinstance(input, list):
            if input and isinstance(input[-1], dict) and input[-1].get("type") == "tool_call":
                return list(input), input, "list"
            return self._last_ai_calls(input), input, "list"
        if isinstance(input, dict):
            messages = input.get(self.messages_key)
            if messages is None:
                raise ValueError(
                    f"ToolNode got a state without the messages key {self.messages_key!r}; "
                    f"its keys are {', '.join(map(repr, input))}"
                )
        else:
            messages = getattr(input, self.messages_key, None)
            if messages is None:
                raise ValueError(
                    f"ToolNode input must be a state with a {self.messages_key!r} key or "
                    f"field, or a list of messages; got {type(input).__name__}"
                )
        return self._last_ai_calls(messages), input, "dict"

    @staticmethod
    def _last_ai_calls(messages: Sequence[AnyMessage]) -> list[ToolCall]:
        for message in reversed(messages):
            if isinstance(message, AIMessage):
                return message.tool_calls
        raise ValueError("ToolNode found no AIMessage in its input, so no tool calls to run")

    async def _run(self, input: Any, config: RunnableConfig) -> Any:
        calls, state, kind = self._calls_and_state(input)
        run_info = _RunInfo(self, state, config) if self._needs_run_info else None
        if len(calls) == 1:
            outputs = [await self._call(calls[0], state, config, run_info)]
        else:
            outputs = await self._call_all(calls, state, config, run_info)
        return self._combine(outputs, calls, kind)

    async def _call_all(
        self, calls: list[ToolCall], state: Any, config: RunnableConfig, run_info: _RunInfo | None
    ) -> list[ToolMessage | Command[Any]]:
        """Run calls concurrently. An interrupt in one call lets the others finish; an
        error cancels them, and the first error in call order is raised."""

        async def one(call: ToolCall) -> Any:
            try:
                return await self._call(call, state, config, run_info)
            except GraphInterrupt as signal:
                return signal

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(call)) for call in calls]
        except BaseExceptionGroup as eg:
            first, *rest = _in_call_order(eg, tasks)
            for other in rest:
                first.add_note(f"Another tool call failed too: {other!r}")
            raise first from None
        outputs = [t.result() for t in tasks]
        interrupts = [i for o in outputs if isinstance(o, GraphInterrupt) for i in o.interrupts]
        if interrupts:
            raise GraphInterrupt(interrupts)
        return outputs

    async def _call(
        self, call: ToolCall, state: Any, config: RunnableConfig, run_info: _RunInfo | None
    ) -> ToolMessage | Command[Any]:
        name = call["name"]
        spec = self._specs.get(name)
        if spec is None:
            return ToolMessage(
                f"Error: {name}{self._unknown_suffix}",
                name=name,
                tool_call_id=call["id"],
                status="error",
            )
        model_args = call["args"]
        if spec.injects:
            args = dict(model_args)
            for param, key in spec.state_args:
                args[param] = state_value(state, key, name)
            if run_info is not None:
                for param in spec.store_args:
                    args[param] = run_info.store
                for param in spec.runtime_args:
                    args[param] = run_info.runtime(call["id"])
            call = {**call, "args": args}
        if call.get("type") != "tool_call":
            call = {**call, "type": "tool_call"}
        try:
            output = await spec.tool.ainvoke(call, config)
        except GraphBubbleUp:
            raise
        except ValidationError as exc:
            error: Exception = exc
            if exc.title == spec.schema_title:
                kwargs = {k: v for k, v in model_args.items() if k not in spec.hidden}
                error = ToolInvocationError(name, kwargs, exc, spec.hidden)
            return self._error_message(error, call)
        except Exception as exc:  # noqa: BLE001  (handle_tool_errors decides; re-raised if not covered)
            return self._error_message(exc, call)
        if isinstance(output, (ToolMessage, Command)):
            return output
        # A tool whose own invoke returns something else (a custom BaseTool).
        return ToolMessage(content=_content(output), name=name, tool_call_id=call["id"])

    def _error_message(self, exc: Exception, call: ToolCall) -> ToolMessage:
        policy = self._errors
        if not isinstance(exc, policy.catch):
            raise exc
        return ToolMessage(
            content=policy.render(exc),
            name=call["name"],
            tool_call_id=call["id"],
            status="error",
        )

    def _combine(
        self, outputs: list[ToolMessage | Command[Any]], calls: list[ToolCall], kind: str
    ) -> Any:
        if not any(isinstance(o, Command) for o in outputs):
            return outputs if kind == "list" else {self.messages_key: outputs}
        combined: list[Any] = []
        for output, call in zip(outputs, calls, strict=True):
            if isinstance(output, Command):
                self._check_command(output, call, kind)
                combined.append(output)
            else:
                update = [output] if kind == "list" else {self.messages_key: [output]}
                combined.append(Command(update=update))
        return combined

    def _check_command(self, command: Command[Any], call: ToolCall, kind: str) -> None:
        """A Command from a tool must answer its call with a ToolMessage (else the
        conversation has a tool call without a result and the next model call fails)."""
        if command.graph == Command.PARENT:
            return
        update = command.update
        if kind == "dict":
            messages = update.get(self.messages_key) if isinstance(update, dict) else getattr(update, self.messages_key, None)
        else:
            messages = update
        if not isinstance(messages, (list, tuple)):
            messages = [messages] if messages is not None else []
        if not any(isinstance(m, ToolMessage) and m.tool_call_id == call["id"] for m in messages):
            raise ValueError(
                f"Tool '{call['name']}' returned a Command whose update has no ToolMessage "
                f"answering tool call {call['id']!r} under {self.messages_key!r}; got "
                f"update={update!r}. Add ToolMessage(..., tool_call_id=<the call id>) "
                "(take the id with an InjectedToolCallId parameter)."
            )


class _RunInfo:
    """The run-scoped values some tools ask for, looked up once per node run."""

    __slots__ = ("config", "context", "node", "state", "store", "writer")

    def __init__(self, node: ToolNode, state: Any, config: RunnableConfig) -> None:
        from asyncgraph.config import get_stream_writer
        from asyncgraph._context import current_task

        tc = current_task.get()
        self.node = node
        self.state = state
        self.config = config
        self.store = tc.run.store if tc is not None else None
        self.context = tc.run.context if tc is not None else None
        self.writer = get_stream_writer()

    def runtime(self, call_id: str | None) -> ToolRuntime[Any, Any]:
        return ToolRuntime(
            state=self.state,
            context=self.context,
            config=self.config,
            stream_writer=self.writer,
            tool_call_id=call_id,
            store=self.store,
            tools=list(self.node.tools_by_name.values()),
        )


def _in_call_order(eg: BaseExceptionGroup[Any], tasks: list[asyncio.Task[Any]]) -> list[BaseException]:
    errors: list[BaseException] = []
    for t in tasks:
        if t.done() and not t.cancelled() and t.exception() is not None:
            errors.append(t.exception())  # type: ignore[arg-type]
    return errors or list(eg.exceptions)


def _content(output: Any) -> Any:
    if isinstance(output, (str, list)):
        return output
    import json

    try:
        return json.dumps(output, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(output)


def tools_condition(
    state: list[AnyMessage] | dict[str, Any] | BaseModel | Any,
    messages_key: str = "messages",
) -> Literal["tools", "__end__"]:
    """Route to ``"tools"`` if the last message has tool calls, else to ``END``.

    Use as ``add_conditional_edges("agent", tools_condition)``.

    Raises:
        ValueError: no messages in ``state``.
    """
    messages: Any
    if isinstance(state, list):
        messages = state
    elif isinstance(state, dict):
        messages = state.get(messages_key)
    else:
        messages = getattr(state, messages_key, None)
    if not messages:
        raise ValueError(f"tools_condition found no messages under {messages_key!r} in the state: {state!r}")
    last = messages[-1]
    return "tools" if getattr(last, "tool_calls", None) else END  # type: ignore[return-value]
