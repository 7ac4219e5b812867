"""Running store operations on psycopg connections (sync and async).

One operation is one transaction. Each batch of statements travels in pipeline mode:
``BEGIN`` goes with the first batch, and ``COMMIT`` with a batch the operation marks
as its last (:class:`~asyncgraph.checkpoint._sql.Last`), so a put of small values or a
put_writes is ONE round trip however many statements it has. A batch carrying more than
:data:`PIPELINE_MAX` bytes of parameters is sent statement by statement instead: in
pipeline mode libpq and the server can each wait for the other while a large value is
in flight (psycopg 3.3 hangs forever from ~16 MB on).

Reads (``snapshot=True``) run at ``REPEATABLE READ``: an operation that reads in several
batches (a checkpoint row, then its values) sees one snapshot, however other writers
prune or extend the thread meanwhile. Writes stay ``READ COMMITTED`` and serialize per
thread through the advisory lock the store takes first (see ``Dialect.thread_xact_lock``).

A write transaction whose batch carries at most :data:`SIMPLE_MAX` bytes of parameters
(a checkpoint, its writes) skips the pipeline: its statements, parameters bound on the
client, go as ONE query string (simple query protocol) and their results come back
together. That is one ``execute`` instead of one per statement, about half the client
CPU of the pipeline; reads keep the pipeline and binary results. A write the string
repeats (the rows of many checkpoints: group commit) is prepared in it, executed per row
and deallocated at its end, so the server parses it once (see :func:`_script`).
Consecutive reads of one statement in a pipeline (the reads of several callers, in
lockstep) go as one ``executemany``.

If the transaction fails or the caller is cancelled, it is rolled back when the
connection can still talk; a connection left mid-query is closed, so no pool ever gets
back a connection inside a transaction (psycopg's pools discard closed connections).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import threading
import uuid
from collections.abc import Sequence
from typing import Any

from asyncgraph.checkpoint._sqlsaver import Op, adrive, drive
from asyncgraph.checkpoint._sql import Last
from asyncgraph.checkpoint._store import Stmt
from asyncgraph.errors import CheckpointError

PIPELINE_MAX = 1 << 20
"""Bytes of parameters above which a batch is not pipelined (see the module docstring)."""

SIMPLE_MAX = 1 << 16
"""Bytes of parameters up to which a write batch is sent as one query string."""

DEFAULT_TIMEOUT = 300.0
"""Seconds a PostgreSQL saver operation may take before it is abandoned (``timeout=``)."""

BACKSTOP = 5.0
"""Seconds the client waits beyond ``timeout`` before abandoning an operation itself:
normally the server's ``statement_timeout`` (set on connections the saver opens) ends
it first, cleanly. Abandoned by the client, a transaction whose ``COMMIT`` was already
sent may still commit."""


def connection_kwargs(timeout: float | None) -> dict[str, Any]:
    """Connection settings for the pools the savers open: autocommit, and the server
    cancels any statement (lock waits included) running longer than ``timeout``."""
    kwargs: dict[str, Any] = {"autocommit": True}
    if timeout is not None:
        kwargs["options"] = f"-c statement_timeout={max(1, int(timeout * 1000))}"
    return kwargs


def timeout_error(timeout: float | None, exc: BaseException) -> BaseException:
    """``TimeoutError`` for a statement the server cancelled on its timeout, else ``exc``."""
    import psycopg.errors

    if isinstance(exc, psycopg.errors.QueryCanceled):
        return TimeoutError(
            f"a checkpoint operation took longer than {timeout} s (the saver's timeout=, "
            f"enforced by the server): it was rolled back, nothing was stored ({exc})"
        )
    return exc


_COMMIT = Stmt("COMMIT")
_BEGIN = ("BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ")


_SIZED = frozenset((bytes, str))


def _size(batch: Sequence[Stmt]) -> int:
    total = 0
    for stmt in batch:
        rows = stmt.params if stmt.many else (stmt.params,)
        for row in rows:
            for p in row:
                t = type(p)
                if t in _SIZED:  # the common cases first, without isinstance
                    total += len(p)
                elif t is not int and p is not None and isinstance(p, (bytes, bytearray, memoryview, str)):
                    total += len(p)
    return total


class _Unsure(Exception):
    """A parameter the fast literal formatter leaves to psycopg."""


def _literal(v: Any) -> str:
    """``v`` as an SQL literal (``standard_conforming_strings`` on): the types the store
    binds; anything else raises :class:`_Unsure`."""
    t = type(v)
    if t is str:
        if "\x00" in v:
            raise _Unsure  # psycopg refuses it with a clear error
        return "'" + v.replace("'", "''") + "'"
    if t is bytes:
        return "'\\x" + v.hex() + "'::bytea"
    if t is int:
        return str(v) if v >= 0 else f"({v})"
    if v is None:
        return "NULL"
    raise _Unsure


_FORMATS: dict[str, tuple[int, str]] = {}


def _bind(sql: str, params: Sequence[Any]) -> str:
    """``sql`` with its ``%s`` placeholders replaced by ``params`` as literals."""
    found = _FORMATS.get(sql)
    if found is None:
        parts = sql.split("%s")
        found = _FORMATS[sql] = (len(parts) - 1, "%s".join(part.replace("%", "%%") for part in parts))
    if found[0] != len(params):
        raise _Unsure
    lits: list[str] = []
    append = lits.append
    for p in params:
        # _literal's common cases inline (a call per parameter is most of the cost)
        t = type(p)
        if t is str and "\x00" not in p:
            append("'" + p.replace("'", "''") + "'")
        elif t is bytes:
            append("'\\x" + p.hex() + "'::bytea")
        elif t is int:
            append(str(p) if p >= 0 else f"({p})")
        elif p is None:
            append("NULL")
        else:
            append(_literal(p))
    return found[1] % tuple(lits)


PREPARE_MIN = 3
"""Statements of one shape in a query string from which that shape is prepared (see
:func:`_script`)."""

_PREPARABLE = ("INSERT INTO asyncgraph_", "UPDATE asyncgraph_", "DELETE FROM asyncgraph_",
               "SELECT pg_advisory_xact_lock(")
"""The statements :func:`_script` may prepare: the store's writes (each of them prepares:
``tests/checkpoint/test_postgres_prepared.py``)."""

PREPARED_PREFIX = "_asyncgraph_s"
"""Names of the statements a query string prepares for itself (and deallocates)."""

_UNIQUE = itertools.count()
_PROCESS = uuid.uuid4().hex[:8]
# Each string's names are new: a statement left prepared by a string that failed where
# the cleanup could not reach it (a transaction-pooling proxy such as PgBouncer sends the
# cleanup over another server connection) never collides with a later string's.

DEALLOCATE_OURS = (
    "DO $$DECLARE n text; BEGIN FOR n IN SELECT name FROM pg_prepared_statements "
    f"WHERE name LIKE '{PREPARED_PREFIX.replace('_', chr(92) + '_')}%' LOOP "
    "EXECUTE 'DEALLOCATE ' || quote_ident(n); END LOOP; END$$"
)
"""Deallocates whatever a failed query string left prepared (``PREPARE`` is not undone by
a rollback)."""

_INT8 = 1 << 63
_DECLARED = {int: "bigint", bytes: "bytea", str: "unknown"}
_ARG = {int: "%s", bytes: "'\\x%s'::bytea", str: "'%s'"}


class _Mixed(Exception):
    """Values of a prepared statement's position that are not all of one type."""


