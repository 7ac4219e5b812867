"""The compiled graph: a langchain-core ``Runnable`` facade over the superstep loop.

``ainvoke`` / ``astream`` are the implementation; ``invoke`` / ``stream`` drive them
through :mod:`asyncgraph._sync`. ``batch`` / ``abatch`` / ``astream_events`` /
``astream_log`` come from ``Runnable`` and work because this class reports its run to
callbacks like any Runnable (only when someone listens).
"""

from __future__ import annotations

import asyncio
import warnings
from contextlib import aclosing
from contextvars import ContextVar
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Generic, get_type_hints

from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel, create_model
from typing_extensions import TypeVar
from langchain_core.runnables.config import (
    ensure_config,
    get_async_callback_manager_for_config,
    merge_configs,
    var_child_runnable_config,
)

from asyncgraph.constants import CONF, INTERRUPT, NS_SEP, START
from asyncgraph.errors import GraphInterrupt, GraphTimeoutError, InvalidInputError
from asyncgraph._context import current_task, run_metadata
from asyncgraph.pregel import _state
from asyncgraph.pregel._cache import namespace
from asyncgraph.pregel._context import RunContext, tracing_enabled
from asyncgraph.pregel._draw import draw_graph
from asyncgraph.pregel._limits import Limiters
from asyncgraph.pregel._lowlevel import LowLevelGraph, lower_pregel_kwargs, lowlevel_output
from asyncgraph.pregel._schema import ROOT_KEY, context_jsonschema, state_jsonschema
from asyncgraph.pregel._loop import RunOutcome, loop_progress, run_graph
from asyncgraph.pregel._nested import address, child_namespace
from asyncgraph.pregel._stream import (
    Shape,
    StreamSink,
    consume,
    output_from_values_chunk,
    output_values,
    v2_mapper,
    state_values,
    stream_modes,
    with_messages_handler,
    with_tools_handler,
)
from asyncgraph.pregel._plan import Plan
from asyncgraph.pregel._protocol import PregelMarker
from asyncgraph._sync import iterate_sync, run_sync
from asyncgraph.runtime import coerce_context
from asyncgraph.types import All, GraphOutput, StateUpdate, ensure_valid_checkpointer
from asyncgraph.warnings import LangGraphDeprecatedSinceV10, _renamed



# Set by the sync wrappers in the task that drives the run: Runnable nodes then run their
# sync path, as in LangGraph (see RunContext.sync_api).
_sync_call: ContextVar[bool] = ContextVar("asyncgraph_sync_call", default=False)


# LangGraph's type parameters, with its defaults, so Pregel[S] / CompiledStateGraph[S, C, I, O]
# written by libraries at import time work; informational here.
StateT = TypeVar("StateT", default=Any)
ContextT = TypeVar("ContextT", default=None)
InputT = TypeVar("InputT", default=StateT)
OutputT = TypeVar("OutputT", default=StateT)


