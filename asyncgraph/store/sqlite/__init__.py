"""SQLite stores: :class:`SqliteStore` (sync) and :class:`AsyncSqliteStore` (aiosqlite)."""

from asyncgraph.store.sqlite.aio import AsyncSqliteStore
from asyncgraph.store.sqlite.base import SqliteStore

__all__ = ["AsyncSqliteStore", "SqliteStore"]
