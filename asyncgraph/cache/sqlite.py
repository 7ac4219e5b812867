"""A cache in a SQLite file: results survive restarts and are shared by processes."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from asyncgraph.cache.base import BaseCache, FullKey, Namespace

_SCHEMA = """
CREATE TABLE IF NOT EXISTS asyncgraph_cache (
    ns TEXT NOT NULL,
    key TEXT NOT NULL,
    type TEXT NOT NULL,
    value BLOB NOT NULL,
    expires REAL,
    PRIMARY KEY (ns, key)
)
"""


class SqliteCache(BaseCache):
    """Node results in a SQLite database file (WAL mode), with expiry times.

    Args:
        path: the database file (created if missing); ``":memory:"`` works too.
        serde: the serializer; the checkpointers' msgpack serde by default.

    The async methods run in a worker thread, so a run never waits on disk in the
    event loop's thread.
    """

    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            if path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.execute(_SCHEMA)

    @staticmethod
    def _ns(ns: Namespace) -> str:
        return json.dumps(list(ns))

    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, Any]:
        now = time.time()
        found: dict[FullKey, tuple[str, bytes]] = {}
        with self._lock:
            for ns, key in keys:
                row = self._conn.execute(
                    "SELECT type, value, expires FROM asyncgraph_cache WHERE ns = ? AND key = ?",
                    (self._ns(ns), key),
                ).fetchone()
                if row is None:
                    continue
                if row[2] is not None and row[2] <= now:
                    self._conn.execute(
                        "DELETE FROM asyncgraph_cache WHERE ns = ? AND key = ?", (self._ns(ns), key)
                    )
                    continue
                found[(ns, key)] = (row[0], row[1])
        return {k: self._decode(k, blob) for k, blob in found.items()}

    def _decode(self, full_key: FullKey, blob: tuple[str, bytes]) -> Any:
        # The file is outside the process: a row may be corrupt or written by someone else.
        # The serde refuses anything outside its allowlist; say which row it was.
        try:
            return self.serde.loads_typed(blob)
        except ValueError as exc:
            ns, key = full_key
            raise ValueError(
                f"cannot read the cached value for namespace {list(ns)!r}, key {key!r} in "
                f"{self.path}: {exc}; clear() the namespace to recompute it"
            ) from None

    def set(self, pairs: Mapping[FullKey, tuple[Any, int | None]]) -> None:
        now = time.time()
        rows = []
        for (ns, key), (value, ttl) in pairs.items():
            type_, data = self.serde.dumps_typed(value)
            rows.append((self._ns(ns), key, type_, data, now + ttl if ttl is not None else None))
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO asyncgraph_cache (ns, key, type, value, expires) "
                    "VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        with self._lock:
            if namespaces is None:
                self._conn.execute("DELETE FROM asyncgraph_cache")
            else:
                self._conn.executemany(
                    "DELETE FROM asyncgraph_cache WHERE ns = ?", [(self._ns(ns),) for ns in namespaces]
                )

    def close(self) -> None:
        with self._lock:
            self._conn.close()


__all__ = ["SqliteCache"]
