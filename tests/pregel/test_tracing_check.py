"""Whether a run is traced by LangSmith: the engine's cheap check gives langchain-core's
answer (``_tracing_v2_is_enabled``, what its callback manager decides by) in every case
that turns tracing on or off."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from langchain_core.tracers.context import _tracing_v2_is_enabled, tracing_v2_enabled
from langsmith import run_helpers, utils as ls_utils
from langsmith._internal import _context as ls_context
from langsmith.run_trees import RunTree

from asyncgraph.pregel._context import tracing_enabled


def _core() -> bool:
    return bool(_tracing_v2_is_enabled())


@contextmanager
def _env(monkeypatch: pytest.MonkeyPatch, value: str | None) -> Iterator[None]:
    for name in ("LANGSMITH_TRACING", "LANGSMITH_TRACING_V2", "LANGCHAIN_TRACING", "LANGCHAIN_TRACING_V2"):
        monkeypatch.delenv(name, raising=False)
    if value is not None:
        monkeypatch.setenv("LANGSMITH_TRACING", value)
    ls_utils.get_env_var.cache_clear()
    try:
        yield
    finally:
        ls_utils.get_env_var.cache_clear()


@pytest.mark.parametrize("env", [None, "true", "false"])
def test_environment(monkeypatch: pytest.MonkeyPatch, env: str | None) -> None:
    with _env(monkeypatch, env):
        assert tracing_enabled() is _core() is (env == "true")


@pytest.mark.parametrize("env", [None, "true"])
@pytest.mark.parametrize("enabled", [True, False, "local"])
def test_tracing_context_overrides_the_environment(monkeypatch: pytest.MonkeyPatch, env: str | None,
                                                   enabled: Any) -> None:
    with _env(monkeypatch, env), run_helpers.tracing_context(enabled=enabled):
        assert tracing_enabled() is _core() is bool(enabled)


def test_langchain_core_tracing_v2_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    with _env(monkeypatch, None), tracing_v2_enabled(client=object()):  # type: ignore[arg-type]
        assert tracing_enabled() is _core() is True


def test_inside_a_run_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    tree = RunTree(name="outer", run_type="chain")
    with _env(monkeypatch, None), run_helpers.tracing_context(parent=tree):
        assert tracing_enabled() is _core() is True
    with _env(monkeypatch, None):
        assert tracing_enabled() is _core() is False


@pytest.mark.parametrize("value", [True, False])
def test_process_wide_setting(monkeypatch: pytest.MonkeyPatch, value: bool) -> None:
    with _env(monkeypatch, None if value else "true"):
        monkeypatch.setattr(ls_context, "_GLOBAL_TRACING_ENABLED", value)
        assert tracing_enabled() is _core() is value
