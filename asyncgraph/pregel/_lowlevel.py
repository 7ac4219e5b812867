"""The low-level API: a graph built directly from nodes and channels.

``Pregel(nodes={...}, channels={...}, input_channels=..., output_channels=...)`` is the
form LangGraph's ``StateGraph`` compiles to; users write it by hand for graphs that are
not "a state and nodes that update it", e.g. a pipeline of channels::

    one = NodeBuilder().subscribe_only("a").do(lambda x: x + 1).write_to("b")
    two = NodeBuilder().subscribe_only("b").do(lambda x: x * 2).write_to("c")
    app = Pregel(
        nodes={"one": one, "two": two},
        channels={"a": LastValue(int), "b": LastValue(int), "c": LastValue(int)},
        input_channels="a",
        output_channels="c",
    )
    app.invoke(1)  # 4

A node (:class:`PregelNode`, usually made with :class:`NodeBuilder`) is:

* ``triggers``: channels whose update makes it run in the next step;
* ``channels``: what it reads, one channel name (its input is that channel's value) or
  a list of names (its input is a dict of those that hold a value);
* ``bound``: what it runs (a Runnable; ``NodeBuilder.do`` chains functions);
* ``writers``: where its output goes (:class:`ChannelWrite` entries).

This module lowers such a graph to the engine's :class:`~asyncgraph.pregel._plan.Plan`,
so the same superstep loop runs it. What differs from a ``StateGraph`` plan is carried
by three hooks: ``NodePlan.read`` (a node's input from the channels),
``NodePlan.write`` (its output to channel writes) and ``Plan.io`` (:class:`GraphIO`:
how the run's input is written and which channels the output and ``values`` chunks
show). A low-level plan has no START task: the input is written straight to the
input channels, so the first node runs at step 0, as in LangGraph.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from langchain_core.runnables import Runnable
from langchain_core.runnables.base import coerce_to_runnable
from langchain_core.utils.pydantic import create_model_v2
from pydantic import BaseModel

from asyncgraph._internal._runnable import RunnableCallable
from asyncgraph.channels.base import BaseChannel
from asyncgraph.channels.ephemeral_value import EphemeralValue
from asyncgraph.channels.topic import Topic
from asyncgraph.constants import INPUT, INTERRUPT, RESERVED, TASKS
from asyncgraph.errors import EmptyInputError
from asyncgraph.pregel._algo import read_state
from asyncgraph.pregel._plan import NodePlan, Plan
from asyncgraph.pregel._read import PregelNode as _NodeView
from asyncgraph.pregel._schema import Field, SchemaInfo
from asyncgraph.pregel._spec import CallSpec, _is_async_callable, is_sync_target, sync_timeout_unsupported
from asyncgraph.types import All, CachePolicy, GraphOutput, RetryPolicy, Send, TimeoutPolicy
from asyncgraph.warnings import LangGraphDeprecatedSinceV10, _renamed

__all__ = [
    "PASSTHROUGH",
    "SKIP_WRITE",
    "ChannelWrite",
    "ChannelWriteEntry",
    "ChannelWriteTupleEntry",
    "GraphIO",
    "LowLevelGraph",
    "NodeBuilder",
    "PregelNode",
    "lower_pregel",
    "lower_pregel_kwargs",
    "lowlevel_output",
]

logger = logging.getLogger(__name__)


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


PASSTHROUGH: Any = _Marker("PASSTHROUGH")
"""A write entry's value meaning "the node's output"."""

SKIP_WRITE: Any = _Marker("SKIP_WRITE")
"""A value (or a mapper's result) meaning "write nothing"."""


class ChannelWriteEntry(NamedTuple):
    """Write the node's output (or ``value``) to ``channel``.

    Attributes:
        channel: the channel written.
        value: what is written: the node's output by default (``PASSTHROUGH``), or
            this fixed value.
        skip_none: write nothing when the value is None.
        mapper: applied to the value before it is written.
    """

    channel: str
    value: Any = PASSTHROUGH
    skip_none: bool = False
    mapper: Callable[[Any], Any] | None = None


class ChannelWriteTupleEntry(NamedTuple):
    """Writes computed from the node's output: ``mapper(output)`` returns a list of
    ``(channel, value)`` pairs (or None for none)."""

    mapper: Callable[[Any], Sequence[tuple[str, Any]] | None]
    value: Any = PASSTHROUGH
    static: Sequence[tuple[str, Any, str | None]] | None = None


