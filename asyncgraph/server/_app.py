"""The HTTP API: LangGraph Server API routes on Starlette, streaming with sse-starlette.

Handlers parse and validate the request, call the services and serialize the answer;
nothing else. Errors leave as ``{"detail": "..."}`` with a 4xx status, the shape
``langgraph_sdk`` turns into its typed errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from asyncgraph import __version__
from asyncgraph.server._auth import (
    AuthMiddleware,
    AuthPolicy,
    authorize,
    matches,
    owned_metadata,
    stamp_user,
)
from asyncgraph.server._config import TTL_STRATEGIES
from asyncgraph.server._crons import CronService
from asyncgraph.server._errors import ApiError, not_found
from asyncgraph.server._openapi import openapi_document
from asyncgraph.server._runs import RunService
from asyncgraph.server._serialize import dumps
from asyncgraph.server._sse import EventStream
from asyncgraph.server._services import Services
from asyncgraph.server._storage import RunEvent
from asyncgraph.server._store_api import store_routes
from asyncgraph.server._thread_stream import ThreadEvent, follow_thread, parse_cursor, thread_event_filter

__all__ = ["build_app"]

MAX_BODY_BYTES = 10 * 1024 * 1024


class _Json(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content).encode()


async def _body(request: Request, *, required: bool = True) -> dict[str, Any]:
    limit = request.app.state.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body of {declared} bytes is over the {limit}-byte limit")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise ApiError(413, f"request body is over the {limit}-byte limit")
    if not raw.strip():
        if required:
            raise ApiError(422, "request body is empty; expected a JSON object")
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from exc
    if data is None and not required:
        return {}
    if not isinstance(data, dict):
        raise ApiError(422, f"request body must be a JSON object, got {type(data).__name__}")
    return data


def _svc(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def _runs(request: Request) -> RunService:
    return request.app.state.runs  # type: ignore[no-any-return]


def _p(request: Request, name: str) -> str:
    return str(request.path_params[name])


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


async def _search(request: Request, resource: str) -> tuple[dict[str, Any], Any]:
    """A search or count request's body and the caller's auth filter for ``resource``."""
    body = await _body(request, required=False)
    return body, await authorize(request, resource, "search", body)


async def _visible_thread(request: Request, tid: str, verb: str, **value: Any) -> None:
    """Authorize ``verb`` (the auth action) on thread ``tid`` with ``value``; a thread the
    handler's filter hides is 404."""
    where = await authorize(request, "threads", verb, {"thread_id": tid, **value})
    if where and not matches(where, (await _svc(request).get_thread(tid))["metadata"]):
        raise not_found("thread", tid)


async def _visible_assistant(request: Request, aid: str, action: str, value: dict[str, Any] | None = None) -> None:
    where = await authorize(request, "assistants", action, value if value is not None else {"assistant_id": aid})
    if where and not matches(where, (await _svc(request).get_assistant(aid))["metadata"]):
        raise not_found("assistant", aid)


async def _create_run_allowed(request: Request, tid: str | None, body: dict[str, Any]) -> dict[str, Any]:
    """Authorize creating a run (``threads.create_run``) and stamp the caller into its
    config; returns what a thread the run creates needs in its metadata."""
    if request.app.state.auth is None:
        stamp_user(request, body)  # (drops client-sent auth keys)
        return {}
    if body.get("metadata") is None:
        body["metadata"] = {}
    value = {
        "thread_id": tid, "assistant_id": body.get("assistant_id"), "run_id": None, "status": "pending",
        "metadata": body["metadata"], "prevent_insert_if_inflight": True,
        "multitask_strategy": body.get("multitask_strategy"), "if_not_exists": body.get("if_not_exists"),
        "after_seconds": body.get("after_seconds"), "kwargs": body,
    }
    where = await authorize(request, "threads", "create_run", value)
    body["metadata"] = value.get("metadata") or {}
    if where and tid is not None:
        thread = await _svc(request).storage.get_thread(tid)
        if thread is not None and not matches(where, thread["metadata"]):
            raise not_found("thread", tid)
    stamp_user(request, body)
    return owned_metadata(where)


