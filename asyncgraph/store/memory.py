"""InMemoryStore: the store in a dict, for development, tests and single-process apps.

Usage mirrors LangGraph's::

    store = InMemoryStore(index={"embed": embeddings, "dims": 256})
    graph = builder.compile(store=store)

Items live in ``_data[namespace][key]`` in insertion order, which is the order of a
search without ``query``. Unlike LangGraph's in-memory store it honours ``ttl=`` (see
:mod:`asyncgraph.store._ttl`), keeps ``created_at`` when an item is overwritten, and
drops an item's old vectors when it is put again. It is safe to use from several
threads (sync nodes run in worker threads): every batch reads and writes under a lock.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterable, Mapping
from math import dist
from typing import Any, Literal

from asyncgraph.store._filter import Predicate, compile_filter, validate_filter
from asyncgraph.store._ttl import Sweeper, interval_seconds
from asyncgraph.store._vectors import Indexer, Vectors, inverse_norm, normalize, top
from asyncgraph.store.base._store import BaseStore
from asyncgraph.store.base._types import (
    NOT_PROVIDED,
    Epoch,
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    NotProvided,
    TTLConfig,
    validate_labels,
    validate_namespace,
    validate_op_namespace,
    validate_value,
)

__all__ = ["InMemoryStore"]

Address = tuple[tuple[str, ...], str]


class _Search:
    __slots__ = ("candidates", "index", "op")

    def __init__(self, index: int, op: SearchOp, candidates: list[tuple[Item, Any]]) -> None:
        self.index = index
        self.op = op
        self.candidates = candidates  # (item, its vectors dict or None)


class InMemoryStore(BaseStore):
    """A store held in process memory.

    Args:
        index: semantic search config (``embed``, ``dims``, ``fields``); without it,
            ``query=`` is ignored and search returns items in store order.
        ttl: TTL config (``default_ttl``, ``refresh_on_read``, ``sweep_interval_minutes``,
            ``omit_expired``).
    """

    supports_ttl = True

    def __init__(self, *, index: IndexConfig | None = None, ttl: TTLConfig | None = None) -> None:
        self._data: dict[tuple[str, ...], dict[str, Item]] = {}
        # [namespace][key][field] = [vector, unit vector (None until first needed, False if 0)]
        self._vectors: dict[tuple[str, ...], dict[str, dict[str, list[Any]]]] = {}
        self._checked: set[tuple[str, ...]] = set()  # namespaces known to be valid for put
        self._labels_ok: set[tuple[str, ...]] = set()  # ... and for reads
        self._expiry: dict[Address, list[float]] = {}  # [expires_at (epoch s), ttl minutes]
        self._lock = threading.RLock()
        self._indexer = Indexer(index) if index else None
        self.index_config = self._indexer.config if self._indexer else None
        self.embeddings = self._indexer.embeddings if self._indexer else None
        self.ttl_config = ttl
        self._omit_expired = bool(ttl and ttl.get("omit_expired"))
        self._sweeper = Sweeper()

    # -- batch -----------------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        results, searches, puts = self._read(ops)
        if searches and self._indexer is not None:
            queries = [s.op.query for s in searches if s.op.query]
            if queries:
                self._rank(searches, results, self._indexer.embed_queries(queries))
        self._answer_plain(searches, results)
        if puts:
            indexer = self._indexer
            vectors = indexer.embed_puts(list(puts.values())) if indexer else None
            self._write(puts, vectors)
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        results, searches, puts = self._read(ops)
        if searches and self._indexer is not None:
            queries = [s.op.query for s in searches if s.op.query]
            if queries:
                self._rank(searches, results, await self._indexer.aembed_queries(queries))
        self._answer_plain(searches, results)
        if puts:
            indexer = self._indexer
            vectors = await indexer.aembed_puts(list(puts.values())) if indexer else None
            self._write(puts, vectors)
        return results

    # -- single-op fast paths (same results as the batch path, without building ops) -------

    def get(
        self, namespace: tuple[str, ...], key: str, *, refresh_ttl: bool | None = None
    ) -> Item | None:
        if type(namespace) is not tuple or type(key) is not str or self._expiry:
            return super().get(namespace, key, refresh_ttl=refresh_ttl)
        if namespace not in self._labels_ok:
            validate_labels(namespace)
            self._labels_ok.add(namespace)
        items = self._data.get(namespace)
        return items.get(key) if items is not None else None

    async def aget(
        self, namespace: tuple[str, ...], key: str, *, refresh_ttl: bool | None = None
    ) -> Item | None:
        return self.get(namespace, key, refresh_ttl=refresh_ttl)

    def _fast_put(self, namespace: Any, key: Any, value: Any, ttl: Any) -> Any:
        """The ttl to store if the put can take the fast path, else ``NOT_PROVIDED``."""
        if type(namespace) is not tuple or type(key) is not str or type(value) is not dict:
            return NOT_PROVIDED
        if namespace not in self._checked:
            validate_namespace(namespace)
            self._checked.add(namespace)
        if ttl is NOT_PROVIDED or isinstance(ttl, NotProvided):
            return self.ttl_config.get("default_ttl") if self.ttl_config else None
        return ttl

    def put(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | None | NotProvided = NOT_PROVIDED,
    ) -> None:
        # The fast path, written out (``_fast_put``): this is every put's path.
        if type(namespace) is not tuple or type(key) is not str or type(value) is not dict:
            return super().put(namespace, key, value, index, ttl=ttl)
        if namespace not in self._checked:
            validate_namespace(namespace)
            self._checked.add(namespace)
        if ttl is NOT_PROVIDED or isinstance(ttl, NotProvided):
            ttl = self.ttl_config.get("default_ttl") if self.ttl_config else None
        indexer = self._indexer
        vectors = indexer.embed_one(value, index) if indexer is not None else None
        lock = self._lock
        lock.acquire()  # not ``with``: its __exit__ call costs a tenth of this put
        try:
            self._write_one(namespace, key, value, vectors, ttl, time.time())
        finally:
            lock.release()

    async def aput(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | None | NotProvided = NOT_PROVIDED,
    ) -> None:
        stored_ttl = self._fast_put(namespace, key, value, ttl)
        if stored_ttl is NOT_PROVIDED:
            return await super().aput(namespace, key, value, index, ttl=ttl)
        indexer = self._indexer
        vectors = await indexer.aembed_one(value, index) if indexer is not None else None
        with self._lock:
            self._write_one(namespace, key, value, vectors, stored_ttl, time.time())

    # -- reads -----------------------------------------------------------------------------

    def _read(self, ops: Iterable[Op]) -> tuple[list[Result], list[_Search], dict[Address, PutOp]]:
        ops = list(ops)
        for op in ops:  # all input errors before anything happens
            validate_op_namespace(op)
            if isinstance(op, PutOp):
                validate_value(op.namespace, op.key, op.value)
            elif isinstance(op, SearchOp):
                validate_filter(op.filter)
            elif not isinstance(op, (GetOp, ListNamespacesOp)):
                raise TypeError(f"Unknown store operation: {op!r}")
        results: list[Result] = [None] * len(ops)
        searches: list[_Search] = []
        puts: dict[Address, PutOp] = {}
        now = time.time()
        with self._lock:
            for i, op in enumerate(ops):
                if isinstance(op, GetOp):
                    results[i] = self._get(op, now)
                elif isinstance(op, SearchOp):
                    searches.append(_Search(i, op, self._candidates(op, now)))
                elif isinstance(op, PutOp):
                    puts[(op.namespace, op.key)] = op  # the last put to an address wins
                else:
                    results[i] = self._list_namespaces(op)  # type: ignore[arg-type]
        return results, searches, puts

    def _alive(self, address: Address, now: float, refresh: bool) -> bool:
        entry = self._expiry.get(address)
        if entry is None:
            return True
        if self._omit_expired and entry[0] <= now:
            return False
        if refresh:
            entry[0] = now + entry[1] * 60.0
        return True

    def _get(self, op: GetOp, now: float) -> Item | None:
        items = self._data.get(op.namespace)
        item = items.get(op.key) if items else None
        if item is None or (self._expiry and not self._alive((op.namespace, op.key), now, op.refresh_ttl)):
            return None
        return item

    def _candidates(self, op: SearchOp, now: float) -> list[tuple[Item, Any]]:
        prefix = op.namespace_prefix
        n = len(prefix)
        predicate: Predicate | None = compile_filter(op.filter)
        ranked = bool(op.query and self._indexer)
        # Without ranking only the first offset + limit matches are needed.
        stop = None if ranked else max(op.offset, 0) + max(op.limit, 0)
        expiry = self._expiry
        out: list[tuple[Item, Any]] = []
        if stop == 0:
            return out
        for namespace, items in self._data.items():
            if namespace[:n] != prefix:
                continue
            vectors = self._vectors.get(namespace) if ranked else None
            for key, item in items.items():
                if predicate is not None and not predicate(item.value):
                    continue
                if expiry and not self._alive((namespace, key), now, op.refresh_ttl):
                    continue
                out.append((item, vectors.get(key) if vectors else None))
                if len(out) == stop:
                    return out
        return out

    def _rank(self, searches: list[_Search], results: list[Result], queries: dict[str, list[float]]) -> None:
        for search in searches:
            op = search.op
            if not op.query:
                continue
            q = queries[op.query]
            scored: list[tuple[float, Item]] = []
            unscored: list[Item] = []
            for item, vectors in search.candidates:
                if not vectors:
                    unscored.append(item)
                    continue
                best = -2.0
                for entry in vectors.values():
                    unit = entry[1]
                    if unit is None:  # first search since the put: normalize once
                        unit = entry[1] = normalize(entry[0]) if inverse_norm(entry[0]) else False
                    # For unit vectors, cos = 1 - |q - v|^2 / 2; math.dist is one C loop.
                    score = 1.0 - dist(q, unit) ** 2 / 2.0 if unit else 0.0
                    if score > best:
                        best = score
                scored.append((best, item))
            start, end = max(op.offset, 0), max(op.offset, 0) + max(op.limit, 0)
            ranked = top(scored, end)
            page: list[tuple[float | None, Item]] = list(ranked[start:end])
            if len(page) < end - start and unscored:
                skip = max(start - len(scored), 0)
                page.extend((None, item) for item in unscored[skip : skip + end - start - len(page)])
            results[search.index] = [_found(item, score) for score, item in page]
            search.candidates = []

    @staticmethod
    def _answer_plain(searches: list[_Search], results: list[Result]) -> None:
        for search in searches:
            if results[search.index] is None:
                op = search.op
                page = search.candidates[op.offset : op.offset + op.limit]
                results[search.index] = [_found(item, None) for item, _ in page]

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        return list_namespaces([ns for ns, items in self._data.items() if items], op)

    # -- writes ----------------------------------------------------------------------------

    def _write(self, puts: dict[Address, PutOp], vectors: list[Vectors] | None) -> None:
        now = time.time()
        with self._lock:
            for n, ((namespace, key), op) in enumerate(puts.items()):
                if op.value is None:
                    # An emptied namespace keeps its place in _data, so search order
                    # (namespace insertion order) stays LangGraph's; listings skip it.
                    items = self._data.get(namespace)
                    if items is not None:
                        items.pop(key, None)
                    self._drop_vectors(namespace, key)
                    self._expiry.pop((namespace, key), None)
                else:
                    v = vectors[n] if vectors is not None else None
                    self._write_one(namespace, key, op.value, v, op.ttl, now)

    def _write_one(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        vectors: Vectors | None,
        ttl: float | None,
        now: float,
    ) -> None:
        """Store one item (under the lock)."""
        items = self._data.get(namespace)
        if items is None:
            items = self._data[namespace] = {}
        stamp = Epoch(now)  # a datetime only when read (see Epoch)
        old = items.get(key)
        item = _new(Item)
        item.value = dict(value)
        item.key = key
        item.namespace = namespace
        item._created = old._created if old is not None else stamp
        item._updated = stamp
        items[key] = item
        if vectors:
            if len(vectors) == 1:
                field, vector = vectors[0]
                entries = {field: [vector, None]}
            else:
                entries = {field: [vector, None] for field, vector in vectors}
            by_key = self._vectors.get(namespace)
            if by_key is None:
                by_key = self._vectors[namespace] = {}
            by_key[key] = entries
        elif self._vectors:
            self._drop_vectors(namespace, key)
        if ttl is not None:
            self._expiry[(namespace, key)] = [now + ttl * 60.0, ttl]
        elif self._expiry:
            self._expiry.pop((namespace, key), None)

    def _drop_vectors(self, namespace: tuple[str, ...], key: str) -> None:
        vectors = self._vectors.get(namespace)
        if vectors is not None and vectors.pop(key, None) is not None and not vectors:
            del self._vectors[namespace]

    # -- TTL -------------------------------------------------------------------------------

    def sweep_ttl(self) -> int:
        """Delete the expired items now; returns how many were deleted."""
        now = time.time()
        with self._lock:
            expired = [address for address, (at, _) in self._expiry.items() if at <= now]
            for namespace, key in expired:
                items = self._data.get(namespace)
                if items is not None:
                    items.pop(key, None)
                self._drop_vectors(namespace, key)
                del self._expiry[(namespace, key)]
        return len(expired)

    def start_ttl_sweeper(
        self, sweep_interval_minutes: float | None = None
    ) -> concurrent.futures.Future[None]:
        """Sweep in a background thread every ``sweep_interval_minutes`` (default: the
        ttl config's, else 5); the returned future completes when the sweeper stops."""
        return self._sweeper.start(self.sweep_ttl, interval_seconds(self.ttl_config, sweep_interval_minutes))

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper thread; True once it has ended."""
        return self._sweeper.stop(timeout)


_new = object.__new__  # builds an Item without re-checking fields this module just made


def _found(item: Item, score: float | None) -> SearchItem:
    found = _new(SearchItem)
    found.namespace = item.namespace
    found.key = item.key
    found.value = item.value
    found._created = item._created  # timestamps stay unbuilt until read
    found._updated = item._updated
    found.score = score
    return found


def _matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        part = namespace[: len(path)]
    elif condition.match_type == "suffix":
        part = namespace[len(namespace) - len(path) :]
    else:
        raise ValueError(
            f"Unknown namespace match type {condition.match_type!r}: use 'prefix' or 'suffix'"
        )
    return all(p == "*" or p == label for p, label in zip(path, part, strict=True))


def list_namespaces(namespaces: Iterable[tuple[str, ...]], op: ListNamespacesOp) -> list[tuple[str, ...]]:
    """Apply a list-namespaces op to the namespaces that hold items (shared by the SQL
    back ends, which fetch the distinct namespaces and finish here)."""
    conditions = op.match_conditions or ()
    found = {
        ns if op.max_depth is None else ns[: op.max_depth]
        for ns in namespaces
        if all(_matches(c, ns) for c in conditions)
    }
    return sorted(found)[op.offset : op.offset + op.limit]
