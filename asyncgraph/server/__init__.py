"""An HTTP server speaking the LangGraph Server API, on asyncgraph.

Layers: the HTTP API (:mod:`._app`, Starlette + sse-starlette) calls services
(:mod:`._services`, :mod:`._runs`, :mod:`._crons`), which use two interfaces:
:class:`Storage` (assistants, threads, runs, run events, crons) and :class:`RunQueue`
(enqueue, claim, heartbeat, abort). ``asyncgraph dev`` uses memory or SQLite storage and an
in-process queue; ``asyncgraph serve`` / ``asyncgraph worker`` (:mod:`._serve`, imported on
demand: it needs psycopg and procrastinate) use PostgreSQL storage and procrastinate jobs.
See docs/server.md.
"""

from asyncgraph.server._config import ConfigError, ServerConfig, load_config
from asyncgraph.server._dev import create_app, run_dev
from asyncgraph.server._queue import InProcessQueue, RunQueue
from asyncgraph.server._storage import MemoryStorage, RunEvent, Storage

__all__ = [
    "ConfigError",
    "InProcessQueue",
    "MemoryStorage",
    "RunEvent",
    "RunQueue",
    "ServerConfig",
    "Storage",
    "create_app",
    "load_config",
    "run_dev",
]