WriteEntry = ChannelWriteEntry | ChannelWriteTupleEntry | Send


class ChannelWrite:
    """A node's writers: the list of entries that turn its output into writes.

    A :class:`~asyncgraph.types.Send` entry schedules that packet for the next step.
    """

    __slots__ = ("writes", "tags")

    def __init__(self, writes: Sequence[WriteEntry], *, tags: Sequence[str] | None = None) -> None:
        for w in writes:
            if not isinstance(w, (ChannelWriteEntry, ChannelWriteTupleEntry, Send)):
                raise TypeError(f"ChannelWrite entries must be ChannelWriteEntry, ChannelWriteTupleEntry or Send, got {w!r}")
            if isinstance(w, ChannelWriteEntry) and w.channel == TASKS and not isinstance(w.value, Send) and w.value is not PASSTHROUGH:
                raise TypeError(f"Only Send packets can be written to '{TASKS}', got {w.value!r}")
        self.writes = list(writes)
        self.tags = list(tags or ())

    def __repr__(self) -> str:
        return f"ChannelWrite<{','.join(_entry_name(w) for w in self.writes)}>"

    def assemble(self, output: Any) -> list[tuple[str, Any]]:
        """The ``(channel, value)`` writes this writer makes of ``output``, in entry order."""
        out: list[tuple[str, Any]] = []
        for w in self.writes:
            if isinstance(w, Send):
                out.append((TASKS, w))
            elif isinstance(w, ChannelWriteTupleEntry):
                pairs = w.mapper(output if w.value is PASSTHROUGH else w.value)
                if pairs:
                    out.extend((c, v) for c, v in pairs if v is not SKIP_WRITE)
            else:
                value = output if w.value is PASSTHROUGH else w.value
                if w.mapper is not None:
                    value = w.mapper(value)
                if value is SKIP_WRITE or (w.skip_none and value is None):
                    continue
                if w.channel == TASKS and not isinstance(value, Send):
                    raise TypeError(f"Only Send packets can be written to '{TASKS}', got {value!r}")
                out.append((w.channel, value))
        return out


def _entry_name(w: Any) -> str:
    if isinstance(w, Send):
        return f"Send({w.node!r})"
    if isinstance(w, ChannelWriteTupleEntry):
        return "<mapper>"
    return str(w.channel)


def _identity(x: Any) -> Any:
    return x


def _as_runnable(action: Any) -> Runnable[Any, Any]:
    """A node step as a Runnable: a Runnable as given, a function wrapped (its
    ``config`` / ``writer`` / ``store`` / ``runtime`` parameters filled from the run)."""
    if isinstance(action, Runnable):
        return action
    if callable(action):
        if _is_async_callable(action):
            return RunnableCallable(None, action)
        return RunnableCallable(action)
    return coerce_to_runnable(action)  # a dict of steps: run them in parallel


class PregelNode(_NodeView):
    """A node of a low-level graph (LangGraph's ``PregelNode``).

    Args:
        channels: the channel the node reads (its input is that value), or a list of
            channels (its input is a dict of those holding a value).
        triggers: channels whose update makes the node run.
        mapper: applied to the input before ``bound`` sees it.
        writers: where the output goes; :class:`ChannelWrite` objects or entries.
        bound: what the node runs (default: its input, unchanged).
        retry_policy / cache_policy: as on a ``StateGraph`` node.
        tags / metadata: passed to the node's run in callbacks and tracing.
        timeout: seconds (or a ``timedelta``) one attempt of the node may take, or a
            :class:`~asyncgraph.types.TimeoutPolicy` (a run and / or an idle timeout,
            as on a ``StateGraph`` node); past it the attempt fails with
            :class:`~asyncgraph.errors.NodeTimeoutError`. Only for async nodes.
    """

    def __init__(
        self,
        *,
        channels: str | list[str],
        triggers: Sequence[str],
        mapper: Callable[[Any], Any] | None = None,
        writers: Sequence[ChannelWrite | WriteEntry] | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        bound: Runnable[Any, Any] | Callable[..., Any] | None = None,
        retry_policy: RetryPolicy | Sequence[RetryPolicy] | None = None,
        cache_policy: CachePolicy | None = None,
        subgraphs: Sequence[Any] | None = None,
        timeout: float | datetime.timedelta | TimeoutPolicy | None = None,
    ) -> None:
        self.name = ""
        self.timeout = TimeoutPolicy.coerce(timeout)
        self.channels = channels  # type: ignore[assignment]
        self.triggers = list(triggers)
        self.mapper = mapper
        entries: list[ChannelWrite] = []
        loose: list[WriteEntry] = []
        for w in writers or ():
            if isinstance(w, ChannelWrite):
                entries.append(w)
            else:
                loose.append(w)
        if loose:
            entries.append(ChannelWrite(loose))
        self.writers = entries
        self.tags = list(tags or ())
        self.metadata = dict(metadata or {})
        self.bound = _as_runnable(bound) if bound is not None else RunnableCallable(_identity, name="identity")
        if isinstance(retry_policy, RetryPolicy):
            retry_policy = (retry_policy,)
        self.retry_policy = tuple(retry_policy) if retry_policy else None
        self.cache_policy = cache_policy
        self.subgraphs = list(subgraphs or ())

    def __repr__(self) -> str:
        return f"PregelNode(channels={self.channels!r}, triggers={self.triggers!r}, writers={self.writers!r})"

    def write_entries(self) -> list[ChannelWrite]:
        return self.writers


