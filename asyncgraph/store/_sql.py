"""What the SQL stores do, written once for SQLite and PostgreSQL and free of I/O.

A batch of ops becomes a generator (:data:`Run`) that yields lists of :class:`Stmt` and
receives, for each statement, its rows (``fetch=True``) or nothing. A driver runs the
whole generator in one transaction (or, for a single statement, as one autocommit
statement). Statements within one yielded list do not depend on each other, so psycopg
sends a list in one pipelined round trip. Embedding (slow, remote) happens before the
transaction, never inside it.

Tables (our own names, so LangGraph's tables in the same database are left alone)::

    ag_store(prefix, key, value, created_at, updated_at, expires_at, ttl_minutes)
        PRIMARY KEY (prefix, key)      prefix = the namespace labels joined by "."
    ag_store_vectors(prefix, key, field, embedding)
        one row per embedded text; embedding = the normalized float32 vector as bytes
        (or a pgvector ``vector`` when the server has the extension)

A batch's reads see the store as it was before the batch; its puts apply after them,
in order, the last put to an address winning (as in every back end). Timestamps are
taken once per batch.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from asyncgraph.store._filter import compile_filter, pushable, sql_conditions, validate_filter
from asyncgraph.store._vectors import (
    Indexer,
    Vectors,
    best_score,
    from_blob,
    normalize,
    to_blob,
    top,
)
from asyncgraph.store.base._types import (
    Epoch,
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    validate_op_namespace,
    validate_value,
)
from asyncgraph.store.memory import list_namespaces

_fast_loads: Callable[[str | bytes], Any] | None
try:  # orjson comes with langchain-core (through langsmith); it parses values ~5x faster
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - an install without it
    _fast_loads = None

__all__ = ["POSTGRES", "SQLITE", "Dialect", "Prepared", "SqlCore", "Stmt", "loads"]


# orjson reads an integer that does not fit 64 bits (below -2**63 or above 2**64 - 1) as
# a float, silently: any such float has a magnitude of at least 2**63.
_BIG = float(2**63)


def _may_have_lost_int(value: Any) -> bool:
    """Whether a value orjson parsed holds a float of magnitude 2**63 or more: either a
    real float (json.dumps writes those with an exponent) or an integer orjson could
    not keep. Walking the parsed value visits each node once (a long string is one
    node), which costs less than scanning the text for digit runs."""
    stack = [value]
    while stack:
        node = stack.pop()
        for x in node.values() if type(node) is dict else node:
            kind = type(x)
            if kind is float:
                if x >= _BIG or x <= -_BIG:
                    return True
            elif kind is dict or kind is list:
                stack.append(x)
    return False


def loads(text: str | bytes) -> Any:
    """A stored JSON value, parsed: orjson when it reads it exactly as json would, else
    json (a value orjson may have read an integer of it as a float, and what orjson
    refuses: lone surrogates, numbers beyond a double's range)."""
    if _fast_loads is not None:
        try:
            value = _fast_loads(text)
        except ValueError:
            pass
        else:
            if type(value) is not dict and type(value) is not list:
                if type(value) is not float or -_BIG < value < _BIG:
                    return value
            elif not _may_have_lost_int(value):
                return value
    return json.loads(text)


@dataclass(frozen=True, slots=True)
class Stmt:
    sql: str
    params: Sequence[Any] = ()
    fetch: bool = False
    many: bool = False
    consume: Callable[[Iterable[Any]], Any] | None = None  # reads the cursor instead of fetchall


Run = Generator[list[Stmt], list[Any], list[Result]]
Follow = tuple[list[Stmt], Callable[[list[Any]], None]]
Row = tuple[Any, ...]  # prefix, key, value, created_at, updated_at, ttl_minutes


@dataclass(frozen=True)
class Dialect:
    name: str
    schema: tuple[str, ...]

    def q(self, sql: str) -> str:
        """Statements are written with ``?`` placeholders; psycopg wants ``%s``."""
        return sql if self.name == "sqlite" else sql.replace("?", "%s")

    def ts(self, epoch: float) -> Any:
        return epoch if self.name == "sqlite" else datetime.fromtimestamp(epoch, timezone.utc)

    def dt(self, value: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        return datetime.fromtimestamp(value, timezone.utc)

    def value_out(self, value: Any) -> dict[str, Any]:
        return value if isinstance(value, dict) else loads(value)


SQLITE = Dialect(
    "sqlite",
    (
        """CREATE TABLE IF NOT EXISTS ag_store (
            prefix TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
            created_at REAL NOT NULL, updated_at REAL NOT NULL,
            expires_at REAL, ttl_minutes REAL,
            PRIMARY KEY (prefix, key)) WITHOUT ROWID""",
        "CREATE INDEX IF NOT EXISTS ag_store_recent ON ag_store (updated_at, prefix, key)",
        """CREATE INDEX IF NOT EXISTS ag_store_expires ON ag_store (expires_at)
            WHERE expires_at IS NOT NULL""",
        """CREATE TABLE IF NOT EXISTS ag_store_vectors (
            prefix TEXT NOT NULL, key TEXT NOT NULL, field TEXT NOT NULL,
            embedding BLOB NOT NULL,
            PRIMARY KEY (prefix, key, field))""",
    ),
)

POSTGRES = Dialect(
    "postgres",
    (
        """CREATE TABLE IF NOT EXISTS ag_store (
            prefix TEXT COLLATE "C" NOT NULL, key TEXT NOT NULL, value JSONB NOT NULL,
            created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL,
            expires_at TIMESTAMPTZ, ttl_minutes DOUBLE PRECISION,
            PRIMARY KEY (prefix, key))""",
        "CREATE INDEX IF NOT EXISTS ag_store_recent ON ag_store (updated_at, prefix, key)",
        """CREATE INDEX IF NOT EXISTS ag_store_expires ON ag_store (expires_at)
            WHERE expires_at IS NOT NULL""",
        """CREATE TABLE IF NOT EXISTS ag_store_vectors (
            prefix TEXT COLLATE "C" NOT NULL, key TEXT NOT NULL, field TEXT NOT NULL,
            embedding BYTEA NOT NULL,
            PRIMARY KEY (prefix, key, field),
            FOREIGN KEY (prefix, key) REFERENCES ag_store (prefix, key) ON DELETE CASCADE)""",
    ),
)

_COLUMNS = "s.prefix, s.key, s.value, s.created_at, s.updated_at, s.ttl_minutes"
_ORDER = "ORDER BY s.updated_at DESC, s.prefix DESC, s.key DESC"  # ag_store_recent, backwards


def ns_text(namespace: tuple[str, ...]) -> str:
    return ".".join(namespace)


def ns_tuple(text: str) -> tuple[str, ...]:
    return tuple(text.split(".")) if text else ()


def _dumps(namespace: tuple[str, ...], key: str, value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"The value put at {namespace!r} / {key!r} is not JSON-serializable, which the "
            f"SQL stores need: {exc}"
        ) from None


@dataclass
class Prepared:
    """A validated batch: ops, deduplicated puts, and the vectors they need."""

    ops: list[Op]
    puts: dict[tuple[tuple[str, ...], str], PutOp]
    queries: list[str]
    query_vectors: dict[str, list[float]] = field(default_factory=dict)
    put_vectors: list[Vectors] | None = None


class SqlCore:
    """The SQL store logic for one dialect, one index config and one TTL config.

    Args:
        dialect: :data:`SQLITE` or :data:`POSTGRES`.
        indexer: the store's index, or None.
        ttl: the store's TTL config, or None.
        vector_score: an SQL expression scoring ``v.embedding`` against the query
            parameter (the database computes similarities), or None (Python does).
        vector_param: converts a normalized query vector into that parameter.
    """

    def __init__(
        self,
        dialect: Dialect,
        indexer: Indexer | None,
        ttl: TTLConfig | None,
        *,
        vector_score: str | None = None,
        vector_param: Callable[[list[float]], Any] = to_blob,
        vector_store: Callable[[list[float]], Any] = to_blob,
    ) -> None:
        self.d = dialect
        self.indexer = indexer
        self.ttl = ttl
        self.omit_expired = bool(ttl and ttl.get("omit_expired"))
        self.vector_score: str | None = None
        self.vectors_table = "ag_store_vectors"
        self.vector_param = vector_param
        self.vector_store = vector_store
        q = dialect.q
        self._get_one = q(f"SELECT {_COLUMNS} FROM ag_store s WHERE s.prefix = ? AND s.key = ?")
        self._upsert = q(
            "INSERT INTO ag_store (prefix, key, value, created_at, updated_at, expires_at, "
            "ttl_minutes) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (prefix, key) DO UPDATE SET "
            "value = excluded.value, updated_at = excluded.updated_at, "
            "expires_at = excluded.expires_at, ttl_minutes = excluded.ttl_minutes"
        )
        if dialect.name == "postgres":
            self._upsert = self._upsert.replace("VALUES (%s, %s, %s,", "VALUES (%s, %s, %s::jsonb,")
        self._delete = q("DELETE FROM ag_store WHERE prefix = ? AND key = ?")
        self._delete_vectors = q("DELETE FROM ag_store_vectors WHERE prefix = ? AND key = ?")
        self._insert_vector = q(
            "INSERT INTO ag_store_vectors (prefix, key, field, embedding) VALUES (?, ?, ?, ?)"
        )
        if vector_score is not None:
            self.use_db_vectors("ag_store_vectors", vector_score, vector_param)

    def use_db_vectors(
        self,
        table: str,
        score: str,
        param: Callable[[list[float]], Any],
        cast: str = "?",
    ) -> None:
        """Let the database score vectors: ``score`` is an SQL expression over
        ``v.embedding`` and one query parameter (``param(query vector)``); vectors are
        stored in ``table`` as ``param(vector)`` (with ``cast`` as the placeholder)."""
        q = self.d.q
        self.vectors_table = table
        self.vector_score = score
        self.vector_param = param
        self.vector_store = param
        self._delete_vectors = q(f"DELETE FROM {table} WHERE prefix = ? AND key = ?")
        self._insert_vector = q(
            f"INSERT INTO {table} (prefix, key, field, embedding) VALUES (?, ?, ?, {cast})"
        )

    # -- preparation (before the transaction) ----------------------------------------------

    def prepare(self, ops: Sequence[Op] | Any) -> Prepared:
        ops = list(ops)
        puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
        queries: list[str] = []
        for op in ops:
            validate_op_namespace(op)
            if isinstance(op, PutOp):
                validate_value(op.namespace, op.key, op.value)
                puts[(op.namespace, op.key)] = op
            elif isinstance(op, SearchOp):
                validate_filter(op.filter)
                if op.query and self.indexer is not None:
                    queries.append(op.query)
            elif not isinstance(op, (GetOp, ListNamespacesOp)):
                raise TypeError(f"Unknown store operation: {op!r}")
        return Prepared(ops, puts, queries)

    # -- the transaction -------------------------------------------------------------------

    def run(self, prep: Prepared) -> Run:
        now = time.time()
        results: list[Result] = [None] * len(prep.ops)
        reads: list[Stmt] = []
        finish: list[Callable[[Any], None]] = []
        follow: list[Follow] = []  # dependent reads: (statements, what to do with their rows)
        touched: list[tuple[str, str]] = []  # (prefix, key) of items read with refresh
        alive = self._alive(now)

        for i, op in enumerate(prep.ops):
            if isinstance(op, GetOp):
                if alive:
                    sql = self._get_one + " AND " + alive[0]
                    reads.append(Stmt(sql, (ns_text(op.namespace), op.key, *alive[1]), fetch=True))
                else:
                    reads.append(Stmt(self._get_one, (ns_text(op.namespace), op.key), fetch=True))
                finish.append(self._on_get(i, op, results, touched))
            elif isinstance(op, SearchOp):
                stmt, on_rows = self._search(i, op, prep, results, touched, follow, alive)
                reads.append(stmt)
                finish.append(on_rows)
            elif isinstance(op, ListNamespacesOp):
                reads.append(self._list(op, alive))
                finish.append(self._on_list(i, op, results))

        if reads:
            rows = yield reads
            for on_rows, r in zip(finish, rows, strict=True):
                on_rows(r)
        while follow:  # e.g. a ranked search fetching its page's rows
            batch, follow = follow, []
            rows = yield [stmt for stmts, _ in batch for stmt in stmts]
            k = 0
            for stmts, handle in batch:
                handle(rows[k : k + len(stmts)])
                k += len(stmts)

        writes: list[Stmt] = []
        if touched:  # items with a TTL that were read with refresh_ttl
            writes.append(self._refresh_stmt(touched, now))
        writes.extend(self._put_stmts(prep, now))
        if writes:
            yield writes
        return results

    def _alive(self, now: float) -> tuple[str, list[Any]] | None:
        if not self.omit_expired:
            return None
        return self.d.q("(s.expires_at IS NULL OR s.expires_at > ?)"), [self.d.ts(now)]

    # -- single get / put without the batch machinery (the common calls) -------------------

    def get_stmt(self, namespace: tuple[str, ...], key: str) -> Stmt:
        return Stmt(self._get_one, (ns_text(namespace), key), fetch=True)

    def refresh_one(self, row: Row) -> Stmt:
        return self._refresh_stmt([(row[0], row[1])], time.time())

    def put_stmt(self, namespace: tuple[str, ...], key: str, value: Any, ttl: float | None) -> Stmt:
        now = time.time()
        ts = self.d.ts(now)
        expires = self.d.ts(now + ttl * 60.0) if ttl is not None else None
        row = (ns_text(namespace), key, _dumps(namespace, key, value), ts, ts, expires, ttl)
        return Stmt(self._upsert, row)

    def fast_item(self, row: Row, namespace: tuple[str, ...] | None = None) -> Item:
        """An Item from a row, built without re-validating what the database returned
        (``namespace``: the row's, as a tuple of labels, if the caller has it). SQLite's
        epoch seconds become datetimes only when read (:class:`Epoch`)."""
        item = _new(Item)
        value = row[2]
        item.value = value if type(value) is dict else loads(value)
        item.key = row[1]
        item.namespace = namespace if namespace is not None else tuple(row[0].split("."))
        created = row[3]
        if type(created) is float:
            created = Epoch(created)
        item._created = created
        updated = row[4]
        if updated == row[3]:
            item._updated = created
        else:
            item._updated = Epoch(updated) if type(updated) is float else updated
        return item

    def _item(self, row: Row, cls: type[Item] = Item) -> Any:
        d = self.d
        if cls is SearchItem:
            return SearchItem(
                ns_tuple(row[0]), row[1], d.value_out(row[2]), d.dt(row[3]), d.dt(row[4]), None
            )
        return Item(
            namespace=ns_tuple(row[0]),
            key=row[1],
            value=d.value_out(row[2]),
            created_at=d.dt(row[3]),
            updated_at=d.dt(row[4]),
        )

    def _on_get(
        self, i: int, op: GetOp, results: list[Result], touched: list[tuple[str, str]]
    ) -> Callable[[Any], None]:
        def on_rows(rows: list[Row]) -> None:
            if rows:
                row = rows[0]
                results[i] = self._item(row)
                if op.refresh_ttl and row[5] is not None:
                    touched.append((row[0], row[1]))

        return on_rows

    def _where(
        self, op: SearchOp, alive: tuple[str, list[Any]] | None
    ) -> tuple[list[str], list[Any], bool]:
        """Conditions on ``s``, their parameters, and whether the filter is in them."""
        conds: list[str] = []
        params: list[Any] = []
        if op.namespace_prefix:
            text = ns_text(op.namespace_prefix)
            # The planners rarely know how many rows a prefix covers (SQLite keeps no
            # statistics; Postgres has none until ANALYZE runs). A one-label prefix is
            # taken to be broad: its rows are read newest first through ag_store_recent,
            # and the scan ends with the page (the expression keeps the planner off the
            # key index). A deeper prefix is taken to be narrow: key index, then sort.
            col = "s.prefix"
            if len(op.namespace_prefix) == 1:
                col = "+s.prefix" if self.d.name == "sqlite" else "(s.prefix || '')"
            conds.append(self.d.q(f"({col} = ? OR ({col} >= ? AND {col} < ?))"))
            params += [text, text + ".", text + "/"]  # "/" sorts right after "."
        if alive:
            conds.append(alive[0])
            params += alive[1]
        in_sql = pushable(op.filter)
        if op.filter and in_sql:
            fsql, fparams = sql_conditions(op.filter, self.d.name)
            conds += fsql
            params += fparams
        return conds, params, in_sql

    def _search(
        self,
        i: int,
        op: SearchOp,
        prep: Prepared,
        results: list[Result],
        touched: list[tuple[str, str]],
        follow: list[Follow],
        alive: tuple[str, list[Any]] | None,
    ) -> tuple[Stmt, Callable[[Any], None]]:
        conds, params, in_sql = self._where(op, alive)
        where = (" WHERE " + " AND ".join(conds)) if conds else ""
        offset, limit = max(op.offset, 0), max(op.limit, 0)
        predicate = None if in_sql else compile_filter(op.filter)
        query = prep.query_vectors.get(op.query) if op.query else None

        if query is None:  # plain search: store order is newest update first
            if in_sql:
                sql = f"SELECT {_COLUMNS} FROM ag_store s{where} {_ORDER} LIMIT ? OFFSET ?"
                stmt = Stmt(self.d.q(sql), (*params, limit, offset), fetch=True)
            else:
                loads = self.d.value_out
                check = predicate
                assert check is not None

                def scan(cursor: Iterable[Row]) -> list[Row]:
                    """The page's rows, values decoded, reading no further than needed."""
                    page: list[Row] = []
                    skip, want = offset, limit
                    if want == 0:
                        return page
                    for r in cursor:
                        value = loads(r[2])
                        if check(value):
                            if skip:
                                skip -= 1
                                continue
                            page.append((r[0], r[1], value, *r[3:]))
                            if len(page) == want:
                                break
                    return page

                sql = f"SELECT {_COLUMNS} FROM ag_store s{where} {_ORDER}"
                stmt = Stmt(self.d.q(sql), params, fetch=True, consume=scan)

            def on_plain(rows: list[Row]) -> None:
                results[i] = [self._item(r, SearchItem) for r in rows]
                if op.refresh_ttl:
                    touched.extend((r[0], r[1]) for r in rows if r[5] is not None)

            return stmt, on_plain

        if self.vector_score is not None and predicate is None:
            return self._db_ranked(i, op, query, conds, params, results, touched, follow)

        # Ranked search: every candidate with its vectors (none: ranked after, unscored).
        value_col = ", s.value" if predicate is not None else ""
        sql = (
            f"SELECT s.prefix, s.key, s.updated_at, v.embedding{value_col} FROM ag_store s "
            f"LEFT JOIN ag_store_vectors v ON v.prefix = s.prefix AND v.key = s.key{where}"
        )
        stmt = Stmt(self.d.q(sql), params, fetch=True)

        def on_candidates(rows: list[Any]) -> None:
            vectors: dict[tuple[str, str], list[Sequence[float]]] = {}
            unscored: dict[tuple[str, str], Any] = {}
            for r in rows:
                if predicate is not None and not predicate(self.d.value_out(r[4])):
                    continue
                address = (r[0], r[1])
                if r[3] is None:
                    unscored[address] = r[2]
                else:
                    vectors.setdefault(address, []).append(from_blob(r[3]))
            scored = top(((best_score(query, vs), a) for a, vs in vectors.items()), offset + limit)
            page: list[tuple[tuple[str, str], float | None]] = [(a, s) for s, a in scored[offset:]]
            if len(page) < limit and unscored:
                rest = sorted(unscored, key=lambda a: (_epoch(unscored[a]), a), reverse=True)
                skip = max(offset - len(vectors), 0)
                page += [(a, None) for a in rest[skip : skip + limit - len(page)]]
            def on_page(rows: list[Any]) -> None:
                results[i] = self._page(op, page, rows[0], touched)

            follow.append(([self._fetch_page(page)], on_page))

        return stmt, on_candidates

    def _db_ranked(
        self,
        i: int,
        op: SearchOp,
        query: list[float],
        conds: list[str],
        params: list[Any],
        results: list[Result],
        touched: list[tuple[str, str]],
        follow: list[Follow],
    ) -> tuple[Stmt, Callable[[Any], None]]:
        """The database scores every vector (sqlite-vec, pgvector); an item scores as its
        best vector; items without vectors fill a short page, unscored."""
        where = (" WHERE " + " AND ".join(conds)) if conds else ""
        offset, limit = max(op.offset, 0), max(op.limit, 0)
        table, q = self.vectors_table, self.d.q
        join = f"FROM ag_store s JOIN {table} v ON v.prefix = s.prefix AND v.key = s.key{where}"
        sql = (
            f"SELECT {_COLUMNS}, max({self.vector_score}) AS score {q(join)} "
            f"GROUP BY s.prefix, s.key ORDER BY score DESC, s.updated_at DESC, s.prefix DESC, s.key DESC "
            + q("LIMIT ? OFFSET ?")
        )
        stmt = Stmt(sql, (self.vector_param(query), *params, limit, offset), fetch=True)

        def on_rows(rows: list[Any]) -> None:
            items = []
            for r in rows:
                item = self._item(r, SearchItem)
                item.score = float(r[6])
                items.append(item)
                if op.refresh_ttl and r[5] is not None:
                    touched.append((r[0], r[1]))
            results[i] = items
            if len(items) >= limit:
                return
            no_vector = f"NOT EXISTS (SELECT 1 FROM {table} v WHERE v.prefix = s.prefix AND v.key = s.key)"
            where2 = " WHERE " + " AND ".join([*conds, no_vector])
            count = Stmt(
                q(f"SELECT count(*) FROM (SELECT DISTINCT s.prefix, s.key {join}) t"), params, fetch=True
            )
            rest = Stmt(
                q(f"SELECT {_COLUMNS} FROM ag_store s{where2} {_ORDER} LIMIT ?"),
                (*params, offset + limit),
                fetch=True,
            )

            def on_rest(rows2: list[Any]) -> None:
                skip = max(offset - int(rows2[0][0][0]), 0)
                for r in rows2[1][skip : skip + limit - len(items)]:
                    items.append(self._item(r, SearchItem))
                    if op.refresh_ttl and r[5] is not None:
                        touched.append((r[0], r[1]))

            follow.append(([count, rest], on_rest))

        return stmt, on_rows

    def _fetch_page(self, page: list[tuple[tuple[str, str], float | None]]) -> Stmt:
        if not page:
            return Stmt(self.d.q(f"SELECT {_COLUMNS} FROM ag_store s WHERE 1 = 0"), (), fetch=True)
        pairs = " OR ".join(["(s.prefix = ? AND s.key = ?)"] * len(page))
        params = [x for (address, _) in page for x in address]
        return Stmt(self.d.q(f"SELECT {_COLUMNS} FROM ag_store s WHERE {pairs}"), params, fetch=True)

    def _page(
        self,
        op: SearchOp,
        page: list[tuple[tuple[str, str], float | None]],
        rows: list[Row],
        touched: list[tuple[str, str]],
    ) -> list[SearchItem]:
        by_address = {(r[0], r[1]): r for r in rows}
        out: list[SearchItem] = []
        for address, score in page:
            row = by_address.get(address)
            if row is None:
                continue
            item = self._item(row, SearchItem)
            item.score = score
            out.append(item)
            if op.refresh_ttl and row[5] is not None:
                touched.append(address)
        return out

    def _list(self, op: ListNamespacesOp, alive: tuple[str, list[Any]] | None) -> Stmt:
        conds: list[str] = []
        params: list[Any] = []
        for cond in op.match_conditions or ():
            if cond.match_type == "prefix" and cond.path and "*" not in cond.path:
                text = ns_text(tuple(cond.path))
                conds.append("(s.prefix = ? OR (s.prefix >= ? AND s.prefix < ?))")
                params += [text, text + ".", text + "/"]
        if alive:
            conds.append(alive[0])
            params += alive[1]
        where = (" WHERE " + " AND ".join(conds)) if conds else ""
        return Stmt(self.d.q(f"SELECT DISTINCT s.prefix FROM ag_store s{where}"), params, fetch=True)

    @staticmethod
    def _on_list(i: int, op: ListNamespacesOp, results: list[Result]) -> Callable[[Any], None]:
        def on_rows(rows: list[Row]) -> None:
            results[i] = list_namespaces((ns_tuple(r[0]) for r in rows), op)

        return on_rows

    def _refresh_stmt(self, touched: list[tuple[str, str]], now: float) -> Stmt:
        # expires_at = now + ttl_minutes, computed in SQL per row.
        if self.d.name == "sqlite":
            sql = (
                "UPDATE ag_store SET expires_at = ? + ttl_minutes * 60.0 "
                "WHERE prefix = ? AND key = ? AND ttl_minutes IS NOT NULL"
            )
        else:
            sql = (
                "UPDATE ag_store SET expires_at = %s + make_interval(secs => ttl_minutes * 60.0) "
                "WHERE prefix = %s AND key = %s AND ttl_minutes IS NOT NULL"
            )
        ts = self.d.ts(now)
        return Stmt(sql, [(ts, p, k) for p, k in dict.fromkeys(touched)], many=True)

    def _put_stmts(self, prep: Prepared, now: float) -> list[Stmt]:
        if not prep.puts:
            return []
        ts = self.d.ts(now)
        upserts: list[tuple[Any, ...]] = []
        deletes: list[tuple[str, str]] = []
        vector_rows: list[tuple[str, str, str, Any]] = []
        vectors = prep.put_vectors
        for n, ((namespace, key), op) in enumerate(prep.puts.items()):
            prefix = ns_text(namespace)
            if op.value is None:
                deletes.append((prefix, key))
                continue
            ttl = op.ttl
            expires = self.d.ts(now + ttl * 60.0) if ttl is not None else None
            upserts.append((prefix, key, _dumps(namespace, key, op.value), ts, ts, expires, ttl))
            if vectors is not None:
                vector_rows += [(prefix, key, f, self.vector_store(normalize(v))) for f, v in vectors[n]]
        stmts: list[Stmt] = []
        if self.indexer is not None or deletes:
            # An item's old vectors go with it: deleted, or replaced by a new put's.
            stale = deletes + [(u[0], u[1]) for u in upserts]
            stmts.append(_many(self._delete_vectors, stale))
        if deletes:
            stmts.append(_many(self._delete, deletes))
        if upserts:
            stmts.append(_many(self._upsert, upserts))
        if vector_rows:
            stmts.append(_many(self._insert_vector, vector_rows))
        return stmts

    # -- maintenance -----------------------------------------------------------------------

    def sweep(self) -> Generator[list[Stmt], list[Any], int]:
        ts = self.d.ts(time.time())
        q = self.d.q
        rows = yield [
            Stmt(
                q(
                    "DELETE FROM ag_store_vectors WHERE (prefix, key) IN (SELECT prefix, key "
                    "FROM ag_store WHERE expires_at IS NOT NULL AND expires_at <= ?)"
                ),
                (ts,),
            ),
            Stmt(
                q("DELETE FROM ag_store WHERE expires_at IS NOT NULL AND expires_at <= ? RETURNING 1"),
                (ts,),
                fetch=True,
            ),
        ]
        return len(rows[1])


_new = object.__new__


def _many(sql: str, rows: list[Any]) -> Stmt:
    if len(rows) == 1:
        return Stmt(sql, rows[0])
    return Stmt(sql, rows, many=True)


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)
