"""Arguments a tool receives from the graph instead of from the model.

A tool parameter annotated ``Annotated[dict, InjectedState]`` (or
``InjectedState("key")``), ``Annotated[Any, InjectedStore()]`` or typed ``ToolRuntime`` is
hidden from the schema the model sees (langchain-core excludes ``InjectedToolArg``
subclasses) and filled in by :class:`~asyncgraph.prebuilt.ToolNode` when the tool runs.
``InjectedToolCallId`` (langchain-core's own) is filled in by langchain-core itself.

Which parameters of which tool are injected is worked out once, when the ``ToolNode`` is
built (:func:`analyze_tool`), so running a tool never inspects its signature.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Generic, Union, get_args, get_origin

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, InjectedToolArg

# langchain-core recognises "directly injected" parameter types (excluded from the model's
# schema without an ``Annotated`` wrapper) by this base class; it has no public name.
from langchain_core.tools.base import (
    _DirectlyInjectedToolArg,
    _is_injected_arg_type,
    get_all_basemodel_annotations,
)
from typing_extensions import TypeVar

from asyncgraph.pregel._tools import _tool_call_writer
from asyncgraph.runtime import ExecutionInfo, ServerInfo
from asyncgraph.types import StreamWriter

__all__ = ["InjectedState", "InjectedStore", "ToolRuntime", "ToolSpec", "analyze_tool"]

# Defaulted, so ``ToolRuntime[MyContext]`` works as in LangGraph (typing_extensions: 3.11
# has no TypeVar defaults). LangGraph's defaults are ``dict`` and ``None``; a bare
# ``ToolRuntime`` parameter then makes pydantic warn ("Expected `none`") whenever the run
# has a context, because langchain-core dumps the tool's validated arguments. ``Any``
# keeps that quiet.
StateT = TypeVar("StateT", default=Any)
ContextT = TypeVar("ContextT", default=Any)


class InjectedState(InjectedToolArg):
    """Marks a tool parameter that receives the graph state (hidden from the model).

    ``Annotated[dict, InjectedState]`` receives the whole state as the tools node sees
    it (a dict, or the state object for dataclass / Pydantic schemas);
    ``Annotated[list, InjectedState("messages")]`` receives one key of it.

    Args:
        field: the state key to inject; ``None`` for the whole state.
    """

    def __init__(self, field: str | None = None) -> None:
        self.field = field

    def __repr__(self) -> str:
        return f"InjectedState({self.field!r})" if self.field else "InjectedState()"


class InjectedStore(InjectedToolArg):
    """Marks a tool parameter that receives the graph's store (``compile(store=...)``).

    The parameter gets ``None`` when the graph has no store.
    """


@dataclasses.dataclass(slots=True)
class ToolRuntime(_DirectlyInjectedToolArg, Generic[ContextT, StateT]):
    """What a tool parameter typed ``ToolRuntime`` receives (hidden from the model).

    A parameter named ``runtime`` receives it too, whatever its annotation.

    Attributes:
        state: the graph state as the tools node sees it.
        context: the run's context (``invoke(..., context=...)``).
        config: the langchain-core config the tool runs with.
        stream_writer: emits ``stream_mode="custom"`` chunks.
        tool_call_id: id of the tool call being answered.
        store: the graph's store, or ``None``.
        tools: every tool of the ``ToolNode`` running this call.
        execution_info: the tools task's :class:`~asyncgraph.runtime.ExecutionInfo`.
        server_info: :class:`~asyncgraph.runtime.ServerInfo`, or None.
    """

    state: StateT
    context: ContextT
    config: RunnableConfig
    stream_writer: StreamWriter
    tool_call_id: str | None
    store: Any
    tools: list[BaseTool] = dataclasses.field(default_factory=list)
    execution_info: ExecutionInfo | None = None
    server_info: ServerInfo | None = None

    def emit_output_delta(self, delta: Any) -> None:
        """Stream a partial output of this call as a ``tool-output-delta`` event of the
        ``tools`` stream mode; nothing when nobody streams ``tools``."""
        writer = _tool_call_writer.get()
        if writer is not None:
            writer(delta)


@dataclasses.dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool and what the tools node must inject into its calls. Built once per tool.

    Attributes:
        tool: the tool.
        state_args: ``(parameter, state key or None for the whole state)`` pairs.
        optional_state: state parameters with a default: left out (so the default
            applies) when the state lacks their key.
        store_args: parameters that receive the store.
        runtime_args: parameters that receive a :class:`ToolRuntime`.
        hidden: every injected parameter name (also ``InjectedToolCallId`` ones): values
            the model sends for them are dropped, and they are left out of the errors
            quoted back to the model.
        schema_title: the title of the tool's argument model; a pydantic
            ``ValidationError`` with this title means the model sent bad arguments.
        return_direct: the agent stops after this tool answers.
    """

    tool: BaseTool
    state_args: tuple[tuple[str, str | None], ...]
    optional_state: frozenset[str]
    store_args: tuple[str, ...]
    runtime_args: tuple[str, ...]
    hidden: frozenset[str]
    schema_title: str | None
    return_direct: bool

    @property
    def injects(self) -> bool:
        return bool(self.state_args or self.store_args or self.runtime_args or self.hidden)


