"""The wire servers on their own, seen through a plain HTTP client (``http.client``):
exact event sequences, request validation, scripting, and a clean stop."""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
from typing import Any

import pytest

from ._http import WireServer
from .anthropic_server import AnthropicServer
from .openai_server import OpenAIServer
from .script import ErrorResponse, Text, ToolCall, ToolCalls

ANTHROPIC_HEADERS = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}
OPENAI_HEADERS = {"authorization": "Bearer test-key"}


def _connect(server: WireServer) -> http.client.HTTPConnection:
    host, port = server.url.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=5)


def _post(
    server: WireServer, path: str, body: Any, headers: dict[str, str]
) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = _connect(server)
    try:
        conn.request("POST", path, json.dumps(body), {"content-type": "application/json", **headers})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def _events(raw: bytes) -> list[tuple[str | None, str]]:
    """(event name, data) per server-sent event."""
    events = []
    for frame in raw.decode().split("\n\n"):
        if not frame.strip():
            continue
        fields = dict(line.split(": ", 1) for line in frame.split("\n"))
        events.append((fields.get("event"), fields["data"]))
    return events


def _anthropic_body(**overrides: Any) -> dict[str, Any]:
    return {"model": "claude-test", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]} | overrides


def _openai_body(**overrides: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]} | overrides


# -- Anthropic wire format --------------------------------------------------------------


def test_anthropic_stream_sends_the_api_event_sequence(anthropic_server: AnthropicServer) -> None:
    anthropic_server.json_fragments = 3
    anthropic_server.push(ToolCalls(ToolCall("get_weather", {"city": "Paris"}), text="Let me check."))

    status, headers, raw = _post(anthropic_server, "/v1/messages", _anthropic_body(stream=True), ANTHROPIC_HEADERS)

    assert status == 200
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    assert headers["request-id"] == anthropic_server.requests[0].request_id
    events = _events(raw)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start", "ping",
        "content_block_delta", "content_block_delta", "content_block_delta",  # Let / me / check.
        "content_block_stop",
        "content_block_start",
        "content_block_delta", "content_block_delta", "content_block_delta", "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]  # fmt: skip
    data = [json.loads(payload) for _, payload in events]
    assert all(d["type"] == name for d, name in zip(data, names, strict=True))
    assert data[0]["message"]["content"] == [] and data[0]["message"]["stop_reason"] is None
    assert [d["delta"]["text"] for d in data[3:6]] == ["Let", " me", " check."]
    tool_block = data[7]["content_block"]
    assert tool_block["type"] == "tool_use" and tool_block["id"].startswith("toolu_01")
    assert tool_block["name"] == "get_weather" and tool_block["input"] == {}
    fragments = [d["delta"]["partial_json"] for d in data[8:12]]
    assert all(d["delta"]["type"] == "input_json_delta" and d["index"] == 1 for d in data[8:12])
    assert fragments[0] == "" and json.loads("".join(fragments)) == {"city": "Paris"}
    assert data[13]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert data[13]["usage"]["output_tokens"] > 0


def test_anthropic_json_reply_shape(anthropic_server: AnthropicServer) -> None:
    anthropic_server.push(Text("Cut sh", truncated=True))

    status, headers, raw = _post(anthropic_server, "/v1/messages", _anthropic_body(), ANTHROPIC_HEADERS)

    assert status == 200 and headers["content-type"] == "application/json"
    body = json.loads(raw)
    assert body["id"].startswith("msg_01") and body["type"] == "message" and body["role"] == "assistant"
    assert body["model"] == "claude-test"
    assert body["content"] == [{"type": "text", "text": "Cut sh"}]
    assert body["stop_reason"] == "max_tokens" and body["stop_sequence"] is None
    assert set(body["usage"]) >= {"input_tokens", "output_tokens"}


# -- OpenAI wire format ---------------------------------------------------------------


