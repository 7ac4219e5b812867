"""The one error the services raise for bad requests; the HTTP layer turns it into a 4xx."""

from __future__ import annotations

__all__ = ["ApiError"]


class ApiError(Exception):
    """A request the server refuses: ``status`` is the HTTP status, ``detail`` says why.

    The body on the wire is ``{"detail": ...}``, which ``langgraph_sdk`` reads into the
    message of its typed errors (``NotFoundError``, ``ConflictError``...).
    """

    def __init__(self, status: int, detail: str, *, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.detail = detail
        self.headers = headers  # extra response headers (an auth refusal's WWW-Authenticate)
        super().__init__(f"{status}: {detail}")


def not_found(kind: str, ident: str) -> ApiError:
    return ApiError(404, f"{kind} {ident!r} not found")
