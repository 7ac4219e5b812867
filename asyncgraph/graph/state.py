"""``StateGraph``: the builder. Pure: records nodes and edges, validates, compiles.

``compile()`` lowers the builder to an execution plan (``_compile.py``) and wraps it in
a :class:`CompiledStateGraph` (the engine's facade, loaded on first compile for import
time).
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from collections.abc import Callable, Hashable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from asyncgraph.channels.base import BaseChannel
from asyncgraph.constants import END, ERROR_HANDLER_PREFIX, NS_END, NS_SEP, RESERVED, START
from asyncgraph.channels.last_value import LastValue
from asyncgraph.errors import InvalidGraphError
from asyncgraph.graph._compile import compile_graph
from asyncgraph.graph._compile import validate as validate_graph
from asyncgraph.graph._fields import _get_channel, _get_node_name, _is_field_channel, _warn_invalid_state_schema  # noqa: F401  (LangGraph's private names)
from asyncgraph.pregel._schema import SchemaInfo, first_param_schema, lower_schema
from asyncgraph.pregel._spec import (
    BranchSpec,
    CallSpec,
    NodeSpec,
    classify,
    classify_path,
    command_destinations,
    infer_name,
    normalize_path_map,
)
from asyncgraph.managed import ManagedValue
from asyncgraph.types import All, CachePolicy, RetryPolicy, TimeoutPolicy, TracePolicy
from asyncgraph.warnings import LangGraphDeprecatedSinceV05, LangGraphDeprecatedSinceV10, _renamed

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable

    from asyncgraph.checkpoint.base import BaseCheckpointSaver
    from asyncgraph.pregel.main import CompiledStateGraph

__all__ = ["CompiledStateGraph", "StateGraph"]



@dataclasses.dataclass(slots=True)
class NodeDefaults:
    """What ``set_node_defaults()`` set: applied at ``compile()`` to every node that did
    not set its own (retry and timeout also to error handlers; cache and error handler
    to ordinary nodes only)."""

    retry_policy: tuple[RetryPolicy, ...] | None = None
    cache_policy: CachePolicy | None = None
    error_handler: CallSpec | None = None
    timeout: TimeoutPolicy | None = None

StateT = TypeVar("StateT")
ContextT = TypeVar("ContextT")
InputT = TypeVar("InputT")
OutputT = TypeVar("OutputT")


class StateGraph(Generic[StateT, ContextT, InputT, OutputT]):
    """A graph of nodes that read and write a shared state.

    Args:
        state_schema: TypedDict, dataclass or Pydantic model. ``Annotated[T, reducer]``
            keys combine writes with the reducer; other keys keep the last value.
        context_schema: type of the run-scoped context passed as ``context=`` and read
            through ``runtime.context``.
        input_schema: keys accepted as input (default: the state schema).
        output_schema: keys returned as output (default: the state schema).
    """

    def __init__(
        self,
        state_schema: type[StateT] | None = None,
        context_schema: type[ContextT] | None = None,
        *,
        input_schema: type[InputT] | None = None,
        output_schema: type[OutputT] | None = None,
        **kwargs: Any,
    ) -> None:
        # LangGraph's older spellings, still seen in the wild.
        if "config_schema" in kwargs:
            _renamed("config_schema", "context_schema", LangGraphDeprecatedSinceV10)
            context_schema = context_schema or kwargs.pop("config_schema")
        if "input" in kwargs:
            _renamed("input", "input_schema", LangGraphDeprecatedSinceV05)
            input_schema = input_schema or kwargs.pop("input")
        if "output" in kwargs:
            _renamed("output", "output_schema", LangGraphDeprecatedSinceV05)
            output_schema = output_schema or kwargs.pop("output")
        if kwargs:
            raise TypeError(f"StateGraph() got unexpected arguments: {', '.join(kwargs)}")
        if state_schema is None:
            if input_schema is None or output_schema is None:
                raise InvalidGraphError("StateGraph needs a state_schema")
            state_schema = input_schema  # type: ignore[assignment]
        self.nodes: dict[str, NodeSpec] = {}
        self.edges: set[tuple[str, str]] = set()
        self.waiting_edges: set[tuple[tuple[str, ...], str]] = set()
        self.branches: dict[str, dict[str, BranchSpec]] = {}
        self.channels: dict[str, BaseChannel[Any, Any]] = {}
        self.managed: dict[str, type[ManagedValue]] = {}
        self.schemas: dict[Any, SchemaInfo] = {}
        self.state_schema = state_schema
        self.context_schema = context_schema
        self.input_schema = input_schema or state_schema
        self.output_schema = output_schema or state_schema
        self.compiled = False
        self._edge_order: list[tuple[str, str]] = []
        self.node_defaults = NodeDefaults()
        for schema in (state_schema, self.input_schema, self.output_schema):
            self._add_schema(schema)

    # -- schemas ---------------------------------------------------------------------

    def _add_schema(self, schema: Any) -> SchemaInfo:
        if schema in self.schemas:
            return self.schemas[schema]
        info = lower_schema(schema)
        self.schemas[schema] = info
        for name, field in info.fields.items():
            if field.managed is not None:
                self.managed.setdefault(name, field.managed)
                continue
            assert field.channel is not None
            existing = self.channels.get(name)
            if existing is None:
                self.channels[name] = field.channel
            elif type(existing) is not type(field.channel) and not _is_plain_last_value(field.channel):
                if _is_plain_last_value(existing):
                    self.channels[name] = field.channel
                else:
                    raise InvalidGraphError(
                        f"State key '{name}' has conflicting channels in two schemas: "
                        f"{existing!r} and {field.channel!r}"
                    )
        return info

    # -- nodes -----------------------------------------------------------------------

    def add_node(
        self,
        node: str | Callable[..., Any] | Any,
        action: Callable[..., Any] | Any | None = None,
        *,
        defer: bool = False,
        metadata: dict[str, Any] | None = None,
        input_schema: type[Any] | None = None,
        retry_policy: RetryPolicy | Sequence[RetryPolicy] | None = None,
        cache_policy: CachePolicy | None = None,
        error_handler: Callable[..., Any] | Any | None = None,
        destinations: dict[str, str] | tuple[str, ...] | None = None,
        timeout: float | timedelta | TimeoutPolicy | None = None,
        limit: str | None = None,
        trace_policy: TracePolicy | None = None,
        **kwargs: Any,
    ) -> StateGraph[StateT, ContextT, InputT, OutputT]:
        """Add a node. ``add_node(fn)`` names it after the function.

        Args:
            node: the name, or the action itself (then its name is inferred).
            action: a sync or async function taking the state (optionally ``config``,
                ``writer``, ``runtime``), a langchain-core Runnable, or a compiled
                graph (a subgraph).
            retry_policy: retry the node on failure (see :class:`RetryPolicy`).
            error_handler: a function (or Runnable) that takes over when the node
                fails after its retries: it is called with the node's input (and, if it
                has a parameter ``error``, the :class:`~asyncgraph.errors.NodeError`), in
                the same step, and its return value (an update or a ``Command``) is
                written in the node's place. It runs as the node
                ``__error_handler__<name>``; the failed node's edges are not followed.
                If the handler fails too, the run fails. See the README.
            timeout: how long one attempt may take: seconds, a ``timedelta`` (both mean
                ``run_timeout``) or a :class:`~asyncgraph.types.TimeoutPolicy` (with an
                ``idle_timeout``). A late attempt is cancelled and
                :class:`~asyncgraph.errors.NodeTimeoutError` raised.
            limit: name of a concurrency limit shared across runs (see
                ``compile(limits=...)``); asyncgraph only.
            destinations: nodes a ``Command``-returning node may go to (for drawing).
            trace_policy: what the node's own trace run records
                (:class:`~asyncgraph.types.TracePolicy`: transform or omit its inputs and
                outputs); the value the node receives and returns is unchanged.

        Raises:
            InvalidGraphError: the name is taken or reserved (a state key of the same name is
                fine, as in LangGraph 1.x).
        """
        if "retry" in kwargs:
            _renamed("retry", "retry_policy", LangGraphDeprecatedSinceV05)
            retry_policy = retry_policy or kwargs.pop("retry")
        if "input" in kwargs:
            _renamed("input", "input_schema", LangGraphDeprecatedSinceV05)
            input_schema = input_schema or kwargs.pop("input")
        if kwargs:
            raise TypeError(f"add_node() got unexpected arguments: {', '.join(kwargs)}")
        if self.compiled:
            _warn_after_compile("add_node")
        if action is None:
            action = node
            name = infer_name(action)
        else:
            if not isinstance(node, str):
                raise TypeError(f"Node name must be a string, got {node!r}")
            name = node
        if name in self.nodes:
            raise InvalidGraphError(f"Node `{name}` already present.")
        if name in RESERVED:
            raise InvalidGraphError(f"Node `{name}` is reserved.")
        for ch in (NS_SEP, NS_END):
            if ch in name:
                raise InvalidGraphError(f"'{ch}' is a reserved character and is not allowed in node names ({name!r}).")
        if isinstance(action, dict):
            # A dict of Runnables / callables is langchain-core's RunnableParallel of
            # them, as LangGraph coerces it. Imported here: langchain-core is heavy to
            # import, and graphs without Runnables never need it.
            from langchain_core.runnables import RunnableParallel

            action = RunnableParallel(action)
        call = classify(action, what=f"Node '{name}'")
        if input_schema is None and call.kind in ("async", "sync"):
            inferred = first_param_schema(cast("Callable[..., Any]", action))  # classify() checked it
            if inferred is not None and inferred is not self.state_schema:
                input_schema = inferred
        if input_schema is not None:
            self._add_schema(input_schema)
        if isinstance(retry_policy, RetryPolicy):
            retry_policy = (retry_policy,)
        policy = _timeout_policy(timeout, f"Node '{name}'")
        handler_name: str | None = None
        if error_handler is not None:
            handler_name = ERROR_HANDLER_PREFIX + name
            if handler_name in self.nodes:
                raise InvalidGraphError(f"Node `{handler_name}` (the error handler of '{name}') already present.")
            self.nodes[handler_name] = NodeSpec.error_handler_node(
                handler_name, _handler_call(error_handler, f"The error_handler of node '{name}'"),
                input_schema or self.state_schema)
        labels: dict[str, str] | None = None
        if isinstance(destinations, dict):
            dests: tuple[str, ...] = tuple(destinations)
            labels = dict(destinations)
        elif destinations is not None:
            dests = tuple(destinations)
        elif call.kind in ("async", "sync"):
            dests = command_destinations(action)
        else:
            dests = ()
        self.nodes[name] = NodeSpec(
            name=name,
            call=call,
            input_schema=input_schema or self.state_schema,
            retry_policy=retry_policy,
            cache_policy=cache_policy,
            timeout=policy,
            metadata=metadata,
            defer=defer,
            destinations=dests,
            limit=limit,
            trace_policy=trace_policy,
            destination_labels=labels,
            error_handler=handler_name,
        )
        return self

    def set_node_defaults(
        self,
        *,
        retry_policy: RetryPolicy | Sequence[RetryPolicy] | None = None,
        cache_policy: CachePolicy | None = None,
        error_handler: Callable[..., Any] | Any | None = None,
        timeout: float | timedelta | TimeoutPolicy | None = None,
    ) -> StateGraph[StateT, ContextT, InputT, OutputT]:
        """Policies for every node that does not set its own; applied at ``compile()``,
        so the call may come before or after ``add_node``. Not inherited by subgraphs.

        ``retry_policy`` and ``timeout`` also apply to error handlers; ``cache_policy``
        and ``error_handler`` only to ordinary nodes (a handler never handles its own
        failure, nor another handler's: a failing handler fails the run). The default
        handler runs as the node ``__default_error_handler__``. An argument left None
        keeps what an earlier call set.

        Raises:
            InvalidGraphError: a value is invalid.
        """
        if self.compiled:
            _warn_after_compile("set_node_defaults")
        defaults = self.node_defaults
        if retry_policy is not None:
            defaults.retry_policy = (retry_policy,) if isinstance(retry_policy, RetryPolicy) else tuple(retry_policy)
        if cache_policy is not None:
            defaults.cache_policy = cache_policy
        if error_handler is not None:
            defaults.error_handler = _handler_call(error_handler, "The default error_handler (set_node_defaults)")
        if timeout is not None:
            defaults.timeout = _timeout_policy(timeout, "set_node_defaults()")
        return self

    def add_sequence(
        self, nodes: Sequence[Callable[..., Any] | tuple[str, Callable[..., Any]]]
    ) -> StateGraph[StateT, ContextT, InputT, OutputT]:
        """Add nodes chained by edges in the given order."""
        if not nodes:
            raise InvalidGraphError("add_sequence() needs at least one node")
        previous: str | None = None
        for item in nodes:
            if isinstance(item, tuple):
                name, action = item
            else:
                name, action = infer_name(item), item
            self.add_node(name, action)
            if previous is not None:
                self.add_edge(previous, name)
            previous = name
        return self

    # -- edges -----------------------------------------------------------------------

    def add_edge(
        self, start_key: str | list[str], end_key: str
    ) -> StateGraph[StateT, ContextT, InputT, OutputT]:
        """Run ``end_key`` after ``start_key``.

        With a list of start nodes, ``end_key`` waits until all of them have run.
        """
        if self.compiled:
            _warn_after_compile("add_edge")
        if isinstance(start_key, str):
            if start_key == END:
                raise InvalidGraphError("END cannot be a start node")
            if end_key == START:
                raise InvalidGraphError("START cannot be an end node")
            self.edges.add((start_key, end_key))
            self._edge_order.append((start_key, end_key))
            return self
        starts = tuple(start_key)
        if not starts:
            raise InvalidGraphError("add_edge() got an empty list of start nodes")
        for s in starts:
            if s == END:
                raise InvalidGraphError("END cannot be a start node")
        if end_key == START:
            raise InvalidGraphError("START cannot be an end node")
        if len(starts) == 1:
            return self.add_edge(starts[0], end_key)
        self.waiting_edges.add((starts, end_key))
        return self

    def add_conditional_edges(
        self,
        source: str,
        path: Callable[..., Hashable | Sequence[Hashable]] | Any,
        path_map: dict[Hashable, str] | list[str] | None = None,
    ) -> StateGraph[StateT, ContextT, InputT, OutputT]:
        """After ``source`` runs, call ``path`` on the state to choose what runs next.

        ``path`` returns a node name, ``END``, a :class:`~asyncgraph.types.Send`, or a
        list of these. With ``path_map``, its results are keys looked up in the map.
        """
        if self.compiled:
            _warn_after_compile("add_conditional_edges")
        if source == END:
            raise InvalidGraphError("END cannot be a start node")
        call = classify_path(path, what=f"The path of the conditional edge from '{source}'")
        name = getattr(path, "__name__", None) or "condition"
        if call.kind == "runnable" or call.func is not path:
            try:
                name = cast("Runnable[Any, Any]", path).get_name()
            except Exception:
                name = "condition"
        if name == "<lambda>":
            name = "condition"
        branches = self.branches.setdefault(source, {})
        if name in branches:
            raise InvalidGraphError(
                f"Branch with name `{name}` already exists for node `{source}`"
            )
        input_schema = None
        if call.kind in ("async", "sync") and call.func is path:
            # Also the state schema itself: an annotated path function gets no extra
            # keys of what the node returned (see ``_runner.branch_arg``).
            input_schema = first_param_schema(path)
            if input_schema is not None and input_schema is not self.state_schema:
                self._add_schema(input_schema)
        branches[name] = BranchSpec(name, call, normalize_path_map(path_map), input_schema)
        return self

    def set_entry_point(self, key: str) -> StateGraph[StateT, ContextT, InputT, OutputT]:
        """Same as ``add_edge(START, key)``."""
        return self.add_edge(START, key)

    def set_conditional_entry_point(
        self, path: Callable[..., Any], path_map: dict[Hashable, str] | list[str] | None = None
    ) -> StateGraph[StateT, ContextT, InputT, OutputT]:
        """Same as ``add_conditional_edges(START, path, path_map)``."""
        return self.add_conditional_edges(START, path, path_map)

    def set_finish_point(self, key: str) -> StateGraph[StateT, ContextT, InputT, OutputT]:
        """Same as ``add_edge(key, END)``."""
        return self.add_edge(key, END)

    # -- compile ---------------------------------------------------------------------

    def validate(self, interrupt: Sequence[str] | None = None) -> StateGraph[StateT, ContextT, InputT, OutputT]:
        """Check the graph is well formed; raises :class:`InvalidGraphError` if not."""
        validate_graph(self, interrupt)
        return self

    def compile(
        self,
        checkpointer: BaseCheckpointSaver | bool | None = None,
        *,
        cache: Any = None,
        store: Any = None,
        interrupt_before: All | list[str] | None = None,
        interrupt_after: All | list[str] | None = None,
        debug: bool = False,
        name: str | None = None,
        limits: dict[str, int] | None = None,
        transformers: Sequence[Any] | None = None,
        strict: bool = False,
    ) -> CompiledStateGraph:
        """Validate and return the runnable graph.

        Args:
            checkpointer: saver that gives threads memory; ``True`` inside a subgraph
                means "use the parent's", ``False`` disables inheriting it.
            interrupt_before / interrupt_after: node names (or ``"*"``) to pause at.
            cache: where nodes added with ``cache_policy=`` keep their results, e.g.
                ``asyncgraph.cache.memory.InMemoryCache()``; subgraphs use their
                parent's when they have none.
            name: the graph's name in traces and ``astream_events``.
            limits: asyncgraph only: ``{"limit name": max concurrent}`` for nodes added
                with ``limit=``; shared by every run of this compiled graph.
            transformers: stream transformer factories every ``stream_events(version="v3")``
                run of this graph registers (LangGraph's ``stream_transformers``).
            strict: asyncgraph only. By default, as in LangGraph, input keys the input
                schema does not declare and node writes to keys the state does not
                declare are dropped; asyncgraph also warns (``UndeclaredKeyWarning``,
                naming the node and key). ``strict=True`` makes them errors
                (``InvalidInputError`` / ``InvalidUpdateError``).
        """
        compiled = compile_graph(
            self,
            checkpointer=checkpointer,
            store=store,
            cache=cache,
            interrupt_before=interrupt_before,
            interrupt_after=interrupt_after,
            debug=debug,
            name=name,
            limits=limits,
            strict=strict,
        )
        if transformers:
            from asyncgraph.stream._run import normalize_factories

            compiled.stream_transformers = tuple(normalize_factories(transformers))
        return compiled


def _timeout_policy(value: Any, who: str) -> TimeoutPolicy | None:
    """``timeout=`` as a TimeoutPolicy; a bad value is an error naming ``who``."""
    try:
        return TimeoutPolicy.coerce(value)
    except (TypeError, ValueError) as exc:
        raise InvalidGraphError(f"{who}: {exc}") from None


def _handler_call(handler: Any, what: str) -> CallSpec:
    """Classify an error handler; its signature must be ``(state)`` plus parameters the
    engine fills (``error``, ``config``, ``runtime``, ``writer``, ``store``)."""
    call = classify(handler, what=what, error_handler=True)
    if call.kind not in ("sync", "async"):
        return call
    try:
        params = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError):
        return call
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not positional and not any(p.kind is p.VAR_POSITIONAL for p in params):
        raise TypeError(f"{what} must take the state as its first parameter: {handler!r} takes none")
    for i, p in enumerate(params[1:], 1):
        if p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name in call.inject or (i == 1 and call.config_positional):
            continue
        raise TypeError(
            f"{what} has a required parameter {p.name!r} the engine cannot fill: a handler "
            "takes the state, then optionally error (the NodeError), config, runtime, "
            "writer or store"
        )
    return call


def _is_plain_last_value(channel: BaseChannel[Any, Any]) -> bool:
    return type(channel) is LastValue


def __getattr__(name: str) -> Any:
    # CompiledStateGraph lives with the engine, which imports langchain-core's Runnable
    # machinery; load it only when asked for (for import time).
    if name == "CompiledStateGraph":
        from asyncgraph.pregel.main import CompiledStateGraph

        return CompiledStateGraph
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _warn_after_compile(method: str) -> None:
    """A builder changed after ``compile()``: allowed, as in LangGraph (compiling again
    picks the change up), but graphs compiled before do not see it, so say so."""
    warnings.warn(
        f"{method}() on a StateGraph that was already compiled: graphs compiled before are "
        "unchanged; call compile() again to include this change",
        stacklevel=3,
    )
