"""Wiring: storage + queue + workers + HTTP app, and ``asyncgraph dev`` on uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from asyncgraph.server._app import MAX_BODY_BYTES, build_app
from asyncgraph.server._auth import load_auth
from asyncgraph.server._config import ServerConfig, load_config
from asyncgraph.server._crons import CronScheduler
from asyncgraph.server._graphs import GraphRegistry
from asyncgraph.server._queue import InProcessQueue, RunQueue
from asyncgraph.server._runs import RunService, Worker
from asyncgraph.server._services import Services, freeze_startup_heap
from asyncgraph.server._storage import MemoryStorage, Storage

__all__ = ["create_app", "run_dev"]


def create_app(
    config: str | os.PathLike[str] | ServerConfig = "langgraph.json",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    storage: Storage | None = None,
    queue: RunQueue | None = None,
    checkpointer: Any = None,
    store: Any = None,
    workers: int = 1,
    max_body_bytes: int = MAX_BODY_BYTES,
    cron_interval: float = 1.0,
) -> Starlette:
    """The dev server as an ASGI app: graphs from ``config``, in-process workers.

    Args:
        config: Path of ``langgraph.json`` (or a parsed :class:`ServerConfig`).
        data_dir: Keep everything in SQLite files in this directory (``server.sqlite`` for
            assistants/threads/runs/events, ``checkpoints.sqlite``, ``store.sqlite``), so a
            restart keeps threads and their state. ``None``: everything in memory.
        storage: Where assistants, threads, runs and events live (overrides ``data_dir``).
        queue: The run queue (default: in-process).
        checkpointer: The graphs' checkpointer (overrides ``data_dir``).
        store: The long-term store behind ``/store`` (overrides ``data_dir``).
        workers: How many worker loops claim runs (each runs many runs concurrently).
        cron_interval: Seconds between the cron scheduler's checks for due crons.

    Raises:
        ConfigError: ``langgraph.json`` or one of its graphs cannot be loaded.
    """
    from asyncgraph.checkpoint.memory import InMemorySaver
    from asyncgraph.store.memory import InMemoryStore

    cfg = config if isinstance(config, ServerConfig) else load_config(config)
    cfg.apply_environment()
    store_options = cfg.store_options()  # (checked now: a bad store section fails at start)
    cfg.thread_ttl()  # (likewise checkpointer.ttl)
    registry = GraphRegistry(cfg, checkpointer=checkpointer, store=store)
    registry.load_all()
    services = Services(storage or MemoryStorage(), registry)
    runs = RunService(services, queue or InProcessQueue())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if data_dir is not None:
                # Imported here: the SQLite back ends need the optional aiosqlite.
                from asyncgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
                from asyncgraph.server._sqlite_storage import SqliteStorage
                from asyncgraph.store.sqlite.aio import AsyncSqliteStore

                root = Path(data_dir)
                root.mkdir(parents=True, exist_ok=True)
                if storage is None:
                    sql_storage = await SqliteStorage.open(str(root / "server.sqlite"))
                    stack.push_async_callback(sql_storage.close)
                    services.storage = sql_storage
                if checkpointer is None:
                    registry.checkpointer = await stack.enter_async_context(
                        AsyncSqliteSaver.from_conn_string(str(root / "checkpoints.sqlite"))
                    )
                if store is None:
                    registry.store = await stack.enter_async_context(
                        AsyncSqliteStore.from_conn_string(str(root / "store.sqlite"), **store_options)
                    )
            if registry.checkpointer is None:
                registry.checkpointer = InMemorySaver()
            if registry.store is None:
                registry.store = InMemoryStore(**store_options)
            await services.ensure_system_assistants()
            await runs.recover()
            tasks = [asyncio.create_task(Worker(runs).serve()) for _ in range(max(1, workers))]
            tasks.append(asyncio.create_task(CronScheduler(runs, interval=cron_interval).serve()))
            try:
                yield
            finally:
                for t in tasks:
                    t.cancel()
                for t in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await t

    return build_app(services, runs, lifespan=lifespan, max_body_bytes=max_body_bytes, auth=load_auth(cfg))


_ENV_CONFIG = "ASYNCGRAPH_DEV_CONFIG"
_ENV_DATA_DIR = "ASYNCGRAPH_DEV_DATA_DIR"


def app_from_environment() -> Starlette:
    """The app ``run_dev(reload=True)`` serves: uvicorn's reloader imports this in each new
    server process (the options travel in the environment)."""
    app = create_app(os.environ[_ENV_CONFIG], data_dir=os.environ.get(_ENV_DATA_DIR) or None)
    freeze_startup_heap()
    return app


def watched_dirs(cfg: ServerConfig) -> list[str]:
    """Where the graphs' code lives: the config's directory and its ``dependencies``."""
    dirs = {str(cfg.base_dir.resolve())}
    for dep in cfg.dependencies:
        path = (cfg.base_dir / dep).resolve()
        if path.is_dir():
            dirs.add(str(path))
    return sorted(dirs)


def run_dev(
    config: str = "langgraph.json",
    *,
    host: str = "127.0.0.1",
    port: int = 2024,
    data_dir: str | None = ".asyncgraph",
    reload: bool = True,
) -> None:
    """Serve ``config`` until interrupted (``asyncgraph dev``).

    With ``reload``, a change to a ``.py`` file in the config's directory or its
    ``dependencies`` restarts the server process (uvicorn's reloader), which loads the graphs
    again. Threads, runs and checkpoints in ``data_dir`` stay; a run cut off by the restart
    ends as an error, and with ``data_dir=None`` (memory) everything starts empty again.

    Raises:
        ConfigError: ``langgraph.json`` cannot be read (with ``reload``, a graph that fails
            to load is reported by the server process, which waits for the next change).
    """
    import uvicorn

    where = f"SQLite files in {data_dir}/" if data_dir else "memory"
    if not reload:
        app = create_app(config, data_dir=data_dir)
        freeze_startup_heap()
        print(f"asyncgraph dev: serving {config} on http://{host}:{port} (storage: {where})", flush=True)
        uvicorn.run(app, host=host, port=port, log_level="warning")
        return
    cfg = load_config(config)
    cfg.store_options()
    cfg.thread_ttl()
    os.environ[_ENV_CONFIG] = str(Path(config).resolve())
    os.environ[_ENV_DATA_DIR] = str(Path(data_dir).resolve()) if data_dir else ""
    dirs = watched_dirs(cfg)
    print(f"asyncgraph dev: serving {config} on http://{host}:{port} (storage: {where}); "
          f"reloading on changes in {', '.join(dirs)}", flush=True)
    uvicorn.run("asyncgraph.server._dev:app_from_environment", factory=True, host=host, port=port,
                log_level="warning", reload=True, reload_dirs=dirs)
