"""The execution plan: what the engine runs, lowered once at ``compile()``.

Everything here is immutable after compile and shared by all runs of a graph; per-run
state lives in :class:`asyncgraph.pregel._algo.RunState`.

Channel naming (visible in checkpoints, kept compatible with LangGraph's layout):
    ``__start__``           the run's input, read by the START task
    ``<state key>``         one per state key
    ``branch:to:<node>``    an edge into ``node`` fired
    ``join:<a>+<b>:<node>`` barrier of ``add_edge(["a", "b"], node)``
    ``__pregel_tasks``      ``Send`` packets for the next step
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from asyncgraph.channels.base import BaseChannel
from asyncgraph.constants import BRANCH_PREFIX
from asyncgraph.pregel._schema import SchemaInfo
from asyncgraph.pregel._spec import CallSpec
from asyncgraph.managed import ManagedValue
from asyncgraph.types import CachePolicy, RetryPolicy, TracePolicy


def branch_channel(node: str) -> str:
    return BRANCH_PREFIX + node


def join_channel(sources: tuple[str, ...], target: str) -> str:
    return f"join:{'+'.join(sources)}:{target}"


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class BranchPlan:
    """A conditional edge out of a node."""

    source: str
    name: str
    call: CallSpec
    path_map: Mapping[Hashable, str] | None
    # The path function's own input schema (see ``BranchSpec.input_schema``), lowered.
    input_info: SchemaInfo | None = None
    # Without one: the source node's input schema when it is not the state's (None: the
    # state's). The path function then reads that schema's keys, plus the extra keys of
    # a dict the node returned (LangGraph passes those through to its edges).
    node_info: SchemaInfo | None = None
    # Its run's ``seq:step:N`` tag: LangGraph runs a node as a sequence of its callable,
    # its state write, one write per static out-edge, then its conditional edges.
    seq_step: int = 3


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class NodePlan:
    """One node, lowered.

    Attributes:
        triggers: channels whose update makes this node run in the next step.
        reads: channels that make up the node's input.
        after: static writes made after the node succeeds (its plain out-edges and
            join memberships), as (channel, value) pairs.
    """

    name: str
    call: CallSpec | None  # None only for the START task
    triggers: tuple[str, ...]
    reads: tuple[str, ...]
    input_info: SchemaInfo
    managed: tuple[tuple[str, type[ManagedValue]], ...]
    after: tuple[tuple[str, Any], ...]
    branches: tuple[BranchPlan, ...]
    retry: tuple[RetryPolicy, ...] | None
    timeout: float | None
    metadata: Mapping[str, Any] | None
    limit: str | None
    defer: bool
    ends: tuple[str, ...]
    # An async function of the state alone (``call.entry``: the node's function, or
    # what its Runnable offers), run with no timeout or limit: the runner awaits it
    # directly (nothing to set up around the call).
    fast: bool = False
    cache: CachePolicy | None = None  # skip the node when its input was seen before
    # The node that takes over when this one fails after its retries (its
    # ``error_handler``), and whether this node is such a handler.
    error_handler: str | None = None
    is_error_handler: bool = False
    # TimeoutPolicy.idle_timeout: seconds an attempt may go without progress
    # (``timeout`` is the run timeout); progress_auto: streamed output counts as
    # progress, not only ``runtime.heartbeat()``.
    idle_timeout: float | None = None
    progress_auto: bool = True
    # ``fast``, no retry policy, and every conditional edge a sync function of the
    # state alone: a lone task of this node runs inline in the loop's own frame.
    inline: bool = False
    # What the node's own trace run records (its inputs / outputs, transformed).
    trace_policy: TracePolicy | None = None
    # Low-level graphs (pregel/_lowlevel.py): the node's input made from the run's
    # channels (instead of a dict of ``reads``), and its output turned into the task's
    # writes (instead of a state update); ``write(task, output)`` returns the update
    # its ``updates`` chunk shows.
    read: Callable[[Mapping[str, BaseChannel[Any, Any]]], Any] | None = None
    write: Callable[[Any, Any], Any] | None = None


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Plan:
    """A compiled graph's execution plan."""

    name: str
    channels: Mapping[str, BaseChannel[Any, Any]]
    nodes: Mapping[str, NodePlan]
    trigger_to_nodes: Mapping[str, tuple[str, ...]]
    node_order: Mapping[str, int]
    state_info: SchemaInfo
    input_info: SchemaInfo
    output_info: SchemaInfo
    state_keys: frozenset[str]
    managed: Mapping[str, type[ManagedValue]]
    interrupt_before: frozenset[str]
    interrupt_after: frozenset[str]
    ephemeral: frozenset[str]  # channels emptied at the barrier after the step they were written
    # Channels a run without a checkpoint starts with (they have a starting value);
    # every other channel is made when first written.
    initial: tuple[tuple[str, BaseChannel[Any, Any]], ...]
    # Some node is deferred: when a step leaves nothing to run, the barrier calls
    # ``finish()`` on the channels, which may open deferred nodes' triggers.
    deferred: bool
    cached: bool  # some node has a cache policy
    output_keys: frozenset[str]  # the keys a ``values`` chunk and the output show
    input_keys: frozenset[str]  # the keys a dict input may have
    # compile(strict=True): an undeclared input key or a node's write to a key the state
    # does not declare is an error; by default it is dropped with a warning (LangGraph
    # drops it silently).
    strict: bool = False
    # A low-level graph's input and output channels (``_lowlevel.GraphIO``); None for
    # a StateGraph, whose input goes through the START task.
    io: Any = None
    # Edge triggers (a StateGraph's ``branch:to:<node>`` EphemeralValues), each as one
    # channel holding None that every run of the plan shares while the edge is fired:
    # an edge's write is always None, so a run need not make (and keep alive while its
    # node runs) a channel object of its own. ``_algo`` never updates a shared one in
    # place: it puts it in a run's channels, drops it at the next barrier, and copies
    # it before any other write (``RunState.channel``).
    fired: Mapping[str, BaseChannel[Any, Any]] = dataclasses.field(default_factory=dict)
    # node -> the write that sends a conditional edge or ``goto`` there,
    # ``(branch_channel(node), None)``, made once: the string (its hash cached) is
    # the channel's own key. Empty for plans without edge triggers; ``_writes`` makes
    # the write for a name not here.
    goes: Mapping[str, tuple[str, None]] = dataclasses.field(default_factory=dict)
