"""The graphs a server serves: loaded once from ``langgraph.json``, wired to its saver and store."""

from __future__ import annotations

import uuid
from typing import Any

from asyncgraph.server._config import ConfigError, ServerConfig, materialize

__all__ = ["GraphRegistry", "system_assistant_id"]

_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")


def system_assistant_id(graph_id: str) -> str:
    """The stable id of the assistant created for ``graph_id`` at start-up."""
    return str(uuid.uuid5(_NAMESPACE, graph_id))


class GraphRegistry:
    """Graph id -> the object named in ``langgraph.json``, and compiled graphs built from it."""

    def __init__(self, config: ServerConfig, *, checkpointer: Any, store: Any) -> None:
        self.config = config
        self.checkpointer = checkpointer
        self.store = store
        self._objects: dict[str, Any] = {}
        self._static: dict[str, Any] = {}

    @property
    def graph_ids(self) -> list[str]:
        return list(self.config.graphs)

    def load_all(self) -> None:
        """Import every graph now, so a broken one fails start-up with its id in the message."""
        for graph_id, spec in self.config.graphs.items():
            self._objects[graph_id] = spec.load_object()

    async def get(self, graph_id: str, config: dict[str, Any] | None = None) -> Any:
        """A compiled graph for ``graph_id`` using the server's checkpointer and store.

        Compiled graphs and builders are built once; a factory is called per run with the
        run's config.
        """
        if graph_id not in self.config.graphs:
            raise KeyError(graph_id)
        if graph_id in self._static:
            return self._static[graph_id]
        spec = self.config.graphs[graph_id]
        obj = self._objects.get(graph_id)
        if obj is None:
            obj = self._objects[graph_id] = spec.load_object()
        graph = await materialize(
            spec, obj, config or {}, checkpointer=self.checkpointer, store=self.store
        )
        if not hasattr(graph, "astream"):
            raise ConfigError(f"graph {graph_id!r}: {spec.location!r} did not give a graph")
        is_factory = not (hasattr(obj, "astream") or hasattr(obj, "compile"))
        if not is_factory:
            self._static[graph_id] = graph
        return graph
