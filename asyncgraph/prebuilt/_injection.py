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
from collections.abc import Mapping
from typing import Any, Generic, TypeVar, get_args, get_origin

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, InjectedToolArg

# langchain-core recognises "directly injected" parameter types (excluded from the model's
# schema without an ``Annotated`` wrapper) by this base class; it has no public name.
from langchain_core.tools.base import (
    _DirectlyInjectedToolArg,
    get_all_basemodel_annotations,
)

from asyncgraph.types import StreamWriter

__all__ = ["InjectedState", "InjectedStore", "ToolRuntime", "ToolSpec", "analyze_tool"]

StateT = TypeVar("StateT")
ContextT = TypeVar("ContextT")


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

    Attributes:
        state: the graph state as the tools node sees it.
        context: the run's context (``invoke(..., context=...)``).
        config: the langchain-core config the tool runs with.
        stream_writer: emits ``stream_mode="custom"`` chunks.
        tool_call_id: id of the tool call being answered.
        store: the graph's store, or ``None``.
        tools: every tool of the ``ToolNode`` running this call.
    """

    state: StateT
    context: ContextT
    config: RunnableConfig
    stream_writer: StreamWriter
    tool_call_id: str | None
    store: Any
    tools: list[BaseTool] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool and what the tools node must inject into its calls. Built once per tool.

    Attributes:
        tool: the tool.
        state_args: ``(parameter, state key or None for the whole state)`` pairs.
        store_args: parameters that receive the store.
        runtime_args: parameters that receive a :class:`ToolRuntime`.
        hidden: every injected parameter name (also ``InjectedToolCallId`` ones): left out
            of the arguments quoted back to the model in error messages.
        schema_title: the title of the tool's argument model; a pydantic
            ``ValidationError`` with this title means the model sent bad arguments.
        return_direct: the agent stops after this tool answers.
    """

    tool: BaseTool
    state_args: tuple[tuple[str, str | None], ...]
    store_args: tuple[str, ...]
    runtime_args: tuple[str, ...]
    hidden: frozenset[str]
    schema_title: str | None
    return_direct: bool

    @property
    def injects(self) -> bool:
        return bool(self.state_args or self.store_args or self.runtime_args)


def _is_runtime_type(tp: Any) -> bool:
    cls = get_origin(tp) or tp
    return isinstance(cls, type) and issubclass(cls, ToolRuntime)


def analyze_tool(tool: BaseTool) -> ToolSpec:
    """Find the injected parameters of ``tool``."""
    state_args: list[tuple[str, str | None]] = []
    store_args: list[str] = []
    runtime_args: list[str] = []
    hidden: set[str] = set()
    schema = tool.args_schema
    title: str | None = None
    if schema is not None and not isinstance(schema, Mapping):
        title = getattr(schema, "__name__", None)
        for name, tp in get_all_basemodel_annotations(tool.get_input_schema()).items():
            if _is_runtime_type(tp):
                runtime_args.append(name)
                hidden.add(name)
                continue
            for meta in get_args(tp)[1:]:
                if meta is InjectedState:
                    state_args.append((name, None))
                elif isinstance(meta, InjectedState):
                    state_args.append((name, meta.field))
                elif meta is InjectedStore or isinstance(meta, InjectedStore):
                    store_args.append(name)
                elif not (
                    isinstance(meta, InjectedToolArg)
                    or (isinstance(meta, type) and issubclass(meta, InjectedToolArg))
                ):
                    continue
                hidden.add(name)
                break
    return ToolSpec(
        tool=tool,
        state_args=tuple(state_args),
        store_args=tuple(store_args),
        runtime_args=tuple(runtime_args),
        hidden=frozenset(hidden),
        schema_title=title,
        return_direct=bool(getattr(tool, "return_direct", False)),
    )


def state_value(state: Any, key: str | None, tool_name: str) -> Any:
    """The injected value for ``InjectedState(key)`` from the state the node received.

    Raises:
        KeyError: the state has no ``key`` (message names the tool).
    """
    if key is None:
        return state
    if isinstance(state, Mapping):
        try:
            return state[key]
        except KeyError:
            raise KeyError(
                f"Tool '{tool_name}' asks for state key {key!r} (InjectedState), but the state "
                f"has only: {', '.join(map(repr, state))}"
            ) from None
    try:
        return getattr(state, key)
    except AttributeError:
        raise KeyError(
            f"Tool '{tool_name}' asks for state key {key!r} (InjectedState), but the state "
            f"{type(state).__name__} has no such field"
        ) from None
