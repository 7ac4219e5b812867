"""Semantic search: what to embed for a put, and ranking by cosine similarity.

Vectors are normalized once, when stored, so a similarity is one dot product. An item
with several vectors (several fields, or a ``[*]`` path) scores as its best vector.
Items that match the search but have no vector (put with ``index=False``, or before
the store had an index) come after the ranked ones, with ``score=None``.

Portable storage is float32 bytes (``to_blob``); the ranking itself is pure Python in
one pass (no numpy dependency), or the database's own vector functions where a back end
has them (sqlite-vec, pgvector).
"""

from __future__ import annotations

import asyncio
import heapq
import math
from array import array
from collections.abc import Iterable, Sequence
from operator import mul
from typing import Any, TypeVar

from asyncgraph.store.base._types import IndexConfig, PutOp
from asyncgraph.store.base.embed import ensure_embeddings, get_text_at_path, tokenize_path

__all__ = ["Indexer", "from_blob", "normalize", "top", "to_blob"]

T = TypeVar("T")
Vectors = list[tuple[str, list[float]]]  # (field name, normalized vector)


def normalize(vector: Sequence[float]) -> list[float]:
    """The unit vector along ``vector`` (all zeros stays all zeros)."""
    norm = math.sqrt(math.fsum(map(mul, vector, vector)))
    if norm == 0.0:
        return [0.0] * len(vector)
    return [x / norm for x in vector]


def to_blob(vector: Sequence[float]) -> bytes:
    return array("f", vector).tobytes()


def from_blob(blob: bytes | memoryview) -> list[float]:
    values = array("f")
    values.frombytes(blob)
    return values.tolist()


def best_score(query: list[float], vectors: Iterable[list[float]]) -> float:
    return max(sum(map(mul, query, v)) for v in vectors)


def top(scored: Iterable[tuple[float, T]], n: int) -> list[tuple[float, T]]:
    """The ``n`` best (score, x) pairs, best first; ties keep their input order."""
    return heapq.nlargest(n, scored, key=lambda pair: pair[0])


class Indexer:
    """A store's ``index=`` config, ready to use.

    Args:
        config: ``{"embed": ..., "dims": N, "fields": [...]}``; ``fields`` defaults to
            ``["$"]`` (the whole value).
    """

    def __init__(self, config: IndexConfig) -> None:
        if not isinstance(config, dict) or "dims" not in config:
            raise ValueError(
                f"index config needs 'dims' (the embedding length) and 'embed'; got {config!r}"
            )
        self.config: IndexConfig = dict(config)  # type: ignore[assignment]
        self.dims = int(config["dims"])
        self.embeddings = ensure_embeddings(config.get("embed"))
        fields = config.get("fields") or ["$"]
        self.fields = [(f, ["$"] if f == "$" else tokenize_path(f)) for f in fields]

    def texts(self, op: PutOp) -> list[tuple[str, str]]:
        """(field name, text) pairs to embed for a put (none for ``index=False``)."""
        if op.value is None or op.index is False:
            return []
        paths = self.fields if op.index is None else [(p, tokenize_path(p)) for p in op.index]
        out: list[tuple[str, str]] = []
        for name, tokens in paths:
            found = get_text_at_path(op.value, tokens)
            if len(found) == 1:
                out.append((name, found[0]))
            else:
                out.extend((f"{name}.{i}", text) for i, text in enumerate(found))
        return out

    def _plan(self, puts: Iterable[PutOp]) -> tuple[list[str], list[tuple[int, str, int]]]:
        unique: dict[str, int] = {}
        refs: list[tuple[int, str, int]] = []  # (put number, field, text number)
        for n, op in enumerate(puts):
            for field, text in self.texts(op):
                refs.append((n, field, unique.setdefault(text, len(unique))))
        return list(unique), refs

    def _assemble(
        self, count: int, refs: list[tuple[int, str, int]], vectors: list[list[float]], want: int
    ) -> list[Vectors]:
        if len(vectors) != want:
            raise ValueError(
                f"The embedding function returned {len(vectors)} vectors for {want} texts"
            )
        normal = [self._check(v) for v in vectors]
        out: list[Vectors] = [[] for _ in range(count)]
        for n, field, t in refs:
            out[n].append((field, normal[t]))
        return out

    def _check(self, vector: Sequence[float]) -> list[float]:
        if len(vector) != self.dims:
            raise ValueError(
                f"The embedding function returned a vector of {len(vector)} dimensions; the "
                f"store's index config says dims={self.dims}"
            )
        return normalize(vector)

    def embed_puts(self, puts: Sequence[PutOp]) -> list[Vectors]:
        """The normalized vectors of each put, in order."""
        texts, refs = self._plan(puts)
        vectors = self.embeddings.embed_documents(texts) if texts else []
        return self._assemble(len(puts), refs, vectors, len(texts))

    async def aembed_puts(self, puts: Sequence[PutOp]) -> list[Vectors]:
        texts, refs = self._plan(puts)
        vectors = await self.embeddings.aembed_documents(texts) if texts else []
        return self._assemble(len(puts), refs, vectors, len(texts))

    def embed_queries(self, queries: Iterable[str]) -> dict[str, list[float]]:
        return {q: self._check(self.embeddings.embed_query(q)) for q in dict.fromkeys(queries)}

    async def aembed_queries(self, queries: Iterable[str]) -> dict[str, list[float]]:
        distinct = list(dict.fromkeys(queries))
        if len(distinct) == 1:
            vectors: list[Any] = [await self.embeddings.aembed_query(distinct[0])]
        else:
            vectors = await asyncio.gather(*(self.embeddings.aembed_query(q) for q in distinct))
        return {q: self._check(v) for q, v in zip(distinct, vectors, strict=True)}
