"""A local server speaking the OpenAI Chat Completions API (``POST /v1/chat/completions``).

Point ``ChatOpenAI(base_url=server.base_url, api_key="test-key", max_retries=0)`` at it
(``base_url`` ends in ``/v1``, as the SDK expects). Non-streaming requests get a
``chat.completion`` object. ``stream: true`` requests get ``data: <chunk>`` lines, each a
``chat.completion.chunk`` with one choice whose ``delta`` carries a piece::

    {"role": "assistant", "content": ""}                       opening chunk (text replies)
    {"content": " token"}                                      one per token
    {"tool_calls": [{"index": 0, "id": "call_...", "type": "function",
                     "function": {"name": "get_weather", "arguments": ""}}]}
    {"tool_calls": [{"index": 0, "function": {"arguments": "{\\"ci"}}]}   fragments
    {}  with finish_reason "stop" | "tool_calls" | "length"
    choices [] with "usage"          only when stream_options.include_usage; every
                                     earlier chunk then carries "usage": null
    data: [DONE]

Errors use ``{"error": {"message", "type", "param", "code"}}``; a mid-stream error is a
``data:`` line holding that same object.

Validation mirrors the API's (400 ``invalid_request_error``, its wording): bearer token
required (401), ``model`` and a non-empty ``messages`` required, known roles only, assistant
content may be null only with ``tool_calls``, every ``tool`` message answers a
``tool_call_id`` of the assistant message right before its run of tool messages, every
tool call is answered, and ``stream_options`` only with ``stream``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from ._http import ProviderError, SSEWriter, WireServer, random_id
from .script import ErrorResponse, RecordedRequest, Reply, split_json, split_tokens

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI

__all__ = ["OpenAIServer", "validate_chat_request"]

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request"),
    401: ("invalid_request_error", "Incorrect API key provided."),
    403: ("invalid_request_error", "You are not allowed to sample from this model"),
    404: ("invalid_request_error", "The model does not exist or you do not have access to it."),
    429: ("requests", "Rate limit reached for requests"),
    500: ("server_error", "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", "The engine is currently overloaded, please try again later"),
}
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")


class OpenAIServer(WireServer):
    """Fake OpenAI Chat Completions API; see the module docstring and :class:`WireServer`."""

    base_path = "/v1"
    request_id_header = "x-request-id"

    def chat_model(self, model: str | None = None, **kwargs: Any) -> ChatOpenAI:
        """A ``ChatOpenAI`` pointed at this server, on Chat Completions, with
        ``max_retries=0`` so a scripted error surfaces at once, and ``stream_usage=True``
        as against the official endpoint; ``kwargs`` override any setting."""
        from langchain_openai import ChatOpenAI  # only the tests that use it pay for it

        settings: dict[str, Any] = {
            "base_url": self.base_url,
            "api_key": "test-key",
            "max_retries": 0,
            "use_responses_api": False,
            "stream_usage": True,
        }
        return ChatOpenAI(**(settings | {"model": model or "gpt-4o-mini"} | kwargs))

    def _route(self, method: str, path: str) -> bool:
        return method == "POST" and path == "/v1/chat/completions"

    def _validate(self, request: RecordedRequest) -> None:
        validate_chat_request(request.body, request.headers)

    def _default_error(self, status: int) -> tuple[str, str]:
        if status in _ERRORS:
            return _ERRORS[status]
        return _ERRORS[500] if status >= 500 else _ERRORS[400]

    def _error_body(self, error: ProviderError, request_id: str) -> dict[str, Any]:
        code = error.extra.get("code")
        if code is None and error.status == 429:
            code = "rate_limit_exceeded"
        if code is None and error.status == 401:
            code = "invalid_api_key"
        return {
            "error": {
                "message": error.message,
                "type": error.type,
                "param": error.extra.get("param"),
                "code": code,
            }
        }

    def _response_headers(self, request: RecordedRequest) -> dict[str, str]:
        return super()._response_headers(request) | {
            "openai-version": "2020-10-01",
            "openai-processing-ms": "7",
        }

    def _render(self, handler: BaseHTTPRequestHandler, request: RecordedRequest, reply: Reply) -> None:
        call_ids = [call.id or random_id("call_", 24) for call in reply.tool_calls]
        shell = _shell(request)
        usage = _usage(request, reply)
        finish = _finish_reason(reply)
        if not request.stream:
            message: dict[str, Any] = {
                "role": "assistant",
                "content": reply.text or None,
                "refusal": None,
                "annotations": [],
            }
            if reply.tool_calls:
                message["tool_calls"] = [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": json.dumps(dict(call.args))},
                    }
                    for call, call_id in zip(reply.tool_calls, call_ids, strict=True)
                ]
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            body = shell | {"object": "chat.completion", "choices": [choice], "usage": usage}
            self.send_json(handler, request, 200, body)
            return

        sse = self.start_stream(handler, request)
        chunk = _Chunker(sse, shell, include_usage=_include_usage(request))
        opening: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
        if reply.text or not reply.tool_calls:
            chunk.send(opening)
            for token in reply.tokens:
                sse.pause()
                chunk.send({"content": token})
            opening = {}
        for index, (call, call_id) in enumerate(zip(reply.tool_calls, call_ids, strict=True)):
            header = {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            # A tool-only reply opens with role and null content beside the first call.
            first = (opening | {"content": None}) if opening else {}
            chunk.send(first | {"tool_calls": [header]})
            opening = {}
            for fragment in split_json(call.args, self.json_fragments):
                sse.pause()
                chunk.send({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
        chunk.send({}, finish_reason=finish)
        if chunk.include_usage:
            sse.event(shell | {"object": "chat.completion.chunk", "choices": [], "usage": usage})
        sse.event("[DONE]")
        sse.close()

    def _render_stream_error(
        self, sse: SSEWriter, request: RecordedRequest, error: ErrorResponse, provider_error: ProviderError
    ) -> None:
        chunk = _Chunker(sse, _shell(request), include_usage=_include_usage(request))
        chunk.send({"role": "assistant", "content": "", "refusal": None})
        for token in split_tokens(error.partial_text):
            sse.pause()
            chunk.send({"content": token})
        sse.event(self._error_body(provider_error, request.request_id))


class _Chunker:
    """Wraps deltas in ``chat.completion.chunk`` objects sharing one id."""

    def __init__(self, sse: SSEWriter, shell: Mapping[str, Any], *, include_usage: bool) -> None:
        self._sse = sse
        self._shell = {**shell, "object": "chat.completion.chunk"}
        self.include_usage = include_usage

    def send(self, delta: Mapping[str, Any], *, finish_reason: str | None = None) -> None:
        choice = {"index": 0, "delta": dict(delta), "logprobs": None, "finish_reason": finish_reason}
        body = self._shell | {"choices": [choice]}
        if self.include_usage:
            body["usage"] = None
        self._sse.event(body)


def _include_usage(request: RecordedRequest) -> bool:
    options = request.body.get("stream_options") if isinstance(request.body, dict) else None
    return isinstance(options, dict) and bool(options.get("include_usage"))


def _shell(request: RecordedRequest) -> dict[str, Any]:
    return {
        "id": random_id("chatcmpl-", 29),
        "created": int(time.time()),
        "model": request.model,
        "service_tier": "default",
        "system_fingerprint": "fp_" + random_id("", 10).lower(),
    }


def _finish_reason(reply: Reply) -> str:
    if reply.tool_calls:
        return "tool_calls"
    return "length" if reply.truncated else "stop"


def _usage(request: RecordedRequest, reply: Reply) -> dict[str, Any]:
    """Deterministic, plausible token counts (about four characters per token)."""
    prompt = max(1, len(json.dumps(request.messages)) // 4)
    completion = len(reply.tokens) + sum(1 + len(json.dumps(dict(c.args))) // 4 for c in reply.tool_calls)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def validate_chat_request(body: Any, headers: Mapping[str, str]) -> None:
    """Check a Chat Completions request as the real API would.

    Args:
        body: The parsed JSON body.
        headers: Request headers, names lower-cased.

    Raises:
        ProviderError: 401 without a bearer token, 400 with the API's message otherwise.
    """
    if not headers.get("authorization", "").startswith("Bearer "):
        raise ProviderError(
            401,
            "invalid_request_error",
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    if not isinstance(body, dict):
        _invalid("We could not parse the JSON body of your request.")
    if not body.get("model"):
        _invalid("you must provide a model parameter")
    if "stream_options" in body and body["stream_options"] is not None and not body.get("stream"):
        _invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    _validate_tools(body.get("tools"))
    messages = body.get("messages")
    if messages is None:
        _invalid("Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter")
    if not isinstance(messages, list):
        _invalid("Invalid type for 'messages': expected an array.", param="messages", code="invalid_type")
    if not messages:
        _invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    _validate_messages(messages)


def _invalid(message: str, *, param: str | None = None, code: str | None = None) -> None:
    raise ProviderError(400, "invalid_request_error", message, param=param, code=code)


def _validate_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        _invalid("Invalid type for 'tools': expected an array.", param="tools", code="invalid_type")
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            _invalid(f"Missing required parameter: 'tools[{i}].function.name'.", param=f"tools[{i}].function.name")


def _validate_messages(messages: list[Any]) -> None:
    open_calls: list[str] = []  # ids of the last assistant's tool calls not answered yet
    opener: int | None = None  # index of that assistant message
    answerable: set[str] = set()  # ids the current run of tool messages may answer
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            _invalid(f"Invalid type for 'messages[{i}]': expected an object.", param=f"messages[{i}]")
        role = message.get("role")
        if role not in _ROLES:
            _invalid(
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
                "'function', 'tool', and 'developer'.",
                param=f"messages[{i}].role",
                code="invalid_value",
            )
        if role != "tool" and open_calls:
            _unanswered(opener, open_calls)
        if role == "tool":
            tool_call_id = message.get("tool_call_id")
            if not tool_call_id:
                _invalid(
                    "Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'.",
                    param=f"messages.[{i}].tool_call_id",
                )
            if tool_call_id not in answerable:
                _invalid(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",  # sic: the API's spelling
                    param=f"messages.[{i}].role",
                )
            if tool_call_id in open_calls:
                open_calls.remove(tool_call_id)
            continue
        answerable = set()
        content = message.get("content")
        tool_calls = message.get("tool_calls") if role == "assistant" else None
        if content is None and not tool_calls:
            _invalid(
                "Invalid value for 'content': expected a string, got null.",
                param=f"messages.[{i}].content",
            )
        if tool_calls:
            for j, call in enumerate(tool_calls):
                function = call.get("function") or {}
                if not call.get("id") or not function.get("name") or not isinstance(function.get("arguments"), str):
                    _invalid(
                        f"Missing required parameter: 'messages[{i}].tool_calls[{j}]' needs an id, "
                        "a function name and string arguments.",
                        param=f"messages[{i}].tool_calls[{j}]",
                    )
            open_calls = [call["id"] for call in tool_calls]
            answerable = set(open_calls)
            opener = i
    if open_calls:
        _unanswered(opener, open_calls)


def _unanswered(opener: int | None, ids: list[str]) -> None:
    _invalid(
        "An assistant message with 'tool_calls' must be followed by tool messages responding "
        "to each 'tool_call_id'. The following tool_call_ids did not have response messages: " + ", ".join(ids),
        param=f"messages.[{opener}].role",
    )
