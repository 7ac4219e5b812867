"""``@entrypoint``: a function as a compiled graph of one node.

The graph (LangGraph's layout, so checkpoints look the same): channel ``__start__``
holds the input, ``__end__`` the return value, ``__previous__`` the value saved for the
next run of the thread (``previous``). Its one node, named after the function, runs
at step 0 and writes both. Tasks the function calls run as call tasks of that node
(:mod:`asyncgraph.pregel._call`); their results are saved as the node's step's pending
writes, so a resumed run gets them back without running them again.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar, get_args, get_origin

from asyncgraph.channels.ephemeral_value import EphemeralValue
from asyncgraph.channels.last_value import LastValue
from asyncgraph.constants import END, START
from asyncgraph.errors import GraphInterrupt
from asyncgraph._context import TaskContext, current_task, stream_writer
from asyncgraph.pregel._call import join_calls, merge_interrupts
from asyncgraph.pregel._schema import Field, SchemaInfo
from asyncgraph.pregel._spec import CallSpec
from asyncgraph.pregel._plan import NodePlan, Plan
from asyncgraph._sync import iterate_sync, run_sync
from asyncgraph.pregel.main import Pregel
from asyncgraph.types import CachePolicy, RetryPolicy
from asyncgraph.warnings import LangGraphDeprecatedSinceV05, LangGraphDeprecatedSinceV10, _renamed

PREVIOUS = "__previous__"
_INJECTABLE = ("config", "previous", "runtime", "writer", "store")

R = TypeVar("R")
S = TypeVar("S")
ContextT = TypeVar("ContextT")

__all__ = ["entrypoint"]


class EntrypointGraph(Pregel):
    """What ``@entrypoint`` returns: a compiled graph (``invoke`` / ``stream`` /
    ``get_state`` ...) whose input is the function's argument and whose output is its
    return value."""

    # Graph-wide defaults for the tasks its function calls (LangGraph applies the
    # entrypoint's policies to them too).
    call_retry: tuple[RetryPolicy, ...] = ()
    call_cache: CachePolicy | None = None
    _types: tuple[Any, Any] = (Any, Any)  # the function's input and output types
    context_schema: Any = None

    def _default_stream_mode(self) -> str:
        return "updates"

    @property
    def InputType(self) -> Any:  # noqa: N802
        return self._types[0]

    @property
    def OutputType(self) -> Any:  # noqa: N802
        return self._types[1]

    def get_context_jsonschema(self) -> dict[str, Any] | None:
        """The JSON schema of ``context_schema`` (a Pydantic model, TypedDict or
        dataclass), or None when the entrypoint declares none.

        Raises:
            ValueError: the context schema is none of those.
        """
        ctx = self.context_schema
        if ctx is None:
            return None
        from pydantic import BaseModel, TypeAdapter  # for import time: rarely needed
        from typing_extensions import is_typeddict

        if isinstance(ctx, type) and issubclass(ctx, BaseModel):
            return ctx.model_json_schema()
        if is_typeddict(ctx) or dataclasses.is_dataclass(ctx):
            return TypeAdapter(ctx).json_schema()
        raise ValueError(f"context_schema must be a Pydantic model, TypedDict or dataclass, got {ctx!r}")

    def _run_context(self, config: Any, *, output_keys: Any = None, **kwargs: Any) -> Any:
        # The output, ``values`` and ``updates`` chunks are the return value itself.
        rc = super()._run_context(config, output_keys=END if output_keys is None else output_keys, **kwargs)
        sink = rc.sink
        if sink is not None and not sink.modes.isdisjoint(("tasks", "debug", "checkpoints")):
            rc = rc.replace(sink=_Sink(sink, rc.ns_tuple, self.plan.name))
        return rc

    def _output(self, outcome: Any, rc: Any = None, *, v2: bool = False) -> Any:
        if rc is None and not outcome.interrupts:  # the run's output, as tracers see it
            latest = super()._output(outcome, None)
            return latest.get(END) if isinstance(latest, dict) else latest
        if outcome.interrupts and not v2 and (rc is None or rc.parent is None):
            latest = super()._output(outcome, None)
            value = latest.get(END) if isinstance(latest, dict) else None
            ints = list(outcome.interrupts)
            return {**value, "__interrupt__": ints} if isinstance(value, dict) else {"__interrupt__": ints}
        return super()._output(outcome, rc, v2=v2)

    def _interrupt_values(self, outcome: Any, rc: Any) -> Any:
        from asyncgraph.pregel._stream import state_values

        value = state_values(rc, outcome.run)
        ints = tuple(outcome.interrupts)
        return {**value, "__interrupt__": ints} if isinstance(value, dict) else {"__interrupt__": ints}

    # -- state: the return value, not the channels --------------------------------

    async def aget_state(self, config: Any, *, subgraphs: bool = False) -> Any:
        return _snapshot_value(await super().aget_state(config, subgraphs=subgraphs))

    def get_state(self, config: Any, *, subgraphs: bool = False) -> Any:
        return run_sync(lambda: self.aget_state(config, subgraphs=subgraphs))

    async def aget_state_history(self, config: Any, **kwargs: Any) -> AsyncIterator[Any]:
        async for snap in super().aget_state_history(config, **kwargs):
            yield _snapshot_value(snap)

    def get_state_history(self, config: Any, **kwargs: Any) -> Iterator[Any]:
        return iterate_sync(lambda: self.aget_state_history(config, **kwargs))

    async def aupdate_state(self, config: Any, values: Any, as_node: str | None = None) -> Any:
        """Save ``values`` as if the function had returned it (``entrypoint.final``
        splits the return value from what ``previous`` will be)."""
        as_node = as_node or self.plan.name
        if as_node == self.plan.name:  # the node's own writer maps it (``_write_result``)
            return await super().aupdate_state(config, values, as_node)
        return await super().aupdate_state(config, _writes(values), as_node)

    def update_state(self, config: Any, values: Any, as_node: str | None = None) -> Any:
        return run_sync(lambda: self.aupdate_state(config, values, as_node))


class _Sink:
    """The run's stream as the entrypoint shows it: in ``tasks`` / ``checkpoints`` /
    ``debug`` chunks of its own run, the input and output are the function's argument and
    return value, not the channels that carry them."""

    __slots__ = ("inner", "ns", "name")

    def __init__(self, inner: Any, ns: tuple[str, ...], name: str) -> None:
        self.inner = inner
        self.ns = ns
        self.name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)

    def push(self, ns: tuple[str, ...], mode: str, chunk: Any) -> None:
        if ns == self.ns and isinstance(chunk, dict):
            if mode == "debug" and isinstance(chunk.get("payload"), dict):
                chunk = {**chunk, "payload": self._payload(chunk["payload"])}
            elif mode in ("tasks", "checkpoints"):
                chunk = self._payload(chunk)
        self.inner.push(ns, mode, chunk)

    def _payload(self, p: dict[str, Any]) -> dict[str, Any]:
        p = dict(p)
        if "values" in p and isinstance(p["values"], dict):
            p["values"] = p["values"].get(END)
        if p.get("name") == self.name:
            if isinstance(p.get("input"), dict) and START in p["input"]:
                p["input"] = p["input"][START]
            if isinstance(p.get("result"), dict) and END in p["result"]:
                p["result"] = {END: p["result"][END]}
        return p


def _snapshot_value(snap: Any) -> Any:
    values = snap.values
    tasks = tuple(
        t._replace(result=t.result.get(END)) if isinstance(t.result, dict) and END in t.result else t
        for t in snap.tasks
    )
    return snap._replace(values=values.get(END) if isinstance(values, dict) else values, tasks=tasks)


def _writes(result: Any) -> dict[str, Any]:
    if isinstance(result, entrypoint.final):
        return {END: result.value, PREVIOUS: result.save}
    return {END: result, PREVIOUS: result}


class _Body:
    """The entrypoint node's callable: calls the user's function with what it asks
    for, waits for the tasks it left running, and maps its result to writes."""

    __slots__ = ("func", "is_async", "inject", "__name__")

    def __init__(self, func: Callable[..., Any], is_async: bool, inject: tuple[str, ...]) -> None:
        self.func = func
        self.is_async = is_async
        self.inject = inject
        self.__name__ = func.__name__

    def _kwargs(self, tc: TaskContext, previous: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.inject:
            if name == "previous":
                out["previous"] = previous
            elif name == "config":
                out["config"] = tc.config()
            elif name == "writer":
                out["writer"] = stream_writer()
            elif name == "store":
                out["store"] = tc.run.store
            elif name == "runtime":
                from asyncgraph.runtime import Runtime

                rc = tc.run
                out["runtime"] = Runtime(context=rc.context, store=rc.store, stream_writer=stream_writer(),
                                         previous=previous, control=rc.control)
        return out

    async def __call__(self, value: Any) -> Any:
        tc = current_task.get()
        assert tc is not None  # the engine sets it around every node call
        kwargs = self._kwargs(tc, _previous(tc)) if self.inject else None
        try:
            if self.is_async:
                result = await (self.func(value, **kwargs) if kwargs else self.func(value))
            else:
                ctx = contextvars.copy_context()
                result = await asyncio.get_running_loop().run_in_executor(
                    None, functools.partial(ctx.run, self.func, value, **(kwargs or {}))
                )
        except GraphInterrupt as exc:
            # Calls still running finish (their results are saved for the resume);
            # any that paused too pause the run with this one.
            raise merge_interrupts(exc, await join_calls(tc)) from None
        except BaseException:
            await join_calls(tc, cancel=True)
            raise
        if tc.calls is not None:
            pending = await join_calls(tc)
            if pending:
                raise GraphInterrupt(pending)
        return result


def _previous(tc: TaskContext) -> Any:
    """What the thread's last run saved (``previous``): the step's ``__previous__``."""
    run = tc.run.progress.run_state
    ch = run.channels.get(PREVIOUS) if run is not None else None
    return ch.value if ch is not None and ch.is_available() else None


def _read_input(channels: Any) -> Any:
    """The entrypoint node's input (``NodePlan.read``): the function's argument, as
    LangGraph's node reads it (what tracers, ``tasks`` chunks and a cache key see)."""
    ch = channels.get(START)
    return ch.value if ch is not None and ch.is_available() else None