class _Prepared:
    """One statement prepared by a query string: its ``PREPARE``, and its rows as
    ``EXECUTE name(values)``."""

    __slots__ = ("bind", "generic", "head", "name", "template", "types")

    def __init__(self, name: str, sql: str, types: tuple[type, ...]) -> None:
        self.name = name
        self.types: tuple[Any, ...] = types
        # A value as the literal its type makes, typed as that literal would be
        # (``unknown`` for a string: the server infers it as an untyped literal's).
        parts = sql.split("%s")
        numbered = parts[0] + "".join(f"${i}{text}" for i, text in enumerate(parts[1:], 1))
        self.head = f"PREPARE {name} ({', '.join(_DECLARED[t] for t in types)}) AS {numbered}"
        self.template = f"EXECUTE {name}(" + ", ".join(_ARG[t] for t in types) + ")"
        self.generic = f"EXECUTE {name}(" + ", ".join(["%s"] * len(types)) + ")"
        self.bind = _binder(types)(self.template, self._bind)

    def _bind(self, row: Sequence[Any]) -> str:
        """``bind`` for any row: the fast binder (:func:`_binder`) hands over a row it
        does not take as it is (a None, a string with NUL, a type not the first rows')."""
        if len(row) != len(self.types):
            raise _Mixed
        vals: list[Any] = []
        append = vals.append
        p: Any
        for p, t in zip(row, self.types):
            if type(p) is not t:
                if p is None:
                    return _bind(self.generic, row)  # (NULL)
                raise _Mixed
            if t is str:
                if "\x00" in p:
                    return _bind(self.generic, row)  # (psycopg's error, from _literal)
                append(p.replace("'", "''"))
            elif t is bytes:
                append(p.hex())
            elif -_INT8 <= p < _INT8:
                append(p)
            else:
                raise _Mixed
        return self.template % tuple(vals)


