"""``MISSING``: a channel with no value (distinct from a stored ``None``).

Defined below every package (it imports nothing) so that the checkpoint layer can test
for it without importing the channels; public as ``asyncgraph.channels.base.MISSING``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MISSING"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()
"""Marks a channel with no value (distinct from a stored ``None``)."""
