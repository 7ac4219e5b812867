"""A marker so the builder can recognise compiled graphs without importing the engine.

The engine's facade (``pregel/main.py``) imports langchain-core's Runnable machinery,
which costs ~0.5 s of import time; the builder must not pay that just to ask
"is this a compiled graph?".
"""

from __future__ import annotations

from typing import Any


class PregelMarker:
    """Mixed into the compiled-graph class; carries nothing."""

    __slots__ = ()


def is_pregel(obj: Any) -> bool:
    return isinstance(obj, PregelMarker)