_BINDERS: dict[tuple[type, ...], Any] = {}


def _binder(types: tuple[type, ...]) -> Any:
    """A maker of ``_Prepared.bind`` for rows of ``types``, written out for them (one
    check and one conversion per position, no loop): a group commit binds ~20 rows per
    agent run, and the loop over positions was most of it. Made once per ``types`` (the
    store has a handful). ``make(template, slow)`` gives ``bind(row)``, which hands
    any row that is not plainly of ``types`` (wrong length, a None, a NUL, an int out of
    range) to ``slow``, the general binder, unchanged."""
    found = _BINDERS.get(types)
    if found is not None:
        return found
    names = [f"a{i}" for i in range(len(types))]
    checks: list[str] = []  # per position: its type, then (str, int) what _bind refuses
    conv: list[str] = []
    for a, t in zip(names, types):
        checks.append(f"type({a}) is not {t.__name__}")
        if t is str:
            checks.append(f"'\\x00' in {a}")
            conv.append(f"{a}.replace(\"'\", \"''\")")
        elif t is bytes:
            conv.append(f"{a}.hex()")
        else:
            checks.append(f"not -_INT8 <= {a} < _INT8")
            conv.append(a)
    src = (
        "def make(template, slow):\n"
        "    def bind(row):\n"
        f"        if len(row) != {len(types)}:\n"
        "            return slow(row)\n"
        f"        {', '.join(names)}, = row\n"
        f"        if {' or '.join(checks)}:\n"
        "            return slow(row)\n"
        f"        return template % ({', '.join(conv)},)\n"
        "    return bind\n"
    )
    scope: dict[str, Any] = {"_INT8": _INT8}
    exec(compile(src, f"<_binder {','.join(t.__name__ for t in types)}>", "exec"), scope)  # noqa: S102  (names and types are the store's own, see _DECLARED)
    if len(_BINDERS) < 256:
        _BINDERS[types] = scope["make"]
    return scope["make"]


def _first_types(sql: str, stmts: Sequence[Stmt]) -> tuple[type, ...] | None:
    """Each position's type in the first row where it is not None (None if one is None
    in every row, or of a type other than ``int``, ``bytes``, ``str``)."""
    n = sql.count("%s")
    types: list[Any] = [None] * n
    missing = n
    for s in stmts:
        if s.sql != sql:
            continue
        for row in s.params if s.many else (s.params,):
            if len(row) != n:
                return None
            for i, v in enumerate(row):
                if types[i] is None and v is not None:
                    if type(v) not in _DECLARED:
                        return None
                    types[i] = type(v)
                    missing -= 1
            if not missing:
                return tuple(types)
    return None


