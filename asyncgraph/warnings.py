"""Deprecation warning categories, under LangGraph's names.

A deprecated argument or import warns with one of these, so a filter written for LangGraph
(``warnings.filterwarnings("ignore", category=LangGraphDeprecatedSinceV10)``) keeps
working. All are ``DeprecationWarning`` subclasses; ``str(w)`` says since when and until
when the old form is accepted.
"""

from __future__ import annotations

import sys
import warnings

__all__ = [
    "LangGraphDeprecatedSinceV05",
    "LangGraphDeprecatedSinceV10",
    "LangGraphDeprecatedSinceV11",
    "LangGraphDeprecationWarning",
]


class LangGraphDeprecationWarning(DeprecationWarning):
    """A deprecated form that still works. ``since`` and ``expected_removal`` are
    ``(major, minor)`` versions of the LangGraph API."""

    message: str
    since: tuple[int, int]
    expected_removal: tuple[int, int]

    def __init__(
        self, message: str, *args: object, since: tuple[int, int], expected_removal: tuple[int, int] | None = None
    ) -> None:
        super().__init__(message, *args)
        self.message = message.rstrip(".")
        self.since = since
        self.expected_removal = expected_removal or (since[0] + 1, 0)

    def __str__(self) -> str:
        (a, b), (c, d) = self.since, self.expected_removal
        return f"{self.message}. Deprecated in LangGraph V{a}.{b} to be removed in V{c}.{d}."


class LangGraphDeprecatedSinceV05(LangGraphDeprecationWarning):
    """Deprecated since the v0.5 API, accepted until v2.0."""

    def __init__(self, message: str, *args: object) -> None:
        super().__init__(message, *args, since=(0, 5), expected_removal=(2, 0))


class LangGraphDeprecatedSinceV10(LangGraphDeprecationWarning):
    """Deprecated since the v1.0 API, accepted until v2.0."""

    def __init__(self, message: str, *args: object) -> None:
        super().__init__(message, *args, since=(1, 0), expected_removal=(2, 0))


class LangGraphDeprecatedSinceV11(LangGraphDeprecationWarning):
    """Deprecated since the v1.1 API, accepted until v3.0."""

    def __init__(self, message: str, *args: object) -> None:
        super().__init__(message, *args, since=(1, 1), expected_removal=(3, 0))


def _import_path(path: str) -> str:
    """``path`` (``asyncgraph.X``) spelled as the user's code imports it.

    While asyncgraph stands in for LangGraph (``install_as_langgraph()``, or any import
    alias that maps the ``langgraph`` package onto asyncgraph's), code imports
    ``langgraph.X``, so a message that names a module says ``langgraph.X``.
    """
    top, own = sys.modules.get("langgraph"), sys.modules.get("asyncgraph")
    if top is None or own is None:
        return path
    if top is own or list(getattr(top, "__path__", ())) == list(getattr(own, "__path__", ())):
        return "langgraph" + path.removeprefix("asyncgraph")
    return path


def _renamed(old: str, new: str, category: type[LangGraphDeprecationWarning], *, stacklevel: int = 3) -> None:
    """Warn that the keyword argument ``old`` is the deprecated name of ``new``.

    ``stacklevel`` counts from the caller of this function (3: the caller's caller).
    """
    warnings.warn(
        f"`{old}` is deprecated and will be removed. Please use `{new}` instead.",
        category,
        stacklevel=stacklevel,
    )
