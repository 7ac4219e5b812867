"""LangGraph's module path for :class:`ToolCallTransformer`."""

from asyncgraph.prebuilt._tool_call_stream import ToolCallTransformer

__all__ = ["ToolCallTransformer"]