def _script(cur: Any, stmts: Sequence[Stmt], prepared: list[str] | None = None,
            _mixed: frozenset[str] = frozenset()) -> str:
    """The statements as one query string, parameters bound on the client; a ``many``
    statement becomes one statement per row. Values of the types the store binds are
    formatted here (``standard_conforming_strings`` must be on, as it is by default
    since PostgreSQL 9.1); anything else by ``cur`` (a client-side binding cursor).

    With ``prepared`` (a list), a write of the store that occurs at least
    :data:`PREPARE_MIN` times is prepared at the start of the string (``PREPARE``, named
    into ``prepared``: their results come first), sent as ``EXECUTE name(values)`` and
    deallocated at its end: the server parses and analyses it once instead of once per
    row (a group commit of 60 checkpoints: about half the server's CPU). Nothing outlives
    the string when it succeeds; when it fails, :data:`DEALLOCATE_OURS` cleans up.
    """
    fast = cur.connection.info.parameter_status("standard_conforming_strings") == "on"
    ours: dict[str, _Prepared] = {}
    if prepared is not None and fast:
        counts: dict[str, int] = {}
        for s in stmts:
            if s.params and s.sql.startswith(_PREPARABLE):
                counts[s.sql] = counts.get(s.sql, 0) + (len(s.params) if s.many else 1)
        for sql, n in counts.items():
            if n >= PREPARE_MIN and sql not in _mixed:
                types = _first_types(sql, stmts)
                if types is not None:
                    ours[sql] = _Prepared(f"{PREPARED_PREFIX}{_PROCESS}_{next(_UNIQUE)}", sql, types)
    parts = [p.head for p in ours.values()]
    for s in stmts:
        rows = s.params if s.many else (s.params,) if s.params else ()
        if not rows and not s.many:
            parts.append(s.sql)
            continue
        mine = ours.get(s.sql)
        if mine is not None:
            for row in rows:
                try:
                    parts.append(mine.bind(row))
                except _Mixed:  # (not of the first rows' types: not prepared after all)
                    return _script(cur, stmts, prepared, _mixed | {s.sql})
            continue
        for row in rows:
            if fast:
                try:
                    parts.append(_bind(s.sql, row))
                    continue
                except _Unsure:
                    pass
            parts.append(cur.mogrify(s.sql, row))
    if ours:
        # Before a final COMMIT: after it, they would make a transaction of their own.
        last = [parts.pop()] if stmts and stmts[-1].sql == "COMMIT" and not stmts[-1].params else []
        parts.extend(f"DEALLOCATE {p.name}" for p in ours.values())
        parts.extend(last)
    if prepared is not None:
        prepared.extend(p.name for p in ours.values())
    return ";\n".join(parts)


def _script_results(cur: Any, stmts: Sequence[Stmt], skip: int = 0) -> list[Any]:
    """Each statement's rows (``fetch``) or row count, from the results of a script run
    on a sync cursor; the first ``skip`` results (``PREPARE``) are not theirs. (A final
    ``COMMIT`` is read from the first ``DEALLOCATE``'s result, which comes before it:
    both count 0 rows.)"""
    out: list[Any] = []
    k = skip
    results = _all_results(cur)
    for s in stmts:
        n = len(s.params) if s.many else 1
        if s.fetch:
            rows = None
            for _ in range(n):
                cur.set_result(k) if results is None else cur._select_current_result(k)
                rows = cur.fetchall()
                k += 1
            out.append(rows)
        elif results is not None:
            out.append((results[k].command_tuples or 0) if n == 1 else _counted(results, k, n))
            k += n
        else:
            total = 0
            for _ in range(n):
                cur.set_result(k)
                total += max(cur.rowcount, 0)
                k += 1
            out.append(total)
    return out