def _find(tp: Any, kind: type) -> Any:
    """The ``kind`` marker (instance or class) in annotation ``tp``, looking through
    ``Annotated`` and unions, or None."""
    if isinstance(tp, kind) or (isinstance(tp, type) and issubclass(tp, kind)):
        return tp
    origin = get_origin(tp)
    if origin is not None and isinstance(origin, type) and issubclass(origin, kind):
        return origin
    if origin is Annotated or origin is Union or origin is types.UnionType:
        for arg in get_args(tp):
            found = _find(arg, kind)
            if found is not None:
                return found
    return None


def analyze_tool(tool: BaseTool) -> ToolSpec:
    """Find the injected parameters of ``tool``, from its argument schema and, for a
    tool made from a function, the function's annotations."""
    state_args: list[tuple[str, str | None]] = []
    optional: set[str] = set()
    store_args: list[str] = []
    runtime_args: list[str] = []
    hidden: set[str] = set()
    schema = tool.args_schema
    title: str | None = None
    if schema is not None and not isinstance(schema, Mapping):
        title = getattr(schema, "__name__", None)
    full_schema = tool.get_input_schema()
    annotations: dict[str, Any] = {}
    func = getattr(tool, "func", None) or getattr(tool, "coroutine", None)
    if func is not None:
        try:
            annotations.update(typing.get_type_hints(func, include_extras=True))
        except Exception:  # noqa: BLE001  (unresolvable hints: the schema still tells)
            pass
        annotations.pop("return", None)
    annotations.update(get_all_basemodel_annotations(full_schema))
    fields = getattr(full_schema, "model_fields", {})
    for name, tp in annotations.items():
        if _is_injected_arg_type(tp):
            hidden.add(name)
        if name == "runtime" or _find(tp, ToolRuntime) is not None:
            runtime_args.append(name)
            hidden.add(name)
            continue
        state = _find(tp, InjectedState)
        if state is not None:
            key = state.field if isinstance(state, InjectedState) else None
            state_args.append((name, key))
            hidden.add(name)
            info = fields.get(name)
            if key and info is not None and not info.is_required():
                optional.add(name)
        elif _find(tp, InjectedStore) is not None:
            store_args.append(name)
            hidden.add(name)
    return ToolSpec(
        tool=tool,
        state_args=tuple(state_args),
        optional_state=frozenset(optional),
        store_args=tuple(store_args),
        runtime_args=tuple(runtime_args),
        hidden=frozenset(hidden),
        schema_title=title,
        return_direct=bool(getattr(tool, "return_direct", False)),
    )