# ---- system ----------------------------------------------------------------------------
async def ok(request: Request) -> Response:
    return _Json({"ok": True})


async def info(request: Request) -> Response:
    return _Json(
        {
            "version": __version__,
            "server": "asyncgraph",
            "flags": {"assistants": True, "crons": True, "langsmith": False},
        }
    )


async def openapi(request: Request) -> Response:
    return _Json(openapi_document([r for r in request.app.routes if isinstance(r, Route)], __version__))


# ---- assistants ------------------------------------------------------------------------
async def assistants_create(request: Request) -> Response:
    body = await _body(request)
    await authorize(request, "assistants", "create", body)
    return _Json(await _svc(request).create_assistant(body))


async def assistants_search(request: Request) -> Response:
    body, where = await _search(request, "assistants")
    return _Json(await _svc(request).search_assistants(body, where=where))


async def assistants_count(request: Request) -> Response:
    body, where = await _search(request, "assistants")
    return _Json(await _svc(request).count_assistants(body, where=where))


async def assistant_item(request: Request) -> Response:
    svc, aid = _svc(request), _p(request, "assistant_id")
    if request.method == "GET":
        await _visible_assistant(request, aid, "read")
        return _Json(await svc.get_assistant(aid))
    if request.method == "PATCH":
        body = await _body(request)
        await _visible_assistant(request, aid, "update", {"assistant_id": aid, **body})
        return _Json(await svc.update_assistant(aid, body))
    await _visible_assistant(request, aid, "delete")
    await svc.delete_assistant(aid)
    return Response(status_code=204)


async def assistant_graph(request: Request) -> Response:
    aid = _p(request, "assistant_id")
    await _visible_assistant(request, aid, "read")
    xray_raw = request.query_params.get("xray", "false")
    xray: int | bool = int(xray_raw) if xray_raw.isdigit() else _flag(xray_raw)
    return _Json(await _svc(request).get_graph_drawing(aid, xray))


async def assistant_versions(request: Request) -> Response:
    aid = _p(request, "assistant_id")
    body = await _body(request, required=False)
    await _visible_assistant(request, aid, "read")
    return _Json(await _svc(request).assistant_versions(aid, body))


async def assistant_latest(request: Request) -> Response:
    aid = _p(request, "assistant_id")
    body = await _body(request)
    if not isinstance(body.get("version"), int) or isinstance(body.get("version"), bool):
        raise ApiError(422, f"'version' must be an integer, got {body.get('version')!r}")
    await _visible_assistant(request, aid, "update", {"assistant_id": aid, **body})
    return _Json(await _svc(request).set_latest(aid, body["version"]))


async def assistant_subgraphs(request: Request) -> Response:
    aid = _p(request, "assistant_id")
    await _visible_assistant(request, aid, "read")
    namespace = request.path_params.get("namespace")
    return _Json(await _svc(request).get_subgraphs(aid, namespace, _flag(request.query_params.get("recurse"))))


async def assistant_schemas(request: Request) -> Response:
    aid = _p(request, "assistant_id")
    await _visible_assistant(request, aid, "read")
    return _Json(await _svc(request).get_schemas(aid))


# ---- threads ---------------------------------------------------------------------------
async def threads_create(request: Request) -> Response:
    body = await _body(request, required=False)
    if request.app.state.auth is not None:
        if body.get("metadata") is None:
            body["metadata"] = {}
        where = await authorize(request, "threads", "create", body)
        existing = await _svc(request).storage.get_thread(body["thread_id"]) if body.get("thread_id") else None
        if existing is not None and where and not matches(where, existing["metadata"]):
            # Someone else's thread id: answer as for any taken id, showing nothing of it.
            raise ApiError(409, f"thread {body['thread_id']!r} already exists")
    ttl = _thread_ttl(body.pop("ttl", None))
    thread = await _svc(request).create_thread(body)
    return _Json(_thread_out(request, await _set_ttl(request, thread, ttl), with_ttl=ttl is not None))


