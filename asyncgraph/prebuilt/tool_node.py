"""LangGraph's import path ``langgraph.prebuilt.tool_node``. Re-exports only."""

from asyncgraph.prebuilt._injection import InjectedState, InjectedStore, ToolRuntime
from asyncgraph.prebuilt._tool_node import (
    ToolInvocationError,
    ToolNode,
    tools_condition,
)

__all__ = ["InjectedState", "InjectedStore", "ToolInvocationError", "ToolNode", "ToolRuntime", "tools_condition"]