class NodeBuilder:
    """Builds a :class:`PregelNode` step by step (each method returns the builder).

    ``subscribe_only("a")``: triggered by and reading one channel, whose value is the
    input. ``subscribe_to("a", "b", read=True)``: triggered by these channels, and (with
    ``read``) reading them into a dict input. ``read_from("c")``: also read ``c``
    without being triggered by it. ``do(f)``: run ``f`` on the input (several calls
    chain them). ``write_to("x", y=5, z=lambda out: ...)``: write the output to ``x``,
    5 to ``y`` and a mapped output to ``z``.
    """

    __slots__ = ("_channels", "_triggers", "_tags", "_metadata", "_writes", "_bound", "_retry_policy",
                 "_cache_policy", "_timeout")

    def __init__(self) -> None:
        self._channels: str | list[str] = []
        self._triggers: list[str] = []
        self._tags: list[str] = []
        self._metadata: dict[str, Any] = {}
        self._writes: list[WriteEntry] = []
        self._bound: Runnable[Any, Any] | None = None
        self._retry_policy: list[RetryPolicy] = []
        self._cache_policy: CachePolicy | None = None
        self._timeout: TimeoutPolicy | None = None

    def subscribe_only(self, channel: str) -> NodeBuilder:
        """Be triggered by ``channel`` alone and take its value as input.

        Raises:
            ValueError: the node already subscribes to or reads other channels.
        """
        if self._channels:
            raise ValueError("Cannot subscribe to a single channel when other channels are already subscribed to")
        self._channels = channel
        self._triggers.append(channel)
        return self

    def subscribe_to(self, *channels: str, read: bool = True) -> NodeBuilder:
        """Be triggered by ``channels``; with ``read`` (default) they are also part of
        the input, a dict of channel values.

        Raises:
            ValueError: the node subscribes to a single channel (``subscribe_only``).
        """
        if isinstance(self._channels, str):
            raise ValueError("Cannot subscribe to channels when subscribed to a single channel")
        if read:
            self._channels.extend(channels)
        self._triggers.extend(channels)
        return self

    def read_from(self, *channels: str) -> NodeBuilder:
        """Also read ``channels`` into the input, without being triggered by them.

        Raises:
            ValueError: the node subscribes to a single channel (``subscribe_only``).
        """
        if isinstance(self._channels, str):
            raise ValueError("Cannot read additional channels when subscribed to a single channel")
        self._channels.extend(channels)
        return self

    def do(self, node: Any) -> NodeBuilder:
        """Run ``node`` (a function or Runnable) on the output of the previous step."""
        step = _as_runnable(node)
        self._bound = step if self._bound is None else self._bound | step
        return self

    def write_to(self, *channels: str | ChannelWriteEntry, **kwargs: Any) -> NodeBuilder:
        """Write the output to ``channels`` (names or entries); each keyword writes to
        the channel of its name a fixed value, or the output mapped by a callable."""
        self._writes.extend(ChannelWriteEntry(c) if isinstance(c, str) else c for c in channels)
        self._writes.extend(
            ChannelWriteEntry(k, mapper=v) if callable(v) else ChannelWriteEntry(k, value=v)
            for k, v in kwargs.items()
        )
        return self

    def meta(self, *tags: str, **metadata: Any) -> NodeBuilder:
        """Add tags and metadata to the node's runs."""
        self._tags.extend(tags)
        self._metadata.update(metadata)
        return self

    def add_retry_policies(self, *policies: RetryPolicy) -> NodeBuilder:
        """Retry the node on failure with these policies (the first that matches)."""
        self._retry_policy.extend(policies)
        return self

    def add_cache_policy(self, policy: CachePolicy) -> NodeBuilder:
        """Cache the node's results (with the graph's ``cache``)."""
        self._cache_policy = policy
        return self

    def set_timeout(self, timeout: float | datetime.timedelta | TimeoutPolicy | None) -> NodeBuilder:
        """Limit each attempt of the node to ``timeout`` (see :class:`PregelNode`).

        Raises:
            ValueError: not a positive duration.
        """
        self._timeout = TimeoutPolicy.coerce(timeout)
        return self

    def build(self) -> PregelNode:
        """The node."""
        return PregelNode(
            channels=copy.copy(self._channels),
            triggers=list(self._triggers),
            tags=list(self._tags),
            metadata=dict(self._metadata),
            writers=[ChannelWrite(self._writes)],
            bound=self._bound,
            retry_policy=list(self._retry_policy),
            cache_policy=self._cache_policy,
            timeout=self._timeout,
        )


