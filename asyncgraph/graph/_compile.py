"""Validation and lowering of a :class:`StateGraph` to an execution :class:`Plan`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from asyncgraph.channels.ephemeral_value import EphemeralValue
from asyncgraph.channels.last_value import LastValueAfterFinish
from asyncgraph.channels.named_barrier_value import NamedBarrierValue, NamedBarrierValueAfterFinish
from asyncgraph.channels.topic import Topic
from asyncgraph.constants import DEFAULT_ERROR_HANDLER, END, START, TASKS
from asyncgraph.errors import InvalidGraphError
from asyncgraph.pregel._spec import NodeSpec, is_sync_target, sync_timeout_unsupported
from asyncgraph.pregel._plan import (
    BranchPlan,
    NodePlan,
    Plan,
    branch_channel,
    join_channel,
)

if TYPE_CHECKING:
    from asyncgraph.graph.state import StateGraph
    from asyncgraph.pregel._schema import SchemaInfo
    from asyncgraph.pregel.main import CompiledStateGraph


def with_defaults(graph: StateGraph[Any, Any, Any, Any]) -> dict[str, NodeSpec]:
    """The graph's nodes with ``set_node_defaults()`` applied (the builder's own specs
    are left as they are): a node's own setting wins; retry and timeout defaults apply
    to every node, cache and error-handler defaults to ordinary nodes only.

    Raises:
        InvalidGraphError: a default error handler is set and a node is already named
            ``__default_error_handler__``.
    """
    d = graph.node_defaults
    if d.retry_policy is None and d.cache_policy is None and d.error_handler is None and d.timeout is None:
        return graph.nodes
    specs: dict[str, NodeSpec] = {}
    default_handler: str | None = None
    if d.error_handler is not None:
        if DEFAULT_ERROR_HANDLER in graph.nodes:
            raise InvalidGraphError(
                f"set_node_defaults(error_handler=...) adds the node `{DEFAULT_ERROR_HANDLER}`, "
                "but the graph already has a node of that name"
            )
        default_handler = DEFAULT_ERROR_HANDLER
        specs[DEFAULT_ERROR_HANDLER] = NodeSpec.error_handler_node(
            DEFAULT_ERROR_HANDLER, d.error_handler, graph.state_schema)
    for name, spec in graph.nodes.items():
        ordinary = not spec.is_error_handler
        specs[name] = dataclasses.replace(
            spec,
            retry_policy=spec.retry_policy or d.retry_policy,
            timeout=spec.timeout or d.timeout,
            cache_policy=spec.cache_policy or (d.cache_policy if ordinary else None),
            error_handler=spec.error_handler or (default_handler if ordinary else None),
        )
    # The default handler takes the retry and timeout defaults too.
    if default_handler is not None:
        h = specs.pop(DEFAULT_ERROR_HANDLER)
        specs[DEFAULT_ERROR_HANDLER] = dataclasses.replace(h, retry_policy=d.retry_policy, timeout=d.timeout)
    return specs


def _node_info(graph: StateGraph[Any, Any, Any, Any], spec: NodeSpec | None) -> SchemaInfo | None:
    """What a conditional edge out of the node ``spec`` reads when its path function
    declares no schema: the node's input schema, or None for the state's (also for
    START, as LangGraph)."""
    if spec is None or spec.input_schema is None or spec.input_schema is graph.state_schema:
        return None
    return graph.schemas[spec.input_schema]


def validate(graph: StateGraph[Any, Any, Any, Any], interrupt: Sequence[str] | None = None) -> None:
    """Raise :class:`InvalidGraphError` naming the first problem found."""
    known = set(graph.nodes) | {START}
    has_entry = any(s == START for s, _ in graph.edges) or START in graph.branches
    if not has_entry:
        raise InvalidGraphError(
            "Graph must have an entrypoint: add at least one edge from START to another node"
        )
    for source, target in sorted(graph.edges):
        if source not in known:
            raise InvalidGraphError(f"Found edge starting at unknown node '{source}'")
        if target != END and target not in graph.nodes:
            raise InvalidGraphError(f"Found edge ending at unknown node `{target}`")
    for sources, target in sorted(graph.waiting_edges):
        for s in sources:
            if s not in known:
                raise InvalidGraphError(f"Found edge starting at unknown node '{s}'")
        if target != END and target not in graph.nodes:
            raise InvalidGraphError(f"Found edge ending at unknown node `{target}`")
    for source, branches in graph.branches.items():
        if source not in known:
            raise InvalidGraphError(f"Found edge starting at unknown node '{source}'")
        for branch in branches.values():
            if branch.path_map is not None:
                for target in branch.path_map.values():
                    if target != END and target not in graph.nodes:
                        raise InvalidGraphError(
                            f"At '{source}' node, '{branch.name}' branch found unknown target '{target}'"
                        )
    for node in graph.nodes.values():
        for dest in node.destinations:
            if dest != END and dest not in graph.nodes:
                raise InvalidGraphError(
                    f"Node '{node.name}' declares destination '{dest}', which is not a node"
                )
    for name in interrupt or ():
        if name != "*" and name not in graph.nodes:
            raise InvalidGraphError(f"Interrupt node `{name}` not found")


def _interrupt_set(value: Any, graph: StateGraph[Any, Any, Any, Any]) -> frozenset[str]:
    if value is None:
        return frozenset()
    if value == "*":
        return frozenset(graph.nodes)
    return frozenset(value)


def lower(
    graph: StateGraph[Any, Any, Any, Any], *, name: str, interrupt_before: Any, interrupt_after: Any, strict: bool = False
) -> Plan:
    """Lower a validated graph to its plan."""
    specs = with_defaults(graph)
    channels: dict[str, Any] = {}
    for key, chan_spec in graph.channels.items():
        channels[key] = chan_spec
    channels[START] = EphemeralValue(Any, key=START)
    channels[TASKS] = Topic(Any, key=TASKS)

    # Every node that anything can lead to gets a trigger channel.
    triggers: dict[str, list[str]] = {n: [] for n in specs}
    after: dict[str, list[tuple[str, Any]]] = {n: [] for n in specs}
    after[START] = []
    for n, spec in specs.items():
        ch = branch_channel(n)
        # A deferred node's trigger holds its writes until the run would otherwise
        # end; any other node's lasts the one step after it was written.
        channels[ch] = LastValueAfterFinish(Any, key=ch) if spec.defer else EphemeralValue(Any, guard=False, key=ch)
        triggers[n].append(ch)
    # Static edges in the order they were added (stable write order).
    seen_edges: set[tuple[str, str]] = set()
    for source, target in graph._edge_order:
        if (source, target) in seen_edges or (source, target) not in graph.edges:
            continue
        seen_edges.add((source, target))
        if target != END:
            after[source].append((branch_channel(target), None))
    for sources, target in sorted(graph.waiting_edges):
        ch = join_channel(sources, target)
        deferred = target in specs and specs[target].defer
        barrier = NamedBarrierValueAfterFinish if deferred else NamedBarrierValue
        channels[ch] = barrier(Any, names=set(sources), key=ch)
        if target != END:
            triggers[target].append(ch)
        for s in sources:
            after[s].append((ch, s))

    branches: dict[str, tuple[BranchPlan, ...]] = {
        source: tuple(
            BranchPlan(source, b.name, b.call, b.path_map,
                       graph.schemas[b.input_schema] if b.input_schema is not None else None,
                       _node_info(graph, specs.get(source)),
                       3 + len(after[source]) + i)
            for i, b in enumerate(branch_specs.values())
        )
        for source, branch_specs in graph.branches.items()
    }
    state_info = graph.schemas[graph.state_schema]
    managed_all = tuple(graph.managed.items())

    nodes: dict[str, NodePlan] = {}
    nodes[START] = NodePlan(
        name=START,
        call=None,
        triggers=(START,),
        reads=(START,),
        input_info=graph.schemas[graph.input_schema],
        managed=(),
        after=tuple(after[START]),
        branches=branches.get(START, ()),
        retry=None,
        timeout=None,
        metadata=None,
        limit=None,
        defer=False,
        ends=(),
    )
    for n, spec in specs.items():
        info = graph.schemas[spec.input_schema]
        timeout = spec.timeout
        if timeout is not None and is_sync_target(spec.call.func):
            raise InvalidGraphError(sync_timeout_unsupported(n).args[0])
        fast = (
            spec.call.entry is not None
            and info.kind == "dict"
            and timeout is None
            and spec.limit is None
        )
        node_branches = branches.get(n, ())
        reads = tuple(k for k in info.keys if k in channels)
        managed = tuple((k, m) for k, m in managed_all if k in info.fields)
        nodes[n] = NodePlan(
            name=n,
            call=spec.call,
            triggers=tuple(triggers[n]),
            reads=reads,
            input_info=info,
            managed=managed,
            after=tuple(after[n]),
            branches=node_branches,
            retry=tuple(spec.retry_policy) if spec.retry_policy else None,
            timeout=timeout.run_timeout if timeout is not None else None,  # type: ignore[arg-type]  # coerced
            idle_timeout=timeout.idle_timeout if timeout is not None else None,  # type: ignore[arg-type]
            progress_auto=timeout is None or timeout.refresh_on == "auto",
            error_handler=spec.error_handler,
            is_error_handler=spec.is_error_handler,
            metadata=spec.metadata,
            limit=spec.limit,
            defer=spec.defer,
            ends=spec.destinations,
            fast=fast,
            cache=spec.cache_policy,
            trace_policy=spec.trace_policy,
            inline=(
                fast
                and not spec.retry_policy
                and spec.error_handler is None
                and all(b.call.bare and b.call.kind == "sync" for b in node_branches)
            ),
        )
    input_info = graph.schemas[graph.input_schema]
    output_info = graph.schemas[graph.output_schema]
    trigger_to_nodes: dict[str, list[str]] = {}
    for n, plan in nodes.items():
        for t in plan.triggers:
            trigger_to_nodes.setdefault(t, []).append(n)
    return Plan(
        name=name,
        channels=channels,
        nodes=nodes,
        trigger_to_nodes={k: tuple(v) for k, v in trigger_to_nodes.items()},
        node_order={n: i for i, n in enumerate(nodes)},
        state_info=state_info,
        input_info=input_info,
        output_info=output_info,
        state_keys=frozenset(graph.channels),
        managed=dict(graph.managed),
        interrupt_before=_interrupt_set(interrupt_before, graph),
        interrupt_after=_interrupt_set(interrupt_after, graph),
        ephemeral=frozenset(
            k for k, ch in channels.items()
            if isinstance(ch, EphemeralValue) or (isinstance(ch, Topic) and not ch.accumulate)
        ),
        initial=tuple((k, ch) for k, ch in channels.items() if ch.new_run() is not None),
        deferred=any(spec.defer for spec in specs.values()),
        cached=any(spec.cache_policy is not None for spec in specs.values()),
        output_keys=frozenset(output_info.keys or graph.channels),
        input_keys=frozenset(input_info.keys if input_info.fields else graph.channels),
        strict=strict,
        fired={ch: channels[ch].from_checkpoint(None) for n in specs
               if type(channels[ch := branch_channel(n)]) is EphemeralValue},
        goes=_goes(nodes, channels),
    )


def _goes(nodes: Mapping[str, NodePlan], channels: Mapping[str, Any]) -> dict[str, tuple[str, None]]:
    """``Plan.goes``: the edge write to each node but START, with the channel's own key."""
    keys = {k: k for k in channels}
    out = {}
    for n in nodes:
        if n != START:
            ch = branch_channel(n)
            out[n] = (keys.get(ch, ch), None)
    return out