def _thread_ttl(value: Any) -> dict[str, Any] | None:
    """A thread's ``ttl`` as the SDK sends it (``{"ttl": minutes, "strategy": "delete" |
    "keep_latest"}``, or a number of minutes), checked; None if not given."""
    if value is None:
        return None
    if not isinstance(value, dict):
        value = {"ttl": value}
    strategy = value.get("strategy", "delete")
    if strategy not in TTL_STRATEGIES:
        raise ApiError(422, f"ttl strategy {strategy!r} is not supported (only 'delete' or 'keep_latest')")
    minutes = value.get("ttl")
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or minutes <= 0:
        raise ApiError(422, f"'ttl' must be a positive number of minutes, got {minutes!r}")
    return {"strategy": strategy, "ttl": minutes}


def _thread_out(request: Request, thread: dict[str, Any], *, with_ttl: bool = False) -> dict[str, Any]:
    """A thread record as the API shows it: its ``ttl`` only when asked
    (``include=ttl``), as ``{"strategy", "ttl_minutes", "expires_at"}``: its own, or
    the ``checkpointer.ttl`` default of ``langgraph.json`` (None: it never expires).
    ``expires_at`` is when the sweeper may take it if nothing updates it before."""
    own = thread.get("ttl")
    out = {k: v for k, v in thread.items() if k != "ttl"} if own is not None or with_ttl else thread
    if with_ttl:
        default = _svc(request).graphs.config.thread_ttl()
        minutes = (own or {}).get("ttl") or default.default_minutes
        strategy = (own or {}).get("strategy") if own else default.strategy
        out["ttl"] = None if minutes is None else {
            "strategy": strategy,
            "ttl_minutes": minutes,
            "expires_at": (datetime.fromisoformat(thread["updated_at"]) + timedelta(minutes=minutes)).isoformat(),
        }
    return out


async def _set_ttl(request: Request, thread: dict[str, Any], ttl: dict[str, Any] | None) -> dict[str, Any]:
    """Give ``thread`` its ``ttl`` (kept in the record; the sweeper in _crons reads it)."""
    if ttl is not None:
        stored = await _svc(request).storage.get_thread(thread["thread_id"]) or thread
        thread = {**stored, "ttl": ttl}
        await _svc(request).storage.put_thread(thread)
    return thread


async def threads_search(request: Request) -> Response:
    body, where = await _search(request, "threads")
    return _Json([_thread_out(request, t) for t in await _svc(request).search_threads(body, where=where)])


async def threads_count(request: Request) -> Response:
    body, where = await _search(request, "threads")
    return _Json(await _svc(request).count_threads(body, where=where))


async def thread_item(request: Request) -> Response:
    svc, tid = _svc(request), _p(request, "thread_id")
    if request.method == "GET":
        await _visible_thread(request, tid, "read")
        include = {part.strip() for part in request.query_params.get("include", "").split(",")}
        return _Json(_thread_out(request, await svc.get_thread(tid), with_ttl="ttl" in include))
    if request.method == "PATCH":
        body = await _body(request)
        await _visible_thread(request, tid, "update", metadata=body.get("metadata"))
        ttl = _thread_ttl(body.pop("ttl", None))
        thread = await _set_ttl(request, await svc.update_thread(tid, body), ttl)
        return _Json(_thread_out(request, thread, with_ttl=ttl is not None))
    await _visible_thread(request, tid, "delete")
    await svc.delete_thread(tid)
    return Response(status_code=204)


async def thread_copy(request: Request) -> Response:
    tid = _p(request, "thread_id")
    await _visible_thread(request, tid, "read")
    return _Json(_thread_out(request, await _svc(request).copy_thread(tid)))


