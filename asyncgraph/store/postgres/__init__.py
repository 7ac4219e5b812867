"""PostgreSQL stores: :class:`PostgresStore` (sync) and :class:`AsyncPostgresStore`."""

from asyncgraph.store.postgres.aio import AsyncPostgresStore
from asyncgraph.store.postgres.base import PoolConfig, PostgresStore

__all__ = ["AsyncPostgresStore", "PoolConfig", "PostgresStore"]
