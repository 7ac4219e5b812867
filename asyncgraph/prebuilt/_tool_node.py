"""``ToolNode`` runs the tool calls of the last AI message; ``tools_condition`` routes to it.

Every call of one message runs concurrently: async tools on the event loop, sync tools
in worker threads (langchain-core's ``BaseTool.ainvoke`` moves a sync tool to the loop's
executor), so a slow tool never blocks other runs. Results come back in call order,
whatever order the tools finish in.

Interceptors (``wrap_tool_call`` / ``awrap_tool_call``) see each call as a
:class:`~asyncgraph.prebuilt.tool_node.ToolCallRequest`. A sync interceptor runs in a
worker thread; the ``execute`` it calls runs the tool on the event loop and waits.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
from collections.abc import Callable, Sequence
from typing import Any, Literal

from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    RemoveMessage,
    ToolCall,
    ToolMessage,
    convert_to_messages,
)
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config
from langchain_core.tools import BaseTool
from langchain_core.tools import tool as create_tool
from pydantic import BaseModel, ValidationError

from asyncgraph._context import current_task, noop_writer, stream_writer
from asyncgraph._sync import run_on_loop, run_sync
from asyncgraph.constants import CONF, END
from asyncgraph.errors import GraphBubbleUp, GraphInterrupt, is_invalid_resume
from asyncgraph.graph.message import REMOVE_ALL_MESSAGES
from asyncgraph.prebuilt._injection import ToolRuntime, ToolSpec, analyze_tool
from asyncgraph.prebuilt._tool_call import AsyncToolCallWrapper, ToolCallRequest, ToolCallWrapper
from asyncgraph.prebuilt._tool_errors import (
    INVALID_TOOL_NAME_ERROR_TEMPLATE,
    ErrorHandler,
    ErrorPolicy,
    ToolInvocationError,
    _default_handle_tool_errors,
    model_errors,
    msg_content_output,
)
from asyncgraph.runtime import task_runtime
from asyncgraph.types import Command, Send

__all__ = ["ToolNode", "tools_condition"]

# Input of one tools task when an agent sends each tool call as its own task
# (``create_react_agent(version="v2")``): the call and the state it was made in.
TOOL_CALL_WITH_CONTEXT = "tool_call_with_context"

Output = ToolMessage | Command[Any] | list[ToolMessage | Command[Any]]
Kind = Literal["list", "dict", "tool_calls"]


def _as_tool(obj: BaseTool | Callable[..., Any]) -> BaseTool:
    if isinstance(obj, BaseTool):
        return obj
    if callable(obj):
        return create_tool(obj)
    raise TypeError(f"ToolNode tools must be BaseTool instances or functions, got {obj!r}")


class ToolNode(Runnable[Any, Any]):
    """A graph node that runs the tool calls of the latest ``AIMessage``.

    Input: the graph state (a dict with ``messages_key``, or a dataclass / Pydantic
    object with that field), a list of messages, a list of tool calls (``Send("tools",
    [call])``: the state then comes from the graph), or a ``ToolCallWithContext``.
    Output: one ``ToolMessage`` per call, in call order, as ``{messages_key: [...]}``
    (a list for a list of messages). When a tool returns a
    :class:`~asyncgraph.types.Command`, the output is a list of ``Command`` s and
    updates (parent-graph ``Send`` s of all calls merged into one ``Command``).

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
            naming the available tools. An interrupt always propagates.
        messages_key: the state key holding the messages.
        wrap_tool_call: a sync interceptor ``(request, execute) -> ToolMessage |
            Command`` around every call (retries, caching, rewriting the call, answering
            without running the tool). Runs in a worker thread.
        awrap_tool_call: its async twin. Under ``ainvoke`` it is used when given;
            under sync ``invoke`` the sync one is preferred.
    """

    name: str | None

    def __init__(
        self,
        tools: Sequence[BaseTool | Callable[..., Any]],
        *,
        name: str = "tools",
        tags: list[str] | None = None,
        handle_tool_errors: ErrorHandler | None = _default_handle_tool_errors,
        messages_key: str = "messages",
        wrap_tool_call: ToolCallWrapper | None = None,
        awrap_tool_call: AsyncToolCallWrapper | None = None,
    ) -> None:
        self.name = name
        self.tags = list(tags) if tags else None
        self._messages_key = messages_key
        self._handle_tool_errors = handle_tool_errors
        self._errors = ErrorPolicy(handle_tool_errors)
        self._wrap_tool_call = wrap_tool_call
        self._awrap_tool_call = awrap_tool_call
        specs: dict[str, ToolSpec] = {}
        for obj in tools:
            tool = _as_tool(obj)
            specs[tool.name] = analyze_tool(tool)
        self._specs = specs
        self._tools_by_name: dict[str, BaseTool] = {n: s.tool for n, s in specs.items()}
        self._wrapped = wrap_tool_call is not None or awrap_tool_call is not None
        self._needs_run_info = self._wrapped or any(s.store_args or s.runtime_args for s in specs.values())
        self._needs_state = self._wrapped or any(s.state_args or s.runtime_args for s in specs.values())

    @property
    def tools_by_name(self) -> dict[str, BaseTool]:
        """The node's tools by name."""
        return self._tools_by_name

    @property
    def messages_key(self) -> str:
        return self._messages_key

    @property
    def handle_tool_errors(self) -> ErrorHandler | None:
        return self._handle_tool_errors

    def __repr__(self) -> str:
        return f"ToolNode(tools=[{', '.join(self._specs)}], name={self.name!r})"

    # -- Runnable ----------------------------------------------------------------------

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        base = name or self.name or "tools"
        return f"{base}{suffix}" if suffix else base

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, *, _sync: bool | None = None, **kwargs: Any
    ) -> Any:
        """Run the tool calls of ``input``; see the class docstring for shapes.

        Raises:
            ValueError: the input holds no ``AIMessage``.
            Exception: a tool's error that ``handle_tool_errors`` does not cover; when
                several tools fail, the first in call order, with the others as notes.
        """
        if _sync is None:
            # Which interceptor runs depends on the API only when both are given.
            _sync = self._wrap_tool_call is not None and self._awrap_tool_call is not None and _sync_api_drives()
        if config is None:
            config = ensure_config()
        if self.tags:
            config = {**config, "tags": [*config.get("tags", ()), *self.tags]}
        if not config.get("callbacks"):
            # Nobody listens: skip the callback manager (this is the hot path).
            return await self._run(input, config, _sync)
        sync = _sync

        async def traced(input: Any, config: RunnableConfig) -> Any:
            return await self._run(input, config, sync)

        # langchain-core passes the child config to a func taking ``config``; its type
        # hints list only the run-manager forms.
        return await self._acall_with_config(traced, input, config)  # type: ignore[arg-type]

    def engine_node(self) -> Callable[[Any], Any] | None:
        """What the engine's fast path awaits for this node: a function of the state
        alone doing what ``ainvoke(state, task config)`` does, without its frame (the
        config is the running task's; traced runs and tags go through ``ainvoke``).
        None for a subclass overriding ``ainvoke``: the engine calls that."""
        if type(self).ainvoke is not ToolNode.ainvoke:
            return None
        both = self._wrap_tool_call is not None and self._awrap_tool_call is not None
        tags, run, ainvoke = self.tags, self._run, self.ainvoke

        def node(state: Any) -> Any:
            tc = current_task.get()
            assert tc is not None  # only the engine calls this, inside a task
            config: RunnableConfig = tc.config()  # type: ignore[assignment]  # the task's config dict
            if tags or config.get("callbacks"):
                return ainvoke(state, config)
            return run(state, config, both and tc.run.sync_api)

        return node

    # The engine may call ainvoke even in a run started by sync invoke: the sync path is
    # only a bridge to the async one (a sync ``wrap_tool_call`` is still preferred there).
    async_native = True

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Sync twin of :meth:`ainvoke`: drives it on the sync bridge (a sync
        ``wrap_tool_call`` is preferred to an async one)."""
        return run_sync(lambda: self.ainvoke(input, config, _sync=True))

    # -- input -------------------------------------------------------------------------

    def _parse(self, input: Any, config: RunnableConfig) -> tuple[list[ToolCall], Any, Kind]:
        """The calls to run, the state they were made in, and the input's shape."""
        if isinstance(input, list):
            if input and isinstance(input[-1], dict) and input[-1].get("type") == "tool_call":
                return list(input), _read_state(config) if self._needs_state else {}, "tool_calls"
            return self._last_ai_calls(input), input, "list"
        if isinstance(input, dict):
            if input.get("__type") == TOOL_CALL_WITH_CONTEXT:
                return [input["tool_call"]], input["state"], "tool_calls"
            messages = input.get(self._messages_key)
            if messages is None:
                raise ValueError(
                    f"ToolNode got a state without the messages key {self._messages_key!r}; "
                    f"its keys are {', '.join(map(repr, input))}"
                )
        else:
            messages = getattr(input, self._messages_key, None)
            if messages is None:
                raise ValueError(
                    f"ToolNode input must be a state with a {self._messages_key!r} key or "
                    f"field, or a list of messages; got {type(input).__name__}"
                )
        return self._last_ai_calls(messages), input, "dict"

    @staticmethod
    def _last_ai_calls(messages: Sequence[AnyMessage]) -> list[ToolCall]:
        for message in reversed(messages):
            if isinstance(message, AIMessage):
                return list(message.tool_calls)
        raise ValueError("ToolNode found no AIMessage in its input, so no tool calls to run")

    # -- running -----------------------------------------------------------------------

    async def _run(self, input: Any, config: RunnableConfig, sync: bool) -> Any:
        calls, state, kind = self._parse(input, config)
        info = _RunInfo(self, config) if self._needs_run_info else None
        if len(calls) == 1:
            call = calls[0]
            if self._wrapped:
                outputs = [await self._one(call, state, kind, config, info, sync)]
            else:
                outputs = [await self._execute(call, self._tools_by_name.get(call["name"]), state, None, config, kind, info)]
        else:
            outputs = await self._all(calls, state, kind, config, info, sync)
        return self._combine(outputs, kind)

    async def _all(
        self, calls: list[ToolCall], state: Any, kind: Kind, config: RunnableConfig, info: _RunInfo | None, sync: bool
    ) -> list[Output]:
        """Run calls concurrently. An interrupt in one call lets the others finish; an
        error cancels them, and the first error in call order is raised."""

        async def one(call: ToolCall) -> Any:
            try:
                return await self._one(call, state, kind, config, info, sync)
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

    async def _one(
        self, call: ToolCall, state: Any, kind: Kind, config: RunnableConfig, info: _RunInfo | None, sync: bool
    ) -> Output:
        tool = self._tools_by_name.get(call["name"])
        if not self._wrapped:
            return await self._execute(call, tool, state, None, config, kind, info)
        assert info is not None  # built whenever there is an interceptor
        request = ToolCallRequest(tool_call=call, tool=tool, state=state, runtime=info.tool_runtime(call["id"], state))
        wrap = self._wrap_tool_call
        try:
            if wrap is not None and (sync or self._awrap_tool_call is None):
                return await self._call_sync_wrapper(wrap, request, kind, config, info)

            async def execute(req: ToolCallRequest) -> Any:
                return await self._execute_request(req, kind, config, info)

            awrap = self._awrap_tool_call
            assert awrap is not None
            return await awrap(request, execute)
        except GraphBubbleUp:
            raise
        except Exception as exc:  # noqa: BLE001  (handle_tool_errors decides; re-raised if not covered)
            if is_invalid_resume(exc):
                raise
            return ToolMessage(
                content=self._errors.answer_wrapper(exc),
                name=call["name"],
                tool_call_id=call["id"],
                status="error",
            )

    async def _call_sync_wrapper(
        self, wrap: ToolCallWrapper, request: ToolCallRequest, kind: Kind, config: RunnableConfig, info: _RunInfo
    ) -> Any:
        """A sync interceptor, in a worker thread; its ``execute`` runs the call on the
        event loop and waits for it (so async tools work under sync interceptors)."""
        loop = asyncio.get_running_loop()

        def execute(req: ToolCallRequest) -> Any:
            return run_on_loop(loop, self._execute_request(req, kind, config, info), "ToolNode's execute()",
                               "an async wrap_tool_call")

        ctx = contextvars.copy_context()
        return await loop.run_in_executor(None, ctx.run, wrap, request, execute)

    async def _execute_request(self, req: ToolCallRequest, kind: Kind, config: RunnableConfig, info: _RunInfo) -> Output:
        runtime = req.runtime
        state = runtime.state if isinstance(runtime, ToolRuntime) else req.state
        return await self._execute(req.tool_call, req.tool, state, runtime, config, kind, info)

    async def _execute(
        self,
        call: ToolCall,
        tool: BaseTool | None,
        state: Any,
        runtime: ToolRuntime[Any, Any] | None,
        config: RunnableConfig,
        kind: Kind,
        info: _RunInfo | None,
    ) -> Output:
        """Run one call: inject what the tool asks for, run it, check its answer, and
        turn errors into error messages as ``handle_tool_errors`` says."""
        name = call["name"]
        if tool is None:
            if name not in self._tools_by_name:
                return ToolMessage(
                    INVALID_TOOL_NAME_ERROR_TEMPLATE.format(
                        requested_tool=name, available_tools=", ".join(self._tools_by_name)
                    ),
                    name=name,
                    tool_call_id=call["id"],
                    status="error",
                )
            raise TypeError(f"Tool {name} is not registered with ToolNode")
        spec = self._specs.get(name)
        if spec is None or spec.tool is not tool:
            spec = analyze_tool(tool)  # a tool an interceptor put in the request
        if spec.injects:
            call_args: dict[str, Any] = {
                **call,
                "args": self._inject(spec, call, state, runtime, info),
                "type": "tool_call",
            }
        elif call.get("type") != "tool_call":
            call_args = {**call, "type": "tool_call"}
        else:
            call_args = call  # type: ignore[assignment]
        try:
            try:
                output = await tool.ainvoke(call_args, config)
            except ValidationError as exc:
                if is_invalid_resume(exc) or exc.title != spec.schema_title:
                    raise
                raise ToolInvocationError(name, exc, call["args"], model_errors(exc, spec.hidden)) from exc
            if type(output) is ToolMessage and type(output.content) is str:
                return output  # the common answer, already valid
            return self._normalize(output, call, kind)
        except GraphBubbleUp:
            raise
        except Exception as exc:  # noqa: BLE001  (handle_tool_errors decides; re-raised if not covered)
            if is_invalid_resume(exc):
                raise
            return ToolMessage(
                content=self._errors.answer(exc),
                name=name,
                tool_call_id=call["id"],
                status="error",
            )

    def _inject(
        self, spec: ToolSpec, call: ToolCall, state: Any, runtime: ToolRuntime[Any, Any] | None, info: _RunInfo | None
    ) -> dict[str, Any]:
        """The call's arguments with the injected ones filled in. Values the model sent
        for injected parameters are dropped (a model must not forge them)."""
        args = {k: v for k, v in call["args"].items() if k not in spec.hidden}
        if spec.state_args:
            args.update(self._state_args(spec, state, call["name"]))
        if spec.store_args or spec.runtime_args:
            if runtime is None:
                if info is None:  # a tool an interceptor added: look the run up now
                    info = _RunInfo(self, {})
                runtime = info.tool_runtime(call["id"], state)
            if spec.store_args:
                if runtime.store is None:
                    raise ValueError(
                        f"Tool '{call['name']}' takes the store (InjectedStore) but the graph has "
                        "none: compile the graph with a store (compile(store=...))."
                    )
                for param in spec.store_args:
                    args[param] = runtime.store
            for param in spec.runtime_args:
                args[param] = runtime
        return args

    def _state_args(self, spec: ToolSpec, state: Any, tool_name: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if isinstance(state, list):
            keys = [key for _, key in spec.state_args]
            if keys[0] is None or keys == [self._messages_key]:
                state = {self._messages_key: state}
            else:
                raise ValueError(
                    f"Invalid input to ToolNode. Tool {tool_name} requires graph state dict as input. "
                    f"State should contain fields {', '.join(k for k in keys if k)}."
                )
        if isinstance(state, dict):
            for param, key in spec.state_args:
                if key is None:
                    out[param] = state
                elif key in state:
                    out[param] = state[key]
                elif param not in spec.optional_state:
                    raise KeyError(
                        f"Tool '{tool_name}' asks for state key {key!r} (InjectedState), but the "
                        f"state has only: {', '.join(map(repr, state))}"
                    )
        else:
            for param, key in spec.state_args:
                if key is None:
                    out[param] = state
                elif hasattr(state, key):
                    out[param] = getattr(state, key)
                elif param not in spec.optional_state:
                    raise AttributeError(
                        f"Tool '{tool_name}' asks for state field {key!r} (InjectedState), but the "
                        f"state {type(state).__name__} has no such field"
                    )
        return out

    # -- output ------------------------------------------------------------------------

    def _normalize(self, output: Any, call: ToolCall, kind: Kind) -> Output:
        """Check a tool's answer: a ToolMessage (content made valid), a Command, or a
        list of them answering the call exactly once."""
        if isinstance(output, ToolMessage):
            output.content = msg_content_output(output.content)  # type: ignore[assignment]
            return output
        if isinstance(output, Command):
            return self._check_command(output, call, kind)
        if isinstance(output, list):
            if all(isinstance(o, (Command, ToolMessage)) for o in output):
                return self._check_list(output, call, kind)
            raise TypeError(
                f"Tool {call['name']} returned a list with invalid element types: expected all Command or ToolMessage"
            )
        raise TypeError(f"Tool {call['name']} returned unexpected type: {type(output)}")

    def _check_list(self, output: list[Any], call: ToolCall, kind: Kind) -> list[ToolMessage | Command[Any]]:
        call_id = call["id"]
        answers = 0
        for item in output:
            if isinstance(item, ToolMessage):
                answers += item.tool_call_id == call_id
            elif isinstance(item.update, dict):
                for m in item.update.get(self._messages_key, ()):
                    answers += isinstance(m, ToolMessage) and m.tool_call_id == call_id
        if answers != 1:
            raise ValueError(
                f"Tool {call['name']} returned a list with {answers} messages bound to tool_call_id "
                f"{call_id!r}; expected exactly one terminating ToolMessage."
            )
        checked: list[ToolMessage | Command[Any]] = []
        for item in output:
            if isinstance(item, Command):
                checked.append(self._check_command(item, call, kind, require_answer=False))
            else:
                item.content = msg_content_output(item.content)
                checked.append(item)
        return checked

    def _check_command(
        self, command: Command[Any], call: ToolCall, kind: Kind, *, require_answer: bool = True
    ) -> Command[Any]:
        """A Command from a tool must answer its call with a ToolMessage (else the
        conversation has a tool call without a result and the next model call fails),
        unless it goes to the parent graph. Its messages are given the tool's name."""
        update = command.update
        if isinstance(update, dict):
            if kind == "list":
                raise ValueError(
                    "Tools can provide a dict in Command.update only when using dict with "
                    f"'{self._messages_key}' key as ToolNode input, got: {update} for tool '{call['name']}'"
                )
            command = copy.deepcopy(command)
            messages = command.update.get(self._messages_key, []) if isinstance(command.update, dict) else []
        elif isinstance(update, list):
            if kind != "list":
                raise ValueError(
                    "Tools can provide a list of messages in Command.update only when using list of "
                    f"messages as ToolNode input, got: {update} for tool '{call['name']}'"
                )
            command = copy.deepcopy(command)
            messages = command.update
        else:
            return command
        messages = convert_to_messages(messages)
        if messages == [RemoveMessage(id=REMOVE_ALL_MESSAGES)]:
            return command
        answered = False
        for m in messages:
            if isinstance(m, ToolMessage) and m.tool_call_id == call["id"]:
                m.name = call["name"]
                answered = True
        if require_answer and command.graph is None and not answered:
            example = (
                '`Command(update={"messages": [ToolMessage("Success", tool_call_id=tool_call_id), ...]}, ...)`'
                if kind == "dict"
                else '`Command(update=[ToolMessage("Success", tool_call_id=tool_call_id), ...], ...)`'
            )
            raise ValueError(
                f"Expected to have a matching ToolMessage in Command.update for tool '{call['name']}', "
                f"got: {messages}. Every tool call (LLM requesting to call a tool) in the message "
                "history MUST have a corresponding ToolMessage. You can fix it by modifying the "
                f"tool to return {example} (take the id with an InjectedToolCallId parameter)."
            )
        return command

    def _combine(self, outputs: list[Output], kind: Kind) -> Any:
        flat: list[ToolMessage | Command[Any]] = []
        for output in outputs:
            if isinstance(output, list):
                flat.extend(output)
            else:
                flat.append(output)
        if not any(isinstance(o, Command) for o in flat):
            return flat if kind == "list" else {self._messages_key: flat}
        combined: list[Any] = []
        parent_sends: list[Send] | None = None
        for output in flat:
            if isinstance(output, Command):
                goto = output.goto
                if (
                    output.graph is Command.PARENT
                    and isinstance(goto, list)
                    and all(isinstance(s, Send) for s in goto)
                ):
                    # Sends to the parent from several calls: one Command, so the parent
                    # runs them all.
                    parent_sends = [*(parent_sends or ()), *goto]
                else:
                    combined.append(output)
            else:
                combined.append([output] if kind == "list" else {self._messages_key: [output]})
        if parent_sends is not None:
            combined.append(Command(graph=Command.PARENT, goto=parent_sends))
        return combined


def _sync_api_drives() -> bool:
    """Whether the graph running this node was started by sync ``invoke`` / ``stream``."""
    tc = current_task.get()
    return tc is not None and tc.run.sync_api


def _read_state(config: RunnableConfig) -> Any:
    """The graph state for calls sent without one (``Send("tools", [call])``): what the
    node would read if an edge triggered it now. Read through the config when a caller
    put LangGraph's hooks there, else from the running graph; ``{}`` outside a graph."""
    conf = config.get(CONF) or {}
    read_state = conf.get("__pregel_read_state")
    if read_state is not None:
        return read_state()
    read = conf.get("__pregel_read")
    if read is not None:
        # LangGraph's read is functools.partial(local_read, scratchpad, channels, ...).
        channels = read.args[1]
        return read(list(channels), True)
    from asyncgraph.pregel._algo import read_state as read_channels

    tc = current_task.get()
    if tc is None or tc.run.progress.run_state is None:
        return {}
    return read_channels(tc.run.progress.run_state.channels, tc.task.node.reads)


class _RunInfo:
    """The run-scoped values tools and interceptors ask for, looked up once per node
    run: from ``configurable["__pregel_runtime"]`` when a caller put a runtime there,
    else from the running task."""

    __slots__ = ("config", "node", "runtime")

    def __init__(self, node: ToolNode, config: RunnableConfig) -> None:
        self.node = node
        self.config = config
        runtime = (config.get(CONF) or {}).get("__pregel_runtime")
        if runtime is None:

            tc = current_task.get()
            if tc is not None:
                runtime = task_runtime(tc, stream_writer())
        self.runtime = runtime

    def tool_runtime(self, call_id: str | None, state: Any) -> ToolRuntime[Any, Any]:
        rt = self.runtime
        if rt is None:

            return ToolRuntime(
                state=state,
                context=None,
                config=self.config,
                stream_writer=noop_writer,
                tool_call_id=call_id,
                store=None,
                tools=list(self.node.tools_by_name.values()),
            )
        return ToolRuntime(
            state=state,
            context=rt.context,
            config=self.config,
            stream_writer=rt.stream_writer,
            tool_call_id=call_id,
            store=rt.store,
            tools=list(self.node.tools_by_name.values()),
            execution_info=getattr(rt, "execution_info", None),
            server_info=getattr(rt, "server_info", None),
        )


def _in_call_order(eg: BaseExceptionGroup[Any], tasks: list[asyncio.Task[Any]]) -> list[BaseException]:
    errors: list[BaseException] = []
    for t in tasks:
        if t.done() and not t.cancelled() and t.exception() is not None:
            errors.append(t.exception())  # type: ignore[arg-type]
    return errors or list(eg.exceptions)


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
