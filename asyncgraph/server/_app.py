"""The HTTP API: LangGraph Server API routes on Starlette, streaming with sse-starlette.

Handlers parse and validate the request, call the services and serialize the answer;
nothing else. Errors leave as ``{"detail": "..."}`` with a 4xx status, the shape
``langgraph_sdk`` turns into its typed errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from asyncgraph.server._crons import CronService
from asyncgraph.server._errors import ApiError
from asyncgraph.server._runs import RunService
from asyncgraph.server._serialize import dumps
from asyncgraph.server._services import Services
from asyncgraph.server._store_api import store_routes

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


# ---- system ----------------------------------------------------------------------------
async def ok(request: Request) -> Response:
    return _Json({"ok": True})


async def info(request: Request) -> Response:
    from asyncgraph import __version__

    return _Json(
        {
            "version": __version__,
            "server": "asyncgraph",
            "flags": {"assistants": True, "crons": True, "langsmith": False},
        }
    )


# ---- assistants ------------------------------------------------------------------------
async def assistants_create(request: Request) -> Response:
    return _Json(await _svc(request).create_assistant(await _body(request)))


async def assistants_search(request: Request) -> Response:
    return _Json(await _svc(request).search_assistants(await _body(request, required=False)))


async def assistants_count(request: Request) -> Response:
    return _Json(await _svc(request).count_assistants(await _body(request, required=False)))


async def assistant_item(request: Request) -> Response:
    svc, aid = _svc(request), _p(request, "assistant_id")
    if request.method == "GET":
        return _Json(await svc.get_assistant(aid))
    if request.method == "PATCH":
        return _Json(await svc.update_assistant(aid, await _body(request)))
    await svc.delete_assistant(aid)
    return Response(status_code=204)


async def assistant_graph(request: Request) -> Response:
    xray_raw = request.query_params.get("xray", "false")
    xray: int | bool = int(xray_raw) if xray_raw.isdigit() else _flag(xray_raw)
    return _Json(await _svc(request).get_graph_drawing(_p(request, "assistant_id"), xray))


async def assistant_schemas(request: Request) -> Response:
    return _Json(await _svc(request).get_schemas(_p(request, "assistant_id")))


# ---- threads ---------------------------------------------------------------------------
async def threads_create(request: Request) -> Response:
    return _Json(await _svc(request).create_thread(await _body(request, required=False)))


async def threads_search(request: Request) -> Response:
    return _Json(await _svc(request).search_threads(await _body(request, required=False)))


async def threads_count(request: Request) -> Response:
    return _Json(await _svc(request).count_threads(await _body(request, required=False)))


async def thread_item(request: Request) -> Response:
    svc, tid = _svc(request), _p(request, "thread_id")
    if request.method == "GET":
        return _Json(await svc.get_thread(tid))
    if request.method == "PATCH":
        return _Json(await svc.update_thread(tid, await _body(request)))
    await svc.delete_thread(tid)
    return Response(status_code=204)


async def thread_copy(request: Request) -> Response:
    return _Json(await _svc(request).copy_thread(_p(request, "thread_id")))


async def thread_state(request: Request) -> Response:
    svc, tid = _svc(request), _p(request, "thread_id")
    if request.method == "POST":
        return _Json(await svc.update_state(tid, await _body(request)))
    subgraphs = _flag(request.query_params.get("subgraphs"))
    return _Json(await svc.get_state(tid, None, subgraphs))


async def thread_state_at(request: Request) -> Response:
    svc, tid = _svc(request), _p(request, "thread_id")
    subgraphs = _flag(request.query_params.get("subgraphs"))
    cid = _p(request, "checkpoint_id")
    return _Json(await svc.get_state(tid, {"checkpoint_id": cid}, subgraphs))


async def thread_state_checkpoint(request: Request) -> Response:
    body = await _body(request)
    checkpoint = body.get("checkpoint")
    if not isinstance(checkpoint, dict):
        raise ApiError(422, "'checkpoint' must be an object with a checkpoint_id")
    return _Json(await _svc(request).get_state(_p(request, "thread_id"), checkpoint, bool(body.get("subgraphs"))))


async def thread_history(request: Request) -> Response:
    body = await _body(request, required=False)
    return _Json(await _svc(request).get_history(_p(request, "thread_id"), body))


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


async def _sse(
    request: Request,
    run_id: str,
    *,
    after: int,
    modes: set[str] | None,
    cancel_on_disconnect: bool,
    thread_id: str,
) -> AsyncIterator[dict[str, Any]]:
    runs = _runs(request)
    finished = False
    try:
        async for ev in runs.storage.read_events(run_id, after):
            if modes is not None and ev.event.split("|", 1)[0] not in modes:
                continue
            yield {"event": ev.event, "data": ev.data, "id": str(ev.seq)}
        finished = True
    finally:
        if not finished and cancel_on_disconnect:
            with contextlib.suppress(ApiError):
                await asyncio.shield(runs.cancel(thread_id, run_id))


def _stream_response(request: Request, run: dict[str, Any], *, after: int, modes: set[str] | None,
                     cancel_on_disconnect: bool, headers: dict[str, str]) -> Response:
    return EventSourceResponse(
        _sse(request, run["run_id"], after=after, modes=modes,
             cancel_on_disconnect=cancel_on_disconnect, thread_id=run["thread_id"]),
        headers=headers,
        ping=15,
    )


async def runs_create(request: Request) -> Response:
    tid = request.path_params.get("thread_id")
    run = await _runs(request).create(tid, await _body(request))
    return _Json(run, headers=_location_headers(run, tid is None))


async def runs_stream(request: Request) -> Response:
    tid = request.path_params.get("thread_id")
    body = await _body(request)
    on_disconnect = body.get("on_disconnect") or "cancel"
    run = await _runs(request).create(tid, body)
    return _stream_response(
        request, run, after=0, modes=None,
        cancel_on_disconnect=on_disconnect == "cancel",
        headers=_location_headers(run, tid is None),
    )


async def runs_wait(request: Request) -> Response:
    tid = request.path_params.get("thread_id")
    run = await _runs(request).create(tid, await _body(request))
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
    return _Json([await _runs(request).create(None, item) for item in items])


async def runs_list(request: Request) -> Response:
    q = request.query_params
    return _Json(
        await _runs(request).list(
            _p(request, "thread_id"), limit=int(q.get("limit", 10)), offset=int(q.get("offset", 0)),
            status=q.get("status"),
        )
    )


async def run_item(request: Request) -> Response:
    runs, tid, rid = _runs(request), _p(request, "thread_id"), _p(request, "run_id")
    if request.method == "GET":
        return _Json(await runs.get(tid, rid))
    await runs.delete(tid, rid)
    return Response(status_code=204)


async def run_cancel(request: Request) -> Response:
    runs, tid, rid = _runs(request), _p(request, "thread_id"), _p(request, "run_id")
    await runs.cancel(tid, rid, action=request.query_params.get("action", "interrupt"))
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
    for r in candidates:
        if wanted and r["run_id"] not in wanted:
            continue
        if status in ("pending", "running") and r["status"] != status:
            continue
        await runs.cancel(r["thread_id"], r["run_id"], action=action)
    return Response(status_code=204)


async def run_join(request: Request) -> Response:
    runs, tid, rid = _runs(request), _p(request, "thread_id"), _p(request, "run_id")
    await runs.get(tid, rid)
    return _Json(await runs.result(rid))


async def run_join_stream(request: Request) -> Response:
    runs, tid, rid = _runs(request), _p(request, "thread_id"), _p(request, "run_id")
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


# ---- crons -----------------------------------------------------------------------------
def _crons(request: Request) -> CronService:
    return request.app.state.crons  # type: ignore[no-any-return]


async def crons_create(request: Request) -> Response:
    return _Json(await _crons(request).create(request.path_params.get("thread_id"), await _body(request)))


async def crons_search(request: Request) -> Response:
    return _Json(await _crons(request).search(await _body(request, required=False)))


async def crons_count(request: Request) -> Response:
    return _Json(await _crons(request).count(await _body(request, required=False)))


async def cron_item(request: Request) -> Response:
    crons, cid = _crons(request), _p(request, "cron_id")
    if request.method == "PATCH":
        return _Json(await crons.update(cid, await _body(request)))
    await crons.delete(cid)
    return Response(status_code=204)


def routes() -> list[Route]:
    return [
        Route("/ok", ok, methods=["GET"]),
        Route("/info", info, methods=["GET"]),
        Route("/assistants", assistants_create, methods=["POST"]),
        Route("/assistants/search", assistants_search, methods=["POST"]),
        Route("/assistants/count", assistants_count, methods=["POST"]),
        Route("/assistants/{assistant_id}", assistant_item, methods=["GET", "PATCH", "DELETE"]),
        Route("/assistants/{assistant_id}/graph", assistant_graph, methods=["GET"]),
        Route("/assistants/{assistant_id}/schemas", assistant_schemas, methods=["GET"]),
        Route("/threads", threads_create, methods=["POST"]),
        Route("/threads/search", threads_search, methods=["POST"]),
        Route("/threads/count", threads_count, methods=["POST"]),
        Route("/threads/{thread_id}", thread_item, methods=["GET", "PATCH", "DELETE"]),
        Route("/threads/{thread_id}/copy", thread_copy, methods=["POST"]),
        Route("/threads/{thread_id}/state", thread_state, methods=["GET", "POST"]),
        Route("/threads/{thread_id}/state/checkpoint", thread_state_checkpoint, methods=["POST"]),
        Route("/threads/{thread_id}/state/{checkpoint_id}", thread_state_at, methods=["GET"]),
        Route("/threads/{thread_id}/history", thread_history, methods=["POST"]),
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
    return _Json({"detail": exc.detail}, status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", str(exc))
    return _Json({"detail": detail}, status_code=status)


def build_app(services: Services, runs: RunService, *, lifespan: Any = None,
              max_body_bytes: int = MAX_BODY_BYTES) -> Starlette:
    from starlette.exceptions import HTTPException

    app = Starlette(
        routes=routes(),
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.runs = runs
    app.state.crons = CronService(runs)
    app.state.max_body_bytes = max_body_bytes
    return app
