"""What the builder records about nodes and conditional edges. Pure data, no I/O.

A callable is classified once, when it is added, so the engine never inspects
signatures while running.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import sys
import types
import typing
import warnings
from collections.abc import Hashable, Sequence
from typing import Any, Literal, get_args, get_origin

from asyncgraph.constants import END
from asyncgraph.pregel._protocol import is_pregel
from asyncgraph.types import CachePolicy, Command, RetryPolicy, TimeoutPolicy, TracePolicy

CallKind = Literal["async", "sync", "runnable", "subgraph"]

# Keyword arguments a node or path function may declare to receive run context.
_INJECTABLE = ("config", "writer", "runtime", "store")
# An error handler's ``error`` parameter receives the NodeError it handles (any other
# node gets it only when annotated ``NodeError``, and then receives None).
ERROR_PARAM = "error"


@dataclasses.dataclass(frozen=True, slots=True)
class CallSpec:
    """How to call a user callable: its kind and which context arguments it takes."""

    func: Any
    kind: CallKind
    inject: tuple[str, ...]  # names from _INJECTABLE (and ERROR_PARAM), passed as keywords
    config_positional: bool  # takes (state, config) with config second and unnamed
    # A plain function called with the state alone (nothing injected): the engine
    # calls these directly, without building a config for them.
    bare: bool = dataclasses.field(init=False)
    # An async function of the state alone that the engine's fast paths await (see
    # NodePlan.fast): ``func`` itself when that is a bare async function, or what a
    # Runnable offers through ``engine_node()`` (asyncgraph's RunnableCallable, as
    # LangChain's create_agent makes its nodes), which fetches config and runtime from
    # the running task. None: the node goes through the runner's general path.
    entry: Any = None

    def __post_init__(self) -> None:
        bare = self.kind in ("async", "sync") and not self.inject and not self.config_positional
        object.__setattr__(self, "bare", bare)
        if bare and self.kind == "async":
            object.__setattr__(self, "entry", self.func)

    @property
    def wants_config(self) -> bool:
        return self.config_positional or "config" in self.inject


def _is_runnable(obj: Any) -> bool:
    # Only consult langchain-core if it is already loaded: an object cannot be a
    # Runnable otherwise, and importing it here would cost ~0.5 s of import time.
    mod = sys.modules.get("langchain_core.runnables.base")
    return mod is not None and isinstance(obj, mod.Runnable)


def _is_async_callable(fn: Any) -> bool:
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004  (callable objects)
    return call is not None and not inspect.isfunction(fn) and inspect.iscoroutinefunction(call)


def classify(func: Any, *, what: str, error_handler: bool = False) -> CallSpec:
    """Classify a node action or path function.

    ``error_handler``: ``func`` handles another node's failure, so a parameter named
    ``error`` receives the :class:`~asyncgraph.errors.NodeError` whatever its annotation.

    Raises:
        TypeError: ``func`` is neither callable nor a Runnable (message names ``what``).
    """
    if is_pregel(func):
        return CallSpec(func, "subgraph", (), False)
    if _is_runnable(func):
        offer = getattr(type(func), "engine_node", None)
        return CallSpec(func, "runnable", (), False, entry=offer(func) if offer is not None else None)
    if not callable(func):
        raise TypeError(f"{what} must be a callable or a Runnable, got {func!r}")
    kind: CallKind = "async" if _is_async_callable(func) else "sync"
    inject: list[str] = []
    config_positional = False
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        params = []
    for i, p in enumerate(params):
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name == ERROR_PARAM and i > 0 and (error_handler or _is_node_error(p.annotation)):
            inject.append(p.name)
        elif p.name in _INJECTABLE and i > 0:
            if p.name == "config" and not _is_config_annotation(p.annotation):
                warnings.warn(
                    "The 'config' parameter should be typed as 'RunnableConfig' or "
                    f"'RunnableConfig | None', not '{p.annotation}'. ({what}: it still "
                    "receives the config.)",
                    UserWarning,
                    stacklevel=3,
                )
            if p.name == "config" and i == 1 and p.kind is not p.KEYWORD_ONLY:
                config_positional = True
            else:
                inject.append(p.name)
        elif i == 1 and p.default is p.empty and p.kind is not p.KEYWORD_ONLY:
            # (state, cfg): a required second positional parameter gets the config.
            config_positional = True
    return CallSpec(func, kind, tuple(inject), config_positional)


def _is_config_annotation(annotation: Any) -> bool:
    """Whether a ``config`` parameter's annotation is ``RunnableConfig`` (or optional),
    or absent. String annotations (``from __future__ import annotations``) count by name."""
    if annotation is inspect.Parameter.empty:
        return True
    if isinstance(annotation, str):
        bare = re.sub(r"[\w.]*\.", "", annotation.replace(" ", "").replace("'", "").replace('"', ""))
        return bare in ("RunnableConfig", "Optional[RunnableConfig]", "RunnableConfig|None", "None|RunnableConfig")
    args = get_args(annotation) if get_origin(annotation) in (typing.Union, types.UnionType) else (annotation,)
    names = [getattr(a, "__name__", None) for a in args if a is not type(None)]
    return names == ["RunnableConfig"]


def _is_node_error(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return annotation.rsplit(".", 1)[-1] in ("NodeError", "NodeError | None", "Optional[NodeError]")
    return getattr(annotation, "__name__", None) == "NodeError" and "errors" in getattr(annotation, "__module__", "")


_SYNC_TIMEOUT = (
    "Node timeouts are only supported for async nodes: a sync function runs in a thread, "
    "which cannot be cancelled."
)


def sync_timeout_unsupported(name: str, *, kind: Literal["Node", "Task"] = "Node") -> ValueError:
    """The error for ``timeout=`` on the sync node or task ``name`` (LangGraph's words)."""
    return ValueError(f"{_SYNC_TIMEOUT} {kind} {name!r} is sync.")


def is_sync_target(func: Any) -> bool:
    """Whether ``func`` (a node's callable or Runnable) can only run synchronously: a
    plain sync function, or a Runnable made of sync functions only (a
    ``RunnableLambda`` or ``RunnableCallable`` without an async function). Other
    Runnables may have an async path and a subgraph is async: neither is refused."""
    if is_pregel(func):
        return False
    if _is_runnable(func):
        parts = _runnable_parts(func)
        if parts is not None:  # a composite: sync if any part is
            return any(is_sync_target(p) for p in parts)
        if not hasattr(func, "func"):
            return False
        afunc = getattr(func, "afunc", None)  # RunnableLambda: absent when sync-only
        return afunc is None and not _is_async_callable(func.func)
    return callable(func) and not _is_async_callable(func)


def _runnable_parts(runnable: Any) -> Sequence[Any] | None:
    """The Runnables a langchain-core composite runs (a ``with_config`` binding, a
    sequence, a parallel map), or None for a leaf."""
    bound = getattr(runnable, "bound", None)
    if bound is not None and _is_runnable(bound):
        return (bound,)
    steps = getattr(runnable, "steps__", None)  # RunnableParallel
    if isinstance(steps, dict):
        return tuple(steps.values())
    steps = getattr(runnable, "steps", None)  # RunnableSequence
    if isinstance(steps, list):
        return tuple(steps)
    return None


def classify_path(func: Any, *, what: str) -> CallSpec:
    """Classify a conditional edge's path function (see :func:`classify`).

    A Runnable with only a sync path, LangGraph's ``RunnableCallable(fn)`` (how
    LangChain's ``create_agent`` builds its edges), is called through its sync
    ``invoke`` on the event loop's thread, like any sync path function here and like
    LangGraph's routing: its ``ainvoke`` would hop to a worker thread on every step.
    """
    call = classify(func, what=what)
    if call.kind == "runnable" and getattr(func, "afunc", True) is None and getattr(func, "func", None) is not None:
        # A path of the state alone when the Runnable offers one (a RunnableCallable
        # needing nothing from the run): called directly, like a plain sync function.
        offer = getattr(type(func), "engine_path", None)
        bare = offer(func) if offer is not None else None
        if bare is None:
            invoke = func.invoke

            def path(state: Any, config: Any) -> Any:
                return invoke(state, config)
        else:
            path = bare
        try:  # for drawing: the targets a ``-> Literal[...]`` annotation declares
            path.__annotations__ = {"return": typing.get_type_hints(func.func).get("return", Any)}
        except Exception:  # noqa: BLE001  (an unresolvable annotation only costs the drawing)
            pass
        return CallSpec(path, "sync", (), bare is None)
    return call


def infer_name(action: Any) -> str:
    """A node's name from its action: the function's or Runnable's name."""
    if _is_runnable(action) or hasattr(action, "get_name"):
        try:
            return str(action.get_name())
        except Exception:
            pass
    name = getattr(action, "__name__", None)
    if isinstance(name, str):
        return name
    if callable(action):  # a callable object: its class's name, as LangGraph names it
        return type(action).__name__
    raise ValueError(
        f"Cannot infer a node name from {action!r}; pass it: add_node('name', action)"
    )


@dataclasses.dataclass(slots=True)
class NodeSpec:
    """A node as the user declared it."""

    name: str
    call: CallSpec
    input_schema: Any
    retry_policy: Sequence[RetryPolicy] | None
    cache_policy: CachePolicy | None
    timeout: TimeoutPolicy | None
    metadata: dict[str, Any] | None
    defer: bool
    destinations: tuple[str, ...]  # from Command[Literal[...]] or destinations=
    limit: str | None  # named concurrency limit (see Pregel.limits)
    trace_policy: TracePolicy | None = None  # what the node's own trace run records
    # The node (``__error_handler__<name>``) that takes over when this node fails.
    error_handler: str | None = None
    is_error_handler: bool = False  # this node is some node's error handler
    # ``destinations={"node": "label"}``: the labels its drawn edges carry.
    destination_labels: dict[str, str] | None = None

    @classmethod
    def error_handler_node(cls, name: str, call: CallSpec, input_schema: Any) -> NodeSpec:
        """The node an error handler runs as: no retries, cache, timeout or limit."""
        return cls(name=name, call=call, input_schema=input_schema, retry_policy=None, cache_policy=None,
                   timeout=None, metadata=None, defer=False, destinations=(), limit=None, is_error_handler=True)

    @property
    def runnable(self) -> Any:
        """The node's action as a Runnable (LangGraph's ``StateNodeSpec.runnable``):
        a Runnable or subgraph as given, a function as a ``RunnableLambda`` whose
        ``func`` (sync) or ``afunc`` (async) is that function. The engine does not
        call it (it calls the function itself)."""
        # langchain-core loads only when asked (import time of the builder).
        from langchain_core.runnables import RunnableLambda

        func = self.call.func
        if self.call.kind in ("runnable", "subgraph"):
            return func
        return RunnableLambda(func, name=self.name)


@dataclasses.dataclass(slots=True)
class BranchSpec:
    """A conditional edge: a path function and an optional map of its results."""

    name: str
    call: CallSpec
    path_map: dict[Hashable, str] | None
    # The schema annotated on the path function's first parameter: the function sees
    # those keys only, as that type.
    input_schema: Any = None


def command_destinations(func: Any) -> tuple[str, ...]:
    """Destinations declared by a ``-> Command[Literal["a", "b"]]`` return annotation
    (also as one member of a ``typing.Union``), as LangGraph reads them: other
    annotations declare none."""
    target = func
    call = getattr(func, "__call__", None)  # noqa: B004  (a callable object: its method)
    if not inspect.isfunction(func) and not inspect.ismethod(func):
        if not inspect.ismethod(call):
            return ()
        target = call
    try:
        ret = typing.get_type_hints(target).get("return")
    except Exception:  # noqa: BLE001  (an unresolvable annotation declares nothing)
        return ()
    if get_origin(ret) is typing.Union:
        ret = next((a for a in get_args(ret) if get_origin(a) is Command), None)
    if ret is None or get_origin(ret) is not Command:
        return ()
    args = get_args(ret)
    if not args or get_origin(args[0]) is not Literal:
        return ()
    return tuple(str(d) for d in get_args(args[0]))


def normalize_path_map(path_map: Any) -> dict[Hashable, str] | None:
    if path_map is None:
        return None
    if isinstance(path_map, dict):
        return {k: (END if v is None else v) for k, v in path_map.items()}
    if isinstance(path_map, (list, tuple, set, frozenset)):
        return {name: name for name in path_map}
    raise TypeError(f"path_map must be a dict or a list of node names, got {path_map!r}")
