"""Fixtures for the checkpointer tests: every saver kind, and a throwaway PostgreSQL db.

PostgreSQL tests need the server on 127.0.0.1:5432 (CI guarantees it). If it cannot be
reached they fail with a message saying so; they are never silently skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from asyncgraph.checkpoint.base import BaseCheckpointSaver, create_checkpoint

PG_ADMIN_DSN = os.environ.get("ASYNCGRAPH_TEST_PG", "postgresql://root@127.0.0.1:5432/postgres")

SAVER_KINDS = [
    "memory",
    "sqlite",
    "sqlite_aio",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("postgres_aio", marks=pytest.mark.postgres),
]

_TABLES = (
    "asyncgraph_threads, asyncgraph_checkpoints, asyncgraph_blobs, asyncgraph_writes, "
    "asyncgraph_names"
)


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A fresh database for this test session, dropped afterwards."""
    import psycopg

    name = f"asyncgraph_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_DSN} ({exc}). The postgres-marked "
            "tests need it: start the server, or point ASYNCGRAPH_TEST_PG at one, or "
            "deselect them with -m 'not postgres'.",
            pytrace=False,
        )
    with admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _fresh_pg(dsn: str) -> None:
    import psycopg

    from asyncgraph.checkpoint.postgres import PostgresSaver

    with psycopg.connect(dsn, autocommit=True) as conn:
        PostgresSaver(conn).setup()
        conn.execute(f"TRUNCATE {_TABLES}")


SaverFactory = Callable[..., AbstractAsyncContextManager[BaseCheckpointSaver]]


@pytest.fixture(params=SAVER_KINDS)
def saver_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_saver(saver_kind: str, request: pytest.FixtureRequest, tmp_path: Any) -> SaverFactory:
    """``async with make_saver(keep_last=...) as saver`` for the parametrized kind.

    Savers made in one test share one database, so a second saver sees the first one's
    data (as a restarted process would).
    """
    dsn = request.getfixturevalue("pg_dsn") if saver_kind.startswith("postgres") else None
    if dsn is not None:
        _fresh_pg(dsn)
    db_path = str(tmp_path / "checkpoints.db")

    @asynccontextmanager
    async def factory(**kwargs: Any) -> AsyncIterator[BaseCheckpointSaver]:
        if saver_kind == "memory":
            from asyncgraph.checkpoint.memory import InMemorySaver

            yield InMemorySaver(**kwargs)
        elif saver_kind == "sqlite":
            from asyncgraph.checkpoint.sqlite import SqliteSaver

            with SqliteSaver.from_conn_string(db_path, **kwargs) as saver:
                yield saver
        elif saver_kind == "sqlite_aio":
            from asyncgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

            async with AsyncSqliteSaver.from_conn_string(db_path, **kwargs) as saver:
                yield saver
        elif saver_kind == "postgres":
            from asyncgraph.checkpoint.postgres import PostgresSaver

            with PostgresSaver.from_conn_string(dsn, pool_size=4, **kwargs) as saver:  # type: ignore[arg-type]
                yield saver
        elif saver_kind == "postgres_aio":
            from asyncgraph.checkpoint.postgres.aio import AsyncPostgresSaver

            async with AsyncPostgresSaver.from_conn_string(dsn, pool_size=4, **kwargs) as saver:  # type: ignore[arg-type]
                yield saver
        else:  # pragma: no cover
            raise AssertionError(saver_kind)

    return factory


@pytest.fixture
async def saver(make_saver: SaverFactory) -> AsyncIterator[BaseCheckpointSaver]:
    async with make_saver() as s:
        yield s


@pytest.fixture
def Thread() -> type[_Thread]:  # noqa: N802  (a class, handed to tests)
    """The :class:`_Thread` helper class (test modules cannot import conftest)."""
    return _Thread


def config(thread_id: str = "t1", ns: str = "", checkpoint_id: str | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns}
    if checkpoint_id:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


class _Thread:
    """One thread's state, advanced step by step and put like the engine puts it.

    Every put passes all current channel values and names the changed ones in
    ``new_versions``; versions come from the saver's ``get_next_version``.
    """

    def __init__(self, saver: BaseCheckpointSaver, thread_id: str = "t1", ns: str = "") -> None:
        self.saver = saver
        self.config: dict[str, Any] = config(thread_id, ns)
        self.values: dict[str, Any] = {}
        self.versions: dict[str, Any] = {}
        self.seen: dict[str, dict[str, Any]] = {}
        self.step = -1
        # (checkpoint id, values, versions) of every put, oldest first
        self.history: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def _prepare(self, updates: dict[str, Any], cleared: tuple[str, ...] = ()) -> tuple[Any, ...]:
        top = max(self.versions.values(), default=None)
        new = self.saver.get_next_version(top, None)
        new_versions = {}
        for ch, value in updates.items():
            self.values[ch] = value
            self.versions[ch] = new
            new_versions[ch] = new
        for ch in cleared:
            self.values.pop(ch, None)
            self.versions[ch] = new
            new_versions[ch] = new
        self.step += 1
        self.seen = {**self.seen, f"node{self.step}": dict(new_versions)}
        ckpt = create_checkpoint(
            dict(self.values), dict(self.versions), self.seen, sorted(new_versions)
        )
        meta = {"source": "loop", "step": self.step, "parents": {}}
        return ckpt, meta, new_versions

    async def aput(self, updates: dict[str, Any], cleared: tuple[str, ...] = ()) -> dict[str, Any]:
        ckpt, meta, new_versions = self._prepare(updates, cleared)
        self.config = await self.saver.aput(self.config, ckpt, meta, new_versions)
        self.history.append((ckpt["id"], dict(self.values), dict(self.versions)))
        return self.config

    def fork(self, checkpoint_id: str) -> None:
        """Continue from an older checkpoint, as ``update_state`` on it would.

        Versions restart from that checkpoint's, so the next put reuses version numbers
        the abandoned branch already wrote.
        """
        for cid, values, versions in self.history:
            if cid == checkpoint_id:
                self.values, self.versions = dict(values), dict(versions)
                conf = {**self.config["configurable"], "checkpoint_id": cid}
                self.config = {"configurable": conf}
                return
        raise KeyError(checkpoint_id)


@pytest.fixture(autouse=True)
def _rearm_serde_warnings() -> Iterator[None]:
    """The serializer warns once per class per process; each test starts re-armed."""
    from asyncgraph.checkpoint.serde import _allow

    sets = (_allow._warned_unregistered_types, _allow._warned_blocked_types, _allow._warned_unreconstructable_types)
    for s in sets:
        s.clear()
    yield
    for s in sets:
        s.clear()
