"""Fixtures for graph-level agent tests: the local wire servers (see ``tests/wire``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(params=["anthropic", "openai"])
def wire_server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A local server speaking the Anthropic Messages or OpenAI Chat Completions protocol."""
    from tests.wire import AnthropicServer, OpenAIServer

    # The provider SDKs import parts of their HTTP stack on the first request; do it here,
    # off the event loop, so the blocking watchdog never sees a cold import (it took over
    # a second on a loaded machine).
    import anthropic  # noqa: F401
    import h11  # noqa: F401
    import httpx  # noqa: F401
    import langchain_anthropic  # noqa: F401
    import langchain_openai  # noqa: F401
    import openai  # noqa: F401

    cls = AnthropicServer if request.param == "anthropic" else OpenAIServer
    with cls() as server:
        yield server
        assert server.problems == []