async def thread_state(request: Request) -> Response:
    svc, tid = _svc(request), _p(request, "thread_id")
    if request.method == "POST":
        body = await _body(request)
        await _visible_thread(request, tid, "update")
        return _Json(await svc.update_state(tid, body))
    await _visible_thread(request, tid, "read")
    subgraphs = _flag(request.query_params.get("subgraphs"))
    return _Json(await svc.get_state(tid, None, subgraphs))


async def thread_state_at(request: Request) -> Response:
    svc, tid = _svc(request), _p(request, "thread_id")
    await _visible_thread(request, tid, "read")
    subgraphs = _flag(request.query_params.get("subgraphs"))
    cid = _p(request, "checkpoint_id")
    return _Json(await svc.get_state(tid, {"checkpoint_id": cid}, subgraphs))


async def thread_state_checkpoint(request: Request) -> Response:
    tid = _p(request, "thread_id")
    body = await _body(request)
    checkpoint = body.get("checkpoint")
    if not isinstance(checkpoint, dict):
        raise ApiError(422, "'checkpoint' must be an object with a checkpoint_id")
    await _visible_thread(request, tid, "read")
    return _Json(await _svc(request).get_state(tid, checkpoint, bool(body.get("subgraphs"))))


async def thread_history(request: Request) -> Response:
    tid = _p(request, "thread_id")
    body = await _body(request, required=False)
    await _visible_thread(request, tid, "read")
    return _Json(await _svc(request).get_history(tid, body))


# ---- runs ------------------------------------------------------------------------------
def _location_headers(run: dict[str, Any], stateless: bool) -> dict[str, str]:
    if stateless:
        return {"Content-Location": f"/runs/{run['run_id']}"}
    base = f"/threads/{run['thread_id']}/runs/{run['run_id']}"
    return {"Content-Location": base, "Location": f"{base}/stream"}


def _event_filter(modes: list[str] | None) -> set[str] | None:
    if not modes:
        return None
    return {"messages" if m == "messages-tuple" else m for m in modes} | {"metadata", "error"}


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _sse_bytes(batch: Sequence[RunEvent | ThreadEvent], modes: set[str] | None) -> bytes:
    """The events of ``batch`` (those ``modes`` keeps) as SSE text, sse-starlette's layout
    (``id``, ``event``, then one ``data:`` line per line of data; CRLF line ends)."""
    parts = []
    for ev in batch:
        if modes is not None and ev.event.split("|", 1)[0].split("/", 1)[0] not in modes:
            continue
        data = ev.data
        if "\n" in data or "\r" in data:  # (JSON text has none: its strings escape them)
            data = "\r\ndata: ".join(_LINE_BREAK.split(data))
        event = _LINE_BREAK.sub("", ev.event)
        parts.append(f"id: {ev.seq}\r\nevent: {event}\r\ndata: {data}\r\n\r\n")
    return "".join(parts).encode()


async def _sse(
    request: Request,
    run_id: str,
    *,
    after: int,
    modes: set[str] | None,
    cancel_on_disconnect: bool,
    thread_id: str,
) -> AsyncIterator[bytes]:
    runs = _runs(request)
    try:
        # What the log holds at once leaves in one write (the encoded text passes through
        # sse-starlette as it is): far fewer sends than one per event under load.
        async for batch in runs.storage.read_event_batches(run_id, after):
            chunk = _sse_bytes(batch, modes)
            if chunk:
                yield chunk
    except (asyncio.CancelledError, GeneratorExit):
        # The client left (or the server is stopping). A failure of this reader is not a
        # disconnect: it ends the response, and the run goes on for the SDK to rejoin.
        if cancel_on_disconnect:
            with contextlib.suppress(ApiError):
                await asyncio.shield(runs.cancel(thread_id, run_id))
        raise


