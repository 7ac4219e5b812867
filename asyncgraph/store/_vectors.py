"""Semantic search: what to embed for a put, and ranking by cosine similarity.

Query vectors are normalized once; a stored vector is normalized once (SQL stores
store it so, the in-memory store on first use), so a similarity is one
``math.dist`` call: for unit vectors, cos = 1 - |q - v|^2 / 2. An item
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

__all__ = ["Indexer", "best_score", "from_blob", "inverse_norm", "normalize", "top", "to_blob"]

T = TypeVar("T")
Vectors = list[tuple[str, list[float]]]  # (field name, vector)


def normalize(vector: Sequence[float]) -> list[float]:
    """The unit vector along ``vector`` (all zeros stays all zeros)."""
    norm = math.sqrt(math.fsum(map(mul, vector, vector)))
    if norm == 0.0:
        return [0.0] * len(vector)
    return [x / norm for x in vector]


def to_blob(vector: Sequence[float]) -> bytes:
    return array("f", vector).tobytes()


def from_blob(blob: bytes | memoryview) -> Sequence[float]:
    values = array("f")
    values.frombytes(blob)
    return values


def inverse_norm(vector: Sequence[float]) -> float:
    """1 / |vector|, or 0.0 for a zero vector (whose similarity is then 0)."""
    norm = math.sqrt(sum(map(mul, vector, vector)))
    return 1.0 / norm if norm else 0.0


def best_score(query: Sequence[float], vectors: Iterable[Sequence[float]]) -> float:
    """The best similarity of normalized ``vectors`` to the normalized ``query``.

    For unit vectors cos = 1 - |q - v|^2 / 2, and ``math.dist`` is one C loop (several
    times faster than a dot product in Python). A zero vector scores 0.
    """
    return max(1.0 - math.dist(query, v) ** 2 / 2.0 if any(v) else 0.0 for v in vectors)


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
        # The common case, top-level keys, read without the general path walker.
        simple = all(len(t) == 1 and t[0] != "$" and t[0][0] not in "[{*" for _, t in self.fields)
        self._simple_keys = [f for f, _ in self.fields] if simple else None
        # ... and the commonest of all, one top-level key (embed_one's fast path).
        self._single_key = self._simple_keys[0] if self._simple_keys and len(self._simple_keys) == 1 else None

    def texts(self, op: PutOp) -> list[tuple[str, str]]:
        """(field name, text) pairs to embed for a put (none for ``index=False``)."""
        return self.texts_of(op.value, op.index)

    def texts_of(self, value: Any, index: Any) -> list[tuple[str, str]]:
        if value is None or index is False:
            return []
        if index is None and self._simple_keys is not None:
            out0: list[tuple[str, str]] = []
            for name in self._simple_keys:
                found = value.get(name)
                if type(found) is str:
                    out0.append((name, found))
                elif found is not None:
                    out0 += [(name, t) for t in get_text_at_path(value, [name])]
            return out0
        paths = self.fields if index is None else [(p, tokenize_path(p)) for p in index]
        out: list[tuple[str, str]] = []
        for name, tokens in paths:
            found = get_text_at_path(value, tokens)
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
        checked = [self._check(v) for v in vectors]
        out: list[Vectors] = [[] for _ in range(count)]
        for n, field, t in refs:
            out[n].append((field, checked[t]))
        return out

    def _check(self, vector: Sequence[float]) -> list[float]:
        if len(vector) != self.dims:
            raise ValueError(
                f"The embedding function returned a vector of {len(vector)} dimensions; the "
                f"store's index config says dims={self.dims}"
            )
        return vector if type(vector) is list else list(vector)

    def _pair(self, texts: list[tuple[str, str]], vectors: list[list[float]]) -> Vectors:
        if len(vectors) != len(texts):
            raise ValueError(
                f"The embedding function returned {len(vectors)} vectors for {len(texts)} texts"
            )
        return [(field, self._check(v)) for (field, _), v in zip(texts, vectors, strict=True)]

    def embed_one(self, value: Any, index: Any) -> Vectors:
        """The vectors of one put (the single-put fast path of :meth:`embed_puts`)."""
        name = self._single_key
        if name is not None and index is None:  # written out: this is on every put's path
            text = value.get(name)
            if type(text) is str:
                vectors = self.embeddings.embed_documents([text])
                if len(vectors) == 1:
                    vector = vectors[0]
                    if type(vector) is not list or len(vector) != self.dims:
                        vector = self._check(vector)
                    return [(name, vector)]
                return self._pair([(name, text)], vectors)  # raises
        texts = self.texts_of(value, index)
        if not texts:
            return []
        if len(texts) == 1:
            field, text = texts[0]
            vectors = self.embeddings.embed_documents([text])
            if len(vectors) == 1:
                return [(field, self._check(vectors[0]))]
            return self._pair(texts, vectors)  # raises
        return self._pair(texts, self.embeddings.embed_documents([t for _, t in texts]))

    async def aembed_one(self, value: Any, index: Any) -> Vectors:
        texts = self.texts_of(value, index)
        if not texts:
            return []
        return self._pair(texts, await self.embeddings.aembed_documents([t for _, t in texts]))

    def embed_puts(self, puts: Sequence[PutOp]) -> list[Vectors]:
        """The vectors of each put, in order (as returned: not normalized)."""
        texts, refs = self._plan(puts)
        vectors = self.embeddings.embed_documents(texts) if texts else []
        return self._assemble(len(puts), refs, vectors, len(texts))

    async def aembed_puts(self, puts: Sequence[PutOp]) -> list[Vectors]:
        texts, refs = self._plan(puts)
        vectors = await self.embeddings.aembed_documents(texts) if texts else []
        return self._assemble(len(puts), refs, vectors, len(texts))

    def embed_queries(self, queries: Iterable[str]) -> dict[str, list[float]]:
        """Normalized query vectors by query text."""
        return {
            q: normalize(self._check(self.embeddings.embed_query(q))) for q in dict.fromkeys(queries)
        }

    async def aembed_queries(self, queries: Iterable[str]) -> dict[str, list[float]]:
        distinct = list(dict.fromkeys(queries))
        if len(distinct) == 1:
            vectors: list[Any] = [await self.embeddings.aembed_query(distinct[0])]
        else:
            vectors = await asyncio.gather(*(self.embeddings.aembed_query(q) for q in distinct))
        return {q: normalize(self._check(v)) for q, v in zip(distinct, vectors, strict=True)}
