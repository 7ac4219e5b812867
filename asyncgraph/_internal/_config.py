"""Config helpers under LangGraph's private path ``langgraph._internal._config``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks.manager import AsyncCallbackManager
from langchain_core.runnables import RunnableConfig

from asyncgraph.constants import CONF

__all__ = ["get_async_callback_manager_for_config", "patch_configurable"]


def patch_configurable(config: RunnableConfig | None, patch: dict[str, Any]) -> RunnableConfig:
    """A new config whose ``configurable`` is ``config``'s updated with ``patch``.

    Neither ``config`` nor its ``configurable`` dict is modified.
    """
    if config is None:
        return {CONF: patch}
    if CONF not in config:
        return {**config, CONF: patch}
    return {**config, CONF: {**config[CONF], **patch}}


def get_async_callback_manager_for_config(
    config: RunnableConfig, tags: Sequence[str] | None = None
) -> AsyncCallbackManager:
    """The async callback manager of ``config``, with ``tags`` added.

    When ``config["callbacks"]`` already is an ``AsyncCallbackManager`` that manager
    is returned, given the config's tags and ``tags`` and the config's metadata.
    Otherwise a new manager is made from the config's callbacks (a list of handlers,
    or none), tags (the config's, then ``tags``) and metadata.
    """
    all_tags: list[str] | None = None
    if config.get("tags") is not None or tags is not None:
        all_tags = [*(config.get("tags") or ()), *(tags or ())]
    callbacks = config.get("callbacks")
    if callbacks and isinstance(callbacks, AsyncCallbackManager):
        if all_tags:
            callbacks.add_tags(all_tags)
        metadata = config.get("metadata")
        if metadata:
            callbacks.add_metadata(metadata)
        return callbacks
    return AsyncCallbackManager.configure(
        inheritable_callbacks=callbacks,  # type: ignore[arg-type]
        inheritable_tags=all_tags,
        inheritable_metadata=config.get("metadata"),
    )