def _stream_response(request: Request, run: dict[str, Any], *, after: int, modes: set[str] | None,
                     cancel_on_disconnect: bool, headers: dict[str, str], first: RunEvent | None = None) -> Response:
    """``first``: the run's first event, known without reading the log (sent at once)."""
    if first is not None:
        after = first.seq
    return EventStream(
        _sse(request, run["run_id"], after=after, modes=modes,
             cancel_on_disconnect=cancel_on_disconnect, thread_id=run["thread_id"]),
        first=_sse_bytes([first], modes) if first is not None else b"",
        headers=headers,
        ping=15,
    )


async def _create_run(request: Request, tid: str | None, body: dict[str, Any]) -> dict[str, Any]:
    owner = await _create_run_allowed(request, tid, body)
    return await _runs(request).create(tid, body, thread_metadata=owner)


async def runs_create(request: Request) -> Response:
    tid = request.path_params.get("thread_id")
    run = await _create_run(request, tid, await _body(request))
    return _Json(run, headers=_location_headers(run, tid is None))


async def runs_stream(request: Request) -> Response:
    tid = request.path_params.get("thread_id")
    body = await _body(request)
    on_disconnect = body.get("on_disconnect") or "cancel"
    run = await _create_run(request, tid, body)
    return _stream_response(
        request, run, after=0, modes=None,
        cancel_on_disconnect=on_disconnect == "cancel",
        headers=_location_headers(run, tid is None),
        first=RunService.first_event(run),
    )


async def runs_wait(request: Request) -> Response:
    tid = request.path_params.get("thread_id")
    run = await _create_run(request, tid, await _body(request))
    result = await _runs(request).result(run["run_id"])
    return _Json(result, headers=_location_headers(run, tid is None))


async def runs_batch(request: Request) -> Response:
    raw = await request.body()
    try:
        items = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from exc
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ApiError(422, "request body must be a list of run objects")
    return _Json([await _create_run(request, None, item) for item in items])


async def runs_list(request: Request) -> Response:
    q = request.query_params
    await _visible_thread(request, _p(request, "thread_id"), "read")
    return _Json(
        await _runs(request).list(
            _p(request, "thread_id"), limit=int(q.get("limit", 10)), offset=int(q.get("offset", 0)),
            status=q.get("status"),
        )
    )


async def run_item(request: Request) -> Response:
    runs, tid, rid = _runs(request), _p(request, "thread_id"), _p(request, "run_id")
    if request.method == "GET":
        await _visible_thread(request, tid, "read", run_id=rid)
        return _Json(await runs.get(tid, rid))
    await _visible_thread(request, tid, "delete", run_id=rid)
    await runs.delete(tid, rid)
    return Response(status_code=204)


async def run_cancel(request: Request) -> Response:
    runs, tid, rid = _runs(request), _p(request, "thread_id"), _p(request, "run_id")
    action = request.query_params.get("action", "interrupt")
    await _visible_thread(request, tid, "update", run_id=rid, action=action)
    await runs.cancel(tid, rid, action=action)
    if _flag(request.query_params.get("wait")):
        await runs.wait_done(rid)
        return Response(status_code=204)
    return Response(status_code=202)


async def runs_cancel_many(request: Request) -> Response:
    runs = _runs(request)
    body = await _body(request, required=False)
    action = request.query_params.get("action", "interrupt")
    candidates = await runs.storage.list_runs(body.get("thread_id"))
    wanted = body.get("run_ids")
    status = body.get("status")
    where = await authorize(request, "threads", "update", {"thread_id": body.get("thread_id"), "action": action})
    allowed: dict[str, bool] = {}
    for r in candidates:
        if wanted and r["run_id"] not in wanted:
            continue
        if status in ("pending", "running") and r["status"] != status:
            continue
        if where:
            tid = r["thread_id"]
            if tid not in allowed:
                thread = await runs.storage.get_thread(tid)
                allowed[tid] = thread is not None and matches(where, thread["metadata"])
            if not allowed[tid]:
                continue
        await runs.cancel(r["thread_id"], r["run_id"], action=action)
    return Response(status_code=204)


