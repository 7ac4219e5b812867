"""The cache contract: values under ``(namespace, key)``, each with an optional TTL.

The engine keeps one namespace per cached node and stores, under a key derived from
the node's input, the writes the node's task produced. A cache serializes what it
stores (so a later in-place change to a state value cannot alter a cached result)
with the same msgpack serde as the checkpointers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from asyncgraph._async import async_twin
from asyncgraph.checkpoint.serde import MsgpackSerde, default_serde

Namespace = tuple[str, ...]
FullKey = tuple[Namespace, str]


class BaseCache:
    """Base of node-result caches. Subclasses implement the three sync methods; the
    async twins run them in a worker thread unless overridden."""

    def __init__(self, *, serde: MsgpackSerde | None = None) -> None:
        self.serde = serde or default_serde()

    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, Any]:
        """The live (not expired) values of those of ``keys`` that are cached."""
        raise NotImplementedError

    def set(self, pairs: Mapping[FullKey, tuple[Any, int | None]]) -> None:
        """Store each value with its TTL in seconds (None: until cleared)."""
        raise NotImplementedError

    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Drop the given namespaces, or everything."""
        raise NotImplementedError

    # The async API, derived from the sync one (CACHE_METHODS): each runs its sync
    # method in a worker thread unless a subclass overrides it.
    aget = async_twin(get)
    aset = async_twin(set)
    aclear = async_twin(clear)


CACHE_METHODS = ("get", "set", "clear")
"""The cache API, declared once: the sync names; each has its async twin ``"a" + name``."""


__all__ = ["CACHE_METHODS", "BaseCache", "FullKey", "Namespace"]