# -- the run's input and output -----------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class GraphIO:
    """How a low-level graph's run meets the outside (``Plan.io``).

    Attributes:
        input_channels: the channel the input is written to, or the channels a dict
            input's keys are written to.
        output_channels: as given to ``Pregel`` (the default ``output_keys`` of invoke).
        input_node: the pseudo-node whose writes are the input's (never triggered).
        output: the output's selection ``(channels, single)``: a bare value when
            ``output_channels`` is one name, else a dict.
        stream: the same for ``values`` chunks and ``updates`` (``stream_channels``,
            by default every channel).
    """

    input_channels: str | tuple[str, ...]
    output_channels: str | tuple[str, ...]
    input_node: NodePlan
    output: tuple[tuple[str, ...], bool]
    stream: tuple[tuple[str, ...], bool]

    def input_writes(self, value: Any) -> list[tuple[str, Any]]:
        """The writes of the run's input.

        Raises:
            TypeError: the graph has several input channels and ``value`` is not a dict.
            EmptyInputError: the input writes nothing.
        """
        chans = self.input_channels
        if isinstance(chans, str):
            writes = [(chans, value)]
        else:
            if not isinstance(value, dict):
                raise TypeError(
                    f"Expected the input to be a dict with keys among {list(chans)}, got {type(value).__name__}: {value!r}"
                )
            writes = []
            for k, v in value.items():
                if k in chans:
                    writes.append((k, v))
                else:
                    logger.warning("Input key %r is not an input channel (%s); ignored", k, ", ".join(chans))
        if not writes:
            raise EmptyInputError(f"Received no input for {chans!r}")
        return writes


def _selection(value: str | Sequence[str]) -> tuple[tuple[str, ...], bool]:
    if isinstance(value, str):
        return (value,), True
    return tuple(value), False


def _read_one(channel: str, mapper: Callable[[Any], Any] | None) -> Callable[[Mapping[str, BaseChannel[Any, Any]]], Any]:
    def read(channels: Mapping[str, BaseChannel[Any, Any]]) -> Any:
        ch = channels.get(channel)
        value = ch.get() if ch is not None and ch.is_available() else None
        return mapper(value) if mapper is not None else value

    return read


def _read_many(names: tuple[str, ...], mapper: Callable[[Any], Any] | None) -> Callable[[Mapping[str, BaseChannel[Any, Any]]], Any]:
    def read(channels: Mapping[str, BaseChannel[Any, Any]]) -> Any:
        values = {}
        for k in names:
            ch = channels.get(k)
            if ch is not None and ch.is_available():
                values[k] = ch.get()
        return mapper(values) if mapper is not None else values

    return read


