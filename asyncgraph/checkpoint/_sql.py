"""The relational layout shared by the SQLite and PostgreSQL savers, and its migrations.

Tables (all names prefixed ``asyncgraph_`` so they never clash with LangGraph's):

``threads``
    One row per (thread_id, checkpoint_ns), giving it a small integer ``tid``: every
    other row carries the ``tid`` instead of the (often UUID-long) thread id.
``checkpoints``
    One row per checkpoint: ``body`` is msgpack of everything but the channel values
    (versions, versions seen, ts, and ``variants``, see below); ``metadata`` is the
    serde encoding of the metadata.
``blobs``
    Channel values, stored only when a checkpoint names the channel in ``new_versions``.
    Keyed for lookup by (tid, channel, version, variant); ``variant`` is 0 except when
    a fork (a put whose parent is not the newest checkpoint) writes a version number the
    thread already used, in which case the checkpoint body records the variant it wrote.
    A row is a *snapshot* (the whole value), an *empty* marker (the channel has no
    value at that version) or a *delta*: the items appended to a list since the
    previous stored version. Deltas form *lineages*: a snapshot (``seq`` 0) followed by
    deltas ``seq`` 1, 2, ... all keyed by the snapshot's (version, variant) as
    ``lin_version, lin_variant``. The primary key is the lineage position, so loading a
    list is one range scan; a unique lineage position also means two forks can never
    append at the same place (the second one writes a snapshot instead).
``writes``
    Pending writes, keyed by (tid, checkpoint_id, task_id, idx).
``schema``
    One row per applied migration; a database whose version is newer than this code
    knows is refused, untouched.

Checkpoint and task ids are stored as 16 raw bytes on SQLite when they are canonical
UUID strings (they sort the same), as text otherwise.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

__all__ = ["Dialect", "POSTGRES", "SQLITE", "SCHEMA_VERSION"]

SNAPSHOT, DELTA, EMPTY = 0, 1, 2

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Dialect:
    name: str
    migrations: tuple[tuple[str, ...], ...]
    setup_lock: str | None

    def q(self, sql: str) -> str:
        """Placeholders are written ``?``; psycopg wants ``%s``."""
        return sql if self.name == "sqlite" else sql.replace("?", "%s")

    def vkey(self, version: Any) -> Any:
        """A channel version as a key column value: injective over int, float and str."""
        if type(version) is int:
            return version if self.name == "sqlite" else str(version)
        if isinstance(version, float):
            return f"f:{version!r}"
        return f"s:{version}"

    def id_in(self, value: str) -> Any:
        if self.name == "sqlite" and len(value) == 36:
            try:
                parsed = uuid.UUID(value)
            except ValueError:
                return value
            if str(parsed) == value:
                return parsed.bytes
        return value

    def id_out(self, value: Any) -> str:
        if isinstance(value, (bytes, memoryview)):
            return str(uuid.UUID(bytes=bytes(value)))
        return value


_SQLITE_V1 = (
    """CREATE TABLE asyncgraph_threads (
        tid INTEGER PRIMARY KEY,
        thread_id TEXT NOT NULL,
        checkpoint_ns TEXT NOT NULL,
        UNIQUE (thread_id, checkpoint_ns))""",
    """CREATE TABLE asyncgraph_checkpoints (
        tid INTEGER NOT NULL,
        checkpoint_id BLOB NOT NULL,
        parent_id BLOB,
        body BLOB NOT NULL,
        metadata BLOB NOT NULL,
        PRIMARY KEY (tid, checkpoint_id)) WITHOUT ROWID""",
    """CREATE TABLE asyncgraph_blobs (
        tid INTEGER NOT NULL,
        channel TEXT NOT NULL,
        lin_version NOT NULL,
        lin_variant INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        version NOT NULL,
        variant INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        data BLOB,
        PRIMARY KEY (tid, channel, lin_version, lin_variant, seq)) WITHOUT ROWID""",
    """CREATE UNIQUE INDEX asyncgraph_blobs_version
        ON asyncgraph_blobs (tid, channel, version, variant)""",
    """CREATE TABLE asyncgraph_writes (
        tid INTEGER NOT NULL,
        checkpoint_id BLOB NOT NULL,
        task_id BLOB NOT NULL,
        idx INTEGER NOT NULL,
        channel TEXT NOT NULL,
        task_path TEXT NOT NULL,
        data BLOB,
        PRIMARY KEY (tid, checkpoint_id, task_id, idx)) WITHOUT ROWID""",
)

_POSTGRES_V1 = (
    """CREATE TABLE asyncgraph_threads (
        tid BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        thread_id TEXT NOT NULL,
        checkpoint_ns TEXT NOT NULL,
        UNIQUE (thread_id, checkpoint_ns))""",
    """CREATE TABLE asyncgraph_checkpoints (
        tid BIGINT NOT NULL,
        checkpoint_id TEXT NOT NULL,
        parent_id TEXT,
        body BYTEA NOT NULL,
        metadata BYTEA NOT NULL,
        PRIMARY KEY (tid, checkpoint_id))""",
    """CREATE TABLE asyncgraph_blobs (
        tid BIGINT NOT NULL,
        channel TEXT NOT NULL,
        lin_version TEXT NOT NULL,
        lin_variant INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        version TEXT NOT NULL,
        variant INTEGER NOT NULL,
        kind SMALLINT NOT NULL,
        data BYTEA,
        PRIMARY KEY (tid, channel, lin_version, lin_variant, seq))""",
    """CREATE UNIQUE INDEX asyncgraph_blobs_version
        ON asyncgraph_blobs (tid, channel, version, variant)""",
    """CREATE TABLE asyncgraph_writes (
        tid BIGINT NOT NULL,
        checkpoint_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        channel TEXT NOT NULL,
        task_path TEXT NOT NULL,
        data BYTEA,
        PRIMARY KEY (tid, checkpoint_id, task_id, idx))""",
)

SQLITE = Dialect(name="sqlite", migrations=(_SQLITE_V1,), setup_lock=None)
POSTGRES = Dialect(
    name="postgres",
    migrations=(_POSTGRES_V1,),
    # Two processes running setup() at once must not both create the tables.
    setup_lock="SELECT pg_advisory_xact_lock(7320461921)",
)

# -- statements (placeholders as ?, see Dialect.q) ------------------------------------

CREATE_SCHEMA_TABLE = "CREATE TABLE IF NOT EXISTS asyncgraph_schema (version INTEGER NOT NULL)"
SELECT_SCHEMA = "SELECT max(version) FROM asyncgraph_schema"
INSERT_SCHEMA = "INSERT INTO asyncgraph_schema (version) VALUES (?)"

_TID = "(SELECT tid FROM asyncgraph_threads WHERE thread_id = ? AND checkpoint_ns = ?)"

INSERT_THREAD = (
    "INSERT INTO asyncgraph_threads (thread_id, checkpoint_ns) VALUES (?, ?) "
    "ON CONFLICT (thread_id, checkpoint_ns) DO NOTHING"
)

_CKPT_COLS = "c.tid, c.checkpoint_id, c.parent_id, c.body, c.metadata, t.thread_id, t.checkpoint_ns"
SELECT_CHECKPOINT = (
    f"SELECT {_CKPT_COLS} FROM asyncgraph_checkpoints c JOIN asyncgraph_threads t "
    "ON t.tid = c.tid WHERE t.thread_id = ? AND t.checkpoint_ns = ? AND c.checkpoint_id = ?"
)
SELECT_LATEST = (
    f"SELECT {_CKPT_COLS} FROM asyncgraph_checkpoints c JOIN asyncgraph_threads t "
    "ON t.tid = c.tid WHERE t.thread_id = ? AND t.checkpoint_ns = ? "
    "ORDER BY c.checkpoint_id DESC LIMIT 1"
)
SELECT_LIST = f"SELECT {_CKPT_COLS} FROM asyncgraph_checkpoints c JOIN asyncgraph_threads t ON t.tid = c.tid"
SELECT_BODY = f"SELECT body FROM asyncgraph_checkpoints WHERE tid = {_TID} AND checkpoint_id = ?"

# One channel's value at one checkpoint: its row and, for a delta, the lineage before it.
SELECT_VALUE = (
    "SELECT l.seq, l.kind, l.data, b.lin_version, b.lin_variant, b.seq "
    "FROM asyncgraph_blobs b JOIN asyncgraph_blobs l ON l.tid = b.tid AND l.channel = b.channel "
    "AND l.lin_version = b.lin_version AND l.lin_variant = b.lin_variant AND l.seq <= b.seq "
    "WHERE b.tid = ? AND b.channel = ? AND b.version = ? AND b.variant = ? ORDER BY l.seq"
)

_BLOB_COLS = "tid, channel, lin_version, lin_variant, seq, version, variant, kind, data"
INSERT_BLOB = (
    f"INSERT INTO asyncgraph_blobs ({_BLOB_COLS}) "
    "SELECT tid, ?, ?, ?, ?, ?, ?, ?, ? FROM asyncgraph_threads "
    "WHERE thread_id = ? AND checkpoint_ns = ? ON CONFLICT DO NOTHING"
)
# A delta is stored only if the lineage entry it follows is still there.
INSERT_DELTA = (
    f"INSERT INTO asyncgraph_blobs ({_BLOB_COLS}) "
    "SELECT t.tid, ?, ?, ?, ?, ?, ?, ?, ? FROM asyncgraph_threads t "
    "WHERE t.thread_id = ? AND t.checkpoint_ns = ? AND EXISTS (SELECT 1 FROM asyncgraph_blobs p "
    "WHERE p.tid = t.tid AND p.channel = ? AND p.lin_version = ? AND p.lin_variant = ? "
    "AND p.seq = ?) ON CONFLICT DO NOTHING"
)
MAX_VARIANT = (
    f"SELECT max(variant) FROM asyncgraph_blobs WHERE tid = {_TID} AND channel = ? AND version = ?"
)

INSERT_CHECKPOINT = (
    "INSERT INTO asyncgraph_checkpoints (tid, checkpoint_id, parent_id, body, metadata) "
    "SELECT tid, ?, ?, ?, ? FROM asyncgraph_threads WHERE thread_id = ? AND checkpoint_ns = ? "
    "ON CONFLICT (tid, checkpoint_id) DO UPDATE SET parent_id = excluded.parent_id, "
    "body = excluded.body, metadata = excluded.metadata"
)
UPDATE_BODY = f"UPDATE asyncgraph_checkpoints SET body = ? WHERE tid = {_TID} AND checkpoint_id = ?"

_WRITE_INSERT = (
    "INSERT INTO asyncgraph_writes (tid, checkpoint_id, task_id, idx, channel, task_path, data) "
    "SELECT tid, ?, ?, ?, ?, ?, ? FROM asyncgraph_threads WHERE thread_id = ? AND checkpoint_ns = ? "
    "ON CONFLICT (tid, checkpoint_id, task_id, idx) "
)
INSERT_WRITE = _WRITE_INSERT + "DO NOTHING"
UPSERT_WRITE = _WRITE_INSERT + "DO UPDATE SET channel = excluded.channel, data = excluded.data"
SELECT_WRITES = (
    "SELECT task_id, channel, data FROM asyncgraph_writes WHERE tid = ? AND checkpoint_id = ? "
    "ORDER BY task_path, task_id, idx"
)

# Retention: everything older than the keep_last-th newest checkpoint of the thread.
_CUTOFF = (
    f"(SELECT checkpoint_id FROM asyncgraph_checkpoints WHERE tid = {_TID} "
    "ORDER BY checkpoint_id DESC LIMIT 1 OFFSET ?)"
)
PRUNE_WRITES = f"DELETE FROM asyncgraph_writes WHERE tid = {_TID} AND checkpoint_id < {_CUTOFF}"
PRUNE_CHECKPOINTS = (
    f"DELETE FROM asyncgraph_checkpoints WHERE tid = {_TID} AND checkpoint_id < {_CUTOFF}"
)
SELECT_KEPT_BODIES = f"SELECT body FROM asyncgraph_checkpoints WHERE tid = {_TID}"
SELECT_BLOB_KEYS = (
    "SELECT channel, lin_version, lin_variant, seq, version, variant "
    f"FROM asyncgraph_blobs WHERE tid = {_TID}"
)
DELETE_BLOB = (
    f"DELETE FROM asyncgraph_blobs WHERE tid = {_TID} AND channel = ? AND lin_version = ? "
    "AND lin_variant = ? AND seq = ?"
)
SELECT_NAMESPACES = "SELECT checkpoint_ns FROM asyncgraph_threads WHERE thread_id = ?"
SELECT_ALL_NAMESPACES = "SELECT thread_id, checkpoint_ns FROM asyncgraph_threads"

DELETE_THREAD = (
    "DELETE FROM asyncgraph_{table} WHERE tid IN "
    "(SELECT tid FROM asyncgraph_threads WHERE thread_id = ?)"
)
DELETE_THREAD_ROWS = "DELETE FROM asyncgraph_threads WHERE thread_id = ?"

LIST_THREADS = (
    "SELECT t.thread_id, max(c.checkpoint_id), count(*) FROM asyncgraph_threads t "
    "JOIN asyncgraph_checkpoints c ON c.tid = t.tid GROUP BY t.thread_id "
    "ORDER BY max(c.checkpoint_id) DESC"
)
