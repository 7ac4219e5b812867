"""Fakes for testing graphs offline: no network, no API keys, deterministic."""

from asyncgraph.testing._chat_model import ScriptedChatModel, ScriptExhaustedError

__all__ = ["ScriptExhaustedError", "ScriptedChatModel"]
