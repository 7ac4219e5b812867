"""Prompt building for the embedded model: chat-template roles, the tool grammar, and
reading a constrained tool-call reply. Pure functions, no I/O."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.tool import ToolCallChunk, tool_call_chunk

# {"type": "function", "function": {"name", "description", "parameters"}}
OpenAITool = dict[str, Any]


def _text(message: BaseMessage) -> str:
    return str(message.text)  # text blocks joined; images and other blocks are dropped


def _signature(tool: OpenAITool) -> str:
    function = tool["function"]
    properties = (function.get("parameters") or {}).get("properties", {})
    args = ", ".join(
        f"{name}: {spec.get('type', 'any')}" for name, spec in properties.items()
    )
    line = f"- {function['name']}({args})"
    description = function.get("description")
    return f"{line}: {description}" if description else line


def tool_prompt(tools: Sequence[OpenAITool]) -> str:
    """The system-prompt paragraph that lists the tools and the reply format."""
    listing = "\n".join(_signature(tool) for tool in tools)
    return (
        f"You can call these tools:\n{listing}\n"
        'Reply with JSON only: {"name": <tool name>, "arguments": {...}}.'
    )


def _call_schema(tool: OpenAITool) -> dict[str, Any]:
    function = tool["function"]
    parameters = dict(
        function.get("parameters") or {"type": "object", "properties": {}}
    )
    # Without this a tiny model invents extra keys, which langchain tools then reject.
    parameters.setdefault("additionalProperties", False)
    return {
        "type": "object",
        "properties": {"name": {"const": function["name"]}, "arguments": parameters},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def tool_grammar(tools: Sequence[OpenAITool]) -> str:
    """An llguidance grammar whose only sentences are calls of one of ``tools``."""
    schema = {
        # Compact JSON: fewer tokens, and no room for the model to ramble in whitespace.
        "x-guidance": {
            "whitespace_flexible": False,
            "item_separator": ", ",
            "key_separator": ": ",
        },
        "anyOf": [_call_schema(tool) for tool in tools],
    }
    return "%llguidance {}\nstart: %json " + json.dumps(schema)


def tool_rounds_this_turn(messages: Sequence[BaseMessage]) -> int:
    """How many AI tool-call messages follow the last human message."""
    rounds = 0
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            break
        if isinstance(message, AIMessage) and message.tool_calls:
            rounds += 1
    return rounds


def chat_messages(
    messages: Sequence[BaseMessage], system_extra: str | None
) -> list[dict[str, str]]:
    """Render langchain messages as the roles the model's chat template knows.

    SmolLM2's template has system/user/assistant only, so a tool call is shown as an
    assistant sentence and tool results as one user message saying what each tool
    returned: the wording a 135M model answers from most reliably (asked with a "tool"
    role, or with the call as JSON, it repeats the call instead of answering). System
    messages are merged into one, followed by ``system_extra``.
    """
    rendered: list[dict[str, str]] = []
    system_parts: list[str] = []
    after_tool = False  # consecutive tool results share one user message
    for message in messages:
        is_tool = isinstance(message, ToolMessage)
        if isinstance(message, SystemMessage):
            system_parts.append(_text(message))
        elif isinstance(message, AIMessage):
            parts = [_text(message)] if _text(message) else []
            parts += [
                f"Calling {call['name']} with {json.dumps(call['args'])}."
                for call in message.tool_calls
            ]
            rendered.append({"role": "assistant", "content": "\n".join(parts)})
        elif is_tool:
            result = f"{message.name or 'The tool'} returned: {_text(message)}"
            if after_tool:
                rendered[-1]["content"] += "\n" + result
            else:
                rendered.append({"role": "user", "content": result})
        else:
            rendered.append({"role": "user", "content": _text(message)})
        after_tool = is_tool
    if system_extra:
        system_parts.append(system_extra)
    if system_parts:
        rendered.insert(0, {"role": "system", "content": "\n\n".join(system_parts)})
    return rendered


_NAME = re.compile(r'"name":\s*"([^"]*)"')


def parse_tool_call(raw: str) -> ToolCallChunk:
    """Read a constrained tool-call reply as a tool-call chunk with a fresh id.

    A reply cut short (by ``max_tokens``) must end up in ``invalid_tool_calls``. langchain
    repairs truncated JSON in chunk ``args`` into a dict and would report it as a valid
    call with made-up arguments, so such a reply's raw text is passed as a JSON *string*
    literal, which never parses to a dict.
    """
    call_id = f"call_{uuid.uuid4().hex[:24]}"
    try:
        parsed = json.loads(raw)
        return tool_call_chunk(
            name=parsed["name"],
            args=json.dumps(parsed["arguments"]),
            id=call_id,
            index=0,
        )
    except (ValueError, KeyError, TypeError):
        match = _NAME.search(raw)
        name = match.group(1) if match else None
        return tool_call_chunk(name=name, args=json.dumps(raw), id=call_id, index=0)
