"""LangGraph's import path ``langgraph.prebuilt.tool_node``. Re-exports only."""

from asyncgraph.prebuilt._injection import InjectedState, InjectedStore, ToolRuntime
from asyncgraph.prebuilt._tool_call import (
    AsyncToolCallWrapper,
    ToolCallRequest,
    ToolCallWithContext,
    ToolCallWrapper,
)
from asyncgraph.prebuilt._tool_errors import (
    INVALID_TOOL_NAME_ERROR_TEMPLATE,
    TOOL_CALL_ERROR_TEMPLATE,
    ToolInvocationError,
    _default_handle_tool_errors,
    _infer_handled_types,
    msg_content_output,
)
from asyncgraph.prebuilt._tool_node import ToolNode, tools_condition

__all__ = [
    "INVALID_TOOL_NAME_ERROR_TEMPLATE",
    "TOOL_CALL_ERROR_TEMPLATE",
    "AsyncToolCallWrapper",
    "InjectedState",
    "InjectedStore",
    "ToolCallRequest",
    "ToolCallWithContext",
    "ToolCallWrapper",
    "ToolInvocationError",
    "ToolNode",
    "ToolRuntime",
    "_default_handle_tool_errors",
    "_infer_handled_types",
    "msg_content_output",
    "tools_condition",
]
