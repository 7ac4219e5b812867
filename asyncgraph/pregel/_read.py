"""``graph.nodes[name]``: a compiled graph's node, as a Runnable of its own.

``bound`` is what the node runs (a Runnable as given, a function wrapped in a
``RunnableCallable``); calling the node calls ``bound`` with the given input, outside
any graph run (no state channels are read or written).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig

from asyncgraph._internal._runnable import RunnableCallable
from asyncgraph.pregel._plan import NodePlan


class PregelNode(Runnable[Any, Any]):
    """One node of a compiled graph (LangGraph's ``PregelNode``, read-only here)."""

    def __init__(self, plan: NodePlan, action: Any) -> None:
        self.name = plan.name
        self.triggers: Sequence[str] = plan.triggers
        self.channels: Sequence[str] = plan.reads
        self.metadata: Mapping[str, Any] = dict(plan.metadata or {})
        self.retry_policy = plan.retry
        self.cache_policy = plan.cache
        if isinstance(action, Runnable):
            self.bound: Runnable[Any, Any] = action
        elif plan.call is not None and plan.call.kind == "async":
            self.bound = RunnableCallable(None, action, name=plan.name)
        else:
            self.bound = RunnableCallable(action, name=plan.name)

    def __repr__(self) -> str:
        return f"PregelNode({self.name!r}, bound={self.bound!r})"

    def copy(self, update: Mapping[str, Any] | None = None) -> PregelNode:
        """A shallow copy of this node with the attributes in ``update`` replaced."""
        new = copy.copy(self)
        for k, v in (update or {}).items():
            setattr(new, k, v)
        return new

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self.bound.invoke(input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self.bound.ainvoke(input, config, **kwargs)
