"""Node result caches: ``compile(cache=InMemoryCache())`` with ``add_node(...,
cache_policy=CachePolicy(ttl=...))`` skips a node whose input was seen before."""

from asyncgraph.cache.base import BaseCache, FullKey, Namespace
from asyncgraph.cache.memory import InMemoryCache

__all__ = ["BaseCache", "FullKey", "InMemoryCache", "Namespace"]