@pytest.mark.parametrize("include_usage", [True, False])
def test_openai_stream_sends_data_chunks_then_done(openai_server: OpenAIServer, include_usage: bool) -> None:
    openai_server.json_fragments = 2
    openai_server.push(ToolCall("get_weather", {"city": "Paris"}, id="call_fixed"))
    body = _openai_body(stream=True) | ({"stream_options": {"include_usage": True}} if include_usage else {})

    status, headers, raw = _post(openai_server, "/v1/chat/completions", body, OPENAI_HEADERS)

    assert status == 200 and headers["content-type"] == "text/event-stream; charset=utf-8"
    assert headers["x-request-id"] == openai_server.requests[0].request_id
    events = _events(raw)
    assert all(name is None for name, _ in events)  # Chat Completions sends bare data lines
    assert events[-1][1] == "[DONE]"
    chunks = [json.loads(payload) for _, payload in events[:-1]]
    assert {c["id"] for c in chunks} == {chunks[0]["id"]} and chunks[0]["id"].startswith("chatcmpl-")
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    if include_usage:
        *chunks, usage_chunk = chunks
        assert usage_chunk["choices"] == [] and usage_chunk["usage"]["total_tokens"] > 0
        assert all(c["usage"] is None for c in chunks)
    else:
        assert all("usage" not in c for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "tool_calls": [
            {"index": 0, "id": "call_fixed", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
        ],
    }
    fragments = [d["tool_calls"][0]["function"]["arguments"] for d in deltas[1:-1]]
    assert len(fragments) == 2 and json.loads("".join(fragments)) == {"city": "Paris"}
    assert deltas[-1] == {}
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, "tool_calls"]


def test_openai_json_reply_shape(openai_server: OpenAIServer) -> None:
    openai_server.push(ToolCall("get_weather", {"city": "Oslo"}, id="call_1"))

    status, _, raw = _post(openai_server, "/v1/chat/completions", _openai_body(), OPENAI_HEADERS)

    assert status == 200
    body = json.loads(raw)
    assert body["object"] == "chat.completion" and body["model"] == "gpt-4o-mini"
    [choice] = body["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    ]
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]


# -- validation -----------------------------------------------------------------------

_TOOL_USE = {"type": "tool_use", "id": "toolu_01a", "name": "get_weather", "input": {"city": "Paris"}}
_TOOL_CALL = {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}