async def run_join(request: Request) -> Response:
    runs, tid, rid = _runs(request), _p(request, "thread_id"), _p(request, "run_id")
    await _visible_thread(request, tid, "read", run_id=rid)
    await runs.get(tid, rid)
    return _Json(await runs.result(rid))


async def run_join_stream(request: Request) -> Response:
    runs, tid, rid = _runs(request), _p(request, "thread_id"), _p(request, "run_id")
    await _visible_thread(request, tid, "read", run_id=rid)
    run = await runs.get(tid, rid)
    last = request.headers.get("last-event-id", "")
    if last and not last.isdigit():
        raise ApiError(422, f"Last-Event-ID {last!r} is not an event id of this run")
    # The SDK sends `stream_mode=` (empty) when none is chosen: that means all of them.
    modes = [m for m in request.query_params.getlist("stream_mode") if m]
    return _stream_response(
        request, run, after=int(last or 0), modes=_event_filter(modes),
        cancel_on_disconnect=_flag(request.query_params.get("cancel_on_disconnect")),
        headers={},
    )


async def thread_join_stream(request: Request) -> Response:
    """The thread's runs, one after the other, until the client leaves (see _thread_stream)."""
    svc, tid = _svc(request), _p(request, "thread_id")
    await _visible_thread(request, tid, "read")
    await svc.get_thread(tid)  # (404 before the stream starts)
    cursor = parse_cursor(request.headers.get("last-event-id"))
    names = thread_event_filter(request.query_params.getlist("stream_mode"))
    storage = svc.storage

    async def body() -> AsyncIterator[bytes]:
        async for batch in follow_thread(storage, tid, cursor):
            chunk = _sse_bytes(batch, names)
            if chunk:
                yield chunk

    # Location: where the SDK reconnects (with Last-Event-ID) when the connection drops.
    query = request.url.query
    return EventStream(body(), headers={"Location": f"/threads/{tid}/stream" + (f"?{query}" if query else "")},
                       ping=15)


# ---- crons -----------------------------------------------------------------------------
def _crons(request: Request) -> CronService:
    return request.app.state.crons  # type: ignore[no-any-return]


async def crons_create(request: Request) -> Response:
    tid = request.path_params.get("thread_id")
    body = await _body(request)
    if request.app.state.auth is not None:
        if body.get("metadata") is None:
            body["metadata"] = {}
        await authorize(request, "crons", "create", body)
        if tid is not None:  # a cron runs on the thread: the caller must be allowed to
            await _create_run_allowed(request, tid, body)
    stamp_user(request, body)  # its runs run as the user who made it
    return _Json(await _crons(request).create(tid, body))


async def crons_search(request: Request) -> Response:
    body, where = await _search(request, "crons")
    return _Json(await _crons(request).search(body, where=where))


async def crons_count(request: Request) -> Response:
    body, where = await _search(request, "crons")
    return _Json(await _crons(request).count(body, where=where))


async def _visible_cron(request: Request, cid: str, action: str, value: dict[str, Any]) -> None:
    where = await authorize(request, "crons", action, value)
    if where:
        cron = await _runs(request).storage.get_cron(cid)
        if cron is None or not matches(where, cron.get("metadata")):
            raise not_found("cron", cid)


async def cron_item(request: Request) -> Response:
    crons, cid = _crons(request), _p(request, "cron_id")
    if request.method == "PATCH":
        body = await _body(request)
        await _visible_cron(request, cid, "update", {"cron_id": cid, **body})
        return _Json(await crons.update(cid, body))
    await _visible_cron(request, cid, "delete", {"cron_id": cid})
    await crons.delete(cid)
    return Response(status_code=204)


