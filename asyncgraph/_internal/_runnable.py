"""``RunnableCallable`` under LangGraph's private path ``langgraph._internal._runnable``.

LangChain's ``create_agent`` builds its nodes and edges as ``RunnableCallable(sync_fn,
async_fn, trace=False)``, and langgraph-supervisor wraps its agents the same way. The
contract they rely on:

- ``invoke`` calls the sync function, ``ainvoke`` the async one. Without an async
  function ``ainvoke`` runs the sync one (here in a worker thread, never on the event
  loop); without a sync function ``invoke`` is a ``TypeError``.
- Keyword parameters named ``config``, ``runtime``, ``writer``, ``store`` or
  ``previous`` are filled from the run (the node's :class:`~asyncgraph.runtime.Runtime`),
  unless the caller passed them; ``error`` gets the ``NodeError`` when the callable is
  a node's error handler (None otherwise). A parameter that cannot be filled takes its default,
  or is a ``ValueError`` naming it when it has none.
- Extra keyword arguments given to the constructor are passed on every call;
  ``explode_args=True`` takes the input as ``(args, kwargs)``.
- When the function returns a Runnable and ``recurse`` is on, that Runnable is
  invoked with the same input and config.
- ``trace=True`` reports the call to langchain-core callbacks as a child run (only
  when the config carries callbacks: nothing is built otherwise).

As a graph node or conditional edge (how ``create_agent`` uses it), the engine does not
go through ``ainvoke`` / ``invoke`` on its fast paths: :meth:`RunnableCallable.engine_node`
and :meth:`RunnableCallable.engine_path` give it a function of the state alone that does
what those would do, the config and runtime taken from the running task, so the node can
run like a plain async function (fewer calls and coroutine frames per step, and fewer
objects held by every run in flight). Traced runs, and subclasses overriding ``invoke`` or
``ainvoke``, still go through those.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.base import RunnableLike as _LCRunnableLike
from langchain_core.runnables.config import (
    ensure_config,
    get_async_callback_manager_for_config,
    get_callback_manager_for_config,
    patch_config,
    run_in_executor,
)

from asyncgraph._context import current_task, stream_writer
from asyncgraph.constants import CONF

__all__ = ["RunnableCallable", "RunnableLike"]

RunnableLike: TypeAlias = _LCRunnableLike
"""Anything a graph accepts as a node: a Runnable or a (sync or async) callable."""

_RUNTIME_KEY = "__pregel_runtime"  # where LangGraph's engine puts the Runtime
_INJECTABLE = ("config", "runtime", "writer", "store", "previous", "error")
# Runtime attribute that fills each injectable parameter (config and runtime are special).
_RUNTIME_ATTR = {"writer": "stream_writer", "store": "store", "previous": "previous"}
_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_MISSING: Any = object()


def _current_runtime(config: RunnableConfig) -> Any:
    """The Runtime of the node being run: LangGraph's config key, else asyncgraph's task."""
    runtime = config.get(CONF, {}).get(_RUNTIME_KEY)
    if runtime is not None:
        return runtime
    from asyncgraph._context import current_task

    if current_task.get() is None:
        return None
    from asyncgraph.runtime import get_runtime

    return get_runtime()


def _current_failure() -> Any:
    """The ``NodeError`` an error handler's task handles (None in any other task)."""
    tc = current_task.get()
    return None if tc is None else tc.task.failure


def _own_calls(rc: RunnableCallable) -> bool:
    """Whether ``rc``'s class keeps this module's ``invoke`` / ``ainvoke`` (a subclass
    overriding them is always called through them)."""
    cls = type(rc)
    return cls.invoke is RunnableCallable.invoke and cls.ainvoke is RunnableCallable.ainvoke