ANTHROPIC_REJECTS: dict[str, tuple[dict[str, Any], dict[str, str], int, str]] = {
    "no max_tokens": (
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        ANTHROPIC_HEADERS,
        400,
        "max_tokens: Field required",
    ),
    "no model": (
        {"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        ANTHROPIC_HEADERS,
        400,
        "model: Field required",
    ),
    "empty messages": (_anthropic_body(messages=[]), ANTHROPIC_HEADERS, 400, "at least one message is required"),
    "two user turns": (
        _anthropic_body(messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]),
        ANTHROPIC_HEADERS,
        400,
        'found multiple "user" roles in a row',
    ),
    "system as a message": (
        _anthropic_body(messages=[{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"}]),
        ANTHROPIC_HEADERS,
        400,
        'Unexpected role "system"',
    ),
    "assistant first": (
        _anthropic_body(messages=[{"role": "assistant", "content": "hi"}]),
        ANTHROPIC_HEADERS,
        400,
        'first message must use the "user" role',
    ),
    "empty assistant turn mid-history": (
        _anthropic_body(
            messages=[
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": ""},
                {"role": "user", "content": "b"},
            ]
        ),
        ANTHROPIC_HEADERS,
        400,
        "all messages must have non-empty content",
    ),
    "tool_result without tool_use": (
        _anthropic_body(
            messages=[
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01x", "content": "r"}]},
            ]
        ),
        ANTHROPIC_HEADERS,
        400,
        "unexpected `tool_use_id` found in `tool_result` blocks: toolu_01x",
    ),
    "tool_use without tool_result": (
        _anthropic_body(
            messages=[
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": [_TOOL_USE]},
                {"role": "user", "content": "and?"},
            ]
        ),
        ANTHROPIC_HEADERS,
        400,
        "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_01a",
    ),
    "no api key": (_anthropic_body(), {"anthropic-version": "2023-06-01"}, 401, "x-api-key header is required"),
    "no version header": (_anthropic_body(), {"x-api-key": "k"}, 400, "anthropic-version: header is required"),
}

OPENAI_REJECTS: dict[str, tuple[dict[str, Any], dict[str, str], int, str]] = {
    "no model": ({"messages": [{"role": "user", "content": "hi"}]}, OPENAI_HEADERS, 400, "you must provide a model"),
    "empty messages": (_openai_body(messages=[]), OPENAI_HEADERS, 400, "Invalid 'messages': empty array"),
    "tool message without tool_calls": (
        _openai_body(
            messages=[
                {"role": "user", "content": "a"},
                {"role": "tool", "tool_call_id": "call_a", "content": "r"},
            ]
        ),
        OPENAI_HEADERS,
        400,
        "messages with role 'tool' must be a response to a preceeding message with 'tool_calls'",
    ),
    "tool message with a wrong id": (
        _openai_body(
            messages=[
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": None, "tool_calls": [_TOOL_CALL]},
                {"role": "tool", "tool_call_id": "call_other", "content": "r"},
            ]
        ),
        OPENAI_HEADERS,
        400,
        "must be a response to a preceeding message with 'tool_calls'",
    ),
    "unanswered tool call": (
        _openai_body(
            messages=[
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": None, "tool_calls": [_TOOL_CALL]},
                {"role": "user", "content": "and?"},
            ]
        ),
        OPENAI_HEADERS,
        400,
        "The following tool_call_ids did not have response messages: call_a",
    ),
    "stream_options without stream": (
        _openai_body(stream_options={"include_usage": True}),
        OPENAI_HEADERS,
        400,
        "only allowed when 'stream' is enabled",
    ),
    "no bearer token": (_openai_body(), {}, 401, "You didn't provide an API key"),
}


def _reject_cases() -> list[Any]:
    cases = []
    for cls, path, table in (
        (AnthropicServer, "/v1/messages", ANTHROPIC_REJECTS),
        (OpenAIServer, "/v1/chat/completions", OPENAI_REJECTS),
    ):
        for name, (body, headers, status, fragment) in table.items():
            cases.append(pytest.param(cls, path, body, headers, status, fragment, id=f"{cls.__name__}: {name}"))
    return cases


@pytest.mark.parametrize(("cls", "path", "body", "headers", "status", "fragment"), _reject_cases())
def test_malformed_requests_are_refused_like_the_real_api(
    cls: type[WireServer], path: str, body: Any, headers: dict[str, str], status: int, fragment: str
) -> None:
    with cls(script=["never sent"]) as server:
        got_status, _, raw = _post(server, path, body, headers)

        assert got_status == status
        error = json.loads(raw)
        if cls is AnthropicServer:
            assert error["type"] == "error" and error["request_id"] == server.requests[0].request_id
            expected_type = "authentication_error" if status == 401 else "invalid_request_error"
        else:
            assert set(error["error"]) == {"message", "type", "param", "code"}
            expected_type = "invalid_request_error"
        assert error["error"]["type"] == expected_type
        assert fragment in error["error"]["message"]
        assert server.remaining == 1  # a refused request consumes nothing
        assert server.requests[0].status == status


def test_valid_tool_round_trip_histories_are_accepted() -> None:
    anthropic_history = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": [{"type": "text", "text": "checking"}, _TOOL_USE]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01a", "content": "sunny"}]},
    ]
    openai_history = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": None, "tool_calls": [_TOOL_CALL]},
        {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
    ]
    with AnthropicServer(script=["ok"]) as a, OpenAIServer(script=["ok"]) as o:
        status_a, _, _ = _post(a, "/v1/messages", _anthropic_body(messages=anthropic_history), ANTHROPIC_HEADERS)
        status_o, _, _ = _post(o, "/v1/chat/completions", _openai_body(messages=openai_history), OPENAI_HEADERS)
    assert (status_a, status_o) == (200, 200)


@pytest.mark.parametrize(
    ("cls", "expected"),
    [(AnthropicServer, {"type": "error", "error": {"type": "not_found_error"}}), (OpenAIServer, {"error": {}})],
)
def test_unknown_paths_get_a_provider_shaped_404(cls: type[WireServer], expected: dict[str, Any]) -> None:
    with cls() as server:
        status, _, raw = _post(server, "/v1/complete", {}, {})
    assert status == 404
    body = json.loads(raw)
    assert set(expected) <= set(body) and set(expected["error"].items()) <= set(body["error"].items())


def test_validation_can_be_switched_off(anthropic_server: AnthropicServer) -> None:
    anthropic_server.validate = False
    anthropic_server.push("anything goes")

    status, _, _ = _post(anthropic_server, "/v1/messages", {"messages": []}, {})

    assert status == 200


# -- scripting -------------------------------------------------------------------------


