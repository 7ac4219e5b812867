"""SQLite back end of :class:`Storage`, for ``asyncgraph dev`` (one process, one file).

Records are JSON documents keyed by id; run events are rows ``(run_id, seq, event, data)``.
Searches filter in Python: this is the development server. Readers of a run's events are
woken in process (an ``asyncio.Condition`` per run), since only one process uses the file.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from asyncgraph.server._serialize import dumps
from asyncgraph.server._storage import EVENT_GRACE_SECONDS, RunEvent, Storage

__all__ = ["SqliteStorage"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ag_server_assistants (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ag_server_threads (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ag_server_runs (id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ag_server_runs_thread ON ag_server_runs (thread_id);
CREATE TABLE IF NOT EXISTS ag_server_events (
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS ag_server_closed (run_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS ag_server_crons (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
"""


class SqliteStorage(Storage):
    """Server records in a SQLite file (``.asyncgraph/server.sqlite`` under ``dev``)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn  # an aiosqlite connection in autocommit mode
        self._cond: dict[str, asyncio.Condition] = {}
        self._seq: dict[str, int] = {}

    @classmethod
    async def open(cls, path: str) -> SqliteStorage:
        # Imported here: aiosqlite is an optional dependency (the sqlite extra).
        import aiosqlite

        conn = await aiosqlite.connect(path, isolation_level=None)
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.executescript(_SCHEMA)
        return cls(conn)

    async def close(self) -> None:
        await self.conn.close()

    async def _get(self, table: str, ident: str) -> dict[str, Any] | None:
        async with self.conn.execute(f"SELECT doc FROM {table} WHERE id = ?", (ident,)) as cur:
            row = await cur.fetchone()
        return json.loads(row[0]) if row else None

    async def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        async with self.conn.execute(sql, args) as cur:
            return [json.loads(r[0]) for r in await cur.fetchall()]

    async def _delete(self, table: str, ident: str) -> bool:
        cur = await self.conn.execute(f"DELETE FROM {table} WHERE id = ?", (ident,))
        return bool(cur.rowcount)

    async def put_assistant(self, assistant: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT OR REPLACE INTO ag_server_assistants (id, doc) VALUES (?, ?)",
            (assistant["assistant_id"], dumps(assistant)),
        )

    async def get_assistant(self, assistant_id: str) -> dict[str, Any] | None:
        return await self._get("ag_server_assistants", assistant_id)

    async def delete_assistant(self, assistant_id: str) -> bool:
        return await self._delete("ag_server_assistants", assistant_id)

    async def list_assistants(self) -> list[dict[str, Any]]:
        return await self._all("SELECT doc FROM ag_server_assistants")

    async def put_thread(self, thread: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT OR REPLACE INTO ag_server_threads (id, doc) VALUES (?, ?)",
            (thread["thread_id"], dumps(thread)),
        )

    async def get_thread(self, thread_id: str) -> dict[str, Any] | None:
        return await self._get("ag_server_threads", thread_id)

    async def delete_thread(self, thread_id: str) -> bool:
        for run in await self.list_runs(thread_id):
            await self.delete_run(run["run_id"])
        return await self._delete("ag_server_threads", thread_id)

    async def list_threads(self) -> list[dict[str, Any]]:
        return await self._all("SELECT doc FROM ag_server_threads")

    async def put_cron(self, cron: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT OR REPLACE INTO ag_server_crons (id, doc) VALUES (?, ?)", (cron["cron_id"], dumps(cron))
        )

    async def get_cron(self, cron_id: str) -> dict[str, Any] | None:
        return await self._get("ag_server_crons", cron_id)

    async def delete_cron(self, cron_id: str) -> bool:
        return await self._delete("ag_server_crons", cron_id)

    async def list_crons(self) -> list[dict[str, Any]]:
        return await self._all("SELECT doc FROM ag_server_crons")

    async def put_run(self, run: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT OR REPLACE INTO ag_server_runs (id, thread_id, doc) VALUES (?, ?, ?)",
            (run["run_id"], run["thread_id"], dumps(run)),
        )
        self.thread_watchers.wake(run["thread_id"])

    async def get_run(self, run_id: str) -> dict[str, Any] | None:
        return await self._get("ag_server_runs", run_id)

    async def delete_run(self, run_id: str) -> bool:
        await self.close_events(run_id)
        gone = await self._delete("ag_server_runs", run_id)
        asyncio.get_running_loop().call_later(
            EVENT_GRACE_SECONDS, lambda: asyncio.ensure_future(self._drop_events(run_id))
        )
        return gone

    async def _drop_events(self, run_id: str) -> None:
        if await self.get_run(run_id) is None:
            await self.conn.execute("DELETE FROM ag_server_events WHERE run_id = ?", (run_id,))
            await self.conn.execute("DELETE FROM ag_server_closed WHERE run_id = ?", (run_id,))
            self._cond.pop(run_id, None)
            self._seq.pop(run_id, None)

    async def list_runs(self, thread_id: str | None = None) -> list[dict[str, Any]]:
        if thread_id is None:
            return await self._all("SELECT doc FROM ag_server_runs")
        return await self._all("SELECT doc FROM ag_server_runs WHERE thread_id = ?", (thread_id,))

    def _condition(self, run_id: str) -> asyncio.Condition:
        cond = self._cond.get(run_id)
        if cond is None:
            cond = self._cond[run_id] = asyncio.Condition()
        return cond

    async def append_event(self, run_id: str, event: str, data: str) -> int:
        return await self.append_events(run_id, [(event, data)])

    async def append_events(self, run_id: str, events: list[tuple[str, str]]) -> int:
        seq = self._seq.get(run_id)
        if seq is None:
            async with self.conn.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM ag_server_events WHERE run_id = ?", (run_id,)
            ) as cur:
                row = await cur.fetchone()
            seq = int(row[0]) if row else 0
        rows = [(run_id, seq + i, event, data) for i, (event, data) in enumerate(events, 1)]
        seq += len(rows)
        self._seq[run_id] = seq
        await self.conn.executemany(
            "INSERT INTO ag_server_events (run_id, seq, event, data) VALUES (?, ?, ?, ?)", rows
        )
        cond = self._condition(run_id)
        async with cond:
            cond.notify_all()
        return seq

    async def close_events(self, run_id: str) -> None:
        await self.conn.execute("INSERT OR IGNORE INTO ag_server_closed (run_id) VALUES (?)", (run_id,))
        cond = self._condition(run_id)
        async with cond:
            cond.notify_all()

    async def _closed(self, run_id: str) -> bool:
        async with self.conn.execute("SELECT 1 FROM ag_server_closed WHERE run_id = ?", (run_id,)) as cur:
            return await cur.fetchone() is not None

    async def read_event_batches(self, run_id: str, after: int = 0) -> AsyncIterator[list[RunEvent]]:
        cond = self._condition(run_id)
        pos = max(after, 0)
        while True:
            async with self.conn.execute(
                "SELECT seq, event, data FROM ag_server_events WHERE run_id = ? AND seq > ? ORDER BY seq",
                (run_id, pos),
            ) as cur:
                rows = await cur.fetchall()
            if rows:
                pos = rows[-1][0]
                yield [RunEvent(seq, event, data) for seq, event, data in rows]
                continue
            if await self._closed(run_id) or (await self.get_run(run_id) is None and pos == 0):
                return
            async with cond:
                if self._seq.get(run_id, 0) <= pos and not await self._closed(run_id):
                    await cond.wait()
