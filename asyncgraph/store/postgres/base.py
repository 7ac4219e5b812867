"""PostgresStore: the store in PostgreSQL through psycopg 3.

Usage mirrors LangGraph's::

    with PostgresStore.from_conn_string("postgresql://...", index={...}) as store:
        store.setup()   # optional: runs on first use anyway
        graph = builder.compile(store=store)

A batch is one statement in autocommit mode when it can be, else one pipelined
transaction (one round trip per dependent step). Vectors are stored portably (float32
bytes) and ranked in Python, so semantic search works on any server. ``setup()`` also
detects pgvector (``CREATE EXTENSION vector``) and, when the server has it, stores
vectors as ``vector(dims)`` with an HNSW index and ranks them in SQL. A database keeps
its first choice (:func:`choose_vectors`); the choice and its reason are logged on the
``asyncgraph.store`` logger (a warning when the server has pgvector and the store cannot
use it), and ``store.pgvector`` tells which it is.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypedDict

from asyncgraph._async import in_thread
from asyncgraph.store._sql import POSTGRES, Stmt
from asyncgraph.store._sqlstore import SqlStore, drive
from asyncgraph.store._ttl import Sweeper, interval_seconds
from asyncgraph.store.base._types import IndexConfig, Op, Result, TTLConfig
from asyncgraph.store.postgres._libpq import UNAVAILABLE, OneRowReader

__all__ = ["PoolConfig", "PostgresStore"]

PGVECTOR_SCORE = "1.0 - (v.embedding <=> %s::vector)"

logger = logging.getLogger("asyncgraph.store")

# What setup() reads to choose where vectors go (see choose_vectors).
PGVECTOR_PROBE = """SELECT
    EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector'),
    to_regclass('ag_store_pgvectors') IS NOT NULL,
    EXISTS (SELECT 1 FROM ag_store_vectors)"""


def choose_vectors(available: bool, has_table: bool, portable_rows: bool) -> tuple[str, str]:
    """Where an indexed store keeps its vectors, from what :data:`PGVECTOR_PROBE` read:
    ``("pgvector", why)`` (the database chose it before), ``("create", why)`` (try to
    create the extension and its table now) or ``("portable", why)``.

    A database keeps the choice it made first: one that already holds portable vectors
    stays portable when the server gains pgvector (ranking only the pgvector table would
    lose every item embedded before).
    """
    if has_table:
        return "pgvector", "this database's store already keeps its vectors with pgvector"
    if not available:
        return "portable", "the server has no pgvector extension (pg_available_extensions)"
    if portable_rows:
        return "portable", (
            "the server has pgvector, but this database already holds vectors stored "
            "portably (table ag_store_vectors); they stay where they are"
        )
    return "create", "the server has pgvector"


def pgvector_setup(dims: int) -> tuple[str, ...]:
    """The statements that switch a new database to pgvector, in one transaction."""
    return ("SELECT pg_advisory_xact_lock(726373)", "CREATE EXTENSION IF NOT EXISTS vector", *pgvector_schema(dims))


def report_vectors(mode: str, why: str, available: bool) -> None:
    """Log the choice: a warning when the server has pgvector and the store does not
    use it, else at INFO."""
    if mode == "pgvector":
        logger.info("PostgresStore: vectors ranked in SQL with pgvector (%s)", why)
    else:
        level = logging.WARNING if available else logging.INFO
        logger.log(level, "PostgresStore: vectors stored portably and ranked in Python: %s", why)


class PoolConfig(TypedDict, total=False):
    """Connection pool settings for ``from_conn_string(pool_config=...)``."""

    min_size: int
    max_size: int
    kwargs: dict[str, Any]


def vector_literal(vector: list[float]) -> str:
    return "[" + ",".join(map(repr, vector)) + "]"


def pgvector_schema(dims: int) -> tuple[str, ...]:
    return (
        f"""CREATE TABLE IF NOT EXISTS ag_store_pgvectors (
            prefix TEXT COLLATE "C" NOT NULL, key TEXT NOT NULL, field TEXT NOT NULL,
            embedding vector({int(dims)}) NOT NULL,
            PRIMARY KEY (prefix, key, field),
            FOREIGN KEY (prefix, key) REFERENCES ag_store (prefix, key) ON DELETE CASCADE)""",
        """CREATE INDEX IF NOT EXISTS ag_store_pgvectors_hnsw ON ag_store_pgvectors
            USING hnsw (embedding vector_cosine_ops)""",
    )


def execute_pg(conn: Any, batch: list[Stmt]) -> list[Any]:
    """Run one batch on a sync psycopg connection (see the module docstring)."""
    from psycopg.rows import tuple_row

    if len(batch) == 1 and not batch[0].many and conn.autocommit:
        stmt = batch[0]
        cur = conn.cursor(row_factory=tuple_row)
        cur.execute(stmt.sql, stmt.params)
        rows = cur.fetchall() if stmt.fetch else None
        return [stmt.consume(rows) if stmt.consume is not None and rows is not None else rows]
    with conn.pipeline() as pipeline, conn.transaction():
        cursors = []
        for stmt in batch:
            cur = conn.cursor(row_factory=tuple_row)
            if stmt.many:
                cur.executemany(stmt.sql, stmt.params)
            else:
                cur.execute(stmt.sql, stmt.params)
            cursors.append(cur)
        pipeline.sync()
        out = [c.fetchall() if s.fetch else None for c, s in zip(cursors, batch, strict=True)]
        return [s.consume(r) if s.consume is not None and r is not None else r for s, r in zip(batch, out, strict=True)]


class PostgresStore(SqlStore):
    """A store backed by PostgreSQL (sync; the async methods use a thread).

    Args:
        conn: a psycopg ``Connection`` (autocommit recommended, as LangGraph requires)
            or a ``ConnectionPool``.
        index: semantic search config (``embed``, ``dims``, ``fields``).
        ttl: TTL config (``default_ttl``, ``refresh_on_read``, ``sweep_interval_minutes``).
    """

    def __init__(
        self,
        conn: Any,
        *,
        pipe: Any = None,
        deserializer: Any = None,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
    ) -> None:
        if deserializer is not None:
            raise NotImplementedError("PostgresStore(deserializer=...) is not supported")
        self.conn = conn
        self._is_pool = hasattr(conn, "connection") and not hasattr(conn, "cursor")
        self.lock = threading.Lock()
        self.is_setup = False
        self.pgvector = False
        self._get_reader: OneRowReader | None = None
        self._configure(POSTGRES, index, ttl)
        self._sweeper = Sweeper()

    @classmethod
    @contextmanager
    def from_conn_string(
        cls,
        conn_string: str,
        *,
        pipeline: bool = False,
        pool_config: PoolConfig | None = None,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
    ) -> Iterator[PostgresStore]:
        """Connect (or open a pool, with ``pool_config``); close on exit."""
        # Imported here: psycopg is an optional dependency.
        from psycopg import Connection

        if pool_config is not None:
            from psycopg_pool import ConnectionPool

            kwargs = {"autocommit": True, **(pool_config.get("kwargs") or {})}
            with ConnectionPool(
                conn_string,
                min_size=pool_config.get("min_size", 1),
                max_size=pool_config.get("max_size"),
                kwargs=kwargs,
                open=True,
            ) as pool:
                yield cls(pool, index=index, ttl=ttl)
            return
        with Connection.connect(conn_string, autocommit=True) as conn:
            yield cls(conn, index=index, ttl=ttl)

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        if self._is_pool:
            with self.conn.connection() as conn:
                yield conn
        else:
            with self.lock:
                yield self.conn

    def setup(self) -> None:
        """Create the tables if needed (and use pgvector when the server has it)."""
        with self._connection() as conn:
            self._setup_on(conn)

    def _setup_on(self, conn: Any) -> None:
        if self.is_setup:
            return
        with conn.transaction():
            cur = conn.cursor()
            cur.execute("SELECT pg_advisory_xact_lock(726373)")
            for sql in POSTGRES.schema:
                cur.execute(sql)
        if self._indexer is not None:
            self._use_pgvector(conn)
        self.is_setup = True

    def _use_pgvector(self, conn: Any) -> None:
        """Choose where vectors go (:func:`choose_vectors`) and say so in the log."""
        import psycopg  # for import time: psycopg is an optional dependency

        assert self._indexer is not None
        cur = conn.cursor()
        cur.execute(PGVECTOR_PROBE)
        probe = cur.fetchone()
        mode, why = choose_vectors(*probe)
        if mode == "create":
            try:
                with conn.transaction():
                    for sql in pgvector_setup(self._indexer.dims):
                        cur.execute(sql)
                mode = "pgvector"
            except psycopg.Error as exc:
                mode, why = "portable", f"creating the pgvector extension failed ({exc})".strip()
        report_vectors(mode, why, probe[0])
        if mode == "pgvector":
            self._enable_pgvector()

    def _enable_pgvector(self) -> None:
        self.pgvector = True
        self._core.use_db_vectors("ag_store_pgvectors", PGVECTOR_SCORE, vector_literal, "%s::vector")

    _sync_native = True

    def _execute(self, batch: list[Stmt]) -> list[Any]:
        with self._connection() as conn:
            if not self.is_setup:
                self._setup_on(conn)
            return execute_pg(conn, batch)

    def _fetch_row(self, sql: str, params: tuple[Any, ...]) -> Any:
        if self._is_pool:
            with self.conn.connection() as conn:
                return self._fetch_row_on(conn, sql, params)
        lock = self.lock
        lock.acquire()  # not ``with``, nor _connection(): a get's own time is small
        try:
            return self._fetch_row_on(self.conn, sql, params)
        finally:
            lock.release()

    def _fetch_row_on(self, conn: Any, sql: str, params: tuple[Any, ...]) -> Any:
        if not self.is_setup:
            self._setup_on(conn)
        if sql is self._core._get_one:  # the get: through libpq when it can (_libpq)
            reader = self._get_reader
            if reader is None:
                reader = self._get_reader = OneRowReader(sql)
            row = reader.fetch_one(conn, params)
            if row is not UNAVAILABLE:
                return row
        from psycopg.rows import tuple_row  # for import time: psycopg is optional

        if not conn.autocommit:
            rows = execute_pg(conn, [Stmt(sql, params, fetch=True)])[0]
            return rows[0] if rows else None
        cur = conn.cursor(row_factory=tuple_row)
        cur.execute(sql, params)
        return cur.fetchone()

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        prep = self._prepare(ops)
        with self._connection() as conn:
            if not self.is_setup:
                self._setup_on(conn)
            return drive(self._core.run(prep), lambda batch: execute_pg(conn, batch))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        prep = await self._aprepare(ops)

        def run() -> list[Result]:
            with self._connection() as conn:
                if not self.is_setup:
                    self._setup_on(conn)
                return drive(self._core.run(prep), lambda batch: execute_pg(conn, batch))

        return await in_thread(run)

    # -- TTL -------------------------------------------------------------------------------

    def sweep_ttl(self) -> int:
        """Delete the expired items now; returns how many were deleted."""
        with self._connection() as conn:
            if not self.is_setup:
                self._setup_on(conn)
            return drive(self._core.sweep(), lambda batch: execute_pg(conn, batch))

    def start_ttl_sweeper(
        self, sweep_interval_minutes: int | None = None
    ) -> concurrent.futures.Future[None]:
        """Sweep in a background thread every ``sweep_interval_minutes`` (default: the
        ttl config's, else 5); the returned future completes when the sweeper stops."""
        return self._sweeper.start(self.sweep_ttl, interval_seconds(self.ttl_config, sweep_interval_minutes))

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper thread; True once it has ended."""
        return self._sweeper.stop(timeout)
