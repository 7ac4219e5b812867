"""Every test in this folder fails if it blocks its event loop for more than 0.5 s.

A test that blocks on purpose says so with ``@pytest.mark.allow_blocking``.
"""

from collections.abc import AsyncIterator

import pytest

from asyncgraph.testing import BlockingWatchdog


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_blocking: the test blocks its event loop on purpose")


@pytest.fixture(autouse=True)
async def _no_blocking_event_loop(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    if request.node.get_closest_marker("allow_blocking"):
        yield
        return
    with BlockingWatchdog(threshold=0.5) as watchdog:
        yield
    watchdog.check()