class RunnableCallable(Runnable[Any, Any]):
    """A Runnable made of a sync function and/or an async function (see the module)."""

    def __init__(
        self,
        func: Callable[..., Any] | None,
        afunc: Callable[..., Awaitable[Any]] | None = None,
        *,
        name: str | None = None,
        tags: Sequence[str] | None = None,
        trace: bool = True,
        recurse: bool = True,
        explode_args: bool = False,
        **kwargs: Any,
    ) -> None:
        if func is None and afunc is None:
            raise ValueError("RunnableCallable needs a sync function, an async function, or both.")
        if name is None:
            fn_name = getattr(func if func is not None else afunc, "__name__", None)
            name = fn_name if fn_name and fn_name != "<lambda>" else None
        self.name = name
        self.func = func
        self.afunc = afunc
        self.tags = tags
        self.trace = trace
        self.recurse = recurse
        self.explode_args = explode_args
        self.kwargs = kwargs
        # parameter name -> its default (inspect.Parameter.empty when required)
        self.func_accepts: dict[str, Any] = {}
        try:
            params = inspect.signature(func if func is not None else afunc).parameters  # type: ignore[arg-type]
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        for i, p in enumerate(params.values()):
            if i > 0 and p.name in _INJECTABLE and p.kind in _KINDS:
                self.func_accepts[p.name] = p.default

    # -- what the engine calls on its fast paths -----------------------------------------

    def engine_node(self) -> Callable[[Any], Awaitable[Any]] | None:
        """An async function of the state alone that runs this Runnable as the graph's
        node running now would through ``ainvoke(state, task config)``, or None when
        this one needs ``ainvoke`` (no async function, ``trace=True``, ``explode_args``).

        Started by the sync API (``invoke`` / ``stream``), it runs :meth:`invoke` in a
        worker thread, as the engine does for any Runnable node there.
        """
        if self.afunc is None or self.trace or self.explode_args or not _own_calls(self):
            return None
        from asyncgraph.runtime import task_runtime  # the engine's layer: loaded by now

        afunc, recurse, extra = self.afunc, self.recurse, self.kwargs
        accepts = tuple(self.func_accepts.items())
        invoke, name = self.invoke, self.get_name

        def fill(tc: Any) -> dict[str, Any]:
            kwargs = dict(extra)
            runtime: Any = _MISSING
            for kw, default in accepts:
                if kw in kwargs:
                    continue
                if kw == "config":
                    kwargs[kw] = tc.config()
                    continue
                if kw == "error":
                    kwargs[kw] = tc.task.failure
                    continue
                if runtime is _MISSING:
                    conf = tc.run.config.get(CONF)
                    runtime = conf.get(_RUNTIME_KEY) if conf else None
                    if runtime is None:
                        runtime = task_runtime(tc, stream_writer())
                value = runtime if kw == "runtime" else getattr(runtime, _RUNTIME_ATTR[kw], _MISSING)
                if value is _MISSING:
                    if default is inspect.Parameter.empty:
                        raise ValueError(f"{name()!r} takes a {kw!r} argument, but the graph run provides none.")
                    value = default
                kwargs[kw] = value
            return kwargs

        async def node(state: Any) -> Any:
            tc = current_task.get()
            assert tc is not None  # only the engine calls this, inside a task
            if tc.run.sync_api:
                ctx = contextvars.copy_context()
                config: RunnableConfig = tc.config()  # type: ignore[assignment]  # the task's config dict
                return await asyncio.get_running_loop().run_in_executor(None, ctx.run, invoke, state, config)
            # The keyword arguments are a temporary of the call, not a local: a dict held
            # by this frame would be one more object per run in flight while the node
            # awaits (the function's own frame holds the values it needs).
            if accepts:
                ret = await afunc(state, **fill(tc))
            elif extra:
                ret = await afunc(state, **extra)
            else:
                ret = await afunc(state)
            if recurse and isinstance(ret, Runnable):
                return await ret.ainvoke(state, tc.config())  # type: ignore[arg-type]  # the task's config dict
            return ret

        return node

    def engine_path(self) -> Callable[[Any], Any] | None:
        """A sync function of the state alone that does what :meth:`invoke` does for a
        conditional edge's path, or None when this one needs ``invoke`` (an async
        function, ``trace=True``, ``explode_args``, bound keywords, or a parameter to
        fill from the run)."""
        if self.func is None or self.afunc is not None or self.trace or self.explode_args or not _own_calls(self):
            return None
        if self.kwargs or self.func_accepts:
            return None
        func, recurse = self.func, self.recurse

        def path(state: Any) -> Any:
            ret = func(state)
            if recurse and isinstance(ret, Runnable):
                tc = current_task.get()
                return ret.invoke(state, tc.config() if tc is not None else None)  # type: ignore[arg-type]
            return ret

        return path

    def __repr__(self) -> str:
        return f"RunnableCallable({self.get_name()!r}, trace={self.trace}, recurse={self.recurse})"

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        base = name or self.name or type(self).__name__
        return f"{base}{suffix}" if suffix else base

    def _call_args(
        self, input: Any, config: RunnableConfig, kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if self.explode_args:
            args, extra = input
            kwargs = {**self.kwargs, **extra, **kwargs}
        else:
            args = (input,)
            kwargs = {**self.kwargs, **kwargs}
        if not self.func_accepts:
            return tuple(args), kwargs
        runtime = _current_runtime(config)
        for kw, default in self.func_accepts.items():
            if kw in kwargs:
                continue
            value: Any = _MISSING
            if kw == "config":
                value = config
            elif kw == "error":
                value = _current_failure()
            elif runtime is not None:
                value = runtime if kw == "runtime" else getattr(runtime, _RUNTIME_ATTR[kw], _MISSING)
            if value is _MISSING:
                if default is inspect.Parameter.empty:
                    raise ValueError(
                        f"{self.get_name()!r} takes a {kw!r} argument, but it is not called "
                        "inside a graph run that provides one."
                    )
                value = default
            kwargs[kw] = value
        return tuple(args), kwargs

    def _tagged(self, config: RunnableConfig) -> RunnableConfig:
        if not self.tags:
            return config
        return {**config, "tags": [*config.get("tags", []), *self.tags]}

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if self.func is None:
            raise TypeError(
                f"No synchronous function provided to {self.get_name()!r}: give it one, "
                "or call it through the async API (ainvoke, astream ...)."
            )
        if config is None:
            # A given config is used as it is (the engine passes a complete one), as
            # LangGraph does: ensure_config would copy it on every call.
            config = ensure_config()
        args, kw = self._call_args(input, config, kwargs)
        if self.trace and config.get("callbacks"):
            config = ensure_config(config)
            manager = get_callback_manager_for_config(self._tagged(config))
            run = manager.on_chain_start(None, input, name=config.get("run_name") or self.get_name())
            try:
                ret = self.func(*args, **kw)
            except BaseException as exc:
                run.on_chain_error(exc)
                raise
            run.on_chain_end(ret)
            config = patch_config(config, callbacks=run.get_child())
        else:
            ret = self.func(*args, **kw)
        if self.recurse and isinstance(ret, Runnable):
            return ret.invoke(input, config)
        return ret

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if config is None:
            config = ensure_config()
        if self.afunc is None:
            # A sync function never runs on the event loop (asyncgraph's rule for sync
            # nodes); the thread sees the caller's context variables.
            return await run_in_executor(config, self.invoke, input, config, **kwargs)
        args, kw = self._call_args(input, config, kwargs)
        if self.trace and config.get("callbacks"):
            config = ensure_config(config)
            manager = get_async_callback_manager_for_config(self._tagged(config))
            run = await manager.on_chain_start(None, input, name=config.get("run_name") or self.get_name())
            try:
                ret = await self.afunc(*args, **kw)
            except BaseException as exc:
                await run.on_chain_error(exc)
                raise
            await run.on_chain_end(ret)
            config = patch_config(config, callbacks=run.get_child())
        else:
            ret = await self.afunc(*args, **kw)
        if self.recurse and isinstance(ret, Runnable):
            return await ret.ainvoke(input, config)
        return ret
