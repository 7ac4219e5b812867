"""Custom auth: the ``langgraph_sdk.Auth`` object that ``langgraph.json``'s ``auth.path`` names.

Authentication runs once per request, before routing (:class:`AuthMiddleware`): the
``@auth.authenticate`` handler gets the parameters it names (``request``, ``authorization``,
``headers``, ``method``, ``path``, ``path_params``, ``query_params``, ``body``) and returns
a user id, a user dict or a user object; ``Auth.exceptions.HTTPException`` becomes that
status. Authorization runs in each endpoint (:meth:`AuthPolicy.authorize`): the most
specific ``@auth.on`` handler for (resource, action) gets an ``AuthContext`` and the
request's value, may edit the value (for example stamp an owner into ``metadata``), and
answers allow (None / True), deny (False: 403) or a metadata filter. A filter hides what
does not match it: reads of such a record answer 404, searches leave it out.

With no ``auth`` in ``langgraph.json`` none of this runs and every request is allowed.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asyncgraph.server._config import ConfigError, ServerConfig, load_variable
from asyncgraph.server._errors import ApiError

__all__ = [
    "AuthMiddleware", "AuthPolicy", "AuthUser", "Filter", "authorize", "load_auth", "matches", "owned_metadata",
    "request_user", "stamp_user",
]

log = logging.getLogger("asyncgraph.server")

Filter = dict[str, Any]
"""A handler's metadata filter: ``{key: value}``, ``{key: {"$eq": v}}``, ``{key: {"$contains": v or [v, ...]}}``."""

PUBLIC_PATHS = frozenset({"/ok", "/info", "/openapi.json"})
"""Answered without authentication (health checks)."""

_SCOPE_KEY = "asyncgraph.auth_user"


class AuthUser:
    """The authenticated user, as handlers see it: attributes and dict access both work
    (``user.identity``, ``user["identity"]``), with any extra fields the authenticator
    returned."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields

    @property
    def identity(self) -> str:
        return str(self._fields["identity"])

    @property
    def display_name(self) -> str:
        return str(self._fields.get("display_name") or self.identity)

    @property
    def is_authenticated(self) -> bool:
        return bool(self._fields.get("is_authenticated", True))

    @property
    def permissions(self) -> Sequence[str]:
        return tuple(self._fields.get("permissions") or ())

    def __getattr__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: str) -> Any:
        if key in ("identity", "display_name", "is_authenticated", "permissions"):
            return getattr(self, key)
        return self._fields[key]

    def __contains__(self, key: object) -> bool:
        return key in self._fields or key in ("display_name", "is_authenticated", "permissions")

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, for the run's config (``langgraph_auth_user``)."""
        out = {k: v for k, v in self._fields.items() if _jsonable(v)}
        out.update(identity=self.identity, display_name=self.display_name,
                   is_authenticated=self.is_authenticated, permissions=list(self.permissions))
        return out

    def __repr__(self) -> str:
        return f"AuthUser(identity={self.identity!r})"


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _as_user(result: Any) -> AuthUser:
    if isinstance(result, str):
        return AuthUser({"identity": result})
    if isinstance(result, Mapping):
        if not isinstance(result.get("identity"), str) or not result["identity"]:
            raise TypeError(f"the user dict has no 'identity' string: {dict(result)!r}")
        return AuthUser(dict(result))
    identity = getattr(result, "identity", None)
    if isinstance(identity, str) and identity:
        fields = {"identity": identity}
        for name in ("display_name", "is_authenticated", "permissions"):
            if hasattr(result, name):
                fields[name] = getattr(result, name)
        return AuthUser(fields)
    raise TypeError(
        f"the authenticate handler returned {result!r}: expected a user id (str), a dict "
        "with 'identity', or an object with an 'identity' attribute"
    )


def matches(where: Filter | None, metadata: Mapping[str, Any] | None) -> bool:
    """Whether ``metadata`` satisfies every condition of a handler's filter."""
    if not where:
        return True
    meta = metadata or {}
    for key, cond in where.items():
        have = meta.get(key)
        if isinstance(cond, dict):
            for op, want in cond.items():
                if op == "$eq":
                    if have != want:
                        return False
                elif op == "$contains":
                    if not isinstance(have, (list, tuple)):
                        return False
                    wanted = want if isinstance(want, list) else [want]
                    if not all(w in have for w in wanted):
                        return False
                else:  # checked by _check_filter before use
                    return False
        elif have != cond:
            return False
    return True


