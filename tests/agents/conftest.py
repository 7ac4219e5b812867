"""Fixtures for graph-level agent tests: the local wire servers (see ``tests/wire``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(params=["anthropic", "openai"])
def wire_server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A local server speaking the Anthropic Messages or OpenAI Chat Completions protocol."""
    from tests.wire import AnthropicServer, OpenAIServer

    cls = AnthropicServer if request.param == "anthropic" else OpenAIServer
    with cls() as server:
        yield server
        assert server.problems == []
