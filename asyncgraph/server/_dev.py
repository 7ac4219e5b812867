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
from asyncgraph.server._config import ServerConfig, load_config
from asyncgraph.server._graphs import GraphRegistry
from asyncgraph.server._queue import InProcessQueue, RunQueue
from asyncgraph.server._runs import RunService, Worker
from asyncgraph.server._services import Services
from asyncgraph.server._storage import MemoryStorage, Storage

__all__ = ["create_app", "run_dev"]


def create_app(
    config: str | os.PathLike[str] | ServerConfig = "langgraph.json",
    *,
    storage: Storage | None = None,
    queue: RunQueue | None = None,
    checkpointer: Any = None,
    store: Any = None,
    workers: int = 1,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Starlette:
    """The dev server as an ASGI app: graphs from ``config``, in-process workers.

    Args:
        config: Path of ``langgraph.json`` (or a parsed :class:`ServerConfig`).
        storage: Where assistants, threads, runs and events live (default: memory).
        queue: The run queue (default: in-process).
        checkpointer: The graphs' checkpointer (default: ``InMemorySaver``).
        store: The long-term store behind ``/store`` (default: ``InMemoryStore``).
        workers: How many worker loops claim runs (each runs many runs concurrently).

    Raises:
        ConfigError: ``langgraph.json`` or one of its graphs cannot be loaded.
    """
    from asyncgraph.checkpoint.memory import InMemorySaver
    from asyncgraph.store.memory import InMemoryStore

    cfg = config if isinstance(config, ServerConfig) else load_config(config)
    cfg.apply_environment()
    registry = GraphRegistry(
        cfg,
        checkpointer=checkpointer if checkpointer is not None else InMemorySaver(),
        store=store if store is not None else InMemoryStore(),
    )
    registry.load_all()
    services = Services(storage or MemoryStorage(), registry)
    runs = RunService(services, queue or InProcessQueue())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await services.ensure_system_assistants()
        tasks = [asyncio.create_task(Worker(runs).serve()) for _ in range(max(1, workers))]
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t

    return build_app(services, runs, lifespan=lifespan, max_body_bytes=max_body_bytes)


def run_dev(config: str = "langgraph.json", *, host: str = "127.0.0.1", port: int = 2024) -> None:
    """Serve ``config`` until interrupted (``asyncgraph dev``)."""
    import uvicorn

    Path(".asyncgraph").mkdir(exist_ok=True)
    app = create_app(config)
    print(f"asyncgraph dev: serving {config} on http://{host}:{port} (memory storage)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
