"""The servers the tests talk to, and an SDK client.

``server`` is parametrized over three back ends: the dev server in the test's event loop
(memory, SQLite), and ``asyncgraph serve`` + 2 ``asyncgraph worker`` processes on a fresh
PostgreSQL database (started once per session; each test starts from empty tables).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from langgraph_sdk import get_client

from asyncgraph.server import create_app

APP = Path(__file__).parent / "app" / "langgraph.json"

# Import everything the test app needs now, outside any event loop: a cold import inside a
# test's loop can take long enough under load to trip the blocking watchdog.
create_app(APP)
import asyncgraph.checkpoint.sqlite.aio  # noqa: E402,F401
import asyncgraph.server._sqlite_storage  # noqa: E402,F401
import asyncgraph.store.sqlite.aio  # noqa: E402,F401


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Run ``app`` on uvicorn on 127.0.0.1 (a free port) in this event loop; yield its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(srv.serve(sockets=[sock]))
    for _ in range(200):
        if srv.started:
            break
        await asyncio.sleep(0.01)
    assert srv.started, "the test server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


PG_ADMIN_DSN = os.environ.get("ASYNCGRAPH_TEST_PG", "postgresql://root@127.0.0.1:5432/postgres")
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """``asyncgraph serve`` and its worker processes on one database, for the tests."""

    def __init__(self, dsn: str, log_dir: Path, workers: int = 2) -> None:
        self.dsn = dsn
        self.log_dir = log_dir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
        self.env = env
        self.serve = self._spawn("serve", ["--port", str(self.port), "--max-body-bytes", str(64 * 1024)])
        self.workers = [self._spawn(f"worker{i}", []) for i in range(workers)]

    def _spawn(self, name: str, extra: list[str]) -> subprocess.Popen[bytes]:
        command = "serve" if name.startswith("serve") else "worker"
        if command == "worker":
            # Quick failure detection for the fault tests (a dead worker's runs move on
            # after about 2 s); the defaults are for production.
            extra = ["--heartbeat", "0.5", "--stall-after", "2", *extra]
        args = [sys.executable, "-m", "asyncgraph", command, "--database-url", self.dsn, "--config", str(APP), *extra]
        out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        return subprocess.Popen(args, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=APP.parent)

    def add_serve(self) -> tuple[subprocess.Popen[bytes], str]:
        """Another API process on the same database; the caller stops it."""
        port = _free_port()
        proc = self._spawn(f"serve{port}", ["--port", str(port)])
        return proc, f"http://127.0.0.1:{port}"

    def add_worker(self) -> subprocess.Popen[bytes]:
        proc = self._spawn(f"worker{len(self.workers)}", [])
        self.workers.append(proc)
        return proc

    def wait_ready(self, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in [self.serve, *self.workers]:
                if p.poll() is not None:
                    raise RuntimeError(f"a server process exited early: {self.logs()}")
            try:
                if httpx.get(f"{self.url}/ok", timeout=1).status_code == 200 and self._workers_registered():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"asyncgraph serve did not start in {timeout} s: {self.logs()}")

    def _workers_registered(self) -> bool:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            try:
                row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
            except psycopg.errors.UndefinedTable:
                return False
        return bool(row and row[0] >= len([w for w in self.workers if w.poll() is None]))

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.log_dir.glob("*.log"))

    def stop(self) -> None:
        procs = [self.serve, *self.workers]
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgCluster]:
    """A fresh database for this session with ``serve`` + 2 workers on it; dropped after."""
    import psycopg

    name = f"asyncgraph_srv_{uuid.uuid4().hex[:12]}"
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
        cluster = None
        try:
            cluster = PgCluster(PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name, tmp_path_factory.mktemp("pg_cluster"))
            cluster.wait_ready()
            yield cluster
        finally:
            if cluster is not None:
                cluster.stop()
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


RESET_SQL = """
TRUNCATE ag_threads, ag_runs, ag_run_events, ag_run_closed, ag_crons, ag_store, ag_store_vectors;
DELETE FROM ag_assistants WHERE doc->'metadata'->>'created_by' IS DISTINCT FROM 'system';
"""


async def reset_pg(dsn: str) -> None:
    """Empty the server's tables (not the checkpoints: thread ids are fresh uuids)."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(RESET_SQL)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: Any) -> tuple[str, PgCluster | None]:
    # A sync fixture, so the cluster starts (blocking) outside any test's event loop.
    if request.param == "postgres":
        return request.param, request.getfixturevalue("pg_cluster")
    return request.param, None


@pytest.fixture
def dev_app(backend: tuple[str, PgCluster | None], tmp_path: Path) -> Any:
    # A sync fixture: loading the graphs' modules is blocking work, done outside the
    # test's event loop (under load it could trip the blocking watchdog there).
    kind, cluster = backend
    if cluster is not None:
        return None
    data_dir = tmp_path / "data" if kind == "sqlite" else None
    return create_app(APP, max_body_bytes=64 * 1024, data_dir=data_dir)


@pytest.fixture
async def server(backend: tuple[str, PgCluster | None], dev_app: Any) -> AsyncIterator[str]:
    """The test app on each back end: dev in memory, dev on SQLite files in tmp_path, and
    ``serve`` + 2 workers on PostgreSQL."""
    _, cluster = backend
    if cluster is not None:
        await reset_pg(cluster.dsn)
        yield cluster.url
        return
    async with serve(dev_app) as url:
        yield url


@pytest.fixture
async def client(server: str) -> Any:
    c = get_client(url=server)
    try:
        yield c
    finally:
        await c.aclose()
