"""``get_graph()``: the compiled graph's structure as a langchain-core ``Graph``."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables.graph import Graph

from asyncgraph.constants import END, START


def draw_graph(compiled: Any, *, xray: int | bool = False) -> Graph:
    """Nodes: START, every node, END. Edges: plain ones solid, conditional ones dashed
    (with their path-map key as label when it differs from the target)."""
    builder = compiled.builder
    graph = Graph()
    nodes: dict[str, Any] = {}
    nodes[START] = graph.add_node(None, START)
    for name, spec in builder.nodes.items():
        metadata = dict(spec.metadata or {})
        nodes[name] = graph.add_node(None, name, metadata=metadata or None)
    edges: set[tuple[str, str, str | None, bool]] = set()
    for s, t in builder._edge_order:
        edges.add((s, t, None, False))
    for sources, t in builder.waiting_edges:
        for s in sources:
            edges.add((s, t, None, False))
    for s, branches in builder.branches.items():
        for branch in branches.values():
            targets = branch.targets()
            if branch.path_map is not None:
                for key, t in branch.path_map.items():
                    label = str(key) if str(key) != t else None
                    edges.add((s, t, label, True))
            elif targets:
                for t in targets:
                    edges.add((s, t, None, True))
            else:  # unknown: could go anywhere
                for t in [*builder.nodes, END]:
                    if t != s:
                        edges.add((s, t, None, True))
    for name, spec in builder.nodes.items():
        for t in spec.destinations:
            edges.add((name, t, None, True))
    if any(e[1] == END for e in edges):
        nodes[END] = graph.add_node(None, END)
    # Nodes with no way out end the run.
    outgoing = {e[0] for e in edges}
    for name in builder.nodes:
        if name not in outgoing:
            edges.add((name, END, None, False))
            if END not in nodes:
                nodes[END] = graph.add_node(None, END)
    for s, t, label, conditional in _drawing_order(edges):
        if s in nodes and t in nodes:
            graph.add_edge(nodes[s], nodes[t], label, conditional)
    return graph


def _drawing_order(
    edges: set[tuple[str, str, str | None, bool]],
) -> list[tuple[str, str, str | None, bool]]:
    """LangGraph's order, so drawings (and snapshot tests of them) match: plain edges out of
    START first, then the rest sorted, then plain edges into END."""

    def key(e: tuple[str, str, str | None, bool]) -> tuple[str, str, bool, str]:
        return (e[0], e[1], e[3], e[2] or "")

    first = sorted((e for e in edges if e[0] == START and not e[3]), key=key)
    last = sorted((e for e in edges if e[1] == END and not e[3]), key=key)
    middle = sorted((e for e in edges if e not in first and e not in last), key=key)
    return first + middle + last