def _writer(writers: Sequence[ChannelWrite]) -> Callable[[Any, Any], Any]:
    """The node's ``NodePlan.write``: its output -> the task's writes; returns the
    update its ``updates`` chunk shows: ``{channel: value}`` of what it wrote, or, when
    it wrote some channel more than once, one such dict per write (as LangGraph's)."""

    def write(task: Any, output: Any) -> dict[str, Any] | list[dict[str, Any]] | None:
        writes: list[tuple[str, Any]] = []
        for w in writers:
            writes.extend(w.assemble(output))
        task.writes.extend(writes)
        if not writes:
            return None
        update = dict(writes)
        if len(update) < len(writes):
            return [{c: v} for c, v in writes]
        return update

    return write


def _validate(
    nodes: Mapping[str, PregelNode],
    channels: Mapping[str, BaseChannel[Any, Any]],
    input_channels: str | Sequence[str],
    output_channels: str | Sequence[str],
    stream_channels: str | Sequence[str] | None,
    interrupt_before: All | Sequence[str],
    interrupt_after: All | Sequence[str],
) -> None:
    """Raise ``ValueError`` naming the first inconsistency (as LangGraph does)."""
    known = f"known channels: {', '.join(sorted(channels))}"
    for name in channels:
        if name in RESERVED and name != TASKS:
            raise ValueError(f"Channel name '{name}' is reserved")
    subscribed: set[str] = set()
    for name, node in nodes.items():
        if name in RESERVED:
            raise ValueError(f"Node name '{name}' is reserved")
        if not isinstance(node, PregelNode):
            raise TypeError(f"Node '{name}' is a {type(node).__name__}, expected a PregelNode or NodeBuilder")
        subscribed.update(node.triggers)
        reads = [node.channels] if isinstance(node.channels, str) else node.channels
        for chan in reads:
            if chan not in channels:
                raise ValueError(f"Node '{name}' reads channel '{chan}', not one of the {known}")
    for chan in subscribed:
        if chan not in channels:
            raise ValueError(f"Subscribed channel '{chan}' is not one of the {known}")
    ins = [input_channels] if isinstance(input_channels, str) else list(input_channels)
    for chan in ins:
        if chan not in channels:
            raise ValueError(f"Input channel '{chan}' is not one of the {known}")
    if ins and all(chan not in subscribed for chan in ins):
        raise ValueError(f"No node subscribes to the input channel(s) {', '.join(ins)}")
    outs = [output_channels] if isinstance(output_channels, str) else list(output_channels)
    if stream_channels is not None:
        outs += [stream_channels] if isinstance(stream_channels, str) else list(stream_channels)
    for chan in outs:
        if chan not in channels:
            raise ValueError(f"Output channel '{chan}' is not one of the {known}")
    for names in (interrupt_before, interrupt_after):
        if names != "*":
            for n in names:
                if n not in nodes:
                    raise ValueError(f"Interrupt node '{n}' is not a node of the graph")


class LowLevelGraph:
    """What a low-level ``Pregel`` keeps of its definition (its ``builder``): the
    nodes and channels as given, and the input/output/context schemas."""

    def __init__(
        self,
        nodes: dict[str, PregelNode],
        channels: dict[str, BaseChannel[Any, Any]],
        input_channels: str | Sequence[str],
        output_channels: str | Sequence[str],
        stream_channels: str | Sequence[str] | None,
        context_schema: Any,
    ) -> None:
        self.nodes = nodes
        self.channels = channels
        self.input_channels = input_channels
        self.output_channels = output_channels
        self.stream_channels = stream_channels
        self.context_schema = context_schema
        # get_graph() draws nodes and static edges; a low-level graph has none of
        # StateGraph's edges (its nodes meet through channels).
        self._edge_order: tuple[tuple[str, str], ...] = ()
        self.waiting_edges: tuple[tuple[tuple[str, ...], str], ...] = ()
        self.branches: dict[str, Any] = {}

    @property
    def input_schema(self) -> Any:
        return self._type_of(self.input_channels)

    @property
    def output_schema(self) -> Any:
        return self._type_of(self.output_channels)

    def _type_of(self, chans: str | Sequence[str]) -> Any:
        if isinstance(chans, str):
            return self.channels[chans].UpdateType
        return dict

    def model(self, title: str, chans: str | Sequence[str]) -> type[BaseModel]:
        """A Pydantic model of ``chans`` (the input or output schema): one channel's
        type as the root, or an object of optional fields, one per channel."""
        if isinstance(chans, str):
            return create_model_v2(title, root=self.channels[chans].UpdateType)
        fields: dict[str, Any] = {k: (self.channels[k].UpdateType, None) for k in chans}
        return create_model_v2(title, field_definitions=fields)