def routes() -> list[Route]:
    return [
        Route("/ok", ok, methods=["GET"]),
        Route("/info", info, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/assistants", assistants_create, methods=["POST"]),
        Route("/assistants/search", assistants_search, methods=["POST"]),
        Route("/assistants/count", assistants_count, methods=["POST"]),
        Route("/assistants/{assistant_id}", assistant_item, methods=["GET", "PATCH", "DELETE"]),
        Route("/assistants/{assistant_id}/graph", assistant_graph, methods=["GET"]),
        Route("/assistants/{assistant_id}/schemas", assistant_schemas, methods=["GET"]),
        Route("/assistants/{assistant_id}/versions", assistant_versions, methods=["POST"]),
        Route("/assistants/{assistant_id}/latest", assistant_latest, methods=["POST"]),
        Route("/assistants/{assistant_id}/subgraphs", assistant_subgraphs, methods=["GET"]),
        Route("/assistants/{assistant_id}/subgraphs/{namespace}", assistant_subgraphs, methods=["GET"]),
        Route("/threads", threads_create, methods=["POST"]),
        Route("/threads/search", threads_search, methods=["POST"]),
        Route("/threads/count", threads_count, methods=["POST"]),
        Route("/threads/{thread_id}", thread_item, methods=["GET", "PATCH", "DELETE"]),
        Route("/threads/{thread_id}/copy", thread_copy, methods=["POST"]),
        Route("/threads/{thread_id}/state", thread_state, methods=["GET", "POST"]),
        Route("/threads/{thread_id}/state/checkpoint", thread_state_checkpoint, methods=["POST"]),
        Route("/threads/{thread_id}/state/{checkpoint_id}", thread_state_at, methods=["GET"]),
        Route("/threads/{thread_id}/history", thread_history, methods=["POST"]),
        Route("/threads/{thread_id}/stream", thread_join_stream, methods=["GET"]),
        Route("/threads/{thread_id}/runs", runs_create, methods=["POST"]),
        Route("/threads/{thread_id}/runs", runs_list, methods=["GET"]),
        Route("/threads/{thread_id}/runs/stream", runs_stream, methods=["POST"]),
        Route("/threads/{thread_id}/runs/wait", runs_wait, methods=["POST"]),
        Route("/threads/{thread_id}/runs/{run_id}", run_item, methods=["GET", "DELETE"]),
        Route("/threads/{thread_id}/runs/{run_id}/cancel", run_cancel, methods=["POST"]),
        Route("/threads/{thread_id}/runs/{run_id}/join", run_join, methods=["GET"]),
        Route("/threads/{thread_id}/runs/{run_id}/stream", run_join_stream, methods=["GET"]),
        Route("/threads/{thread_id}/runs/crons", crons_create, methods=["POST"]),
        Route("/runs/crons", crons_create, methods=["POST"]),
        Route("/runs/crons/search", crons_search, methods=["POST"]),
        Route("/runs/crons/count", crons_count, methods=["POST"]),
        Route("/runs/crons/{cron_id}", cron_item, methods=["PATCH", "DELETE"]),
        Route("/runs", runs_create, methods=["POST"]),
        Route("/runs/stream", runs_stream, methods=["POST"]),
        Route("/runs/wait", runs_wait, methods=["POST"]),
        Route("/runs/batch", runs_batch, methods=["POST"]),
        Route("/runs/cancel", runs_cancel_many, methods=["POST"]),
        *store_routes(_body, _Json),
    ]


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _Json({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", str(exc))
    return _Json({"detail": detail}, status_code=status)


def build_app(services: Services, runs: RunService, *, lifespan: Any = None,
              max_body_bytes: int = MAX_BODY_BYTES, auth: AuthPolicy | None = None) -> Starlette:
    """The API over ``services`` and ``runs``; ``auth``: the custom auth policy (see
    :mod:`asyncgraph.server._auth`), None for an open server."""
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware

    app = Starlette(
        routes=routes(),
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        lifespan=lifespan,
        middleware=[Middleware(AuthMiddleware, policy=auth)] if auth is not None else None,
    )
    app.state.auth = auth
    app.state.services = services
    app.state.runs = runs
    app.state.crons = CronService(runs)
    app.state.max_body_bytes = max_body_bytes
    return app
