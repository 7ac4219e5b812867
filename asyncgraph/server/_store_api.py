"""``/store/...``: the long-term memory store (an :mod:`asyncgraph.store` instance) over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from asyncgraph.server._auth import authorize
from asyncgraph.server._errors import ApiError

__all__ = ["store_routes"]


def _namespace(value: Any, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ApiError(422, f"{field!r} must be a list of strings, got {value!r}")
    for label in value:
        if not label or "." in label:
            raise ApiError(422, f"{field!r}: label {label!r} must be non-empty and contain no '.'")
    return tuple(value)


async def _allowed(request: Request, action: str, value: dict[str, Any], field: str = "namespace") -> tuple[str, ...] | None:
    """Run the store's auth handler, which may rewrite ``value[field]`` (scope a user's items
    under their own namespace); return the namespace to use."""
    if request.app.state.auth is None:
        return value[field]  # type: ignore[no-any-return]
    where = await authorize(request, "store", action, value)
    if where:
        raise ApiError(500, f"the auth handler for store.{action} returned a filter; store handlers allow, deny "
                            "or rewrite value['namespace']")
    ns = value.get(field)
    if ns is None:
        return None
    return _namespace(list(ns), field)


def _item(item: Any) -> dict[str, Any]:
    out = {
        "namespace": list(item.namespace),
        "key": item.key,
        "value": item.value,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }
    if hasattr(item, "score"):
        out["score"] = item.score
    return out


def store_routes(read_body: Callable[..., Any], json_response: type[Response]) -> list[Route]:
    """The store routes; ``read_body`` and ``json_response`` are the API's own helpers."""

    def _store(request: Request) -> Any:
        return request.app.state.services.graphs.store

    async def items(request: Request) -> Response:
        store = _store(request)
        if request.method == "GET":
            ns_raw = request.query_params.get("namespace", "")
            key = request.query_params.get("key")
            if not key:
                raise ApiError(422, "query parameter 'key' is required")
            ns = tuple(p for p in ns_raw.split(".") if p)
            ns = await _allowed(request, "get", {"namespace": ns, "key": key}) or ()
            refresh = request.query_params.get("refresh_ttl")
            item = await store.aget(ns, key, refresh_ttl=None if refresh is None else refresh.lower() == "true")
            if item is None:
                raise ApiError(404, f"store item {key!r} not found in namespace {list(ns)!r}")
            return json_response(_item(item))
        body = await read_body(request)
        ns = _namespace(body.get("namespace"), "namespace")
        key = body.get("key")
        if not isinstance(key, str) or not key:
            raise ApiError(422, f"'key' must be a non-empty string, got {key!r}")
        if request.method == "PUT":
            value = body.get("value")
            if not isinstance(value, dict):
                raise ApiError(422, f"'value' must be an object, got {type(value).__name__}")
            kwargs: dict[str, Any] = {}
            if "index" in body:
                kwargs["index"] = body["index"]
            if "ttl" in body:
                kwargs["ttl"] = body["ttl"]
            ns = await _allowed(request, "put", {"namespace": ns, "key": key, "value": value,
                                                 "index": body.get("index"), "ttl": body.get("ttl")}) or ()
            await store.aput(ns, key, value, **kwargs)
        else:
            ns = await _allowed(request, "delete", {"namespace": ns, "key": key}) or ()
            await store.adelete(ns, key)
        return Response(status_code=204)

    async def search(request: Request) -> Response:
        body = await read_body(request, required=False)
        ns = _namespace(body.get("namespace_prefix") or [], "namespace_prefix") if body.get("namespace_prefix") else ()
        ns = await _allowed(request, "search", {"namespace": ns, "filter": body.get("filter"),
                                                "limit": body.get("limit"), "offset": body.get("offset"),
                                                "query": body.get("query")}) or ()
        found = await _store(request).asearch(
            ns,
            query=body.get("query"),
            filter=body.get("filter"),
            limit=int(body.get("limit") or 10),
            offset=int(body.get("offset") or 0),
            refresh_ttl=body.get("refresh_ttl"),
        )
        return json_response({"items": [_item(i) for i in found]})

    async def namespaces(request: Request) -> Response:
        body = await read_body(request, required=False)
        prefix = await _allowed(request, "list_namespaces", {
            "namespace": tuple(body["prefix"]) if body.get("prefix") else (), "suffix": body.get("suffix"),
            "max_depth": body.get("max_depth"), "limit": body.get("limit"), "offset": body.get("offset"),
        })
        found = await _store(request).alist_namespaces(
            prefix=prefix or None,
            suffix=tuple(body["suffix"]) if body.get("suffix") else None,
            max_depth=body.get("max_depth"),
            limit=int(body.get("limit") or 100),
            offset=int(body.get("offset") or 0),
        )
        return json_response({"namespaces": [list(n) for n in found]})

    return [
        Route("/store/items", items, methods=["GET", "PUT", "DELETE"]),
        Route("/store/items/search", search, methods=["POST"]),
        Route("/store/namespaces", namespaces, methods=["POST"]),
    ]
