"""``get_graph()``: the compiled graph's structure as a langchain-core ``Graph``.

Drawn at ``get_graph()`` time only; nothing here runs while a graph runs.

A graph's edges are not all declared: which node follows which depends on the run.
The drawing finds them the way LangGraph's does, so that drawings (and tools or
snapshot tests that read them) are the same on both: it runs the graph's plan on the
engine's own step functions (``_algo``) without calling any node. Each node, when
"run", writes what it writes on every run (its plain edges and join memberships) and,
the first time only, every destination it declares but chooses at run time (the
targets of a conditional edge whose path map is given or read from a ``-> Literal[...]``
annotation, and a ``Command[Literal[...]]`` node's ``destinations``). A node
triggered next is joined by an edge to every node that wrote one of its triggers
(dashed when the write was such a declared one); a node that no write of the step
before explains (a deferred node opening at the end of the run) is joined, dashed, to
every node of that step. Conditional edges with nothing declared (no path map, no
``Literal``) and ``Send`` packets cannot be followed: the drawing stops there.
Finally nodes that lead nowhere get a solid edge to ``__end__``; if every node leads
somewhere and nothing reaches ``__end__``, a lone node of the last simulated step
gets a dashed one.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, Literal, get_args, get_origin

from langchain_core.runnables import Runnable
from langchain_core.runnables.graph import Graph

from asyncgraph._internal._runnable import RunnableCallable
from asyncgraph.channels.last_value import LastValueAfterFinish
from asyncgraph.constants import END, START
from asyncgraph.pregel._algo import PULL, RunState, Task, apply_input, apply_writes, triggered_nodes
from asyncgraph.pregel._plan import NodePlan, Plan, branch_channel
from asyncgraph.pregel._protocol import is_pregel

# A graph with a loop that no declared write closes (plain edges in a cycle) is
# followed this many steps (LangGraph's limit, so cyclic drawings agree).
STEP_LIMIT = 250

# (source, target, conditional, label)
_Edge = tuple[str, str, bool, "str | None"]
# What a node wrote in one step, as seen by the nodes it triggers: (channel,
# conditional, label).
_Mark = tuple[str, bool, "str | None"]


class Drawing(Graph):
    """langchain-core's ``Graph``, whose JSON names asyncgraph's node runnables by
    LangGraph's class paths (``["langgraph", "_internal", "_runnable",
    "RunnableCallable"]``), as LangGraph's drawing of the same graph does: clients of
    the graph JSON (the server's ``/assistants/{id}/graph``) see the same ids."""

    def to_json(self, *, with_schemas: bool = False) -> dict[str, list[dict[str, Any]]]:
        out = super().to_json(with_schemas=with_schemas)
        for node, data in zip(self.nodes.values(), out["nodes"]):
            inner = data.get("data")
            if isinstance(inner, dict) and isinstance(node.data, Runnable):
                ident = inner.get("id")
                if isinstance(ident, list) and ident and ident[0] == "asyncgraph":
                    inner["id"] = _langgraph_id(type(node.data), ident)
        return out


# Our classes that LangGraph keeps elsewhere (or under another name); the rest are at
# the same path in both packages.
_LANGGRAPH_IDS = {
    "asyncgraph.pregel.main.CompiledStateGraph": ["langgraph", "graph", "state", "CompiledStateGraph"],
    "asyncgraph.prebuilt._tool_node.ToolNode": ["langgraph", "prebuilt", "tool_node", "ToolNode"],
    "asyncgraph.func._entrypoint.EntrypointGraph": ["langgraph", "pregel", "main", "Pregel"],
}


def _langgraph_id(cls: type, ident: list[str]) -> list[str]:
    found = _LANGGRAPH_IDS.get(f"{cls.__module__}.{cls.__qualname__}")
    return list(found) if found is not None else ["langgraph", *ident[1:]]


def draw_graph(compiled: Any, *, xray: int | bool = False) -> Graph:
    """The drawing of ``compiled`` (a compiled StateGraph or low-level ``Pregel``).

    ``xray``: draw subgraphs' nodes in place of the subgraph node, ``True`` all levels
    down, a number that many levels.
    """
    plan: Plan = compiled.plan
    declared = _declared_writes(compiled)
    trace = _simulate(plan, declared)
    graph = Drawing()
    runnables = _node_runnables(compiled)
    for name, node in plan.nodes.items():
        graph.add_node(runnables.get(name), name, metadata=_metadata(compiled, name, node, trace))
    if START not in plan.nodes:  # a low-level graph: its input starts the first nodes
        graph.add_node(None, START)
        for name in trace.first:
            _add_edge(graph, START, name)
    for src, dst, conditional, label in sorted(trace.edges, key=_edge_key):
        _add_edge(graph, src, dst, label=label if label != dst else None, conditional=conditional)
    sources = {e[0] for e in trace.edges}
    termini = sorted({e[1] for e in trace.edges if e[1] != END} - sources)
    if termini:
        for name in termini:
            _add_edge(graph, name, END)
    elif len(trace.last) == 1 and not any(e[1] == END for e in trace.edges):
        _add_edge(graph, trace.last[0], END, conditional=True)
    if xray:
        _expand_subgraphs(compiled, graph, xray)
    return graph


def _edge_key(edge: _Edge) -> tuple[str, str, bool, str]:
    # Labels compare as strings: an unlabelled and a labelled edge between the same
    # nodes would not sort otherwise.
    return (edge[0], edge[1], edge[2], edge[3] or "")


def _add_edge(graph: Graph, source: str, target: str, *, label: str | None = None,
              conditional: bool = False) -> None:
    """Add one edge; the first edge drawn between two nodes is the one kept."""
    for edge in graph.edges:
        if edge.source == source and edge.target == target:
            return
    if target == END and END not in graph.nodes:
        graph.add_node(None, END)
    graph.add_edge(graph.nodes[source], graph.nodes[target], label, conditional)


# -- what each node declares ---------------------------------------------------------


def _declared_writes(compiled: Any) -> dict[str, tuple[tuple[str, str | None], ...]]:
    """Per node: the destinations it may choose at run time and declares, as
    ``(trigger channel or END, label)``: its ``Command`` destinations first, then its
    conditional edges' targets in the order they were added."""
    builder = compiled.builder
    out: dict[str, tuple[tuple[str, str | None], ...]] = {}
    specs = getattr(builder, "nodes", None) or {}
    branches = getattr(builder, "branches", None) or {}
    for name in compiled.plan.nodes:
        found: list[tuple[str, str | None]] = []
        spec = specs.get(name)
        destinations = getattr(spec, "destinations", None)
        if destinations:
            labels = getattr(spec, "destination_labels", None) or {}
            found.extend((d, labels.get(d)) for d in destinations)
        for branch in (branches.get(name) or {}).values():
            ends = branch_ends(branch.path_map, branch.call.func)
            if ends:
                found.extend((t, str(key)) for key, t in ends.items())
        # A ``Literal`` naming no node is not checked at compile: it is not drawn.
        targets = tuple(
            (END if t == END else branch_channel(t), label)
            for t, label in found
            if t == END or (t in compiled.plan.nodes and t != START)
        )
        if targets:
            out[name] = targets
    return out


def branch_ends(path_map: Mapping[Hashable, str] | None, path: Any) -> Mapping[Hashable, str] | None:
    """Where a conditional edge may lead, if known before it runs: its path map, or
    else the values of its path function's ``-> Literal[...]`` return annotation."""
    if path_map is not None:
        return path_map
    func = path
    if isinstance(path, Runnable):  # a RunnableLambda / RunnableCallable: its function
        func = getattr(path, "func", None) or getattr(path, "afunc", None)
    if func is None:
        return None
    try:
        ret = typing.get_type_hints(func).get("return")
    except Exception:  # noqa: BLE001  (an unresolvable annotation only costs the drawing)
        return None
    if get_origin(ret) is not Literal:
        return None
    return {value: value for value in get_args(ret)}


# -- the simulation ------------------------------------------------------------------


@dataclasses.dataclass
class _Trace:
    edges: set[_Edge]
    first: list[str]  # the nodes of the first step
    last: list[str]  # the nodes of the last step
    deferred: set[str]  # nodes whose trigger opens only at the end of a run


def _simulate(plan: Plan, declared: Mapping[str, tuple[tuple[str, str | None], ...]]) -> _Trace:
    run = RunState(plan)
    apply_input(run, {})
    edges: set[_Edge] = set()
    ran: set[str] = set()
    # What each node wrote the last time it ran (a node that ran earlier still
    # explains a trigger it wrote until a node triggered by that is drawn).
    marks: dict[str, set[_Mark]] = {}
    deferred = {
        key.split(":", 2)[-1] for key, ch in plan.channels.items() if isinstance(ch, LastValueAfterFinish)
    }
    nodes = triggered_nodes(plan, run)
    first = [n.name for n in nodes]
    step_marks: dict[str, set[_Mark]] = {}
    for _ in range(STEP_LIMIT + 1):
        if not nodes:
            break
        tasks = []
        step_marks = {}
        for node in nodes:
            task = Task(node, None, PULL, 0, _available(run, node.triggers))
            step_marks[node.name] = _run(plan, node, task, declared.get(node.name, ()), node.name not in ran, edges)
            ran.add(node.name)
            tasks.append(task)
        marks.update(step_marks)
        writers: dict[str, set[tuple[str, bool, str | None]]] = {}
        for src, written in marks.items():
            for chan, conditional, label in written:
                writers.setdefault(chan, set()).add((src, conditional, label))
        try:
            apply_writes(plan, run, tasks)
        except Exception:  # noqa: BLE001  (a low-level reducer refusing no value: stop here)
            break
        nodes = triggered_nodes(plan, run)
        for node in nodes:
            explained = False
            for trigger in node.triggers:
                for src, conditional, label in sorted(writers.get(trigger, ()), key=_writer_key):
                    edges.add((src, node.name, conditional, label))
                    if (trigger, conditional, label) in step_marks.get(src, ()):
                        explained = True
                    else:  # drawn now: an older write triggers nothing more
                        marks[src].discard((trigger, conditional, label))
            if not explained:
                for src in step_marks:
                    edges.add((src, node.name, True, None))
    return _Trace(edges, first, list(step_marks), deferred)


def _writer_key(w: tuple[str, bool, str | None]) -> tuple[str, bool, str]:
    return (w[0], w[1], w[2] or "")


def _available(run: RunState, triggers: Iterable[str]) -> tuple[str, ...]:
    out = []
    for t in triggers:
        ch = run.channels.get(t)
        if ch is not None and ch.is_available():
            out.append(t)
    return tuple(out)


def _run(
    plan: Plan,
    node: NodePlan,
    task: Task,
    declared: tuple[tuple[str, str | None], ...],
    first: bool,
    edges: set[_Edge],
) -> set[_Mark]:
    """"Run" ``node``: fill ``task.writes`` and return its marks. Declared
    destinations are written on the node's first run only (so loops end); one that is
    END becomes an edge at once."""
    task.writes.extend(node.after)
    if node.write is not None:  # a low-level node: what its writers make of no output
        try:
            node.write(task, None)
        except Exception:  # noqa: BLE001  (a writer that needs a real value: no writes)
            pass
        task.writes[:] = [w for w in task.writes if w[0] in plan.channels]
    chosen: dict[str, str | None] = {}
    if first:
        for target, label in declared:
            if target == END:
                edges.add((node.name, END, True, label))
            else:
                chosen[target] = label
                task.writes.append((target, None))
    marks: set[_Mark] = set()
    for chan, value in task.writes:
        if value is None and chan in chosen:
            marks.add((chan, True, chosen[chan]))
        else:
            marks.add((chan, False, None))
    marks.update((t, True, label) for t, label in declared if t != END)
    return marks


# -- nodes ---------------------------------------------------------------------------


def _start(value: Any) -> Any:
    return value


def _node_runnables(compiled: Any) -> dict[str, Any]:
    """Each node's runnable, as ``graph.nodes[name].data``: a Runnable or subgraph as
    given, a function wrapped in a ``RunnableCallable``."""
    out: dict[str, Any] = {}
    nodes = compiled.nodes
    for name, node in compiled.plan.nodes.items():
        pregel_node = nodes.get(name)
        if pregel_node is not None:
            out[name] = pregel_node.bound
        elif node.call is None:
            out[name] = RunnableCallable(_start, name=name)
        elif isinstance(node.call.func, Runnable) or is_pregel(node.call.func):
            out[name] = node.call.func
        elif node.call.kind == "async":
            out[name] = RunnableCallable(None, node.call.func, name=name)
        else:
            out[name] = RunnableCallable(node.call.func, name=name)
    return out


def _metadata(compiled: Any, name: str, node: NodePlan, trace: _Trace) -> dict[str, Any] | None:
    metadata = dict(node.metadata or {})
    if name in trace.deferred:
        metadata["defer"] = True
    # As LangGraph's: a "*" (all nodes) given at compile marks none.
    before = compiled.interrupt_before_nodes != "*" and name in compiled.plan.interrupt_before
    after = compiled.interrupt_after_nodes != "*" and name in compiled.plan.interrupt_after
    if before or after:
        metadata["__interrupt"] = ",".join(w for w, on in (("before", before), ("after", after)) if on)
    return metadata or None


# -- subgraphs (xray) ----------------------------------------------------------------


def _expand_subgraphs(compiled: Any, graph: Graph, xray: int | bool) -> None:
    """Draw each subgraph's nodes (prefixed ``name:``) in place of its node, without
    its own ``__start__`` / ``__end__``; edges into and out of the node go to the
    subgraph's first and last nodes."""
    depth: int | bool = xray if isinstance(xray, bool) or xray <= 0 else xray - 1
    for name, sub in compiled.get_subgraphs():
        drawing = sub.get_graph(xray=depth)
        if len(drawing.nodes) <= 1 or name not in graph.nodes:
            continue
        if drawing.first_node() is None or drawing.last_node() is None:
            continue
        drawing.trim_first_node()
        drawing.trim_last_node()
        graph.nodes.pop(name)
        first, last = graph.extend(drawing, prefix=name)
        for i, edge in enumerate(graph.edges):
            if edge.source == name and last is not None:
                edge = edge.copy(source=last.id)
            if edge.target == name and first is not None:
                edge = edge.copy(target=first.id)
            graph.edges[i] = edge