def _check_filter(where: Any, handler: Callable[..., Any]) -> Filter:
    name = getattr(handler, "__qualname__", repr(handler))
    if not isinstance(where, dict) or not all(isinstance(k, str) for k in where):
        raise ApiError(500, f"auth handler {name} returned {where!r}: expected None, a bool or a metadata filter dict")
    for key, cond in where.items():
        if isinstance(cond, dict):
            bad = set(cond) - {"$eq", "$contains"}
            if bad or not cond:
                raise ApiError(500, f"auth handler {name}: filter on {key!r} uses {sorted(bad) or cond!r}; "
                                    "the operators are $eq and $contains")
    return where


def owned_metadata(where: Filter | None) -> dict[str, Any]:
    """The plain equality conditions of a filter, as metadata: what a record created on
    the user's behalf (a thread made by a run) needs to stay visible to that user."""
    out: dict[str, Any] = {}
    for key, cond in (where or {}).items():
        if not isinstance(cond, dict):
            out[key] = cond
        elif "$eq" in cond:
            out[key] = cond["$eq"]
    return out


# The parameters an authenticate handler may name, and how each is read off the request.
_INJECT: dict[str, Callable[[Request, Any], Any]] = {
    "request": lambda r, body: r,
    "body": lambda r, body: body,
    "path": lambda r, body: r.url.path,
    "method": lambda r, body: r.method,
    "path_params": lambda r, body: dict(r.path_params),
    "query_params": lambda r, body: dict(r.query_params),
    "headers": lambda r, body: {k.decode("latin-1"): v for k, v in r.scope["headers"]},
    "authorization": lambda r, body: r.headers.get("authorization"),
    "scopes": lambda r, body: list(r.scope.get("auth_scopes", ())),
}


class AuthPolicy:
    """One ``langgraph_sdk.Auth`` object, applied to the server's requests."""

    def __init__(self, auth: Any, *, source: str = "auth") -> None:
        for attr in ("_authenticate_handler", "_handlers", "_global_handlers"):
            if not hasattr(auth, attr):
                raise ConfigError(f"{source}: {auth!r} is not a langgraph_sdk.Auth object (no {attr})")
        self.auth = auth
        self.source = source
        fn = auth._authenticate_handler
        self.authenticator: Callable[..., Awaitable[Any]] | None = fn
        self.wants: tuple[str, ...] = ()
        if fn is not None:
            params = inspect.signature(fn).parameters
            unknown = [p for p in params if p not in _INJECT]
            if unknown:
                raise ConfigError(
                    f"{source}: the authenticate handler {fn.__qualname__} takes {unknown!r}; "
                    f"it may take any of {sorted(_INJECT)}"
                )
            self.wants = tuple(params)

    @property
    def needs_body(self) -> bool:
        return "body" in self.wants

    async def authenticate(self, request: Request, body: Any) -> AuthUser | None:
        """The request's user (None when there is no authenticate handler).

        Raises:
            ApiError: the handler refused (its ``HTTPException`` status) or failed (500).
        """
        if self.authenticator is None:
            return None
        kwargs = {name: _INJECT[name](request, body) for name in self.wants}
        try:
            result = self.authenticator(**kwargs)
            if inspect.isawaitable(result):
                result = await result
            return _as_user(result)
        except ApiError:
            raise
        except Exception as exc:
            status = getattr(exc, "status_code", None)
            if isinstance(status, int) and 400 <= status < 600:  # Auth.exceptions.HTTPException
                detail = getattr(exc, "detail", None) or "Unauthorized"
                raise ApiError(status, str(detail), headers=getattr(exc, "headers", None)) from exc
            log.exception("auth: the authenticate handler raised")
            raise ApiError(500, f"the authenticate handler raised {type(exc).__name__}: {exc}") from exc

    def _handler(self, resource: str, action: str) -> Callable[..., Awaitable[Any]] | None:
        handlers = self.auth._handlers
        for key in ((resource, action), (resource, "*"), ("*", action), ("*", "*")):
            found = handlers.get(key)
            if found:
                return found[-1]  # type: ignore[no-any-return]
        globals_ = self.auth._global_handlers
        return globals_[-1] if globals_ else None

    async def authorize(self, user: AuthUser | None, resource: str, action: str, value: dict[str, Any]) -> Filter | None:
        """Run the handler for (resource, action) on ``value`` (which it may edit).

        Returns the filter to apply, or None when the request is allowed as it is.

        Raises:
            ApiError: 403 when the handler says no; the handler's own ``HTTPException``.
        """
        handler = self._handler(resource, action)
        if handler is None:
            return None
        # Imported here: langgraph-sdk is not a server dependency; an auth.py that builds an
        # Auth object has it.
        from langgraph_sdk.auth.types import AuthContext

        ctx = AuthContext(
            user=user if user is not None else AuthUser({"identity": "", "is_authenticated": False}),
            permissions=list(user.permissions) if user is not None else [],
            resource=resource,  # type: ignore[arg-type]
            action=action,  # type: ignore[arg-type]
        )
        try:
            result = await handler(ctx=ctx, value=value)
        except Exception as exc:
            status = getattr(exc, "status_code", None)
            if isinstance(status, int) and 400 <= status < 600:
                raise ApiError(status, str(getattr(exc, "detail", None) or "Forbidden"),
                               headers=getattr(exc, "headers", None)) from exc
            log.exception("auth: handler %s raised", getattr(handler, "__qualname__", handler))
            raise ApiError(500, f"auth handler for {resource}.{action} raised {type(exc).__name__}: {exc}") from exc
        if result is None or result is True:
            return None
        if result is False:
            raise ApiError(403, f"Forbidden: not allowed to {action} {resource}")
        return _check_filter(result, handler)


