"""The functional API against LangGraph: the same scenario on both, compared as a user
sees it (outputs, stream chunks, state snapshots and history, task executions)."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest


def _load() -> Any:
    name = "_asyncgraph_func_scenarios"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("_scenarios.py"))
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


sc = _load()


@pytest.mark.allow_blocking
@pytest.mark.parametrize("scenario", sc.SYNC, ids=lambda f: f.__name__)
def test_sync_scenario_matches_langgraph(scenario: Any) -> None:
    theirs = sc.normalize(scenario(sc.modules("langgraph")))
    ours = sc.normalize(scenario(sc.modules("asyncgraph")))
    assert ours == theirs


@pytest.mark.parametrize("scenario", sc.ASYNC, ids=lambda f: f.__name__)
async def test_async_scenario_matches_langgraph(scenario: Any) -> None:
    theirs = sc.normalize(await scenario(sc.modules("langgraph")))
    ours = sc.normalize(await scenario(sc.modules("asyncgraph")))
    assert ours == theirs
