"""LangGraph's import path ``langgraph.prebuilt.chat_agent_executor``. Re-exports only."""

from asyncgraph.prebuilt._react_agent import (
    AgentState,
    AgentStatePydantic,
    AgentStateWithStructuredResponse,
    AgentStateWithStructuredResponsePydantic,
    Prompt,
    StateSchema,
    StateSchemaType,
    StructuredResponse,
    StructuredResponseSchema,
    _get_model,
    _should_bind_tools,
    _validate_chat_history,
    create_react_agent,
)
from asyncgraph.prebuilt._tool_call import ToolCallWithContext
from asyncgraph.prebuilt._tool_node import ToolNode

__all__ = [
    "AgentState",
    "AgentStatePydantic",
    "AgentStateWithStructuredResponse",
    "AgentStateWithStructuredResponsePydantic",
    "Prompt",
    "StateSchema",
    "StateSchemaType",
    "StructuredResponse",
    "StructuredResponseSchema",
    "ToolCallWithContext",
    "ToolNode",
    "_get_model",
    "_should_bind_tools",
    "_validate_chat_history",
    "create_react_agent",
]
