"""A token-per-user auth for the tests: "Bearer <name>" is user <name>; "admin" may delete
assistants, nobody else may. Threads, runs and crons belong to who made them; store items
live under the user's own namespace."""

from __future__ import annotations

from typing import Any

from langgraph_sdk import Auth

auth = Auth()

USERS = {"alice": ["read", "write"], "bob": ["read", "write"], "admin": ["read", "write", "admin"]}


@auth.authenticate
async def authenticate(authorization: str | None, method: str, path: str) -> Auth.types.MinimalUserDict:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or token not in USERS:
        raise Auth.exceptions.HTTPException(status_code=401, detail=f"bad token for {method} {path}")
    return {"identity": token, "display_name": token.title(), "permissions": USERS[token]}


@auth.on
async def owner_only(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str]:
    # Stamp the owner into what is created, and see only what one owns.
    metadata = value.get("metadata") if isinstance(value, dict) else None
    if isinstance(metadata, dict):
        metadata["owner"] = ctx.user.identity
    return {"owner": ctx.user.identity}


@auth.on.assistants
async def assistants(ctx: Auth.types.AuthContext, value: Any) -> bool:
    # Everyone may use the graphs' assistants; only an admin may delete one.
    return ctx.resource == "assistants" and (ctx.action != "delete" or "admin" in ctx.permissions)


@auth.on.store()
async def own_namespace(ctx: Auth.types.AuthContext, value: Any) -> None:
    value["namespace"] = (ctx.user.identity, *value["namespace"])