def load_auth(cfg: ServerConfig) -> AuthPolicy | None:
    """The policy ``langgraph.json``'s ``auth.path`` names, or None without one."""
    section = cfg.raw.get("auth")
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ConfigError("'auth' must be an object with a 'path' (\"./auth.py:my_auth\")")
    location = section.get("path")
    if location is None:
        return None  # e.g. only 'disable_studio_auth': nothing to enforce
    if not isinstance(location, str):
        raise ConfigError(f"auth.path must be a string like './auth.py:my_auth', got {location!r}")
    return AuthPolicy(load_variable("auth", location, cfg.base_dir, "auth"), source=f"auth.path {location!r}")


def request_user(request: Request) -> AuthUser | None:
    """The user the middleware authenticated for this request (None without auth)."""
    return request.scope.get(_SCOPE_KEY)  # type: ignore[no-any-return]


class AuthMiddleware:
    """Authenticates each HTTP request before it reaches a route (pure ASGI, so streamed
    responses pass through untouched). Refusals answer ``{"detail": ...}`` as the API does."""

    def __init__(self, app: ASGIApp, policy: AuthPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        body: Any = None
        if self.policy.needs_body:
            raw = await request.body()  # cached on the scope-less Request; replayed below
            try:
                body = json.loads(raw) if raw.strip() else None
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = None
            receive = _replay(raw)
        try:
            user = await self.policy.authenticate(request, body)
        except ApiError as exc:
            await _refuse(send, exc)
            return
        scope[_SCOPE_KEY] = user
        await self.app(scope, receive, send)


def _replay(raw: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _refuse(send: Send, exc: ApiError) -> None:
    body = json.dumps({"detail": exc.detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    for k, v in (exc.headers or {}).items():
        headers.append((k.lower().encode("latin-1"), str(v).encode("latin-1")))
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def authorize(request: Request, resource: str, action: str, value: dict[str, Any]) -> Filter | None:
    """The app's policy applied to this request (None, at no cost, when auth is off)."""
    policy: AuthPolicy | None = request.app.state.auth
    if policy is None:
        return None
    return await policy.authorize(request_user(request), resource, action, value)


AUTH_CONFIG_KEYS = ("langgraph_auth_user", "langgraph_auth_user_id", "langgraph_auth_permissions")
"""Where a run's graph finds its caller (``config["configurable"]``), as in LangGraph."""


def stamp_user(request: Request, body: dict[str, Any]) -> None:
    """Put the caller into the run's ``config["configurable"]``; a client's own values for
    those keys are dropped, so nobody can claim another user's identity."""
    config = body.get("config")
    if config is not None and not isinstance(config, dict):
        return  # the run service refuses it with its own message
    configurable = (config or {}).get("configurable")
    if configurable is not None and not isinstance(configurable, dict):
        return
    clean = {k: v for k, v in (configurable or {}).items() if k not in AUTH_CONFIG_KEYS}
    user = request_user(request)
    if user is not None:
        clean.update(
            langgraph_auth_user=user.to_dict(),
            langgraph_auth_user_id=user.identity,
            langgraph_auth_permissions=list(user.permissions),
        )
    if clean or configurable is not None:
        body["config"] = {**(config or {}), "configurable": clean}
