"""PostgreSQL back end of :class:`Storage`, for ``asyncgraph serve`` and ``asyncgraph worker``.

Records are JSON documents keyed by id, beside the checkpoints in the same database. Run
events are rows ``(run_id, seq, event, data)``; each insert sends ``NOTIFY ag_run_events``
with ``"<run_id> <seq>"`` (``"<run_id> close"`` when the log ends), and every API process
LISTENs on one connection and wakes the SSE readers of that run, which read the rows after
the last id they sent (a new run sends ``"thread:<thread_id>"``, for the thread's stream). A lost notification (a dropped listener connection) costs at most
:data:`POLL_SECONDS` of latency: readers also poll.

Fencing: a worker runs a run as attempt N (``ag_runs.attempt``, raised by :meth:`claim_run`).
While :data:`FENCE` holds ``(run_id, N)`` every write of this storage, and of the fenced
checkpointer, first takes a share lock on the run's row and checks that the attempt is still
N, in the write's own transaction; claiming a new attempt updates that row, so it waits for
writes in flight and every later write of the old attempt fails with :class:`FencedOut`.
A worker that lost its run (a zombie) therefore cannot overwrite the newer attempt's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import AsyncIterator, Callable, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import Any, NamedTuple

from asyncgraph.server._serialize import dumps
from asyncgraph.server._storage import RunEvent, Storage, now

__all__ = ["Attempt", "FENCE", "FENCE_SQLSTATE", "FencedOut", "PostgresStorage", "open_pool"]

log = logging.getLogger("asyncgraph.server")

CHANNEL = "ag_run_events"
POLL_SECONDS = 1.0
"""Readers re-read a run's events at least this often, even without a notification,
while this process's listener is down (or reconnecting)."""
LISTENING_POLL_SECONDS = 5.0
"""The same while the listener is up: a NOTIFY reaches it or the connection drops (and the
reconnection wakes every reader), so this read is a backstop only. It bounds a missed
wake-up: at 30 s (tried in session 9: 2-4 reads per run fewer when 500 streams queue on
one worker) one stream in about 2,000 of the server bench's runs waited the whole 30 s
(run max 30.5 s against p50 3.8 s): its run had been started by a worker, and its events
and end heard here, before ``add_run`` marked it fresh (fixed: marked before the
statement). Kept at 5 s until a long series of runs shows no other miss."""
_ALL = math.inf

NOTIFY_EVENTS_MAX = 7000
"""A batch of events whose JSON is at most this many bytes travels in its NOTIFY's payload
(PostgreSQL's limit is 8000 bytes), so the API processes relay it without reading it back;
a bigger batch is read from the table."""

INBOX_MAX = 256
"""At most this many events from NOTIFY payloads are kept per run for its readers (a reader
that falls further behind reads the table)."""

EVENT_GRACE_SECONDS = 60

FRESH_MAX = 10_000
"""At most this many runs admitted here are tracked for their first read (see add_run)."""

_LAST_SEQ = "COALESCE((SELECT MAX(seq) FROM ag_run_events WHERE run_id = {run}), 0)::text"
"""SQL: the last seq of a run's log, sent with the NOTIFY that closes it."""
"""How long a deleted run's events stay readable by clients already following them."""

FENCE: ContextVar[tuple[str, int] | None] = ContextVar("asyncgraph_server_fence", default=None)
"""``(run_id, attempt)`` of the run the current task executes, in a worker; None elsewhere."""

JOB: ContextVar[int | None] = ContextVar("asyncgraph_server_job", default=None)
"""The id of the procrastinate job carrying the run the current task executes, in a worker:
:meth:`PostgresStorage.finish_run` ends it with the run (see ``finished_jobs``)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ag_assistants (id text PRIMARY KEY, doc jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS ag_threads (id text PRIMARY KEY, doc jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS ag_runs (
    id text PRIMARY KEY,
    thread_id text NOT NULL,
    doc jsonb NOT NULL,
    attempt integer NOT NULL DEFAULT 0,
    job_id bigint,
    abort text
);
CREATE INDEX IF NOT EXISTS ag_runs_thread ON ag_runs (thread_id);
CREATE TABLE IF NOT EXISTS ag_run_events (
    run_id text NOT NULL, seq integer NOT NULL, event text NOT NULL, data text NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS ag_crons (
    id text PRIMARY KEY, next_run timestamptz, enabled boolean NOT NULL, doc jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS ag_crons_due ON ag_crons (next_run) WHERE enabled;
CREATE TABLE IF NOT EXISTS ag_run_closed (
    run_id text PRIMARY KEY, deleted_at timestamptz
);
CREATE OR REPLACE FUNCTION ag_fence(p_run text, p_attempt integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE current integer;
BEGIN
    SELECT attempt INTO current FROM ag_runs WHERE id = p_run FOR SHARE;
    IF current IS DISTINCT FROM p_attempt THEN
        RAISE EXCEPTION 'run %: attempt % is fenced out', p_run, p_attempt
            USING ERRCODE = 'AGF01', DETAIL = coalesce(current::text, '');
    END IF;
    RETURN current;
END $$;
"""

FENCE_SQLSTATE = "AGF01"
"""Raised by ``ag_fence(run_id, attempt)``, the fence check a write transaction sends first
(the fenced checkpointer's): the attempt is not the run's current one (see FencedOut)."""


async def _autocommit(conn: Any) -> None:
    await conn.set_autocommit(True)


def open_pool(conninfo: str, *, max_size: int = 20) -> Any:
    """A psycopg pool of autocommit connections, shared by everything a process opens on
    the database (server records, checkpoints, store, procrastinate): one pool per process
    keeps the connection count low. Autocommit is set by ``configure``, not by the
    connection kwargs, because procrastinate opens its LISTEN connection from those kwargs
    and sets autocommit itself."""
    # Imported here: psycopg is an optional dependency (the postgres extra).
    from psycopg_pool import AsyncConnectionPool

    return AsyncConnectionPool(conninfo, min_size=min(2, max_size), max_size=max_size, configure=_autocommit, open=False)


