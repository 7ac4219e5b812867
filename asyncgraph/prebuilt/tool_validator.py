"""LangGraph's import path ``langgraph.prebuilt.tool_validator``. Re-exports only."""

from asyncgraph.prebuilt._validation import ValidationNode

__all__ = ["ValidationNode"]