def _write_result(task: Any, result: Any) -> dict[str, Any]:
    """The entrypoint node's writes (``NodePlan.write``): the return value and the value
    saved for ``previous``. The node's output itself (what tracers see) stays the
    function's return value."""
    update = _writes(result)
    task.writes.extend(update.items())
    return update


def _types(func: Callable[..., Any], first: str) -> tuple[Any, Any, Any]:
    try:  # string annotations (``from __future__ import annotations``) resolved
        sig = inspect.signature(func, eval_str=True)
    except Exception:
        sig = inspect.signature(func)
    param = sig.parameters[first]
    input_type = param.annotation if param.annotation is not inspect.Signature.empty else Any
    ret = sig.return_annotation
    if ret is inspect.Signature.empty or ret is entrypoint.final:
        return input_type, Any, Any
    if get_origin(ret) is entrypoint.final:
        args = get_args(ret)
        if len(args) != 2:
            raise TypeError(
                "Annotate both the return and the saved value of entrypoint.final, e.g. "
                "`-> entrypoint.final[int, str]`"
            )
        return input_type, args[0], args[1]
    return input_type, ret, ret


def _build(decorator: entrypoint[Any], func: Callable[..., Any]) -> EntrypointGraph:
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        raise NotImplementedError("Generators are not supported in the Functional API.")
    params = list(inspect.signature(func).parameters.values())
    if not params:
        raise ValueError("Entrypoint function must have at least one parameter")
    inject = tuple(p.name for p in params[1:] if p.name in _INJECTABLE
                   and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
    from asyncgraph.func._task import _is_async

    name = func.__name__
    body = _Body(func, _is_async(func), inject)
    input_type, output_type, save_type = _types(func, params[0].name)
    channels = {
        START: EphemeralValue(input_type, key=START),
        END: LastValue(output_type, key=END),
        PREVIOUS: LastValue(save_type, key=PREVIOUS),
    }
    state = SchemaInfo(None, "dict", {END: Field(END, channels[END]), PREVIOUS: Field(PREVIOUS, channels[PREVIOUS])}, {})
    retry = decorator.retry_policy
    from asyncgraph.pregel._call import timeout_policy

    timeout = timeout_policy(decorator.timeout, name, "Node", body.is_async)
    node = NodePlan(
        name=name,
        call=CallSpec(body, "async", (), False),
        triggers=(START,),
        reads=(START,),
        input_info=SchemaInfo(None, "dict", {}, {}),
        managed=(),
        after=(),
        branches=(),
        retry=retry or None,
        timeout=timeout.run_timeout if timeout is not None else None,  # type: ignore[arg-type]  # coerced
        idle_timeout=timeout.idle_timeout if timeout is not None else None,  # type: ignore[arg-type]
        progress_auto=timeout is None or timeout.refresh_on == "auto",
        metadata=None,
        limit=None,
        defer=False,
        ends=(),
        fast=timeout is None,
        cache=decorator.cache_policy,
        inline=not retry and timeout is None,
        read=_read_input,
        write=_write_result,
    )
    plan = Plan(
        name=name,
        channels=channels,
        nodes={name: node},
        trigger_to_nodes={START: (name,)},
        node_order={name: 0},
        state_info=state,
        input_info=SchemaInfo(None, "dict", {}, {}),
        output_info=SchemaInfo(None, "dict", {END: Field(END, channels[END])}, {}),
        state_keys=frozenset((END, PREVIOUS)),
        managed={},
        interrupt_before=frozenset(),
        interrupt_after=frozenset(),
        ephemeral=frozenset((START,)),
        initial=(),
        deferred=False,
        cached=decorator.cache_policy is not None,
        output_keys=frozenset((END,)),
        input_keys=frozenset(),
    )
    _allow_declared(input_type, output_type, save_type, decorator.context_schema)
    graph = EntrypointGraph(plan=plan, builder=None, checkpointer=decorator.checkpointer,
                            store=decorator.store, cache=decorator.cache)
    graph.name = "LangGraph"  # LangGraph's name for a compiled entrypoint
    graph._types = (input_type, output_type)
    graph.context_schema = decorator.context_schema
    graph.call_retry = retry
    graph.call_cache = decorator.cache_policy
    return graph


def _allow_declared(*types: Any) -> None:
    """Let the checkpoint serializer store the classes the function's signature declares
    (its input, output and saved value: a Pydantic model, a dataclass, an enum), as
    LangGraph's entrypoint does; other classes still need ``serde.allow``."""
    import enum

    from asyncgraph.checkpoint.serde import allow

    found: list[type] = []
    stack = list(types)
    while stack:
        tp = stack.pop()
        if isinstance(tp, type):
            if dataclasses.is_dataclass(tp) or issubclass(tp, enum.Enum) or hasattr(tp, "model_fields"):
                found.append(tp)
        else:
            stack.extend(a for a in get_args(tp) if a is not None)
    if found:
        allow(*found)


class entrypoint(Generic[ContextT]):  # noqa: N801  (LangGraph's name)
    """Turn a function into a workflow: a compiled graph that runs the function.

    The function takes one argument (the run's input; use a dict for several values)
    and may also declare, by name, ``config``, ``previous`` (what the last run of this
    thread returned, or saved with :class:`entrypoint.final`), ``runtime``, ``writer``
    and ``store``. Sync and async functions both work; generators do not.

    Args:
        checkpointer: keeps each thread's state: ``previous``, task results, and pauses
            (``interrupt()``) that ``Command(resume=...)`` continues.
        store: the long-term store, passed to the function and its tasks.
        cache: where task results with a ``cache_policy`` are cached.
        context_schema: the type of ``invoke(..., context=...)``.
        cache_policy: cache the entrypoint's (and its tasks') results by input.
        retry_policy: retry the function (and tasks without their own policy).
        timeout: seconds (or a ``timedelta`` / ``TimeoutPolicy``) one attempt of an async
            function may take; past it, ``NodeTimeoutError``.
    """

    def __init__(
        self,
        checkpointer: Any = None,
        store: Any = None,
        cache: Any = None,
        context_schema: type[ContextT] | None = None,
        cache_policy: CachePolicy | None = None,
        retry_policy: RetryPolicy | Sequence[RetryPolicy] | None = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> None:
        unknown = set(kwargs) - {"config_schema", "retry"}
        if unknown:
            raise TypeError(f"entrypoint() got unexpected keyword argument(s): {', '.join(sorted(unknown))}")
        if "config_schema" in kwargs:
            _renamed("config_schema", "context_schema", LangGraphDeprecatedSinceV10)
            context_schema = context_schema or kwargs["config_schema"]
        if "retry" in kwargs:
            _renamed("retry", "retry_policy", LangGraphDeprecatedSinceV05)
            retry_policy = retry_policy or kwargs["retry"]
        self.checkpointer = checkpointer
        self.store = store
        self.cache = cache
        self.context_schema = context_schema
        self.cache_policy = cache_policy
        self.timeout = timeout
        self.retry_policy: tuple[RetryPolicy, ...] = (
            () if retry_policy is None
            else (retry_policy,) if isinstance(retry_policy, RetryPolicy)
            else tuple(retry_policy)
        )

    @dataclasses.dataclass(frozen=True)
    class final(Generic[R, S]):  # noqa: N801  (LangGraph's name)
        """Return ``value`` to the caller but save ``save`` as the thread's ``previous``."""

        value: R
        save: S

    def __call__(self, func: Callable[..., Any]) -> EntrypointGraph:
        """Build the workflow for ``func``.

        Raises:
            NotImplementedError: ``func`` is a generator function.
            ValueError: ``func`` takes no parameter.
        """
        return _build(self, func)
