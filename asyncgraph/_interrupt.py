"""``Interrupt``, defined below ``errors`` and the task context, which both build it.

Public path: :class:`asyncgraph.types.Interrupt` (re-exported there; ``__module__`` says
so, which is also the name stored in checkpoints).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

from asyncgraph.warnings import LangGraphDeprecatedSinceV10

__all__ = ["Interrupt"]


@dataclasses.dataclass(slots=True)
class Interrupt:
    """A pause requested by :func:`interrupt`, surfaced to the caller.

    Attributes:
        value: what the node passed to ``interrupt()``, shown to the human.
        id: identifies this interrupt when resuming several at once with
            ``Command(resume={id: value, ...})``.
        response_schema: the JSON Schema of the answer expected, if the node gave
            ``interrupt(..., response_schema=...)``, for clients to render a form.
    """

    value: Any
    id: str = ""
    response_schema: dict[str, Any] | None = None

    @property
    def interrupt_id(self) -> str:
        """Deprecated name of :attr:`id` (warns)."""
        warnings.warn("`interrupt_id` is deprecated. Use `id` instead.", LangGraphDeprecatedSinceV10, stacklevel=2)
        return self.id


# Its public home: the module users import it from and checkpoints store it under.
Interrupt.__module__ = "asyncgraph.types"