class FencedOut(Exception):
    """A worker wrote for an attempt of a run that is no longer current.

    Raised when another worker took the run over (this one was thought dead) or the run
    was deleted. The writing worker must stop working on the run; nothing was written.
    """

    def __init__(self, run_id: str, attempt: int, current: int | None) -> None:
        self.run_id = run_id
        self.attempt = attempt
        self.current = current
        now = "deleted" if current is None else f"at attempt {current}"
        super().__init__(f"run {run_id!r}: attempt {attempt} is fenced out (the run is {now})")


def _doc(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else json.loads(value)  # type: ignore[no-any-return]


class Attempt(NamedTuple):
    """A run's attempt as :meth:`PostgresStorage.start_attempt` began it."""

    run: dict[str, Any]
    number: int
    abort: str | None
    """The cancellation asked before the claim (``interrupt`` / ``rollback``), if any."""
    assistant: dict[str, Any] | None
    """The run's assistant (as the API shows it); None if it was deleted."""
    checkpointed: bool = True
    """Whether the run's thread had any checkpoint of the server's checkpointer when the
    attempt began (False: the run's first read of the thread's latest checkpoint can be
    answered without a read, see :class:`~asyncgraph.server._pg_queue.LastCheckpoint`)."""


class PostgresStorage(Storage):
    """Server records and run events in PostgreSQL, over a psycopg 3 connection pool.

    Args:
        pool: a ``psycopg_pool.AsyncConnectionPool`` whose connections are in autocommit.
        conninfo: where to open the LISTEN connection (the pool's database).
    """

    def __init__(self, pool: Any, conninfo: str) -> None:
        self.pool = pool
        self.conninfo = conninfo
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._notified: dict[str, float] = {}  # run id -> the highest seq NOTIFYed to its readers
        # Runs this process admitted while its listener was up: their NOTIFYs are tracked
        # from before any worker could write, so a reader needs no first read to catch up.
        self._fresh: dict[str, None] = {}
        self._closed_at: dict[str, int] = {}  # run id -> the last seq of its closed log
        # run id -> events that arrived in NOTIFY payloads, in seq order, not yet read by
        # every reader of the run here (see append_events and read_event_batches).
        self._inbox: dict[str, list[RunEvent]] = {}
        self._listening = False
        self._listener: asyncio.Task[None] | None = None
        self._nested = asyncio.Semaphore(max(1, pool.max_size // 2))
        self._event_group = _EventGroup(self)
        self.finished_jobs: set[int] = set()
        """Jobs :meth:`finish_run` ended (deleted, as procrastinate does a successful job
        of the worker's): procrastinate's own finish of them is skipped (see _serve)."""

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, conninfo: str, *, pool: Any = None, max_size: int = 20, listen: bool = True
    ) -> AsyncIterator[PostgresStorage]:
        """Use ``pool`` (or open one, see :func:`open_pool`), start the NOTIFY listener
        with ``listen``, and create the tables."""
        async with contextlib.AsyncExitStack() as stack:
            if pool is None:
                pool = await stack.enter_async_context(open_pool(conninfo, max_size=max_size))
            storage = cls(pool, conninfo)
            await storage.setup()
            if listen:
                storage._listener = asyncio.create_task(storage._listen())
            try:
                yield storage
            finally:
                if storage._listener is not None:
                    storage._listener.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await storage._listener

    @contextlib.asynccontextmanager
    async def nested(self) -> AsyncIterator[None]:
        """Held around work that keeps one pool connection while taking another (an
        admission lock, a fenced checkpoint write): at most half the pool does that at
        once, so the rest stays free for the inner acquisitions and nothing starves."""
        async with self._nested:
            yield

    async def setup(self) -> None:
        """Create the tables; safe when several processes start at once."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('asyncgraph_server_schema'))")
            await conn.execute(_SCHEMA)

    # ---- fencing --------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def fence(self) -> AsyncIterator[Any]:
        """A transaction that holds the current run's fence (see the module docstring).

        Yields the connection; without :data:`FENCE` it is just a transaction.

        Raises:
            FencedOut: the run has a newer attempt, or was deleted.
        """
        fence = FENCE.get()
        async with self.pool.connection() as conn, conn.transaction():
            if fence is not None:
                run_id, attempt = fence
                cur = await conn.execute("SELECT attempt FROM ag_runs WHERE id = %s FOR SHARE", (run_id,))
                row = await cur.fetchone()
                if row is None or row[0] != attempt:
                    raise FencedOut(run_id, attempt, None if row is None else row[0])
            yield conn

    async def claim_run(self, run_id: str) -> tuple[dict[str, Any], int] | None:
        """Start a new attempt of ``run_id`` if it is still to be done; its record and attempt."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE ag_runs SET attempt = attempt + 1 WHERE id = %s"
                " AND doc->>'status' IN ('pending', 'running') RETURNING doc, attempt",
                (run_id,),
            )
            row = await cur.fetchone()
        return None if row is None else (_doc(row[0]), int(row[1]))

    async def start_attempt(self, run_id: str) -> Attempt | None:
        """:meth:`claim_run`, and unless an abort was asked, the run ``running`` and its
        thread ``busy``; with the run's assistant, and whether the thread has checkpoints
        (in the checkpointer's ``asyncgraph_threads`` table, which the worker creates
        before it takes runs): one statement, where a worker starting a run took six."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "WITH claimed AS (UPDATE ag_runs SET attempt = attempt + 1,"
                " doc = CASE WHEN abort IS NULL THEN doc || jsonb_build_object('status', 'running',"
                " 'updated_at', %(ts)s::text) ELSE doc END"
                " WHERE id = %(run)s AND doc->>'status' IN ('pending', 'running')"
                " RETURNING doc, attempt, abort, thread_id),"
                " busy AS (UPDATE ag_threads t SET doc = t.doc || '{\"status\": \"busy\"}'::jsonb"
                " FROM claimed WHERE t.id = claimed.thread_id AND claimed.abort IS NULL)"
                " SELECT c.doc, c.attempt, c.abort, a.doc - '_versions',"
                " EXISTS (SELECT 1 FROM asyncgraph_threads k WHERE k.thread_id = c.thread_id) FROM claimed c"
                " LEFT JOIN ag_assistants a ON a.id = c.doc->>'assistant_id'",
                {"run": run_id, "ts": now()},
            )
            row = await cur.fetchone()
        if row is None:
            return None
        return Attempt(_doc(row[0]), int(row[1]), row[2], None if row[3] is None else _doc(row[3]), bool(row[4]))

    async def request_abort(self, run_id: str, action: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("UPDATE ag_runs SET abort = %s WHERE id = %s", (action, run_id))

    async def abort_action(self, run_id: str) -> str | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT abort FROM ag_runs WHERE id = %s", (run_id,))
            row = await cur.fetchone()
        return None if row is None else row[0]

    @contextlib.asynccontextmanager
    async def thread_admission(self, thread_id: str) -> AsyncIterator[None]:
        """A session advisory lock on the thread, seen by every API process.

        It holds a pool connection while the admission takes others (see :meth:`nested`).
        """
        async with self.nested(), self.pool.connection() as conn:
            await conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"ag_thread:{thread_id}",))
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"ag_thread:{thread_id}",))

    # ---- records ------------------------------------------------------------------------
    async def _get(self, table: str, ident: str) -> dict[str, Any] | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(f"SELECT doc FROM {table} WHERE id = %s", (ident,))
            row = await cur.fetchone()
        return None if row is None else _doc(row[0])

    async def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(sql, args)
            return [_doc(r[0]) for r in await cur.fetchall()]

    async def _fenced_one(self, conn: Any, sql: str, args: dict[str, Any]) -> Any:
        """Run ``sql`` (whose write is guarded by ``EXISTS (SELECT 1 FROM fence)``) under the
        current fence in one statement, one round trip; raise :class:`FencedOut` if refused.

        Without a fence, the guard is always true.
        """
        fence = FENCE.get()
        run_id, attempt = fence if fence is not None else (None, None)
        if fence is None:
            query = "WITH fence AS (SELECT 1) " + sql
        else:
            query = "WITH fence AS (SELECT 1 FROM ag_runs WHERE id = %(f_run)s AND attempt = %(f_attempt)s FOR SHARE) " + sql
        cur = await conn.execute(query, {**args, "f_run": run_id, "f_attempt": attempt})
        row = await cur.fetchone()
        if row is None and fence is not None:
            cur = await conn.execute("SELECT attempt FROM ag_runs WHERE id = %s", (run_id,))
            current = await cur.fetchone()
            raise FencedOut(run_id, attempt, None if current is None else current[0])  # type: ignore[arg-type]
        return row

    async def _put(self, table: str, ident: str, doc: dict[str, Any]) -> None:
        async with self.pool.connection() as conn:
            await self._fenced_one(
                conn,
                f"INSERT INTO {table} (id, doc) SELECT %(id)s, %(doc)s::jsonb WHERE EXISTS (SELECT 1 FROM fence)"
                " ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc RETURNING 1",
                {"id": ident, "doc": dumps(doc)},
            )

    async def get_first_assistant(self, assistant_ids: Sequence[str]) -> dict[str, Any] | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT doc FROM ag_assistants WHERE id = ANY(%(ids)s) ORDER BY array_position(%(ids)s, id) LIMIT 1",
                {"ids": list(assistant_ids)},
            )
            row = await cur.fetchone()
        return None if row is None else _doc(row[0])

    async def get_first_assistant_and_thread(
        self, assistant_ids: Sequence[str], thread_id: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT (SELECT doc FROM ag_assistants WHERE id = ANY(%(ids)s)"
                " ORDER BY array_position(%(ids)s, id) LIMIT 1), (SELECT doc FROM ag_threads WHERE id = %(tid)s)",
                {"ids": list(assistant_ids), "tid": thread_id},
            )
            row = await cur.fetchone()
        assert row is not None
        return (None if row[0] is None else _doc(row[0])), (None if row[1] is None else _doc(row[1]))

    async def put_assistant(self, assistant: dict[str, Any]) -> None:
        await self._put("ag_assistants", assistant["assistant_id"], assistant)

    async def get_assistant(self, assistant_id: str) -> dict[str, Any] | None:
        return await self._get("ag_assistants", assistant_id)

    async def delete_assistant(self, assistant_id: str) -> bool:
        async with self.pool.connection() as conn:
            cur = await conn.execute("DELETE FROM ag_assistants WHERE id = %s", (assistant_id,))
            return bool(cur.rowcount)

    async def list_assistants(self) -> list[dict[str, Any]]:
        return await self._all("SELECT doc FROM ag_assistants")

    async def put_thread(self, thread: dict[str, Any]) -> None:
        await self._put("ag_threads", thread["thread_id"], thread)

    async def get_thread(self, thread_id: str) -> dict[str, Any] | None:
        return await self._get("ag_threads", thread_id)

    async def insert_thread(self, thread: dict[str, Any]) -> dict[str, Any] | None:
        # One statement: the insert, or (its id taken) the stored record.
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "WITH ins AS (INSERT INTO ag_threads (id, doc) VALUES (%(id)s, %(doc)s::jsonb)"
                " ON CONFLICT (id) DO NOTHING RETURNING 1)"
                " SELECT doc FROM ag_threads WHERE id = %(id)s AND NOT EXISTS (SELECT 1 FROM ins)",
                {"id": thread["thread_id"], "doc": dumps(thread)},
            )
            row = await cur.fetchone()
        return None if row is None else _doc(row[0])

    async def patch_thread(self, thread_id: str, fields: dict[str, Any]) -> None:
        async with self.pool.connection() as conn:
            await self._fenced_one(
                conn,
                ", up AS (UPDATE ag_threads SET doc = doc || %(patch)s::jsonb WHERE id = %(id)s"
                " AND EXISTS (SELECT 1 FROM fence)) SELECT 1 FROM fence",
                {"id": thread_id, "patch": dumps(fields)},
            )

    async def delete_thread(self, thread_id: str) -> bool:
        async with self.fence() as conn:
            cur = await conn.execute("DELETE FROM ag_runs WHERE thread_id = %s RETURNING id", (thread_id,))
            for (run_id,) in await cur.fetchall():
                await self._mark_deleted(conn, run_id)
            cur = await conn.execute("DELETE FROM ag_threads WHERE id = %s", (thread_id,))
            return bool(cur.rowcount)

    async def list_threads(self) -> list[dict[str, Any]]:
        return await self._all("SELECT doc FROM ag_threads")

    async def put_cron(self, cron: dict[str, Any]) -> None:
        async with self.pool.connection() as conn:
            await self._put_cron(conn, cron)

    async def _put_cron(self, conn: Any, cron: dict[str, Any]) -> None:
        await conn.execute(
            "INSERT INTO ag_crons (id, next_run, enabled, doc) VALUES (%s, %s, %s, %s::jsonb)"
            " ON CONFLICT (id) DO UPDATE SET next_run = EXCLUDED.next_run,"
            " enabled = EXCLUDED.enabled, doc = EXCLUDED.doc",
            (cron["cron_id"], cron.get("next_run_date"), bool(cron.get("enabled")), dumps(cron)),
        )

    async def get_cron(self, cron_id: str) -> dict[str, Any] | None:
        return await self._get("ag_crons", cron_id)

    async def delete_cron(self, cron_id: str) -> bool:
        async with self.pool.connection() as conn:
            cur = await conn.execute("DELETE FROM ag_crons WHERE id = %s", (cron_id,))
            return bool(cur.rowcount)

    async def list_crons(self) -> list[dict[str, Any]]:
        return await self._all("SELECT doc FROM ag_crons")

    async def claim_due_crons(
        self, at: datetime, next_after: Callable[[dict[str, Any], datetime], str | None]
    ) -> list[dict[str, Any]]:
        """Due crons, locked and moved on in one transaction: each firing goes to one process."""
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT doc FROM ag_crons WHERE enabled AND next_run <= %s FOR UPDATE SKIP LOCKED", (at,)
            )
            due = [_doc(r[0]) for r in await cur.fetchall()]
            for cron in due:
                cron["next_run_date"] = next_after(cron, at)
                await self._put_cron(conn, cron)
        return due

    async def put_run(self, run: dict[str, Any]) -> None:
        # A new run is announced to the thread's stream readers in every API process
        # (NOTIFY 'thread:<id>', see watch_thread); an update of one is not.
        async with self.pool.connection() as conn:
            await self._fenced_one(
                conn,
                ", up AS (INSERT INTO ag_runs (id, thread_id, doc) SELECT %(id)s, %(tid)s, %(doc)s::jsonb"
                " WHERE EXISTS (SELECT 1 FROM fence)"
                " ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc RETURNING (xmax = 0) AS created)"
                " SELECT 1, CASE WHEN created THEN pg_notify(%(channel)s, 'thread:' || %(tid)s) END FROM up",
                {"id": run["run_id"], "tid": run["thread_id"], "doc": dumps(run), "channel": CHANNEL},
            )
        self.thread_watchers.wake(run["thread_id"])

    async def add_run(self, thread: dict[str, Any], run: dict[str, Any], first: RunEvent,
                      job: tuple[str, str, str, str] | None = None) -> None:
        # One statement (one round trip, one transaction) for the thread's record, the
        # run's, and its first event, with their NOTIFYs (see put_run and append_event).
        # ``job``: (queue, task, lock, args as JSON) of a procrastinate job deferred in
        # the same statement (ProcrastinateQueue.add_and_enqueue).
        defer = ""
        if job is not None:
            defer = (", procrastinate_defer_jobs_v1(ARRAY[ROW(%(q)s, %(task)s, 0, %(lock)s, NULL, %(args)s::jsonb,"
                     " NULL)::procrastinate_job_to_defer_v1])")
        # The run is marked fresh BEFORE the statement: once it commits, a worker may run
        # it at once, and this process's listener may hear its events and its end before
        # this coroutine resumes. Marked after, those NOTIFYs were ignored (not a run of
        # ours yet) and the mark then said "nothing after the first event": the reader
        # waited for the backstop poll.
        run_id = run["run_id"]
        marked = self._listening
        if marked:
            if len(self._fresh) > FRESH_MAX:  # (runs whose end this process never heard of)
                self._forget_fresh()
            self._fresh[run_id] = None
            self._notified[run_id] = max(self._notified.get(run_id, 0), first.seq)
        try:
            await self._add_run(thread, run, first, defer, job)
        except BaseException:
            if marked and run_id not in self._waiters:
                self._forget(run_id)
            raise
        self.thread_watchers.wake(run["thread_id"])

    async def _add_run(self, thread: dict[str, Any], run: dict[str, Any], first: RunEvent, defer: str,
                       job: tuple[str, str, str, str] | None) -> None:
        async with self.pool.connection() as conn:
            await self._fenced_one(
                conn,
                ", thr AS (INSERT INTO ag_threads (id, doc) SELECT %(tid)s, %(tdoc)s::jsonb"
                " WHERE EXISTS (SELECT 1 FROM fence) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc)"
                ", up AS (INSERT INTO ag_runs (id, thread_id, doc) SELECT %(id)s, %(tid)s, %(doc)s::jsonb"
                " WHERE EXISTS (SELECT 1 FROM fence) RETURNING 1)"
                ", ev AS (INSERT INTO ag_run_events (run_id, seq, event, data)"
                " SELECT %(id)s, %(seq)s, %(event)s, %(data)s FROM up)"
                " SELECT 1, pg_notify(%(channel)s, 'thread:' || %(tid)s),"
                " pg_notify(%(channel)s, %(id)s || ' ' || %(seq)s::text)" + defer + " FROM up",
                {"id": run["run_id"], "tid": run["thread_id"], "doc": dumps(run), "tdoc": dumps(thread),
                 "seq": first.seq, "event": first.event, "data": first.data, "channel": CHANNEL,
                 **({} if job is None else dict(zip(("q", "task", "lock", "args"), job)))},
            )

    async def finish_run(self, run_id: str, fields: dict[str, Any], thread_id: str,
                         thread_fields: dict[str, Any], events: Sequence[tuple[str, str]] = ()) -> None:
        # One fenced statement: the last events (with their NOTIFY, as append_events sends
        # it), the run's record, the thread's, the log closed (NOTIFY, after the events').
        body = json.dumps(events, ensure_ascii=False, separators=(",", ":")) if events else ""
        tail = "\n" + body if events and (len(body) <= NOTIFY_EVENTS_MAX // 4
                                          or len(body.encode()) <= NOTIFY_EVENTS_MAX) else ""
        job = JOB.get() if FENCE.get() is not None else None
        async with self.pool.connection() as conn:
            row = await self._fenced_one(
                conn,
                ", up AS (UPDATE ag_runs SET doc = doc || %(patch)s::jsonb WHERE id = %(id)s"
                " AND EXISTS (SELECT 1 FROM fence) RETURNING 1)"
                ", base AS (SELECT COALESCE(MAX(seq), 0) AS s FROM ag_run_events WHERE run_id = %(id)s)"
                ", ins AS (INSERT INTO ag_run_events (run_id, seq, event, data)"
                " SELECT %(id)s, base.s + e.n, e.event, e.data"
                " FROM up, base, unnest(%(events)b::text[], %(datas)b::text[]) WITH ORDINALITY AS e(event, data, n)"
                " RETURNING seq)"
                ", last AS (SELECT COALESCE((SELECT MAX(seq) FROM ins), (SELECT s FROM base)) AS seq)"
                ", sent AS (SELECT pg_notify(%(channel)s, %(id)s || ' ' || last.seq || %(tail)s) FROM last"
                " WHERE EXISTS (SELECT 1 FROM ins))"
                ", thr AS (UPDATE ag_threads SET doc = doc || %(tpatch)s::jsonb WHERE id = %(tid)s"
                " AND EXISTS (SELECT 1 FROM up))"
                ", closed AS (INSERT INTO ag_run_closed (run_id) SELECT %(id)s FROM up ON CONFLICT DO NOTHING)"
                # The run's procrastinate job ends with it, as procrastinate_finish_job_v1
                # ends a successful one (delete_jobs="successful"): one statement less.
                + (", job AS (DELETE FROM procrastinate_jobs WHERE id = %(job)s AND status IN ('todo', 'doing')"
                   " AND EXISTS (SELECT 1 FROM up) RETURNING id)" if job is not None else "") +
                # (The events' NOTIFY goes first: the FROM's count runs before this list.)
                " SELECT 1, pg_notify(%(channel)s, %(id)s || ' close ' || last.seq::text)"
                + (", (SELECT count(*) FROM job)" if job is not None else "") +
                " FROM up, last, (SELECT count(*) FROM sent) n",
                {"id": run_id, "patch": dumps(fields), "tid": thread_id, "tpatch": dumps(thread_fields),
                 "events": [e for e, _ in events], "datas": [d for _, d in events], "tail": tail,
                 "channel": CHANNEL, "job": job},
            )
        if job is not None and row[2]:
            self.finished_jobs.add(job)

    async def update_run(self, run_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        # One fenced statement; the fence's FencedOut also covers a run deleted meanwhile.
        async with self.pool.connection() as conn:
            if FENCE.get() is None:
                cur = await conn.execute(
                    "UPDATE ag_runs SET doc = doc || %s::jsonb WHERE id = %s RETURNING doc", (dumps(fields), run_id)
                )
                row = await cur.fetchone()
            else:
                row = await self._fenced_one(
                    conn,
                    "UPDATE ag_runs SET doc = doc || %(patch)s::jsonb WHERE id = %(id)s"
                    " AND EXISTS (SELECT 1 FROM fence) RETURNING doc",
                    {"id": run_id, "patch": dumps(fields)},
                )
        return None if row is None else _doc(row[0])

    async def get_run(self, run_id: str) -> dict[str, Any] | None:
        return await self._get("ag_runs", run_id)

    async def _mark_deleted(self, conn: Any, run_id: str) -> None:
        # Readers following the log stop; the rows go a little later (drop_deleted_events).
        await conn.execute(
            "INSERT INTO ag_run_closed (run_id, deleted_at) VALUES (%s, now())"
            " ON CONFLICT (run_id) DO UPDATE SET deleted_at = now()",
            (run_id,),
        )
        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{run_id} close"))

    async def delete_run(self, run_id: str) -> bool:
        async with self.fence() as conn:
            cur = await conn.execute("DELETE FROM ag_runs WHERE id = %s", (run_id,))
            gone = bool(cur.rowcount)
            await self._mark_deleted(conn, run_id)
            await conn.execute(
                "DELETE FROM ag_run_events WHERE run_id IN (SELECT run_id FROM ag_run_closed"
                f" WHERE deleted_at < now() - interval '{EVENT_GRACE_SECONDS} seconds')"
            )
            await conn.execute(
                f"DELETE FROM ag_run_closed WHERE deleted_at < now() - interval '{EVENT_GRACE_SECONDS} seconds'"
            )
        return gone

    async def list_runs(self, thread_id: str | None = None) -> list[dict[str, Any]]:
        if thread_id is None:
            return await self._all("SELECT doc FROM ag_runs")
        return await self._all("SELECT doc FROM ag_runs WHERE thread_id = %s", (thread_id,))

    # ---- run events ---------------------------------------------------------------------
    async def append_event(self, run_id: str, event: str, data: str) -> int:
        # One statement: fence check, insert with the next seq, NOTIFY (sent at commit).
        async with self.pool.connection() as conn:
            row = await self._fenced_one(
                conn,
                ", ins AS (INSERT INTO ag_run_events (run_id, seq, event, data)"
                " SELECT %(run)s, (SELECT COALESCE(MAX(seq), 0) + 1 FROM ag_run_events WHERE run_id = %(run)s),"
                " %(event)s, %(data)s WHERE EXISTS (SELECT 1 FROM fence)"
                " RETURNING seq)"
                " SELECT seq, pg_notify(%(channel)s, %(run)s || ' ' || seq) FROM ins",
                {"run": run_id, "event": event, "data": data, "channel": CHANNEL},
            )
        return int(row[0])

    async def append_events(self, run_id: str, events: list[tuple[str, str]]) -> int:
        # As append_event, for many: one statement, one NOTIFY carrying the last seq and,
        # when small enough, the batch itself ("<run> <last seq>\n[[event, data], ...]"),
        # which the API processes relay without reading the rows back. In a worker under
        # load, the batches of several runs go in one statement (_EventGroup).
        fence = FENCE.get()
        if fence is not None and fence[0] == run_id:
            return await self._event_group.append(fence, events)
        return await self._append_events(run_id, events)

    async def _append_events(self, run_id: str, events: list[tuple[str, str]]) -> int:
        tail = _notify_tail(events)
        async with self.pool.connection() as conn:
            row = await self._fenced_one(
                conn,
                ", base AS (SELECT COALESCE(MAX(seq), 0) AS s FROM ag_run_events WHERE run_id = %(run)s)"
                ", ins AS (INSERT INTO ag_run_events (run_id, seq, event, data)"
                " SELECT %(run)s, base.s + e.n, e.event, e.data"
                " FROM base, unnest(%(events)b::text[], %(datas)b::text[]) WITH ORDINALITY AS e(event, data, n)"
                " WHERE EXISTS (SELECT 1 FROM fence) RETURNING seq)"
                " SELECT last, pg_notify(%(channel)s, %(run)s || ' ' || last || %(tail)s)"
                " FROM (SELECT MAX(seq) AS last FROM ins) m WHERE last IS NOT NULL",
                {"run": run_id, "events": [e for e, _ in events], "datas": [d for _, d in events],
                 "channel": CHANNEL, "tail": tail},
            )
        return int(row[0])

    async def logged_prefix(self, run_id: str, after: int, events: Sequence[tuple[str, str]]) -> int:
        """How many of ``events`` (an attempt's, whose writes failed) are in the log right
        after ``seq`` ``after``: a write whose connection dropped around its commit may
        have landed. Compared by content, so events another attempt wrote there meanwhile
        are not taken for them."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT event, data FROM ag_run_events WHERE run_id = %s AND seq > %s ORDER BY seq LIMIT %s",
                (run_id, after, len(events)),
            )
            logged = await cur.fetchall()
        n = 0
        for (event, data), (l_event, l_data) in zip(events, logged):
            if (event, data) != (l_event, l_data):
                break
            n += 1
        return n

    async def close_events(self, run_id: str) -> None:
        # One fenced statement (one round trip): mark the log closed, NOTIFY its readers.
        async with self.pool.connection() as conn:
            await self._fenced_one(
                conn,
                ", ins AS (INSERT INTO ag_run_closed (run_id) SELECT %(run)s WHERE EXISTS (SELECT 1 FROM fence)"
                " ON CONFLICT DO NOTHING)"
                " SELECT pg_notify(%(channel)s, %(run)s || ' close ' || " + _LAST_SEQ.format(run="%(run)s") + ")"
                " WHERE EXISTS (SELECT 1 FROM fence)",
                {"run": run_id, "channel": CHANNEL},
            )

    async def read_event_batches(self, run_id: str, after: int = 0) -> AsyncIterator[list[RunEvent]]:
        import psycopg  # (loaded already: the pool's)

        pos = max(after, 0)
        waiters = self._waiters.setdefault(run_id, set())
        wake = asyncio.Event()
        waiters.add(wake)
        loop = asyncio.get_running_loop()
        # A run this process admitted, with nothing NOTIFYed after `pos` yet: nothing to
        # read yet either (the first read would find nothing), so wait for a NOTIFY first.
        skip = run_id in self._fresh and self._notified.get(run_id, _ALL) <= pos
        try:
            while True:
                wake.clear()
                closed_at = self._closed_at.get(run_id)
                if closed_at is not None and pos >= closed_at:
                    return  # (the log closed after the last event this reader sent)
                if not skip and (batch := self._take_inbox(run_id, pos)):
                    # Events the NOTIFYs carried, following on from `pos` and covering
                    # everything notified: no read.
                    pos = batch[-1].seq
                    yield batch
                    skip = self._listening and self._notified.get(run_id, _ALL) <= pos
                    if skip or self._closed_at.get(run_id, -1) == pos:
                        continue
                try:
                    if skip:
                        skip = False
                        rows = [(False, True, None, None, None)]
                    else:
                        rows = await self._events_after(run_id, pos)
                except psycopg.OperationalError as exc:
                    # The database restarted or the link dropped: the reader waits it out
                    # (the pool reconnects), its client sees a pause, not an error.
                    log.warning("reading the events of run %s failed (%s); trying again", run_id, exc)
                    await asyncio.sleep(POLL_SECONDS / 2)
                    continue
                closed, exists = rows[0][0], rows[0][1]
                if rows[0][2] is not None:
                    pos = rows[-1][2]
                    yield [RunEvent(seq, event, data) for _, _, seq, event, data in rows]
                    if closed:
                        return
                elif closed or (not exists and pos == 0):
                    return
                # Wait for a NOTIFY of an event after `pos` (one that came during the read
                # has set `wake` already; one of events this read got is skipped): one query
                # per batch of events, none to find nothing new. Read anyway every
                # POLL_SECONDS.
                deadline = loop.time() + (LISTENING_POLL_SECONDS if self._listening else POLL_SECONDS)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(deadline):
                        while True:
                            await wake.wait()
                            if self._notified.get(run_id, _ALL) > pos:
                                break
                            wake.clear()
        finally:
            waiters.discard(wake)
            if not waiters:
                self._waiters.pop(run_id, None)
                self._forget(run_id)

    def _take_inbox(self, run_id: str, pos: int) -> list[RunEvent] | None:
        """The events after ``pos`` that NOTIFY payloads brought, if they follow on from
        ``pos`` with no gap and reach the last seq notified (else None: read the table)."""
        inbox = self._inbox.get(run_id)
        want = self._notified.get(run_id, _ALL)
        if want == math.inf:  # (the log closed: its last seq, if the NOTIFY said it)
            want = self._closed_at.get(run_id, _ALL)
        if not inbox or inbox[-1].seq <= pos or inbox[-1].seq < want:
            return None
        i = len(inbox) - (inbox[-1].seq - pos)
        if i < 0 or inbox[i].seq != pos + 1:
            return None
        batch = inbox[i:]
        if len(self._waiters.get(run_id, ())) <= 1:
            del inbox[:]  # (the only reader here has them now)
        return batch

    def _forget(self, run_id: str) -> None:
        self._notified.pop(run_id, None)
        self._closed_at.pop(run_id, None)
        self._fresh.pop(run_id, None)
        self._inbox.pop(run_id, None)

    async def _events_after(self, run_id: str, pos: int) -> list[Any]:
        async with self.pool.connection() as conn:
            # One statement, so one snapshot and one round trip: the rows after `pos`, and
            # whether the log is closed (then every row of it is in this snapshot too) or
            # the run gone.
            cur = await conn.execute(
                "SELECT EXISTS (SELECT 1 FROM ag_run_closed WHERE run_id = %(run)s),"
                " EXISTS (SELECT 1 FROM ag_runs WHERE id = %(run)s), e.seq, e.event, e.data"
                " FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT seq, event, data FROM ag_run_events"
                " WHERE run_id = %(run)s AND seq > %(pos)s ORDER BY seq) e ON true",
                {"run": run_id, "pos": pos},
            )
            return await cur.fetchall()

    def _forget_fresh(self) -> None:
        for run_id in self._fresh:
            if run_id not in self._waiters:
                self._notified.pop(run_id, None)
                self._closed_at.pop(run_id, None)
                self._inbox.pop(run_id, None)
        self._fresh.clear()

    def _wake(self, run_id: str | None, seq: float = math.inf, closed_at: int | None = None) -> None:
        """Wake the readers of ``run_id`` (all runs: None) about events up to ``seq``
        (infinity: anything, the log's end; ``closed_at``: the log closed after that seq)."""
        if run_id is None:
            self.thread_watchers.wake(None)
            self._forget_fresh()
            self._notified.clear()
            self._closed_at.clear()
            self._inbox.clear()
            for waiters in self._waiters.values():
                for w in waiters:
                    w.set()
            return
        if run_id in self._waiters or run_id in self._fresh:
            if seq > self._notified.get(run_id, 0):
                self._notified[run_id] = seq
            if closed_at is not None:
                self._closed_at[run_id] = closed_at
            readers = self._waiters.get(run_id)
            if readers:
                for w in readers:
                    w.set()
            elif seq == math.inf:  # ended with no reader here: a later one reads as usual
                self._forget(run_id)

    def _keep(self, run_id: str, last: int, body: str) -> None:
        """Keep the events a NOTIFY carried (``body``: the JSON list ``[[event, data], ...]``
        of seqs up to ``last``) for the run's readers here, if it has any (a background
        run nobody follows keeps nothing)."""
        if run_id not in self._waiters:
            return
        pairs = json.loads(body)
        first = last - len(pairs) + 1
        inbox = self._inbox.setdefault(run_id, [])
        if inbox and inbox[-1].seq != first - 1:
            inbox.clear()  # (a gap: events sent without payload; those readers read the table)
        inbox.extend(RunEvent(first + i, event, data) for i, (event, data) in enumerate(pairs))
        if len(inbox) > INBOX_MAX:
            del inbox[:-INBOX_MAX]

    async def _listen(self) -> None:
        """Relay NOTIFYs to local readers; reconnect (waking everyone) if the link drops."""
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._wake(None)  # anything sent while we were not listening
                    self._listening = True
                    async for note in conn.notifies():
                        run_id, _, tail = note.payload.partition(" ")
                        if run_id.startswith("thread:"):
                            self.thread_watchers.wake(run_id[len("thread:"):])
                        elif tail.isdigit():
                            self._wake(run_id, int(tail))
                        elif "\n" in tail:  # "<last seq>\n<the batch's events>"
                            last, _, body = tail.partition("\n")
                            self._keep(run_id, int(last), body)
                            self._wake(run_id, int(last))
                        else:  # "close" or "close <last seq>"
                            last = tail[len("close "):]
                            self._wake(run_id, math.inf, int(last) if last.isdigit() else None)
            except asyncio.CancelledError:
                self._listening = False
                raise
            except Exception as exc:
                self._listening = False
                log.warning("event listener lost its connection (%s); reconnecting", exc)
                self._wake(None)
                await asyncio.sleep(0.5)


def _notify_tail(events: Sequence[tuple[str, str]]) -> str:
    """What follows ``<run> <last seq>`` in the NOTIFY of a batch: the batch itself when
    it fits (``"\n[[event, data], ...]"``), else nothing (readers read the rows)."""
    body = json.dumps(events, ensure_ascii=False, separators=(",", ":"))
    return "\n" + body if len(body) <= NOTIFY_EVENTS_MAX // 4 or len(body.encode()) <= NOTIFY_EVENTS_MAX else ""


EVENT_LANES = 1
"""Event writes of a worker in flight before further ones queue (see _EventGroup)."""

EVENT_GROUP_MAX = 128
"""Runs whose events one grouped statement writes, at most."""


class _EventGroup:
    """Group commit for the event batches of a worker's runs (:meth:`PostgresStorage.append_events`
    under a fence): while :data:`EVENT_LANES` writes are in flight, further batches queue,
    and the next lane to come free writes those of every queued run in ONE statement: each
    run's fence checked (a share lock on its row, as alone), its events inserted after its
    last seq, and its own NOTIFY, exactly as alone. A run whose attempt is stale gets no row
    back: its batch then runs alone, which raises :class:`FencedOut` (or, if the attempt
    was current after all, stores it). With fewer writes in flight nothing queues."""

    __slots__ = ("busy", "queue", "storage")

    def __init__(self, storage: PostgresStorage) -> None:
        self.storage = storage
        self.busy = 0
        self.queue: list[tuple[asyncio.Future[int], tuple[str, int], list[tuple[str, str]]]] = []

    async def append(self, fence: tuple[str, int], events: list[tuple[str, str]]) -> int:
        if self.busy < EVENT_LANES:
            self.busy += 1
            try:
                return await self.storage._append_events(fence[0], events)
            finally:
                self.busy -= 1
                self._next()
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.queue.append((fut, fence, events))
        self._next()
        return await fut

    def _next(self) -> None:
        if self.queue and self.busy < EVENT_LANES:
            self.busy += 1
            asyncio.ensure_future(self._lane())

    async def _lane(self) -> None:
        try:
            while self.queue:
                items: list[tuple[asyncio.Future[int], tuple[str, int], list[tuple[str, str]]]] = []
                rest: list[tuple[asyncio.Future[int], tuple[str, int], list[tuple[str, str]]]] = []
                seen: set[str] = set()
                for item in self.queue:
                    if item[0].done():  # (its caller was cancelled while it queued)
                        continue
                    if item[1][0] in seen or len(items) >= EVENT_GROUP_MAX:
                        rest.append(item)  # (one batch per run per statement: its seqs follow on)
                        continue
                    seen.add(item[1][0])
                    items.append(item)
                self.queue = rest
                if items:
                    try:
                        await self._write(items)
                    except BaseException:
                        for item in items:
                            item[0].cancel()
                        raise
        finally:
            self.busy -= 1
            self._next()

    async def _write(self, items: list[tuple[asyncio.Future[int], tuple[str, int], list[tuple[str, str]]]]) -> None:
        import psycopg  # (loaded already: the pool's)

        storage = self.storage
        last: dict[str, int] = {}
        if len(items) > 1:
            eruns, ns, names, datas = [], [], [], []
            for _fut, (run_id, _attempt), events in items:
                for n, (event, data) in enumerate(events, 1):
                    eruns.append(run_id)
                    ns.append(n)
                    names.append(event)
                    datas.append(data)
            try:
                async with storage.pool.connection() as conn:
                    cur = await conn.execute(
                        "WITH fence AS (SELECT r.id FROM ag_runs r,"
                        " unnest(%(runs)b::text[], %(attempts)b::int[]) AS f(run, attempt)"
                        " WHERE r.id = f.run AND r.attempt = f.attempt FOR SHARE OF r)"
                        ", base AS (SELECT fence.id, COALESCE((SELECT MAX(seq) FROM ag_run_events e"
                        " WHERE e.run_id = fence.id), 0) AS s FROM fence)"
                        ", ins AS (INSERT INTO ag_run_events (run_id, seq, event, data)"
                        " SELECT e.run, base.s + e.n, e.event, e.data"
                        " FROM unnest(%(eruns)b::text[], %(ns)b::int[], %(events)b::text[], %(datas)b::text[])"
                        " AS e(run, n, event, data) JOIN base ON base.id = e.run RETURNING run_id, seq)"
                        ", last AS (SELECT run_id, MAX(seq) AS last FROM ins GROUP BY run_id)"
                        " SELECT last.run_id, last.last, pg_notify(%(channel)s, last.run_id || ' ' || last.last || t.tail)"
                        " FROM last JOIN unnest(%(runs)b::text[], %(tails)b::text[]) AS t(run, tail) ON t.run = last.run_id",
                        {"runs": [fence[0] for _f, fence, _e in items],
                         "attempts": [fence[1] for _f, fence, _e in items],
                         "tails": [_notify_tail(events) for _f, _fence, events in items],
                         "eruns": eruns, "ns": ns, "events": names, "datas": datas, "channel": CHANNEL},
                    )
                    last = {run_id: int(seq) for run_id, seq, _ in await cur.fetchall()}
            except psycopg.OperationalError as exc:
                # (The connection failed: the statement may have been committed, so no
                # batch is written again; each run's attempt fails as alone.)
                for fut, _fence, _events in items:
                    if not fut.done():
                        fut.set_exception(exc)
                return
            except Exception:  # noqa: BLE001  (each batch runs again on its own, below)
                last = {}
        for fut, fence, events in items:
            if fut.done():
                continue
            if fence[0] in last:
                fut.set_result(last[fence[0]])
                continue
            token = FENCE.set(fence)
            try:
                fut.set_result(await storage._append_events(fence[0], events))
            except BaseException as exc:  # noqa: BLE001  (handed to its caller)
                if not fut.done():
                    fut.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
            finally:
                FENCE.reset(token)
