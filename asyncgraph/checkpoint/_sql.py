"""The relational layout shared by the SQLite and PostgreSQL savers, and its migrations.

Tables (all names prefixed ``asyncgraph_`` so they never clash with LangGraph's):

``threads``
    One row per (thread_id, checkpoint_ns), giving it a small integer ``tid``: every
    other row carries the ``tid`` instead of the (often UUID-long) thread id.
``names``
    A dictionary of channel and node names, global to the database: checkpoint bodies
    and blob keys carry the small integer ``id`` instead of the name. Rows are only
    ever added (``INSERT ... ON CONFLICT DO NOTHING``), so a cached id never goes stale.
``checkpoints``
    One row per checkpoint: ``body`` is msgpack of everything but the channel values
    (versions, versions seen, ts, and each channel's *location*, see below) with names
    as ``names`` ids; ``metadata`` is the serde encoding of the metadata.
``blobs``
    Channel values, stored only when a checkpoint names the channel in ``new_versions``
    and the channel has a value (an empty channel is recorded in the body alone).
    A row is a *snapshot* (the whole value, ``seq`` 0) or a *delta* (the items appended
    to a list since the previous stored version). Deltas form *lineages*: a snapshot
    followed by deltas ``seq`` 1, 2, ... all keyed by the snapshot's (version key,
    variant) as ``lin_version, lin_variant``. ``variant`` is 0 except when a fork (a put
    whose parent is not the newest checkpoint) writes a version number the thread
    already used. The checkpoint body names, per channel, the (lineage, seq) it reads,
    so loading a list is one range scan of the primary key; a unique lineage position
    also means two forks can never append at the same place (the second one writes a
    snapshot instead).
``writes``
    Pending writes, keyed by (tid, checkpoint_id, task_id, idx). On SQLite (version 4
    on), ``channel`` holds the ``names`` id of the channel instead of its name, and
    ``task_path`` the ``names`` id of the node for a node's own path
    (``"('__pregel_pull', <node>)"``), whenever that name is in ``names``: the id as
    big-endian bytes (a blob, which SQLite keeps as it is in a text column). Either is
    read back as the text; rows of older versions hold the text itself.
``schema``
    One row per applied migration (version 3: pending writes may be stored as
    references to a value row, see :mod:`._refs`; version 4: a write's channel and
    task path may be names ids, above); a database whose version is newer than this code
    knows is refused, untouched.

Checkpoint and task ids are stored as 16 raw bytes on SQLite when they are canonical
UUID strings (they sort the same), as text otherwise; a parent id is stored as the
bytes it does not share with its child's id (see ``Dialect.parent_in``).

:class:`Stmt` (one statement and its parameters) and :data:`Op` (an operation: a generator
of statement batches) are what :mod:`._store` and its helpers :mod:`._delta` and
:mod:`._migrate` yield to a driver; they are defined here, below all three.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["POSTGRES", "SCHEMA_VERSION", "SQLITE", "Dialect", "Last", "Op", "Stmt"]

SNAPSHOT, DELTA = 0, 1

SCHEMA_VERSION = 4
"""SQLite's; PostgreSQL's is 3 (version 4 changes nothing there)."""


class Stmt:
    """One statement of a batch: ``sql`` with ``%s`` placeholders, its ``params`` (a row,
    or with ``many`` a list of rows), and whether its rows are read (``fetch``).

    A plain slots class, not a frozen dataclass: a put makes several, and a frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` per field) costs three times as
    much. Treat it as immutable all the same; it compares and hashes by value."""

    __slots__ = ("fetch", "many", "params", "sql")

    def __init__(self, sql: str, params: Sequence[Any] = (), fetch: bool = False, many: bool = False) -> None:
        self.sql = sql
        self.params = params
        self.fetch = fetch
        self.many = many

    def _key(self) -> tuple[Any, ...]:
        return (self.sql, self.params, self.fetch, self.many)

    def __eq__(self, other: object) -> bool:
        return type(other) is Stmt and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Stmt(sql={self.sql!r}, params={self.params!r}, fetch={self.fetch!r}, many={self.many!r})"


Op = Generator[list[Stmt], list[Any], Any]


class Last(list[Stmt]):
    """A batch after which the operation yields nothing more, whatever its results: a
    driver may send ``COMMIT`` with it (PostgreSQL: one round trip fewer). The
    operation may still raise after it, but only when nothing was stored."""

    __slots__ = ()


# The lower-case 8-4-4-4-12 form str(uuid.UUID(...)) gives: only those ids are stored as
# 16 bytes on SQLite, since only they read back as the same string.
_CANONICAL_UUID = re.compile(
    "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
).fullmatch


_ID_BYTES: dict[str, bytes] = {}
"""``Dialect.id_in``'s 16-byte forms on SQLite, by id: a put converts its checkpoint id,
its parent's (the previous put's) and its tasks' (saved again as the next put's
parent writes) several times over, and the regular expression costs ~10x a lookup."""
_ID_BYTES_MAX = 1 << 13

_PERCENT_S: dict[str, str] = {}
"""``Dialect.q``'s translations, by statement (a dict lookup instead of a scan per use)."""


@dataclass(frozen=True)
class Dialect:
    name: str
    migrations: tuple[tuple[str, ...], ...]
    setup_lock: str | None
    thread_xact_lock: str | None = None
    """Taken first by every write transaction on a thread (one parameter: the thread
    id), so writes and pruning of one thread never interleave; None where the database
    already runs one writer at a time (SQLite)."""

    def q(self, sql: str) -> str:
        """Placeholders are written ``?``; psycopg wants ``%s``."""
        if self.name == "sqlite":
            return sql
        found = _PERCENT_S.get(sql)
        if found is None:
            found = sql.replace("?", "%s")
            if len(_PERCENT_S) < 4096:  # the store's statements are a few dozen constants
                _PERCENT_S[sql] = found
        return found

    def vkey(self, version: Any) -> Any:
        """A channel version as a key column value: injective over int, float and str."""
        if type(version) is int:
            return version if self.name == "sqlite" else str(version)
        if isinstance(version, float):
            return f"f:{version!r}"
        return f"s:{version}"

    def id_in(self, value: str) -> Any:
        if self.name != "sqlite":
            return value
        found = _ID_BYTES.get(value)
        if found is not None:
            return found
        if len(value) == 36 and _CANONICAL_UUID(value):
            found = bytes.fromhex(value.replace("-", ""))
            if len(_ID_BYTES) >= _ID_BYTES_MAX:
                _ID_BYTES.clear()
            _ID_BYTES[value] = found
            return found
        return value

    def parent_in(self, parent: str, cid: Any) -> Any:
        """A parent id as stored next to ``cid`` (as ``id_in`` gives it): 16-byte ids
        share their leading (time) bytes, so only a count and the rest are stored."""
        value = self.id_in(parent)
        if type(value) is bytes and type(cid) is bytes and len(cid) == 16:
            k = 0
            while k < 15 and value[k] == cid[k]:
                k += 1
            return bytes((k,)) + value[k:]  # never 16 bytes long: see parent_out
        return value

    def parent_out(self, value: Any, cid: Any) -> str:
        if isinstance(value, (bytes, memoryview)) and len(value) != 16:
            value = bytes(value)
            value = bytes(cid)[: value[0]] + value[1:]
        return self.id_out(value)

    def id_out(self, value: Any) -> str:
        if isinstance(value, (bytes, memoryview)):
            if len(value) != 16:
                raise ValueError(f"a stored id is {len(value)} bytes long, not 16")
            h = value.hex()
            return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
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

# Version 2 (names dictionary, locations in the body, no version index). A database
# holding version 1 rows is converted by _migrate._migrate_v1 (the bodies are msgpack);
# these statements replace the (empty) version 1 tables of a new database.
_SQLITE_V2 = (
    "DROP TABLE asyncgraph_blobs",
    "DROP TABLE asyncgraph_checkpoints",
    """CREATE TABLE asyncgraph_names (
        name TEXT NOT NULL PRIMARY KEY,
        id INTEGER NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE asyncgraph_checkpoints (
        tid INTEGER NOT NULL,
        checkpoint_id BLOB NOT NULL,
        parent_id BLOB,
        body BLOB NOT NULL,
        metadata BLOB NOT NULL,
        PRIMARY KEY (tid, checkpoint_id)) WITHOUT ROWID""",
    """CREATE TABLE asyncgraph_blobs (
        tid INTEGER NOT NULL,
        channel INTEGER NOT NULL,
        lin_version NOT NULL,
        lin_variant INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        data BLOB,
        PRIMARY KEY (tid, channel, lin_version, lin_variant, seq)) WITHOUT ROWID""",
)

_POSTGRES_V2 = (
    "DROP TABLE asyncgraph_blobs",
    "DROP TABLE asyncgraph_checkpoints",
    """CREATE TABLE asyncgraph_names (
        id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name TEXT NOT NULL UNIQUE)""",
    _POSTGRES_V1[1],
    """CREATE TABLE asyncgraph_blobs (
        tid BIGINT NOT NULL,
        channel INTEGER NOT NULL,
        lin_version TEXT NOT NULL,
        lin_variant INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        kind SMALLINT NOT NULL,
        data BYTEA,
        PRIMARY KEY (tid, channel, lin_version, lin_variant, seq))""",
)

# Version 3: a pending write may be stored as a reference to a value row (see _refs).
# No table changes; the version makes an older asyncgraph, which would fail to read such
# a write, refuse the database as a whole (untouched) instead.
_V3 = ("SELECT 1",)
# Version 4 (SQLite only): a write's channel and task path may be names ids (see above).
# No table changes, and version 3 rows read as before; the version makes an older
# asyncgraph refuse the database (untouched) instead of misreading such a write.
_V4 = ("SELECT 1",)

# Seeds of the two advisory lock key spaces over thread ids: the saver's own per-write
# lock and ``saver.thread_lock()`` (a run holding the latter writes under the former).
THREAD_XACT_SEED = 7320461922
THREAD_LOCK_SEED = 7320461923
THREAD_LOCK = f"SELECT pg_advisory_lock(hashtextextended(%s, {THREAD_LOCK_SEED}))"
THREAD_TRY_LOCK = f"SELECT pg_try_advisory_lock(hashtextextended(%s, {THREAD_LOCK_SEED}))"
THREAD_UNLOCK = f"SELECT pg_advisory_unlock(hashtextextended(%s, {THREAD_LOCK_SEED}))"

SQLITE = Dialect(name="sqlite", migrations=(_SQLITE_V1, _SQLITE_V2, _V3, _V4), setup_lock=None)
POSTGRES = Dialect(
    name="postgres",
    migrations=(_POSTGRES_V1, _POSTGRES_V2, _V3),  # version 4 is SQLite's only
    # Two processes running setup() at once must not both create the tables.
    setup_lock="SELECT pg_advisory_xact_lock(7320461921)",
    thread_xact_lock=f"SELECT pg_advisory_xact_lock(hashtextextended(?, {THREAD_XACT_SEED}))",
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

# One channel's value at one checkpoint: its lineage up to the position the body names.
SELECT_VALUE = (
    "SELECT seq, kind, data FROM asyncgraph_blobs WHERE tid = ? AND channel = ? "
    "AND lin_version = ? AND lin_variant = ? AND seq <= ? ORDER BY seq"
)

INSERT_NAME = "INSERT INTO asyncgraph_names (name) VALUES (?) ON CONFLICT (name) DO NOTHING"
# SQLite runs one writer at a time, so the next id is simply max + 1 (no second index).
INSERT_NAME_SQLITE = (
    "INSERT INTO asyncgraph_names (name, id) SELECT ?, coalesce(max(id), 0) + 1 "
    "FROM asyncgraph_names WHERE true ON CONFLICT (name) DO NOTHING"
)
SELECT_NAMES = "SELECT id, name FROM asyncgraph_names"

_BLOB_COLS = "tid, channel, lin_version, lin_variant, seq, kind, data"
INSERT_BLOB = (
    f"INSERT INTO asyncgraph_blobs ({_BLOB_COLS}) "
    "SELECT tid, ?, ?, ?, ?, ?, ? FROM asyncgraph_threads "
    "WHERE thread_id = ? AND checkpoint_ns = ? ON CONFLICT DO NOTHING"
)
# A delta is stored only if the lineage entry it follows is still there.
INSERT_DELTA = (
    f"INSERT INTO asyncgraph_blobs ({_BLOB_COLS}) "
    "SELECT t.tid, ?, ?, ?, ?, ?, ? FROM asyncgraph_threads t "
    "WHERE t.thread_id = ? AND t.checkpoint_ns = ? AND EXISTS (SELECT 1 FROM asyncgraph_blobs p "
    "WHERE p.tid = t.tid AND p.channel = ? AND p.lin_version = ? AND p.lin_variant = ? "
    "AND p.seq = ?) ON CONFLICT DO NOTHING"
)
MAX_VARIANT = (
    f"SELECT max(lin_variant) FROM asyncgraph_blobs WHERE tid = {_TID} AND channel = ? "
    "AND lin_version = ? AND seq = 0"
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
# A write stored as a reference (see _refs) stored as the bytes it refers to.
UNREF_WRITE = (
    f"UPDATE asyncgraph_writes SET data = ? WHERE tid = {_TID} AND checkpoint_id = ? "
    "AND task_id = ? AND idx = ? AND data = ?"
)
SELECT_BLOBS_DATA = (  # {}: one placeholder per lineage version
    "SELECT lin_version, data FROM asyncgraph_blobs WHERE tid = ? AND channel = ? "
    "AND lin_variant = ? AND seq = ? AND lin_version IN ({})"
)
SELECT_WRITE_REFS = (
    f"SELECT data FROM asyncgraph_writes WHERE tid = {_TID} AND substr(data, 1, 1) = ?"
)
SELECT_BLOB_REFS = (
    "SELECT channel, lin_version, lin_variant, seq, data "
    f"FROM asyncgraph_blobs WHERE tid = {_TID} AND substr(data, 1, 1) = ?"
)
SELECT_WRITES = (
    "SELECT task_id, channel, data FROM asyncgraph_writes WHERE tid = ? AND checkpoint_id = ? "
    "ORDER BY task_path, task_id, idx"
)
# SQLite: channel and task path may be names ids (version 4), so the rows are put in
# the order above by the store, after decoding.
SELECT_WRITES_SQLITE = (
    "SELECT task_id, channel, data, task_path, idx FROM asyncgraph_writes "
    "WHERE tid = ? AND checkpoint_id = ?"
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
    "SELECT channel, lin_version, lin_variant, seq "
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

# Version 1 -> 2 conversion (see _migrate._migrate_v1).
V1_SELECT_CHECKPOINTS = "SELECT tid, checkpoint_id, parent_id, body, metadata FROM asyncgraph_checkpoints"
V1_SELECT_BLOBS = (
    "SELECT tid, channel, lin_version, lin_variant, seq, version, variant, kind, data "
    "FROM asyncgraph_blobs"
)
V2_INSERT_CHECKPOINT = (
    "INSERT INTO asyncgraph_checkpoints (tid, checkpoint_id, parent_id, body, metadata) "
    "VALUES (?, ?, ?, ?, ?)"
)
V2_INSERT_BLOB = f"INSERT INTO asyncgraph_blobs ({_BLOB_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