def compile_graph(
    graph: StateGraph[Any, Any, Any, Any],
    *,
    checkpointer: Any,
    store: Any,
    cache: Any,
    interrupt_before: Any,
    interrupt_after: Any,
    debug: bool,
    name: str | None,
    limits: dict[str, int] | None,
    strict: bool = False,
) -> CompiledStateGraph:
    interrupts = [
        *(interrupt_before if isinstance(interrupt_before, list) else ()),
        *(interrupt_after if isinstance(interrupt_after, list) else ()),
    ]
    validate(graph, interrupts)
    for node in graph.nodes.values():
        if node.limit is not None and (limits is None or node.limit not in limits):
            raise InvalidGraphError(
                f"Node '{node.name}' uses limit '{node.limit}', which compile(limits=...) does not define"
            )
    plan = lower(
        graph,
        name=name or "LangGraph",
        interrupt_before=interrupt_before,
        interrupt_after=interrupt_after,
        strict=strict,
    )
    # The engine facade imports langchain-core's Runnable machinery: load it now, at
    # compile time, rather than at ``import asyncgraph.graph``.
    from asyncgraph.pregel.main import CompiledStateGraph

    compiled = CompiledStateGraph(
        plan=plan,
        builder=graph,
        checkpointer=checkpointer,
        store=store,
        cache=cache,
        debug=debug,
        limits=limits,
    )
    # LangGraph's attributes keep a "*" as given (so its drawing marks no node).
    if interrupt_before == "*":
        compiled.interrupt_before_nodes = "*"
    if interrupt_after == "*":
        compiled.interrupt_after_nodes = "*"
    graph.compiled = True
    return compiled