async def _ascript_results(cur: Any, stmts: Sequence[Stmt], skip: int = 0) -> list[Any]:
    """:func:`_script_results` on an async cursor."""
    out: list[Any] = []
    k = skip
    results = _all_results(cur)
    for s in stmts:
        n = len(s.params) if s.many else 1
        if s.fetch:
            rows = None
            for _ in range(n):
                if results is None:
                    await cur.set_result(k)
                else:
                    cur._select_current_result(k)
                rows = await cur.fetchall()
                k += 1
            out.append(rows)
        elif results is not None:
            out.append((results[k].command_tuples or 0) if n == 1 else _counted(results, k, n))
            k += n
        else:
            total = 0
            for _ in range(n):
                await cur.set_result(k)
                total += max(cur.rowcount, 0)
                k += 1
            out.append(total)
    return out


def _counted(results: list[Any], k: int, n: int) -> int:
    """The rows ``n`` statements from result ``k`` on touched (psycopg's result list)."""
    total = 0
    for res in results[k : k + n]:
        total += res.command_tuples or 0
    return total


def _all_results(cur: Any) -> list[Any] | None:
    """The cursor's results (psycopg's own list: reading each one's row count there is
    ~10x cheaper than making it the current result), or None where psycopg keeps them
    otherwise (then the public ``set_result``, psycopg >= 3.3)."""
    results = getattr(cur, "_results", None)
    if type(results) is list and hasattr(cur, "_select_current_result"):
        return results
    return None


def _runs(stmts: Sequence[Stmt]) -> list[tuple[int, int]]:
    """``stmts`` cut into runs ``stmts[i:j]`` to send with one cursor each: consecutive
    reads of one statement (``fetch``, one row of parameters each: the reads of
    several callers in lockstep) go as one ``executemany``, the rest one by one."""
    out = []
    i, n = 0, len(stmts)
    while i < n:
        s = stmts[i]
        j = i + 1
        if s.fetch and not s.many and s.params:
            while j < n and stmts[j].sql == s.sql and stmts[j].fetch and not stmts[j].many and stmts[j].params:
                j += 1
        out.append((i, j))
        i = j
    return out


def run(conn: Any, gen: Op, *, snapshot: bool = False, timeout: float | None = None) -> Any:
    """Run ``gen`` as one transaction on a sync connection; see the module docstring.

    Raises:
        TimeoutError: the operation took longer than ``timeout`` seconds; the connection
            was shut down (a pool replaces it).
    """
    from psycopg.rows import tuple_row

    pending = [Stmt(_BEGIN[snapshot])] if conn.autocommit else []
    committed = False
    client: Any = None
    left_prepared = False

    def execute(batch: list[Stmt]) -> list[Any]:
        nonlocal committed, client, left_prepared
        stmts = pending + batch
        skip = len(pending)
        pending.clear()
        size = _size(batch)
        if not snapshot and size <= SIMPLE_MAX:
            if type(batch) is Last and conn.autocommit:
                stmts.append(_COMMIT)
                committed = True
            if client is None:
                from psycopg import ClientCursor

                client = ClientCursor(conn, row_factory=tuple_row)
            names: list[str] = []
            query = _script(client, stmts, names)
            left_prepared = bool(names)  # until the string ran through (its DEALLOCATEs)
            client.execute(query)
            left_prepared = False
            out = _script_results(client, stmts, len(names))
        elif size <= PIPELINE_MAX:
            if type(batch) is Last and conn.autocommit:
                stmts.append(_COMMIT)  # in the same round trip
                committed = True
            with conn.pipeline() as pipeline:
                runs = _runs(stmts)
                cursors = []
                for i, j in runs:
                    cur = conn.cursor(row_factory=tuple_row, binary=True)
                    if j - i > 1:
                        cur.executemany(stmts[i].sql, [s.params for s in stmts[i:j]], returning=True)
                    else:
                        _sync_exec(cur, stmts[i])
                    cursors.append(cur)
                pipeline.sync()
                out = []
                for cur, (i, j) in zip(cursors, runs):
                    if j - i > 1:
                        out.append(cur.fetchall())
                        for _ in range(i + 1, j):
                            cur.nextset()
                            out.append(cur.fetchall())
                    else:
                        out.append(cur.fetchall() if stmts[i].fetch else cur.rowcount)
        else:
            out = []
            for s in stmts:
                cur = _sync_exec(conn.cursor(row_factory=tuple_row, binary=True), s)
                out.append(cur.fetchall() if s.fetch else cur.rowcount)
        return out[skip : skip + len(batch)]

    watchdog = _Watchdog(conn, timeout + BACKSTOP) if timeout is not None else None
    try:
        value = drive(gen, execute)
        if not pending and not committed:  # opened (an operation may yield nothing)
            if client is not None:
                client.execute("COMMIT")
            elif conn.autocommit:
                conn.execute("COMMIT")
            else:
                conn.commit()
    except BaseException as exc:
        _rollback(conn, left_prepared)
        if watchdog is not None and watchdog.fired:
            raise TimeoutError(
                f"a checkpoint operation took longer than {timeout} s (the saver's "
                "timeout=) and the server did not end it: it was abandoned and its "
                "connection shut down (a COMMIT already sent may still take effect)"
            ) from exc
        raise
    finally:
        if watchdog is not None:
            watchdog.cancel()
    return value


