"""Root test configuration. Each test folder keeps its own fixtures in its own conftest.

Every async test runs under a :class:`~asyncgraph.testing.BlockingWatchdog`: a test
whose code (library or test) blocks its event loop for more than 0.5 s fails, naming
the node and line. A test that blocks on purpose is marked ``allow_blocking``.
"""

import contextlib
import importlib
import inspect
from collections.abc import AsyncIterator

import pytest

from asyncgraph.testing import BlockingWatchdog

# The differential tests import LangGraph (the oracle) inside async tests. A first import
# takes over 0.5 s on a loaded machine and the watchdog would blame the test for it: import
# the oracle's modules once, here, before any loop runs.
for _module in ("langgraph.graph", "langgraph.types", "langgraph.checkpoint.memory", "langgraph.func",
                "langgraph.prebuilt", "langgraph.store.memory", "langgraph.pregel"):
    with contextlib.suppress(ImportError):
        importlib.import_module(_module)


@pytest.fixture(autouse=True)
async def _no_blocking_event_loop(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    # A sync test runs while the fixture's loop is stopped: there is nothing to watch, and a
    # watchdog started and stopped around it only races its own shutdown on a loaded machine.
    function = getattr(request.node, "function", None)
    if request.node.get_closest_marker("allow_blocking") or not inspect.iscoroutinefunction(function):
        yield
        return
    with BlockingWatchdog(threshold=0.5) as watchdog:
        yield
    watchdog.check()
