"""Tool-call interceptors: ``ToolNode(wrap_tool_call=..., awrap_tool_call=...)``.

An interceptor receives a :class:`ToolCallRequest` and an ``execute`` callable, and
returns the call's answer (a ``ToolMessage`` or a ``Command``). It may change the
request (``request.override(...)``), call ``execute`` several times (retries), or not
at all (a cached or refused answer).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from langchain_core.messages import ToolCall, ToolMessage
from langchain_core.tools import BaseTool

from asyncgraph.prebuilt._injection import ToolRuntime
from asyncgraph.types import Command

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["AsyncToolCallWrapper", "ToolCallRequest", "ToolCallWithContext", "ToolCallWrapper"]


class _ToolCallRequestOverrides(TypedDict, total=False):
    tool_call: ToolCall
    tool: BaseTool
    state: Any


@dataclasses.dataclass
class ToolCallRequest:
    """One tool call, as an interceptor sees it.

    Attributes:
        tool_call: the call (``name``, ``args``, ``id``) the model made.
        tool: the tool that will run, or None when the node has no tool of that name
            (an interceptor may answer such a call itself; ``execute`` answers it with
            an error message).
        state: the graph state the call was made in.
        runtime: the :class:`ToolRuntime` the tool gets (None outside a graph in tests).

    Assigning an attribute works but is deprecated: use :meth:`override`.
    """

    tool_call: ToolCall
    tool: BaseTool | None
    state: Any
    runtime: ToolRuntime[Any, Any]

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.__dict__:
            warnings.warn(
                f"Setting attribute '{name}' on ToolCallRequest is deprecated. Use the "
                "override() method instead to create a new instance with modified values.",
                DeprecationWarning,
                stacklevel=2,
            )
        object.__setattr__(self, name, value)

    def override(self, **overrides: Unpack[_ToolCallRequestOverrides]) -> ToolCallRequest:
        """A new request with the given fields replaced (this one is unchanged).

        A new ``state`` also becomes ``runtime.state``, so the tool sees it through both
        ``InjectedState`` and ``ToolRuntime``.
        """
        request = dataclasses.replace(self, **overrides)
        if "state" in overrides and isinstance(request.runtime, ToolRuntime):
            object.__setattr__(request, "runtime", dataclasses.replace(request.runtime, state=request.state))
        return request


ToolCallWrapper = Callable[
    [ToolCallRequest, Callable[[ToolCallRequest], ToolMessage | Command[Any]]],
    ToolMessage | Command[Any],
]
"""A sync interceptor: ``(request, execute) -> ToolMessage | Command``."""

AsyncToolCallWrapper = Callable[
    [ToolCallRequest, Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]]],
    Awaitable[ToolMessage | Command[Any]],
]
"""An async interceptor: ``async (request, execute) -> ToolMessage | Command``."""


# The input of a tools task that carries one call and the state it was made in (an
# agent sending each call as its own task). A functional TypedDict: in a class body the
# "__type" key would be name-mangled.
ToolCallWithContext = TypedDict(
    "ToolCallWithContext",
    {"tool_call": ToolCall, "__type": Literal["tool_call_with_context"], "state": Any},
)
