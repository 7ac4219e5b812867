"""Named concurrency limits shared by every run of a compiled graph.

``add_node("llm", f, limit="anthropic")`` + ``compile(limits={"anthropic": 8})``: at most
8 instances of the nodes using that limit run at once, across all concurrent runs in the
process (per event loop; the sync API gives each calling thread its own loop).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping


class Limiters:
    """Semaphores by limit name, made lazily for each event loop that uses them."""

    __slots__ = ("sizes", "_by_loop")

    def __init__(self, sizes: Mapping[str, int]) -> None:
        for name, size in sizes.items():
            if not isinstance(size, int) or size < 1:
                raise ValueError(f"limit '{name}' must be a positive int, got {size!r}")
        self.sizes = dict(sizes)
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, name: str) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sems = self._by_loop.get(loop)
        if sems is None:
            sems = self._by_loop[loop] = {}
        sem = sems.get(name)
        if sem is None:
            sem = sems[name] = asyncio.Semaphore(self.sizes[name])
        return sem
