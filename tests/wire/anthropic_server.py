"""A local server speaking the Anthropic Messages API (``POST /v1/messages``).

Point ``ChatAnthropic(base_url=server.base_url, api_key="test-key", max_retries=0)`` at
it. Non-streaming requests get a ``message`` JSON object; ``stream: true`` requests get
the event sequence the real API sends::

    message_start            message with empty content, input usage
    content_block_start      {"type": "text", "text": ""}           (if there is text)
    ping
    content_block_delta      text_delta, one per token
    content_block_stop
    content_block_start      {"type": "tool_use", "id": "toolu_...", "name": ..., "input": {}}
    content_block_delta      input_json_delta: "" then the JSON in several fragments
    content_block_stop       (one start/deltas/stop group per tool call)
    message_delta            stop_reason end_turn | tool_use | max_tokens, final usage
    message_stop

Each event is framed as ``event: <type>`` + ``data: <json>``. Errors use the API's body
``{"type": "error", "error": {"type": ..., "message": ...}, "request_id": ...}``, and a
mid-stream error is an ``event: error`` carrying the same object.

Validation follows the API's rules, with its wording, so a graph that sends a broken
history fails the way it would in production (400 ``invalid_request_error``):
``model`` / ``max_tokens`` / ``messages`` required, ``x-api-key`` and
``anthropic-version`` headers required, roles ``user``/``assistant`` only (a ``system``
role is refused: the system prompt is a top-level field), first message from the user,
no empty content or empty text blocks, every ``tool_use`` answered by a ``tool_result``
in the very next message (results first), and no ``tool_result`` without its
``tool_use``. One rule is stricter than today's API, which merges consecutive turns of one
role: this server refuses them, because a graph producing them has a bug worth seeing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from ._http import ProviderError, SSEWriter, WireServer, random_id
from .script import ErrorResponse, RecordedRequest, Reply, split_json, split_tokens

if TYPE_CHECKING:
    from langchain_anthropic import ChatAnthropic

__all__ = ["AnthropicServer", "validate_messages_request"]

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "Not found"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")


class AnthropicServer(WireServer):
    """Fake Anthropic Messages API; see the module docstring and :class:`WireServer`."""

    base_path = ""  # the SDK appends /v1/messages itself
    request_id_header = "request-id"

    def chat_model(self, model: str | None = None, **kwargs: Any) -> ChatAnthropic:
        """A ``ChatAnthropic`` pointed at this server, with ``max_retries=0`` so a
        scripted error surfaces at once; ``kwargs`` override any setting."""
        from langchain_anthropic import ChatAnthropic  # only the tests that use it pay for it

        settings: dict[str, Any] = {"base_url": self.base_url, "api_key": "test-key", "max_retries": 0}
        return ChatAnthropic(**(settings | {"model": model or "claude-test"} | kwargs))

    def _route(self, method: str, path: str) -> bool:
        return method == "POST" and path == "/v1/messages"

    def _validate(self, request: RecordedRequest) -> None:
        validate_messages_request(request.body, request.headers)

    def _default_error(self, status: int) -> tuple[str, str]:
        if status in _ERRORS:
            return _ERRORS[status]
        return ("api_error", "Internal server error") if status >= 500 else _ERRORS[400]

    def _error_body(self, error: ProviderError, request_id: str) -> dict[str, Any]:
        return {
            "type": "error",
            "error": {"type": error.type, "message": error.message},
            "request_id": request_id,
        }

    def _render(self, handler: BaseHTTPRequestHandler, request: RecordedRequest, reply: Reply) -> None:
        tool_ids = [call.id or random_id("toolu_01", 22) for call in reply.tool_calls]
        message = _message_shell(request)
        usage = _usage(request, reply)
        if not request.stream:
            content: list[dict[str, Any]] = []
            if reply.text:
                content.append({"type": "text", "text": reply.text})
            for call, tool_id in zip(reply.tool_calls, tool_ids, strict=True):
                content.append({"type": "tool_use", "id": tool_id, "name": call.name, "input": dict(call.args)})
            message |= {"content": content, "stop_reason": _stop_reason(reply), "usage": usage}
            self.send_json(handler, request, 200, message)
            return

        sse = self.start_stream(handler, request)
        start_usage = usage | {"output_tokens": 1}  # the API reports a provisional count
        _send(sse, "message_start", {"message": message | {"content": [], "usage": start_usage}})
        index = 0
        if reply.text:
            _send(sse, "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
            _send(sse, "ping", {})
            for token in reply.tokens:
                sse.pause()
                _send(sse, "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": token}})
            _send(sse, "content_block_stop", {"index": 0})
            index = 1
        else:
            _send(sse, "ping", {})
        for offset, (call, tool_id) in enumerate(zip(reply.tool_calls, tool_ids, strict=True)):
            block = {"type": "tool_use", "id": tool_id, "name": call.name, "input": {}}
            _send(sse, "content_block_start", {"index": index + offset, "content_block": block})
            # The API opens every tool_use block with an empty fragment.
            for fragment in ["", *split_json(call.args, self.json_fragments)]:
                sse.pause()
                json_delta = {"type": "input_json_delta", "partial_json": fragment}
                _send(sse, "content_block_delta", {"index": index + offset, "delta": json_delta})
            _send(sse, "content_block_stop", {"index": index + offset})
        delta: dict[str, Any] = {"stop_reason": _stop_reason(reply), "stop_sequence": None}
        _send(sse, "message_delta", {"delta": delta, "usage": usage})
        _send(sse, "message_stop", {})
        sse.close()

    def _render_stream_error(
        self, sse: SSEWriter, request: RecordedRequest, error: ErrorResponse, provider_error: ProviderError
    ) -> None:
        message = _message_shell(request) | {"content": [], "usage": _usage(request, None)}
        _send(sse, "message_start", {"message": message})
        if error.partial_text:
            _send(sse, "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
            for token in split_tokens(error.partial_text):
                sse.pause()
                _send(sse, "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": token}})
        body = self._error_body(provider_error, request.request_id)
        sse.event({"type": "error", "error": body["error"]}, name="error")


def _send(sse: SSEWriter, name: str, fields: Mapping[str, Any]) -> None:
    # The API repeats the event name as the payload's "type".
    sse.event({"type": name, **fields}, name=name)


def _message_shell(request: RecordedRequest) -> dict[str, Any]:
    return {
        "id": random_id("msg_01", 22),
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "stop_reason": None,
        "stop_sequence": None,
    }


def _stop_reason(reply: Reply) -> str:
    if reply.tool_calls:
        return "tool_use"
    return "max_tokens" if reply.truncated else "end_turn"


def _usage(request: RecordedRequest, reply: Reply | None) -> dict[str, Any]:
    """Deterministic, plausible token counts (about four characters per token)."""
    input_tokens = max(1, len(json.dumps(request.messages)) // 4)
    output_tokens = 0
    if reply is not None:
        output_tokens = len(reply.tokens) + sum(1 + len(json.dumps(dict(call.args))) // 4 for call in reply.tool_calls)
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
    }


def validate_messages_request(body: Any, headers: Mapping[str, str]) -> None:
    """Check a Messages API request as the real API would.

    Args:
        body: The parsed JSON body.
        headers: Request headers, names lower-cased.

    Raises:
        ProviderError: 401 without credentials, 400 with the API's message otherwise.
    """
    if not headers.get("x-api-key") and not headers.get("authorization"):
        raise ProviderError(401, "authentication_error", "x-api-key header is required")
    if not headers.get("anthropic-version"):
        _invalid("anthropic-version: header is required")
    if not isinstance(body, dict):
        _invalid("Request body must be a JSON object")
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            _invalid(f"{name}: Field required")
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        _invalid("max_tokens: Input should be greater than or equal to 1")
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        _invalid("system: Input should be a valid string or a list of text blocks")
    _validate_tools(body.get("tools"))
    _validate_messages(body["messages"])


def _invalid(message: str) -> None:
    raise ProviderError(400, "invalid_request_error", message)


def _validate_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        _invalid("tools: Input should be a valid list")
    names: set[str] = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            _invalid(f"tools.{i}: Input should be a valid dictionary")
        if "type" in tool and tool["type"] != "custom":
            continue  # server tools (web search, ...) have their own shapes
        name = tool.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            _invalid(f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            _invalid(f"tools.{i}.custom.input_schema.type: Input should be 'object'")
        if name in names:
            _invalid("tools: Tool names must be unique.")
        names.add(name)


def _validate_messages(messages: Any) -> None:
    if not isinstance(messages, list):
        _invalid("messages: Input should be a valid list")
    if not messages:
        _invalid("messages: at least one message is required")
    previous_role: str | None = None
    pending_tool_uses: list[str] = []  # tool_use ids of the previous assistant turn
    seen_tool_uses: set[str] = set()
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            _invalid(f"messages.{i}: Input should be a valid dictionary")
        role = message.get("role")
        if role == "system":
            _invalid(
                f'messages.{i}.role: Unexpected role "system". The Messages API accepts a '
                'top-level `system` parameter, not "system" as an input message role.'
            )
        if role not in ("user", "assistant"):
            _invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if i == 0 and role != "user":
            _invalid('messages: first message must use the "user" role')
        if role == previous_role:
            _invalid(
                'messages: roles must alternate between "user" and "assistant", '
                f'but found multiple "{role}" roles in a row'
            )
        blocks = _blocks(message.get("content"), i, is_last=i == len(messages) - 1, role=role)
        if role == "user":
            _check_tool_results(blocks, i, pending_tool_uses)
            pending_tool_uses = []
        else:
            pending_tool_uses = [b["id"] for b in blocks if b.get("type") == "tool_use"]
            for tool_id in pending_tool_uses:
                if tool_id in seen_tool_uses:
                    _invalid(f"messages.{i}: `tool_use` ids must be unique, found duplicate: {tool_id}")
                seen_tool_uses.add(tool_id)
        previous_role = role


def _blocks(content: Any, i: int, *, is_last: bool, role: str) -> list[dict[str, Any]]:
    """Content as a block list, refusing what the API refuses."""
    empty = content == "" or content == [] or content is None
    if empty and not (is_last and role == "assistant"):
        _invalid(
            f"messages.{i}: all messages must have non-empty content except for the optional final assistant message"
        )
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        _invalid(f"messages.{i}.content: Input should be a valid string or list")
    for j, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            _invalid(f"messages.{i}.content.{j}: Input should be a valid content block")
        if block["type"] == "text" and not block.get("text"):
            _invalid("messages: text content blocks must be non-empty")
        if block["type"] == "tool_use":
            if role != "assistant":
                _invalid(f"messages.{i}.content.{j}: `tool_use` blocks can only be in `assistant` messages")
            if not isinstance(block.get("id"), str) or not isinstance(block.get("input"), dict):
                _invalid(f"messages.{i}.content.{j}.tool_use: `id` and an object `input` are required")
        if block["type"] == "tool_result" and role != "user":
            _invalid(f"messages.{i}.content.{j}: `tool_result` blocks can only be in `user` messages")
    return content


def _check_tool_results(blocks: list[dict[str, Any]], i: int, pending: list[str]) -> None:
    results = [(j, b) for j, b in enumerate(blocks) if b.get("type") == "tool_result"]
    for j, block in results:
        if block.get("tool_use_id") not in pending:
            _invalid(
                f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding "
                "`tool_use` block in the previous message."
            )
    answered = {b.get("tool_use_id") for _, b in results}
    missing = [tool_id for tool_id in pending if tool_id not in answered]
    if missing:
        _invalid(
            f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately "
            f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding "
            "`tool_result` block in the next message."
        )
    if results and [j for j, _ in results] != list(range(len(results))):
        _invalid(
            f"messages.{i}: `tool_result` blocks must come first in the user message content, before any other blocks."
        )
