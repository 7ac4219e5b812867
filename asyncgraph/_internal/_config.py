"""Config helpers under LangGraph's private path ``langgraph._internal._config``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asyncgraph.constants import CONF

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

__all__ = ["patch_configurable"]


def patch_configurable(config: RunnableConfig | None, patch: dict[str, Any]) -> RunnableConfig:
    """A new config whose ``configurable`` is ``config``'s updated with ``patch``.

    Neither ``config`` nor its ``configurable`` dict is modified.
    """
    if config is None:
        return {CONF: patch}
    if CONF not in config:
        return {**config, CONF: patch}
    return {**config, CONF: {**config[CONF], **patch}}