class Pregel(PregelMarker, Runnable[Any, Any], Generic[StateT, ContextT, InputT, OutputT]):
    """A compiled graph. Build one with ``StateGraph(...).compile()``."""

    def __init__(
        self,
        *,
        plan: Plan | None = None,
        builder: Any = None,
        checkpointer: Any = None,
        store: Any = None,
        cache: Any = None,
        debug: bool | None = False,
        limits: dict[str, int] | None = None,
        config: RunnableConfig | None = None,
        **lowlevel: Any,
    ) -> None:
        """``StateGraph.compile()`` passes ``plan`` and ``builder``. Without them this
        is LangGraph's low-level constructor: ``nodes``, ``channels``,
        ``input_channels``, ``output_channels`` and the other keywords of
        :func:`~asyncgraph.pregel._lowlevel.lower_pregel`, plus ``stream_mode``
        (the default of ``stream``) and ``step_timeout``."""
        stream_mode = lowlevel.pop("stream_mode", None)
        step_timeout = lowlevel.pop("step_timeout", None)
        if plan is None:
            plan, builder = lower_pregel_kwargs(lowlevel)
            self.__dict__["_nodes"] = builder.nodes
        elif lowlevel:
            raise TypeError(f"Pregel() got unexpected keyword argument(s): {', '.join(map(repr, lowlevel))}")
        ensure_valid_checkpointer(checkpointer)
        debug = bool(debug)
        self.plan = plan
        self.builder = builder
        self.checkpointer = checkpointer
        self.store = store
        self.cache = cache
        self.debug = debug
        self.limits = limits
        self.limiters = Limiters(limits or {})
        self.config = config
        self.name = plan.name
        self.step_timeout: float | None = step_timeout  # LangGraph's per-superstep deadline, seconds
        if stream_mode is not None:
            self.stream_mode = stream_mode
        self.interrupt_before_nodes: All | list[str] = sorted(plan.interrupt_before)
        self.interrupt_after_nodes: All | list[str] = sorted(plan.interrupt_after)

    # -- Runnable plumbing -------------------------------------------------------------

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        base = name or self.name or "LangGraph"
        return f"{base}{suffix}" if suffix else base

    @property
    def nodes(self) -> dict[str, Any]:
        """The graph's nodes by name, each a Runnable of the node's action alone
        (:class:`~asyncgraph.pregel._read.PregelNode`)."""
        nodes = self.__dict__.get("_nodes")
        if nodes is None:
            from asyncgraph.pregel._read import PregelNode

            specs = self.builder.nodes if self.builder is not None else {}
            nodes = {
                name: PregelNode(plan, specs[name].call.func)
                for name, plan in self.plan.nodes.items()
                if name in specs
            }
            self.__dict__["_nodes"] = nodes
        return nodes

    @property
    def channels(self) -> Mapping[str, Any]:
        """The graph's channels by name (state keys, edge triggers, ``__pregel_tasks``):
        the plan's channel specs, read-only; a run works on copies."""
        return self.plan.channels

    @property
    def InputType(self) -> Any:  # noqa: N802
        return self.builder.input_schema

    @property
    def OutputType(self) -> Any:  # noqa: N802
        return self.builder.output_schema

    def with_config(
        self, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Pregel[StateT, ContextT, InputT, OutputT]:
        """A copy of this graph whose runs default to ``config`` (merged with kwargs)."""
        merged = merge_configs(self.config, config, kwargs)  # type: ignore[arg-type]
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.config = merged
        return clone

    def copy(self, update: dict[str, Any] | None = None) -> Pregel[StateT, ContextT, InputT, OutputT]:
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.__dict__.update(update or {})
        return clone

    def _cache_namespaces(self, nodes: Sequence[str] | None) -> list[tuple[str, ...]]:
        unknown = set(nodes or ()) - set(self.plan.nodes)
        if unknown:
            raise InvalidInputError(f"clear_cache: unknown node(s) {', '.join(sorted(unknown))}")
        return [
            namespace(node)
            for name, node in self.plan.nodes.items()
            if node.cache is not None and (nodes is None or name in nodes)
        ]

    def clear_cache(self, nodes: Sequence[str] | None = None) -> None:
        """Forget the cached results of ``nodes`` (default: every cached node)."""
        if self.cache is not None:
            self.cache.clear(self._cache_namespaces(nodes))

    async def aclear_cache(self, nodes: Sequence[str] | None = None) -> None:
        """Async twin of :meth:`clear_cache`."""
        if self.cache is not None:
            await self.cache.aclear(self._cache_namespaces(nodes))

    def get_graph(self, config: RunnableConfig | None = None, *, xray: int | bool = False) -> Any:
        """The graph's structure as a langchain-core ``Graph`` (``draw_mermaid()`` ...)."""
        return draw_graph(self, xray=xray)

    async def aget_graph(self, config: RunnableConfig | None = None, *, xray: int | bool = False) -> Any:
        """:meth:`get_graph` (drawing does no I/O: nothing to await)."""
        return draw_graph(self, xray=xray)

    # -- running -----------------------------------------------------------------------

    def _run_context(
        self,
        config: RunnableConfig | None,
        *,
        context: Any,
        durability: str | None,
        sink: StreamSink | None,
        output_keys: Any = None,
        control: Any = None,
        inline_sync: bool = False,
        sync_api: bool = False,
        messages: bool = False,
        tools: bool = False,
    ) -> RunContext:
        """The run's configuration, checked and decided once (see ``RunContext``).

        ``inline_sync``: the sync API drives the run, so a lone sync node may run on the
        loop's thread. ``sync_api``: started by the sync API (Runnable nodes run their sync
        path; also when a parent run or ``invoke`` says so). ``messages``: the run streams ``messages``, so a
        ``StreamMessagesHandler`` joins its callbacks.
        """
        if config is not None and not isinstance(config, dict):
            raise InvalidInputError(f"config must be a dict (RunnableConfig), got {type(config).__name__}")
        if self.config:
            config = merge_configs(self.config, config)
        cfg: dict[str, Any] = dict(config) if config else {}
        outer_cfg = var_child_runnable_config.get()
        if outer_cfg:
            # Invoked inside a running Runnable (a tool, a node): its metadata comes
            # along under the run's own, as langchain-core's ensure_config merges it
            # (LangChain's subagent projection names a nested agent by it).
            inherited = outer_cfg.get("metadata")
            if inherited:
                own = cfg.get("metadata")
                cfg["metadata"] = {**inherited, **own} if own else dict(inherited)
            # And its callbacks, unless the call brings its own: the graph's run nests
            # in the caller's trace, and a parent's ``messages`` stream sees the models
            # of a subgraph invoked inside a node (its handler filters by namespace).
            if cfg.get("callbacks") is None and outer_cfg.get("callbacks") is not None:
                cfg["callbacks"] = outer_cfg["callbacks"]
        conf = cfg.get(CONF)
        mc = cfg.get("max_concurrency")
        if mc is not None and not (isinstance(mc, int) and not isinstance(mc, bool) and mc > 0):
            raise InvalidInputError(f"config['max_concurrency'] must be a positive int, got {mc!r}")
        if conf is not None and not isinstance(conf, dict):
            raise InvalidInputError(
                f"config['configurable'] must be a dict, got {type(conf).__name__}: {conf!r}"
            )
        if durability is None:
            # A subgraph saves as its parent run does.
            outer = current_task.get()
            durability = outer.run.durability if outer is not None else "async"
        elif durability not in ("sync", "async", "exit"):
            raise InvalidInputError(f"durability must be 'sync', 'async' or 'exit', got {durability!r}")
        if output_keys is not None:
            out_select = self._output_selection(output_keys)
        elif self.plan.io is not None:  # a low-level graph's stream: its stream channels
            out_select = self.plan.io.stream
        elif self.plan.state_info.kind == "root":  # a root state: its value, bare
            out_select = ((ROOT_KEY,), True)
        else:
            out_select = None
        ctx = coerce_context(getattr(self.builder, "context_schema", None), context)
        store, cache, saver = self.store, self.cache, self.checkpointer
        parent = current_task.get()
        ns = ""
        ns_tuple: tuple[str, ...] = ()
        run_sink: Any = sink
        if parent is None:
            sync_api = sync_api or _sync_call.get()
        else:
            prun = parent.run
            sync_api = sync_api or prun.sync_api
            ns = child_namespace(parent.task_ns, parent.subgraph_calls, self.checkpointer is True)
            parent.subgraph_calls += 1
            ns_tuple = tuple(ns.split(NS_SEP))
            if sink is None and prun.sink is not None:
                # A subgraph streams into its parent's stream, when that asked for
                # subgraphs; otherwise it streams nothing, custom chunks included (as
                # LangGraph: tokens still reach a messages stream through callbacks).
                psink = prun.sink
                if psink.subgraphs:
                    run_sink = psink
            if saver is None or saver is True:
                saver = prun.saver
            if context is None:
                ctx = prun.context
            if store is None:
                store = prun.store
            if cache is None:
                cache = prun.cache
            if control is None:
                control = prun.control
            # Inherit the parent's thread for a subgraph's checkpoints.
            pconf = prun.config.get(CONF) or {}
            if saver is not None and "thread_id" in pconf and not (conf or {}).get("thread_id"):
                cfg[CONF] = {**(conf or {}), "thread_id": pconf["thread_id"], "checkpoint_ns": ns}
        if saver is False or saver is True:
            saver = None
        own_metadata = bool(cfg.get("metadata"))
        if parent is not None and saver is None:
            # A subgraph run's metadata names the namespace of the task that called it
            # (``checkpoint_ns``), as on LangGraph, where ensure_config copies it from the
            # calling node's config; with a saver its ``configurable`` already has it.
            # Not a reason to propagate config to the subgraph's nodes (``own_metadata``).
            md = cfg.get("metadata")
            if not md or "checkpoint_ns" not in md:
                cfg["metadata"] = {**md, "checkpoint_ns": ns} if md else {"checkpoint_ns": ns}
        if messages:
            assert sink is not None
            cfg = with_messages_handler(cfg, sink, len(ns_tuple))
        if tools:
            assert sink is not None
            cfg = with_tools_handler(cfg, sink, ns_tuple)
        if saver is not None:
            # Where the run's checkpoints are: its own namespace, and the checkpoint a
            # checkpoint_map names for it (pregel/_nested.py).
            cfg = address(parent, ns, cfg)
        # True until _arun replaces it with the run manager's child.
        callbacks = True if cfg.get("callbacks") or tracing_enabled() else None
        rc = RunContext(
            self, self.plan, cfg,
            propagate=bool(conf or cfg.get("tags") or own_metadata or callbacks),
            callbacks=callbacks,
            sink=run_sink,
            ns=ns,
            ns_tuple=ns_tuple,
            inline_sync=inline_sync,
            sync_api=sync_api,
            context=ctx,
            store=store,
            cache=cache,
            control=control,
            out_select=out_select,
            saver=saver,
            parent=parent,
            limits=self.limiters,
            durability=durability,
            run_id=cfg.get("run_id"),
            step_timeout=self.step_timeout,
            progress=loop_progress(),
        )
        if parent is not None:
            rc.progress.replay = parent.run.progress.replay  # one bound for the whole replay
        return rc

    async def _arun(
        self,
        rc: RunContext,
        input: Any,
        interrupt_before: All | Sequence[str] | None,
        interrupt_after: All | Sequence[str] | None,
        timeout: float | None = None,
    ) -> RunOutcome:
        before = self.plan.interrupt_before if interrupt_before is None else _nodes(self.plan, interrupt_before)
        after = self.plan.interrupt_after if interrupt_after is None else _nodes(self.plan, interrupt_after)
        if timeout is not None:
            return await _with_deadline(rc, timeout, self._arun(rc, input, interrupt_before, interrupt_after))
        if rc.callbacks is None:
            return await run_graph(rc, input, interrupt_before=before, interrupt_after=after)
        cfg = ensure_config(rc.config)  # type: ignore[arg-type]
        # LangGraph's run metadata: not the ``configurable`` entries ensure_config
        # copies (``model``): those are the chat model's own, in its own run.
        cfg["metadata"] = run_metadata(rc.config)
        cm = get_async_callback_manager_for_config(cfg)
        if "ls_integration" not in cm.metadata:
            cm.add_metadata({"ls_integration": "langgraph"})
        run_manager = await cm.on_chain_start(
            None, input, name=cfg.get("run_name") or self.get_name(), run_id=cfg.pop("run_id", None)
        )
        rc = rc.replace(run_manager=run_manager, callbacks=run_manager.get_child())
        try:
            outcome = await run_graph(rc, input, interrupt_before=before, interrupt_after=after)
        except GeneratorExit:
            # The run's coroutine was closed without being finished (its loop is gone, or
            # it is being garbage-collected): nothing can be awaited any more.
            raise
        except BaseException as exc:
            await run_manager.on_chain_error(exc)
            raise
        await run_manager.on_chain_end(self._output(outcome))
        return outcome

    def _output_selection(self, output_keys: str | Sequence[str]) -> tuple[tuple[str, ...], bool]:
        """``output_keys`` of a call: the keys, and whether one bare key was given (the
        output and ``values`` chunks are then that key's value, not a dict)."""
        single = isinstance(output_keys, str)
        keys = (output_keys,) if single else tuple(output_keys)  # type: ignore[arg-type]
        known = self.plan.state_keys
        unknown = [k for k in keys if k not in known]
        if unknown or not keys:
            raise InvalidInputError(
                f"output_keys names {', '.join(map(repr, unknown)) or 'no key'}, not a key of the "
                f"graph's state; its keys are: {', '.join(sorted(known))}"
            )
        return keys, single  # type: ignore[return-value]

    def _output(self, outcome: RunOutcome, rc: RunContext | None = None, *, v2: bool = False) -> Any:
        if outcome.paused and rc is not None and rc.parent is not None:
            # Inside a parent graph's task: the pause belongs to the parent run too.
            raise GraphInterrupt(outcome.interrupts)
        if self.plan.io is not None and rc is not None:
            return lowlevel_output(rc, outcome.run, outcome.interrupts, v2)
        if rc is None:
            out = output_values(self.plan, outcome.run)
        else:
            out = state_values(rc, outcome.run)
            if rc.out_select is not None and rc.out_select[1] and not v2:
                # One bare value (a root state, output_keys="key"): a pause shows as
                # LangGraph's {"__interrupt__": [...]} instead.
                return {INTERRUPT: list(outcome.interrupts)} if outcome.interrupts else out
        if v2:
            out_map = self._v2_mappers(rc, v2)[0] if rc is not None else None
            if out_map is not None:
                out = out_map(out)
            return GraphOutput(value=out, interrupts=tuple(outcome.interrupts))
        if outcome.interrupts and rc is not None:  # (tracers see the state alone)
            out[INTERRUPT] = list(outcome.interrupts)
        return out

    def _v2_mappers(self, rc: RunContext, v2: bool) -> tuple[Any, Any]:
        """How v2 output shows this graph's output and state (``v2_mapper``): as LangGraph
        does, instances of a Pydantic / dataclass output and state schema, unless the
        call selected its own ``output_keys`` or the graph is a low-level one."""
        plan = self.plan
        if not v2 or rc.out_select is not None or plan.io is not None:
            return None, None
        return v2_mapper(plan.output_info), v2_mapper(plan.state_info)

    async def ainvoke(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        context: Any = None,
        stream_mode: str = "values",
        print_mode: str | Sequence[str] = (),
        output_keys: Any = None,
        interrupt_before: All | Sequence[str] | None = None,
        interrupt_after: All | Sequence[str] | None = None,
        durability: str | None = None,
        timeout: float | None = None,
        version: str = "v1",
        control: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Run the graph and return its output state (a dict).

        If the run paused (``interrupt()``), the dict also holds ``"__interrupt__"``.
        With ``version="v2"`` the result is a :class:`~asyncgraph.types.GraphOutput`
        (``.value``, ``.interrupts``) instead.
        ``timeout`` (asyncgraph): seconds the whole run may take; past it the running
        nodes are cancelled and :class:`~asyncgraph.errors.GraphTimeoutError` raised.
        """
        v2 = _stream_version(version)
        if kwargs:
            durability = _extra_kwargs("ainvoke", kwargs, durability, self.plan.strict)
        if output_keys is None and self.plan.io is not None:
            output_keys = self.plan.io.output_channels  # a low-level graph's output
        if stream_mode != "values" or print_mode:
            chunks = [c async for c in self.astream(input, config, context=context, stream_mode=stream_mode,
                                                    print_mode=print_mode, output_keys=output_keys,
                                                    interrupt_before=interrupt_before, interrupt_after=interrupt_after,
                                                    durability=durability, timeout=timeout, version=version,
                                                    control=control)]
            if stream_mode != "values":
                return chunks
            # Printing needs the run's stream: the output is its last values chunk.
            return output_from_values_chunk(chunks[-1] if chunks else None, v2)
        rc = self._run_context(config, context=context, durability=durability, sink=None, output_keys=output_keys,
                               control=control)
        if rc.callbacks is None and interrupt_before is None and interrupt_after is None and timeout is None:
            # The common case without the _arun frame: an in-flight run keeps every
            # coroutine frame between its node and the loop alive, thousands at once.
            plan = self.plan
            running = run_graph(rc, input, interrupt_before=plan.interrupt_before,
                                interrupt_after=plan.interrupt_after)
            del input  # the loop applies it and lets it go; this frame need not hold it
            outcome = await running
        else:
            outcome = await self._arun(rc, input, interrupt_before, interrupt_after, timeout)
        return self._output(outcome, rc, v2=v2)

    def invoke(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        context: Any = None,
        stream_mode: str = "values",
        print_mode: str | Sequence[str] = (),
        output_keys: Any = None,
        interrupt_before: All | Sequence[str] | None = None,
        interrupt_after: All | Sequence[str] | None = None,
        durability: str | None = None,
        timeout: float | None = None,
        version: str = "v1",
        control: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Sync twin of :meth:`ainvoke` (a thin wrapper that drives it)."""
        v2 = _stream_version(version)
        if kwargs:
            durability = _extra_kwargs("invoke", kwargs, durability, self.plan.strict)
        if output_keys is None and self.plan.io is not None:
            output_keys = self.plan.io.output_channels  # a low-level graph's output

        async def go() -> Any:
            _sync_call.set(True)  # this task's context only: runs started here are sync-driven
            if stream_mode != "values" or print_mode:
                return await self.ainvoke(input, config, context=context, stream_mode=stream_mode,
                                          print_mode=print_mode, output_keys=output_keys,
                                          interrupt_before=interrupt_before, interrupt_after=interrupt_after,
                                          durability=durability, timeout=timeout, version=version,
                                          control=control)
            rc = self._run_context(config, context=context, durability=durability, sink=None,
                                   output_keys=output_keys, control=control, inline_sync=True)
            outcome = await self._arun(rc, input, interrupt_before, interrupt_after, timeout)
            return self._output(outcome, rc, v2=v2)

        return run_sync(go)

    # Mirrors LangGraph's astream: ``subgraphs: bool`` does not accept the ``None`` that
    # Runnable.astream's ``**kwargs: Any | None`` allows.
    async def astream(  # type: ignore[override]
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        context: Any = None,
        stream_mode: str | Sequence[str] | None = None,
        print_mode: str | Sequence[str] = (),
        output_keys: Any = None,
        interrupt_before: All | Sequence[str] | None = None,
        interrupt_after: All | Sequence[str] | None = None,
        durability: str | None = None,
        subgraphs: bool = False,
        debug: bool | None = None,
        timeout: float | None = None,
        version: str = "v1",
        control: Any = None,
        _inline_sync: bool = False,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        """Stream the run. See the README for chunk shapes per ``stream_mode``.

        With one mode, yields chunks; with a list of modes, ``(mode, chunk)``; with
        ``subgraphs=True``, the namespace tuple comes first. With ``version="v2"``
        every item is a dict ``{"type": mode, "ns": namespace, "data": chunk}``, and
        ``values`` items also carry ``"interrupts"`` (the pause's, else ``()``).
        ``print_mode``: modes whose chunks are also printed to stdout, for debugging;
        what is yielded does not change.
        """
        v2 = _stream_version(version)
        if kwargs:
            durability = _extra_kwargs("stream" if _inline_sync else "astream", kwargs, durability, self.plan.strict)
        modes, single = stream_modes(stream_mode if stream_mode is not None else self._default_stream_mode())
        if debug or self.debug:
            # As in LangGraph: the run's updates and values are printed; what is
            # yielded does not change.
            print_mode = ["updates", "values"]
        printing = frozenset(stream_modes(print_mode)[0]) if print_mode else frozenset()
        sink = StreamSink(frozenset(modes | printing), subgraphs, asyncio.get_running_loop())
        # A sync node run inline would hold the loop, so the reader could not take its
        # custom chunks or tokens until it returned: those streams run it in a thread.
        rc = self._run_context(config, context=context, durability=durability, sink=sink, output_keys=output_keys,
                               control=control, sync_api=_inline_sync,
                               inline_sync=_inline_sync and not ("custom" in sink.modes or "messages" in sink.modes),
                               messages="messages" in sink.modes, tools="tools" in sink.modes)
        run = self._arun(rc, input, interrupt_before, interrupt_after, timeout)
        shape = Shape(frozenset(modes), printing, single, subgraphs, v2, *self._v2_mappers(rc, v2))
        # Closed here when the reader leaves (not left to the loop's finalizer, which a
        # sync stream's loop may never run): that cancels the run and closes the sink.
        async with aclosing(consume(sink, run, shape, lambda outcome: self._after_stream(outcome, rc))) as items:
            async for item in items:
                yield item

    def _after_stream(self, outcome: RunOutcome, rc: RunContext) -> None:
        """A streamed subgraph run that paused: the pause is its parent run's too (its
        ``values`` chunks with the interrupt were streamed as it paused)."""
        if outcome.paused and rc.parent is not None:
            raise GraphInterrupt(outcome.interrupts)

    def stream(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Sync twin of :meth:`astream` (a thin wrapper that drives it)."""
        return iterate_sync(lambda: self.astream(input, config, _inline_sync=True, **kwargs))

    # v3 streaming lives in asyncgraph.stream, a layer over astream(); v1/v2 are Runnable's.
    stream_transformers: tuple[Any, ...] = ()  # compile(transformers=...)

    def stream_events(self, input: Any, config: RunnableConfig | None = None, *, version: str = "v2",
                      transformers: Sequence[Any] | None = None, **kwargs: Any) -> Any:
        """With ``version="v3"``, a :class:`~asyncgraph.stream.GraphRunStream`."""
        if version == "v3":
            from asyncgraph.stream._run import reject_owned_kwargs, stream_events_v3

            reject_owned_kwargs(kwargs)
            return stream_events_v3(self, input, config, transformers=transformers, **kwargs)
        return super().stream_events(input, config, version=version, **kwargs)  # type: ignore[call-overload]

    def astream_events(self, input: Any, config: RunnableConfig | None = None, *, version: str = "v2",
                       transformers: Sequence[Any] | None = None, **kwargs: Any) -> Any:
        """With ``version="v3"``, a coroutine giving an :class:`~asyncgraph.stream.AsyncGraphRunStream`."""
        if version == "v3":
            from asyncgraph.stream._run import astream_events_v3, reject_owned_kwargs

            reject_owned_kwargs(kwargs)
            return astream_events_v3(self, input, config, transformers=transformers, **kwargs)
        return super().astream_events(input, config, version=version, **kwargs)  # type: ignore[call-overload]

    def _default_stream_mode(self) -> str:
        return self.__dict__.get("stream_mode", "values")

    # -- schemas -------------------------------------------------------------------------

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        if isinstance(self.builder, LowLevelGraph):
            return self.builder.model(self.get_name("Input"), self.builder.input_channels)
        return super().get_input_schema(config)  # type: ignore[return-value]  # (pydantic v1 models too)

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        if isinstance(self.builder, LowLevelGraph):
            return self.builder.model(self.get_name("Output"), self.builder.output_channels)
        return super().get_output_schema(config)  # type: ignore[return-value]  # (pydantic v1 models too)

    def get_input_jsonschema(self, config: RunnableConfig | None = None) -> dict[str, Any]:
        info = self._schema_info("input_schema")
        if info is None:
            return super().get_input_jsonschema(config)
        return state_jsonschema(info, self.get_name("Input"))

    def get_output_jsonschema(self, config: RunnableConfig | None = None) -> dict[str, Any]:
        info = self._schema_info("output_schema")
        if info is None:
            return super().get_output_jsonschema(config)
        return state_jsonschema(info, self.get_name("Output"))

    def _schema_info(self, which: str) -> Any:
        """A StateGraph's lowered input or output schema (None for other graphs)."""
        schemas = getattr(self.builder, "schemas", None)
        schema = getattr(self.builder, which, None)
        if not isinstance(schemas, dict) or schema not in schemas or schema is dict:
            return None
        return schemas[schema]

    @property
    def context_schema(self) -> Any:
        """The type of ``invoke(..., context=...)`` the graph declares, or None."""
        return getattr(self.builder, "context_schema", None)

    def get_context_jsonschema(self) -> dict[str, Any] | None:
        """The JSON schema of the graph's ``context_schema``, or None without one."""
        return context_jsonschema(getattr(self.builder, "context_schema", None))

    def config_schema(self, *, include: Sequence[str] | None = None) -> type[BaseModel]:
        """Deprecated (warns): a Pydantic model of the config, whose ``configurable``
        field is the ``context_schema``. Use :meth:`get_context_jsonschema`."""
        warnings.warn(
            "`config_schema` is deprecated. Use `get_context_jsonschema` for the relevant schema instead.",
            LangGraphDeprecatedSinceV10,
            stacklevel=2,
        )
        return self._config_model(include)

    def get_config_jsonschema(self, *, include: Sequence[str] | None = None) -> dict[str, Any]:
        """Deprecated (warns): the JSON schema of :meth:`config_schema`'s model."""
        warnings.warn(
            "`get_config_jsonschema` is deprecated. Use `get_context_jsonschema` instead.",
            LangGraphDeprecatedSinceV10,
            stacklevel=2,
        )
        return self._config_model(include).model_json_schema()

    def _config_model(self, include: Sequence[str] | None) -> type[BaseModel]:
        hints = get_type_hints(RunnableConfig)
        fields: dict[str, Any] = {k: (hints[k], None) for k in include or () if k in hints and k != CONF}
        if self.context_schema is not None:
            fields[CONF] = (self.context_schema, None)
        return create_model(self.get_name("Config"), **fields)

    # -- state (persistence) -----------------------------------------------------------

    def get_state(self, config: RunnableConfig, *, subgraphs: bool = False) -> Any:
        return run_sync(lambda: _state.aget_state(self, config, subgraphs=subgraphs))

    async def aget_state(self, config: RunnableConfig, *, subgraphs: bool = False) -> Any:
        return await _state.aget_state(self, config, subgraphs=subgraphs)

    def get_subgraphs(self, *, namespace: str | None = None, recurse: bool = False) -> Iterator[tuple[str, Any]]:
        """The subgraphs added as nodes: ``(name, compiled graph)``; ``recurse`` adds
        theirs (named ``parent|child``); ``namespace`` selects one."""
        yield from _state.subgraphs_of(self, namespace, recurse)

    async def aget_subgraphs(self, *, namespace: str | None = None, recurse: bool = False) -> AsyncIterator[tuple[str, Any]]:
        for item in _state.subgraphs_of(self, namespace, recurse):
            yield item

    def get_state_history(self, config: RunnableConfig, *, filter: dict[str, Any] | None = None,
                          before: RunnableConfig | None = None, limit: int | None = None) -> Iterator[Any]:
        return iterate_sync(lambda: _state.aget_state_history(self, config, filter=filter, before=before, limit=limit))

    async def aget_state_history(self, config: RunnableConfig, *, filter: dict[str, Any] | None = None,
                                 before: RunnableConfig | None = None, limit: int | None = None) -> AsyncIterator[Any]:
        async for s in _state.aget_state_history(self, config, filter=filter, before=before, limit=limit):
            yield s

    def update_state(self, config: RunnableConfig, values: Any, as_node: str | None = None) -> RunnableConfig:
        return run_sync(lambda: _state.aupdate_state(self, config, values, as_node))

    async def aupdate_state(self, config: RunnableConfig, values: Any, as_node: str | None = None) -> RunnableConfig:
        return await _state.aupdate_state(self, config, values, as_node)

    def bulk_update_state(self, config: RunnableConfig, supersteps: Sequence[Sequence[StateUpdate]]) -> RunnableConfig:
        """Apply several updates: each superstep's updates (``StateUpdate(values,
        as_node)``) together, as one step's tasks, one checkpoint per superstep."""
        return run_sync(lambda: _state.abulk_update_state(self, config, supersteps))

    async def abulk_update_state(self, config: RunnableConfig, supersteps: Sequence[Sequence[StateUpdate]]) -> RunnableConfig:
        return await _state.abulk_update_state(self, config, supersteps)


async def _with_deadline(rc: RunContext, timeout: float, coro: Any) -> RunOutcome:
    """Run ``coro`` (a whole run) under a deadline; name what was running at expiry."""
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        coro.close()
        raise InvalidInputError(f"timeout must be a positive number of seconds, got {timeout!r}")
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            return await coro  # type: ignore[no-any-return]
    except TimeoutError:
        if not deadline.expired():
            raise  # a node's or a step's own timeout
        progress = rc.progress
        running = progress.left_running  # run_graph's loop closed with the deadline's cancellation
        raise GraphTimeoutError(timeout, step=progress.step, nodes=running) from None


class CompiledStateGraph(Pregel[StateT, ContextT, InputT, OutputT]):
    """What ``StateGraph.compile()`` returns."""

    def _default_stream_mode(self) -> str:
        return "updates"


# Keyword arguments LangGraph's invoke/stream also take, beyond the named ones.
_LANGGRAPH_EXTRAS = frozenset({"checkpoint_during", "debug", "subgraphs"})


def _extra_kwargs(method: str, kwargs: dict[str, Any], durability: str | None, strict: bool = False) -> str | None:
    """Check the keyword arguments a run method got beyond its named ones; returns the
    durability they imply.

    LangGraph ignores unknown ones, so a misspelled ``stream_mod=`` changes nothing,
    silently. Here they are ignored too, with a ``UserWarning`` naming them; a graph
    compiled with ``strict=True`` raises ``TypeError``. Of LangGraph's extras,
    ``checkpoint_during`` (deprecated there too) maps to ``durability``.
    """
    unknown = sorted(set(kwargs) - _LANGGRAPH_EXTRAS)
    if unknown:
        names = ", ".join(map(repr, unknown))
        if strict:
            raise TypeError(f"{method}() got unexpected keyword argument(s): {names}")
        warnings.warn(
            f"{method}() ignores unexpected keyword argument(s) {names}, as LangGraph does "
            "(a misspelling?); compile(strict=True) makes this a TypeError",
            stacklevel=3,
        )
    during = kwargs.get("checkpoint_during")
    if during is not None:
        _renamed("checkpoint_during", "durability", LangGraphDeprecatedSinceV10, stacklevel=4)
        if durability is None:
            return "async" if during else "exit"
    return durability


def _normalize_stream_transformer_factories(specs: Sequence[Any] | None) -> list[Any]:
    """LangGraph's private name for checking ``transformers=`` (used by its tests)."""
    from asyncgraph.stream._run import normalize_factories

    return normalize_factories(specs)


def _stream_version(version: str) -> bool:
    """Whether ``version`` asks for the v2 output shapes; anything else is an error."""
    if version == "v2":
        return True
    if version != "v1":
        raise InvalidInputError(f"version must be 'v1' or 'v2', got {version!r}")
    return False


def _nodes(plan: Plan, value: All | Sequence[str]) -> frozenset[str]:
    if value == "*":
        return frozenset(n for n in plan.nodes if n != START)
    names = frozenset(value)
    unknown = names - set(plan.nodes)
    if unknown:
        raise InvalidInputError(f"interrupt_before/after name unknown node(s): {', '.join(sorted(unknown))}")
    return names


__all__ = ["CompiledStateGraph", "Pregel", "GraphInterrupt"]
