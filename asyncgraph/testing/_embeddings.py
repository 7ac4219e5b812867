"""A deterministic, offline embedding model for testing semantic search."""

from __future__ import annotations

import math
import re
import zlib

from langchain_core.embeddings import Embeddings

__all__ = ["DeterministicEmbeddings"]

_WORD = re.compile(r"\w+", re.UNICODE)


class DeterministicEmbeddings(Embeddings):
    """Hashes words and character trigrams into ``dims`` signed buckets, then normalizes.

    The same text always gives the same vector, in every process (no randomness, no
    ``hash()`` seed), and texts sharing words or spellings get close vectors, so
    ``store.search(ns, query=...)`` ranks the way a reader expects. Counts its calls in
    ``calls`` (texts embedded) for tests that check how often a store embeds.

    Args:
        dims: the vector length (the store's ``index={"dims": ...}``).
    """

    def __init__(self, dims: int = 256) -> None:
        if dims < 1:
            raise ValueError(f"dims must be at least 1, got {dims}")
        self.dims = dims
        self.calls = 0

    def _embed(self, text: str) -> list[float]:
        vector = [0.0] * self.dims
        lowered = text.lower()
        features = _WORD.findall(lowered)
        padded = f"  {lowered}  "
        features += [padded[i : i + 3] for i in range(len(padded) - 2)]
        for feature in features:
            h = zlib.crc32(feature.encode("utf-8"))
            vector[h % self.dims] += 1.0 if (h >> 16) & 1 else -1.0
        norm = math.sqrt(sum(x * x for x in vector))
        return [x / norm for x in vector] if norm else vector

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += len(texts)
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.calls += 1
        return self._embed(text)

    # Computed inline: the base class would hop to a thread for microseconds of work.
    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        return self.embed_query(text)
