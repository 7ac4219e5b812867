"""Local servers speaking the real provider wire protocols, for offline tests.

Re-exports only; see ``conftest.py`` for the fixtures and a usage example.
"""

from .anthropic_server import AnthropicServer
from .openai_server import OpenAIServer
from .script import ErrorResponse, RecordedRequest, Text, ToolCall, ToolCalls, routed

__all__ = [
    "AnthropicServer",
    "ErrorResponse",
    "OpenAIServer",
    "RecordedRequest",
    "Text",
    "ToolCall",
    "ToolCalls",
    "routed",
]
