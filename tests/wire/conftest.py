"""Fixtures: local servers speaking the Anthropic and OpenAI wire protocols.

Real ``ChatAnthropic`` / ``ChatOpenAI`` clients talk HTTP to a server on
``127.0.0.1:<ephemeral port>`` that answers from a script, so a test exercises the real
SDKs (serialisation, SSE parsing, tool-call assembly, error mapping) without a network::

    from langchain_core.messages import HumanMessage, ToolMessage
    from .script import ToolCall          # or: from tests.wire import ToolCall

    async def test_agent_turn(anthropic_server):
        anthropic_server.push(
            ToolCall("get_weather", {"city": "Paris"}),   # first model call
            "It is sunny in Paris.",                      # second model call
        )
        model = anthropic_server.chat_model().bind_tools([get_weather])
        ai = await model.ainvoke([HumanMessage("Weather in Paris?")])
        call = ai.tool_calls[0]                           # args parsed: {"city": "Paris"}
        final = await model.ainvoke(
            [HumanMessage("Weather in Paris?"), ai, ToolMessage("sunny", tool_call_id=call["id"])]
        )
        assert final.content == "It is sunny in Paris."
        sent = anthropic_server.requests[1].messages[-1]["content"][0]
        assert sent["tool_use_id"] == call["id"]          # what the client put on the wire

Fixtures (a fresh server per test, stopped afterwards):

- ``anthropic_server``: :class:`AnthropicServer`, ``POST /v1/messages``.
- ``openai_server``: :class:`OpenAIServer`, ``POST /v1/chat/completions``.
- ``wire_server``: parametrised over both, for tests that hold for either provider.

Server API (both):

- ``push(*items)``: append to the script; items are ``"text"``, ``Text(text, tokens=...)``,
  ``ToolCall(name, args, id=None)``, ``ToolCalls(*calls, text="")``,
  ``ErrorResponse(status, message=None, headers=..., mid_stream=False)``. One item is
  consumed per model request. Or pass ``script=[...]`` to the constructor.
- ``responder``: a function ``RecordedRequest -> item`` used instead of the script, e.g.
  ``routed(lambda r: r.first_user_text, {"q1": [...], "q2": [...]})`` for concurrent runs.
- ``token_delay`` (seconds before each streamed delta), ``json_fragments`` (pieces per
  streamed tool-argument JSON), ``validate`` (reject malformed requests like the real API).
- ``chat_model(model=..., **overrides)``: a client pointed at the server, ``max_retries=0``.
- ``url`` / ``base_url``; ``requests``: every :class:`RecordedRequest` (``body``,
  ``headers``, ``messages``, ``tools``, ``stream``, ``status``, ``error``, ``request_id``);
  ``remaining``: unconsumed script items.
- ``problems``: requests that found nothing scripted and server crashes. Teardown fails
  the test if there are any. A rejected (400) request is not a problem: the client raised.

The fixtures are visible only to tests under ``tests/wire/``. A test in another folder
imports the servers and runs one itself::

    from tests.wire import AnthropicServer, ToolCall

    async def test_seed_agent() -> None:
        with AnthropicServer(script=[ToolCall("get_weather", {"city": "Paris"}), "Sunny."]) as server:
            graph = build_agent(server.chat_model().bind_tools([get_weather]))
            ...

``test_langgraph_oracle.py`` runs the seed agent (model node + ToolNode loop) on LangGraph
through these servers: the reference for asyncgraph's own graph tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._http import WireServer
from .anthropic_server import AnthropicServer
from .openai_server import OpenAIServer


@pytest.fixture
def anthropic_server() -> Iterator[AnthropicServer]:
    with AnthropicServer() as server:
        yield server


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


@pytest.fixture(params=[AnthropicServer, OpenAIServer], ids=["anthropic", "openai"])
def wire_server(request: pytest.FixtureRequest) -> Iterator[WireServer]:
    with request.param() as server:
        yield server