def test_an_unscripted_request_fails_the_test_at_stop() -> None:
    server = AnthropicServer().start()
    status, _, raw = _post(server, "/v1/messages", _anthropic_body(), ANTHROPIC_HEADERS)

    assert status == 500 and "nothing scripted for request #0" in raw.decode()
    with pytest.raises(AssertionError, match="nothing scripted for request #0"):
        server.stop()


def test_scripted_errors_carry_headers_and_are_consumed_in_order(openai_server: OpenAIServer) -> None:
    openai_server.push(ErrorResponse(429, headers={"retry-after": "3"}), "after the rate limit")

    first = _post(openai_server, "/v1/chat/completions", _openai_body(), OPENAI_HEADERS)
    second = _post(openai_server, "/v1/chat/completions", _openai_body(), OPENAI_HEADERS)

    assert first[0] == 429 and first[1]["retry-after"] == "3"
    assert json.loads(first[2])["error"]["code"] == "rate_limit_exceeded"
    assert second[0] == 200
    assert json.loads(second[2])["choices"][0]["message"]["content"] == "after the rate limit"
    assert openai_server.remaining == 0


def test_push_refuses_what_is_not_a_script_item(anthropic_server: AnthropicServer) -> None:
    with pytest.raises(TypeError, match="not a script item"):
        anthropic_server.push({"text": "hi"})  # type: ignore[arg-type]


def test_text_tokens_must_join_to_the_text() -> None:
    with pytest.raises(ValueError, match="do not join"):
        Text("hello", tokens=("he", "lo"))


# -- lifecycle ----------------------------------------------------------------------


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_stop_leaves_no_thread_or_socket_behind() -> None:
    threads_before = set(threading.enumerate())
    fds_before = _open_fds()
    server = AnthropicServer(keep_alive=True, token_delay=30).start()
    server.push("idle connection", Text("never finished", tokens=("never", " finished")))
    port = int(server.url.rsplit(":", 1)[1])

    # One keep-alive connection left idle after a complete response...
    idle = _connect(server)
    idle.request("POST", "/v1/messages", json.dumps(_anthropic_body()), ANTHROPIC_HEADERS)
    assert idle.getresponse().read()
    # ...and one stream stalled in its 30 s token delay.
    stalled = _connect(server)
    stalled.request("POST", "/v1/messages", json.dumps(_anthropic_body(stream=True)), ANTHROPIC_HEADERS)
    stalled_response = stalled.getresponse()
    assert stalled_response.status == 200
    assert len(set(threading.enumerate()) - threads_before) == 3  # accept loop + 2 connections

    started = time.monotonic()
    server.stop()

    assert time.monotonic() - started < 3  # did not wait out the token delay
    assert set(threading.enumerate()) == threads_before
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with pytest.raises(http.client.IncompleteRead):
        stalled_response.read()  # the server cut the stream
    idle.close()
    stalled.close()
    assert _open_fds() == fds_before
    with pytest.raises(RuntimeError, match="not started"):
        server.url  # noqa: B018


def test_keep_alive_connection_serves_a_stream_then_a_json_reply() -> None:
    # Chunked framing must end exactly, or the next response on the connection is garbage.
    with AnthropicServer(script=["streamed reply", "plain reply"], keep_alive=True) as server:
        conn = _connect(server)
        try:
            conn.request("POST", "/v1/messages", json.dumps(_anthropic_body(stream=True)), ANTHROPIC_HEADERS)
            streamed = conn.getresponse().read()
            conn.request("POST", "/v1/messages", json.dumps(_anthropic_body()), ANTHROPIC_HEADERS)
            plain = json.loads(conn.getresponse().read())
        finally:
            conn.close()

    assert _events(streamed)[-1][0] == "message_stop"
    assert plain["content"][0]["text"] == "plain reply"


def test_a_stopped_server_can_start_again_and_keeps_its_script_and_record() -> None:
    server = OpenAIServer(script=["first life", "second life"])
    with server:
        first = _post(server, "/v1/chat/completions", _openai_body(), OPENAI_HEADERS)
    with server:
        second = _post(server, "/v1/chat/completions", _openai_body(), OPENAI_HEADERS)

    contents = [json.loads(raw)["choices"][0]["message"]["content"] for _, _, raw in (first, second)]
    assert contents == ["first life", "second life"]
    assert [r.index for r in server.requests] == [0, 1]
