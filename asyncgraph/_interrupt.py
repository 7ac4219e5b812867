"""``Interrupt``, defined below ``errors`` and the task context, which both build it.

Public path: :class:`asyncgraph.types.Interrupt` (re-exported there; ``__module__`` says
so, which is also the name stored in checkpoints).
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from typing import Any

from asyncgraph.warnings import LangGraphDeprecatedSinceV10

__all__ = ["Interrupt"]


@dataclasses.dataclass(slots=True, init=False)
class Interrupt:
    """A pause requested by :func:`interrupt`, surfaced to the caller.

    Attributes:
        value: what the node passed to ``interrupt()``, shown to the human.
        id: identifies this interrupt when resuming several at once with
            ``Command(resume={id: value, ...})``.
        response_schema: the JSON Schema of the answer expected, if the node gave
            ``interrupt(..., response_schema=...)``, for clients to render a form.

    LangGraph before 0.6 built interrupts with ``ns=[...]``, ``when=`` and
    ``resumable=`` (still found in old checkpoints): those are accepted, and without an
    ``id`` the id is derived from ``ns`` as LangGraph derives it (see :meth:`from_ns`).
    """

    value: Any
    id: str = ""
    response_schema: dict[str, Any] | None = None

    def __init__(
        self, value: Any, id: str = "", response_schema: dict[str, Any] | None = None, **legacy: Any
    ) -> None:
        self.value = value
        self.response_schema = response_schema
        if legacy:
            unknown = set(legacy) - _LEGACY_FIELDS
            if unknown:
                raise TypeError(f"Interrupt() got unexpected keyword argument(s): {', '.join(sorted(unknown))}")
            ns = legacy.get("ns")
            if not id and isinstance(ns, (list, tuple)):
                id = namespace_id("|".join(ns))
        self.id = id

    @classmethod
    def from_ns(cls, value: Any, ns: str, *, response_schema: dict[str, Any] | None = None) -> Interrupt:
        """The interrupt LangGraph raises first in the task whose namespace is ``ns``."""
        return cls(value, namespace_id(ns), response_schema)

    @property
    def interrupt_id(self) -> str:
        """Deprecated name of :attr:`id` (warns)."""
        warnings.warn("`interrupt_id` is deprecated. Use `id` instead.", LangGraphDeprecatedSinceV10, stacklevel=2)
        return self.id


_LEGACY_FIELDS = frozenset({"ns", "when", "resumable", "interrupt_id"})


def namespace_id(ns: str) -> str:
    """LangGraph's interrupt id for a task namespace: the XXH3-128 hex digest of it.

    Used for interrupts stored by LangGraph before 0.6 (which kept only their namespace).
    Without the ``xxhash`` package (installed wherever LangGraph is) a BLAKE2b digest of
    the same size stands in: stable, but not LangGraph's value.
    """
    try:
        from xxhash import xxh3_128_hexdigest  # optional; loaded on first use
    except ImportError:
        return hashlib.blake2b(ns.encode(), digest_size=16).hexdigest()
    return str(xxh3_128_hexdigest(ns.encode()))


# Its public home: the module users import it from and checkpoints store it under.
Interrupt.__module__ = "asyncgraph.types"