def _sync_exec(cur: Any, stmt: Stmt) -> Any:
    if stmt.many:
        cur.executemany(stmt.sql, stmt.params)
    else:
        cur.execute(stmt.sql, stmt.params)
    return cur


def left_in_pipeline(conn: Any) -> bool:
    """A cancel landing while psycopg leaves a pipeline block can leave libpq in pipeline
    mode on an idle connection; a pool that got it back would send every later query by
    the extended protocol ("cannot insert multiple commands into a prepared statement")."""
    from psycopg.pq import PipelineStatus

    return not conn.closed and conn.pgconn.pipeline_status != PipelineStatus.OFF


def _rollback(conn: Any, prepared: bool = False) -> None:
    """Leave ``conn`` idle outside any transaction and out of pipeline mode, with none of
    the statements a failed query string prepared (``prepared``), or closed."""
    from psycopg.pq import TransactionStatus

    if left_in_pipeline(conn):
        conn.close()
        return
    status = conn.info.transaction_status
    if status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
        try:
            conn.rollback() if not conn.autocommit else conn.execute("ROLLBACK")
            status = conn.info.transaction_status
        except Exception:
            pass
    if status == TransactionStatus.IDLE and prepared:
        try:
            _deallocate(conn)
            status = conn.info.transaction_status
        except Exception:
            status = None  # (closed below)
    if status != TransactionStatus.IDLE:
        conn.close()


def _deallocate(conn: Any) -> None:
    if conn.autocommit:
        conn.execute(DEALLOCATE_OURS)
    else:
        with conn.transaction():
            conn.execute(DEALLOCATE_OURS)


