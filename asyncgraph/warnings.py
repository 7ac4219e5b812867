"""Deprecation warning categories, under LangGraph's names.

A deprecated argument or import warns with one of these, so a filter written for LangGraph
(``warnings.filterwarnings("ignore", category=LangGraphDeprecatedSinceV10)``) keeps
working. All are ``DeprecationWarning`` subclasses; ``str(w)`` says since when and until
when the old form is accepted.
"""

from __future__ import annotations

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
    """Deprecated since the v1.1 API, accepted until v2.0."""

    def __init__(self, message: str, *args: object) -> None:
        super().__init__(message, *args, since=(1, 1), expected_removal=(2, 0))
