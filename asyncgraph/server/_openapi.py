"""``/openapi.json``: the API's OpenAPI 3.1 document, made from the routes themselves.

Every route the app serves appears (a route added without a summary here still does, and
``tests/server/test_system.py`` fails until it gets one), with its path parameters, a JSON
body where the method takes one, and the error shape every endpoint shares.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import Route

__all__ = ["SUMMARIES", "openapi_document"]

SUMMARIES: dict[tuple[str, str], str] = {
    ("GET", "/ok"): "Health check",
    ("GET", "/info"): "Server version and feature flags",
    ("GET", "/openapi.json"): "This document",
    ("POST", "/assistants"): "Create an assistant",
    ("POST", "/assistants/search"): "Search assistants",
    ("POST", "/assistants/count"): "Count assistants",
    ("GET", "/assistants/{assistant_id}"): "Get an assistant (a graph id names its default assistant)",
    ("PATCH", "/assistants/{assistant_id}"): "Update an assistant (a new version)",
    ("DELETE", "/assistants/{assistant_id}"): "Delete an assistant",
    ("GET", "/assistants/{assistant_id}/graph"): "The assistant's graph as JSON (xray for subgraphs)",
    ("GET", "/assistants/{assistant_id}/schemas"): "The graph's input, output, state, config and context schemas",
    ("POST", "/assistants/{assistant_id}/versions"): "List the assistant's versions, newest first",
    ("POST", "/assistants/{assistant_id}/latest"): "Make a version the assistant's current one",
    ("GET", "/assistants/{assistant_id}/subgraphs"): "The schemas of the graph's subgraphs",
    ("GET", "/assistants/{assistant_id}/subgraphs/{namespace}"): "The schemas of one subgraph",
    ("POST", "/threads"): "Create a thread",
    ("POST", "/threads/search"): "Search threads",
    ("POST", "/threads/count"): "Count threads",
    ("GET", "/threads/{thread_id}"): "Get a thread",
    ("PATCH", "/threads/{thread_id}"): "Update a thread's metadata",
    ("DELETE", "/threads/{thread_id}"): "Delete a thread, its runs and its checkpoints",
    ("POST", "/threads/{thread_id}/copy"): "Copy a thread with its history",
    ("GET", "/threads/{thread_id}/state"): "The thread's latest state",
    ("POST", "/threads/{thread_id}/state"): "Update the thread's state (as a node)",
    ("POST", "/threads/{thread_id}/state/checkpoint"): "The thread's state at a checkpoint",
    ("GET", "/threads/{thread_id}/state/{checkpoint_id}"): "The thread's state at a checkpoint",
    ("POST", "/threads/{thread_id}/history"): "The thread's past states, newest first",
    ("GET", "/threads/{thread_id}/stream"): "Follow the thread's runs' events, run after run, from Last-Event-ID (SSE)",
    ("POST", "/threads/{thread_id}/runs"): "Start a background run on the thread",
    ("GET", "/threads/{thread_id}/runs"): "List the thread's runs",
    ("POST", "/threads/{thread_id}/runs/stream"): "Start a run and stream its events (SSE)",
    ("POST", "/threads/{thread_id}/runs/wait"): "Start a run and wait for its output",
    ("GET", "/threads/{thread_id}/runs/{run_id}"): "Get a run",
    ("DELETE", "/threads/{thread_id}/runs/{run_id}"): "Delete a finished run",
    ("POST", "/threads/{thread_id}/runs/{run_id}/cancel"): "Cancel a run (interrupt or rollback)",
    ("GET", "/threads/{thread_id}/runs/{run_id}/join"): "Wait for a run's output",
    ("GET", "/threads/{thread_id}/runs/{run_id}/stream"): "Stream a run's events from Last-Event-ID (SSE)",
    ("POST", "/threads/{thread_id}/runs/crons"): "Create a cron on the thread",
    ("POST", "/runs/crons"): "Create a cron of stateless runs",
    ("POST", "/runs/crons/search"): "Search crons",
    ("POST", "/runs/crons/count"): "Count crons",
    ("PATCH", "/runs/crons/{cron_id}"): "Update a cron",
    ("DELETE", "/runs/crons/{cron_id}"): "Delete a cron",
    ("POST", "/runs"): "Start a stateless background run",
    ("POST", "/runs/stream"): "Start a stateless run and stream its events (SSE)",
    ("POST", "/runs/wait"): "Start a stateless run and wait for its output",
    ("POST", "/runs/batch"): "Start several stateless runs",
    ("POST", "/runs/cancel"): "Cancel several runs",
    ("GET", "/store/items"): "Get a store item",
    ("PUT", "/store/items"): "Put a store item",
    ("DELETE", "/store/items"): "Delete a store item",
    ("POST", "/store/items/search"): "Search store items (filter, semantic query)",
    ("POST", "/store/namespaces"): "List store namespaces",
}

_PARAM = re.compile(r"{(\w+)}")
_ERROR = {
    "description": "Refused: the detail says why",
    "content": {"application/json": {"schema": {
        "type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"],
    }}},
}
_STREAMS = ("/stream",)


def _operation(method: str, path: str) -> dict[str, Any]:
    name = SUMMARIES.get((method, path))
    if name is None:
        raise KeyError(f"no OpenAPI summary for {method} {path}: add one to server/_openapi.SUMMARIES")
    streams = path.endswith(_STREAMS)
    ok: dict[str, Any] = {"description": "OK"}
    if streams:
        ok["content"] = {"text/event-stream": {"schema": {"type": "string"}}}
    elif method != "DELETE":
        ok["content"] = {"application/json": {"schema": {}}}
    op: dict[str, Any] = {
        "summary": name,
        "operationId": f"{method.lower()}_{path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
        "tags": [path.strip("/").split("/")[0] or "system"],
        "responses": {
            ("204" if method == "DELETE" else "200"): ok,
            "4XX": _ERROR,
        },
    }
    params = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in _PARAM.findall(path)
    ]
    if params:
        op["parameters"] = params
    if method in ("POST", "PUT", "PATCH"):
        op["requestBody"] = {
            "required": method != "POST" or not path.endswith(("/search", "/count", "/history")),
            "content": {"application/json": {"schema": {"type": "array" if path == "/runs/batch" else "object"}}},
        }
    return op


def openapi_document(routes: list[Route], version: str) -> dict[str, Any]:
    """The document for ``routes`` (every method of every route)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            paths.setdefault(route.path, {})[method.lower()] = _operation(method, route.path)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "asyncgraph server",
            "version": version,
            "description": "The LangGraph Server API, served by asyncgraph (langgraph-sdk clients work unchanged).",
        },
        "paths": paths,
    }