def lower_pregel(
    *,
    nodes: Mapping[str, PregelNode | NodeBuilder],
    channels: Mapping[str, BaseChannel[Any, Any]] | None,
    input_channels: str | Sequence[str],
    output_channels: str | Sequence[str],
    stream_channels: str | Sequence[str] | None = None,
    interrupt_before_nodes: All | Sequence[str] = (),
    interrupt_after_nodes: All | Sequence[str] = (),
    retry_policy: RetryPolicy | Sequence[RetryPolicy] = (),
    cache_policy: CachePolicy | None = None,
    context_schema: Any = None,
    name: str = "LangGraph",
) -> tuple[Plan, LowLevelGraph]:
    """Validate a low-level graph and lower it to a plan (see the module docstring).

    Raises:
        ValueError: a node, input or output names an unknown channel, no node reads the
            input, a name is reserved, or an interrupt names an unknown node.
        TypeError: a node is neither a ``PregelNode`` nor a ``NodeBuilder``.
    """
    built: dict[str, Any] = {}
    for n, given_node in nodes.items():
        node: Any = given_node.build() if isinstance(given_node, NodeBuilder) else given_node
        built[n] = node.copy({"name": n}) if isinstance(node, PregelNode) else node
    given = dict(channels or {})
    if TASKS in given and not isinstance(given[TASKS], Topic):
        raise ValueError(f"Channel '{TASKS}' is reserved and cannot be used in the graph.")
    _validate(built, given, input_channels, output_channels, stream_channels,
              interrupt_before_nodes, interrupt_after_nodes)
    specs: dict[str, BaseChannel[Any, Any]] = {}
    for k, ch in given.items():
        spec = copy.copy(ch)  # the plan's own: the given object may serve other graphs
        spec.key = k
        specs[k] = spec
    specs[TASKS] = Topic(Send, key=TASKS)
    if isinstance(retry_policy, RetryPolicy):
        retry_policy = (retry_policy,)
    default_retry = tuple(retry_policy) or None

    plans: dict[str, NodePlan] = {}
    for n, node in built.items():
        timeout = TimeoutPolicy.coerce(getattr(node, "timeout", None))
        if timeout is not None and is_sync_target(node.bound):
            raise sync_timeout_unsupported(n)
        reads = (node.channels,) if isinstance(node.channels, str) else tuple(node.channels)
        read = _read_one(node.channels, node.mapper) if isinstance(node.channels, str) else _read_many(reads, node.mapper)
        metadata = dict(node.metadata) if node.metadata else None
        plans[n] = NodePlan(
            name=n,
            call=CallSpec(node.bound, "runnable", (), False),
            triggers=tuple(node.triggers),
            reads=reads,
            input_info=SchemaInfo(None, "dict", {}, {}),
            managed=(),
            after=(),
            branches=(),
            retry=node.retry_policy or default_retry,
            timeout=timeout.run_timeout if timeout is not None else None,  # type: ignore[arg-type]  # coerced
            idle_timeout=timeout.idle_timeout if timeout is not None else None,  # type: ignore[arg-type]
            progress_auto=timeout is None or timeout.refresh_on == "auto",
            metadata=metadata,
            limit=None,
            defer=False,
            ends=(),
            cache=node.cache_policy or cache_policy,
            read=read,
            write=_writer(node.writers),
        )
    trigger_to_nodes: dict[str, list[str]] = {}
    for n, p in plans.items():
        for t in p.triggers:
            trigger_to_nodes.setdefault(t, []).append(n)
    default_stream = [k for k in given if k != TASKS] + [TASKS]
    stream = stream_channels if stream_channels is not None else default_stream
    stream_keys = _selection(stream)[0]
    state_info = SchemaInfo(None, "dict", {k: Field(k, specs[k]) for k in stream_keys}, {})
    out_keys = _selection(output_channels)[0]
    in_keys = _selection(input_channels)[0]
    input_node = NodePlan(
        name=INPUT, call=None, triggers=(), reads=(), input_info=SchemaInfo(None, "dict", {}, {}),
        managed=(), after=(), branches=(), retry=None, timeout=None, metadata=None, limit=None,
        defer=False, ends=(),
    )
    io = GraphIO(
        input_channels=input_channels if isinstance(input_channels, str) else tuple(input_channels),
        output_channels=output_channels if isinstance(output_channels, str) else tuple(output_channels),
        input_node=input_node,
        output=_selection(output_channels),
        stream=_selection(stream),
    )

    def _interrupts(value: All | Sequence[str]) -> frozenset[str]:
        return frozenset(built) if value == "*" else frozenset(value)

    plan = Plan(
        name=name,
        channels=specs,
        nodes=plans,
        trigger_to_nodes={k: tuple(v) for k, v in trigger_to_nodes.items()},
        node_order={n: i for i, n in enumerate(plans)},
        state_info=state_info,
        input_info=SchemaInfo(None, "dict", {k: Field(k, specs[k]) for k in in_keys}, {}),
        output_info=SchemaInfo(None, "dict", {k: Field(k, specs[k]) for k in out_keys}, {}),
        state_keys=frozenset(specs),
        managed={},
        interrupt_before=_interrupts(interrupt_before_nodes),
        interrupt_after=_interrupts(interrupt_after_nodes),
        ephemeral=frozenset(
            k for k, ch in specs.items()
            if isinstance(ch, EphemeralValue) or (isinstance(ch, Topic) and not ch.accumulate)
        ),
        initial=tuple((k, ch) for k, ch in specs.items() if ch.new_run() is not None),
        # A channel with barrier semantics (LastValueAfterFinish ...) opens when the run
        # would otherwise end.
        deferred=any(type(ch).finish is not BaseChannel.finish for ch in specs.values()),
        cached=any(p.cache is not None for p in plans.values()),
        output_keys=frozenset(out_keys),
        input_keys=frozenset(in_keys),
        io=io,
    )
    graph = LowLevelGraph(built, given, input_channels, output_channels, stream_channels, context_schema)
    return plan, graph


