"""Fakes for testing graphs offline: no network, no API keys, deterministic."""

from asyncgraph.testing._watchdog import BlockingReport, BlockingWatchdog
from asyncgraph.testing._chat_model import ScriptedChatModel, ScriptExhaustedError
from asyncgraph.testing._embeddings import DeterministicEmbeddings

__all__ = [
    "BlockingReport",
    "BlockingWatchdog",
    "DeterministicEmbeddings",
    "ScriptExhaustedError",
    "ScriptedChatModel",
]
