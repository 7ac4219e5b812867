"""Fakes for testing graphs offline: no network, no API keys, deterministic."""

from asyncgraph.testing._watchdog import BlockingReport, BlockingWatchdog
from asyncgraph.testing._chat_model import ScriptedChatModel, ScriptExhaustedError

__all__ = ["BlockingReport", "BlockingWatchdog", "ScriptExhaustedError", "ScriptedChatModel"]