class _Watchdog:
    """Shuts a sync connection's socket down after ``timeout`` s, which makes whatever
    psycopg is blocked on (a read, a write, a pipeline sync) fail at once."""

    def __init__(self, conn: Any, timeout: float) -> None:
        self.fired = False
        self._conn = conn
        self._timer = threading.Timer(timeout, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        try:
            # A duplicate descriptor of the same socket: shutting it down ends the
            # connection for psycopg too, and closing it leaves psycopg's own fd alone.
            s = socket.socket(fileno=os.dup(self._conn.pgconn.socket))
        except Exception:
            return
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        finally:
            s.close()

    def cancel(self) -> None:
        self._timer.cancel()


async def arun(conn: Any, gen: Op, *, snapshot: bool = False) -> Any:
    """Run ``gen`` as one transaction on an async connection; see the module docstring."""
    from psycopg.rows import tuple_row

    pending = [Stmt(_BEGIN[snapshot])] if conn.autocommit else []
    committed = False
    client: Any = None
    left_prepared = False

    async def execute(batch: list[Stmt]) -> list[Any]:
        nonlocal committed, client, left_prepared
        stmts = pending + batch
        skip = len(pending)
        pending.clear()
        size = _size(batch)
        if not snapshot and size <= SIMPLE_MAX:
            if type(batch) is Last and conn.autocommit:
                stmts.append(_COMMIT)
                committed = True
            if client is None:
                from psycopg import AsyncClientCursor

                client = AsyncClientCursor(conn, row_factory=tuple_row)
            names: list[str] = []
            query = _script(client, stmts, names)
            left_prepared = bool(names)  # until the string ran through (its DEALLOCATEs)
            await client.execute(query)
            left_prepared = False
            out = await _ascript_results(client, stmts, len(names))
        elif size <= PIPELINE_MAX:
            if type(batch) is Last and conn.autocommit:
                stmts.append(_COMMIT)  # in the same round trip
                committed = True
            async with conn.pipeline() as pipeline:
                runs = _runs(stmts)
                cursors = []
                for i, j in runs:
                    cur = conn.cursor(row_factory=tuple_row, binary=True)
                    if j - i > 1:
                        await cur.executemany(stmts[i].sql, [s.params for s in stmts[i:j]], returning=True)
                    else:
                        await _async_exec(cur, stmts[i])
                    cursors.append(cur)
                await pipeline.sync()
                out = []
                for cur, (i, j) in zip(cursors, runs):
                    if j - i > 1:
                        out.append(await cur.fetchall())
                        for _ in range(i + 1, j):
                            cur.nextset()
                            out.append(await cur.fetchall())
                    else:
                        out.append(await cur.fetchall() if stmts[i].fetch else cur.rowcount)
        else:
            out = []
            for s in stmts:
                cur = conn.cursor(row_factory=tuple_row, binary=True)
                await _async_exec(cur, s)
                out.append(await cur.fetchall() if s.fetch else cur.rowcount)
        return out[skip : skip + len(batch)]

    try:
        value = await adrive(gen, execute)
        if not pending and not committed:
            if client is not None:
                await client.execute("COMMIT")
            elif conn.autocommit:
                await conn.execute("COMMIT")
            else:
                await conn.commit()
    except BaseException:
        await _arollback(conn, left_prepared)
        raise
    return value


async def _async_exec(cur: Any, stmt: Stmt) -> None:
    if stmt.many:
        await cur.executemany(stmt.sql, stmt.params)
    else:
        await cur.execute(stmt.sql, stmt.params)


async def _arollback(conn: Any, prepared: bool = False) -> None:
    """Leave ``conn`` idle outside any transaction and out of pipeline mode, with none of
    the statements a failed query string prepared (``prepared``), or closed."""
    from psycopg.pq import TransactionStatus

    if left_in_pipeline(conn):
        await conn.close()
        return
    status = conn.info.transaction_status
    if status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
        try:
            # Shielded: a second cancel must not leave the rollback half sent.
            await asyncio.shield(
                conn.rollback() if not conn.autocommit else conn.execute("ROLLBACK")
            )
            status = conn.info.transaction_status
        except BaseException:
            pass
    if status == TransactionStatus.IDLE and prepared:
        try:
            await asyncio.shield(_adeallocate(conn))
            status = conn.info.transaction_status
        except BaseException:
            status = None  # (closed below)
    if status != TransactionStatus.IDLE:
        await conn.close()


async def _adeallocate(conn: Any) -> None:
    if conn.autocommit:
        await conn.execute(DEALLOCATE_OURS)
    else:
        async with conn.transaction():
            await conn.execute(DEALLOCATE_OURS)


def speculation_failed(exc: BaseException) -> bool:
    """Whether ``exc`` ended a speculative put (``Store.op_put(fast=True)``, or
    ``op_put_steps(fast=True, speculate=True)``): one of its value inserts could not
    store its row (or a guessed row count was wrong); it was rolled back and must be run
    again the careful way."""
    import psycopg.errors

    from asyncgraph.checkpoint._store import Mispredicted

    return isinstance(exc, (psycopg.errors.UniqueViolation, psycopg.errors.NotNullViolation, Mispredicted))


def translated(exc: BaseException) -> BaseException:
    """A clearer error for a database that was never set up."""
    import psycopg.errors

    if isinstance(exc, psycopg.errors.UndefinedTable):
        return CheckpointError(
            "the asyncgraph checkpoint tables do not exist in this database: call "
            f"saver.setup() (or `await saver.setup()`) once before using it ({exc})"
        )
    return exc
