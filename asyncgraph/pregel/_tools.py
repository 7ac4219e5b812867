"""LangGraph's module path for the tool-call stream handler and the running tool call's
delta writer (both live with v3 streaming, in :mod:`asyncgraph.stream._handlers`)."""

from asyncgraph.stream._handlers import ToolCallWriter, _tool_call_writer
from asyncgraph.stream._handlers import ToolsV3Handler as StreamToolCallHandler

__all__ = ["StreamToolCallHandler", "ToolCallWriter", "_tool_call_writer"]