_IGNORED = frozenset({"auto_validate", "stream_eager", "trigger_to_nodes", "stream_transformers"})
_REQUIRED = ("nodes", "channels", "input_channels", "output_channels")


def lower_pregel_kwargs(kwargs: dict[str, Any]) -> tuple[Plan, LowLevelGraph]:
    """:func:`lower_pregel` from the keyword arguments of LangGraph's ``Pregel(...)``
    (those ``Pregel.__init__`` does not take itself).

    ``auto_validate``, ``stream_eager``, ``trigger_to_nodes`` and
    ``stream_transformers`` are accepted and change nothing here (the graph is always
    validated, chunks are always handed over as soon as they are made, triggers are
    always indexed); ``config_type`` is the deprecated name of ``context_schema``.

    Raises:
        TypeError: a required argument is missing, or an argument is unknown.
    """
    kwargs = dict(kwargs)
    missing = [k for k in _REQUIRED if k not in kwargs]
    if missing:
        raise TypeError(f"Pregel() missing required keyword argument(s): {', '.join(map(repr, missing))}")
    if "config_type" in kwargs:
        _renamed("config_type", "context_schema", LangGraphDeprecatedSinceV10, stacklevel=4)
        config_type = kwargs.pop("config_type")
        kwargs.setdefault("context_schema", config_type)
    if kwargs.pop("node_error_handler_map", None):
        raise TypeError("Pregel(node_error_handler_map=...) is not supported: give StateGraph nodes an error handler")
    for k in _IGNORED:
        kwargs.pop(k, None)
    return lower_pregel(**kwargs)


def lowlevel_output(rc: Any, run: Any, interrupts: Sequence[Any], v2: bool) -> Any:
    """A low-level graph run's output, as LangGraph's ``invoke`` makes it: the output
    channels (``rc.out_select``) as the run's steps left them, or None when no step
    of this run wrote any of them (a value from an earlier run of the thread is not
    this run's output). A pause adds ``__interrupt__``; ``v2`` gives a
    :class:`~asyncgraph.types.GraphOutput`."""
    keys, single = rc.out_select
    versions = run.versions
    out: Any = None
    if any(isinstance(versions.get(k), int) and versions[k] > run.floor for k in keys):
        values = read_state(run.channels, keys)
        out = values.get(keys[0]) if single else values
    if v2:
        return GraphOutput(value=out, interrupts=tuple(interrupts))
    if interrupts:
        return {**out, INTERRUPT: list(interrupts)} if isinstance(out, dict) else {INTERRUPT: list(interrupts)}
    return out
