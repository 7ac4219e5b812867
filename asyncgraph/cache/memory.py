"""A cache in this process's memory (lost when it exits)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from asyncgraph._async import async_twin
from asyncgraph.cache.base import BaseCache, FullKey, Namespace


class InMemoryCache(BaseCache):
    """Node results kept in a dict, serialized, with expiry times. Thread-safe.

    Its async methods run inline (no I/O to wait for).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._data: dict[Namespace, dict[str, tuple[tuple[str, bytes], float | None]]] = {}
        self._lock = threading.Lock()

    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, Any]:
        now = time.time()
        found: dict[FullKey, tuple[str, bytes]] = {}
        with self._lock:
            for ns, key in keys:
                entries = self._data.get(ns)
                entry = entries.get(key) if entries else None
                if entry is None:
                    continue
                blob, expires = entry
                if expires is not None and expires <= now:
                    del entries[key]  # type: ignore[union-attr]
                    continue
                found[(ns, key)] = blob
        return {k: self.serde.loads_typed(blob) for k, blob in found.items()}

    def set(self, pairs: Mapping[FullKey, tuple[Any, int | None]]) -> None:
        now = time.time()
        encoded = {
            k: (self.serde.dumps_typed(value), now + ttl if ttl is not None else None)
            for k, (value, ttl) in pairs.items()
        }
        with self._lock:
            for (ns, key), entry in encoded.items():
                self._data.setdefault(ns, {})[key] = entry

    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        with self._lock:
            if namespaces is None:
                self._data.clear()
            else:
                for ns in namespaces:
                    self._data.pop(ns, None)

    # No I/O to wait for: the async twins call this class's sync methods inline.
    aget = async_twin(BaseCache.get, inline=True)
    aset = async_twin(BaseCache.set, inline=True)
    aclear = async_twin(BaseCache.clear, inline=True)


__all__ = ["InMemoryCache"]
