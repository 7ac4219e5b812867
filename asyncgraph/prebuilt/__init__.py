"""Ready-made agent pieces: ``ToolNode``, ``tools_condition``, ``create_react_agent``,
``ValidationNode``."""

from asyncgraph.prebuilt._injection import InjectedState, InjectedStore, ToolRuntime
from asyncgraph.prebuilt._react_agent import create_react_agent
from asyncgraph.prebuilt._tool_call_stream import ToolCallTransformer as ToolCallTransformer
from asyncgraph.prebuilt._tool_node import ToolNode, tools_condition
from asyncgraph.prebuilt._validation import ValidationNode

__all__ = [
    "InjectedState",
    "InjectedStore",
    "ToolNode",
    "ToolRuntime",
    "ValidationNode",
    "create_react_agent",
    "tools_condition",
]
