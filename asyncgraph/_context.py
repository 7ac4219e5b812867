"""The running task, found through a ContextVar: what ``get_config()``,
``get_stream_writer()``, ``get_runtime()`` and ``interrupt()`` see inside a node.

It sits below ``types`` (whose ``interrupt()`` it implements) and above ``errors``; the
engine (``pregel``) sets it for each task it runs. Nothing here builds a langchain-core
config unless someone asks for it: a node that takes no ``config`` argument, in a run
nobody traces, costs one ContextVar set/reset.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from asyncgraph._ids import InterruptId, TaskId, task_id
from asyncgraph._interrupt import Interrupt
from asyncgraph.constants import CONF, NS_END, NS_SEP
from asyncgraph.constants import PULL as PULL_PATH
from asyncgraph.constants import PUSH as PUSH_PATH
from asyncgraph.errors import GraphInterrupt, mark_invalid_resume

if TYPE_CHECKING:
    from asyncgraph.channels.base import BaseChannel
    from asyncgraph.errors import NodeError
    from asyncgraph.pregel._context import RunContext
    from asyncgraph.pregel._plan import NodePlan

# Metadata keys LangGraph users and tracing tools read; keep the names.
META_NODE = "langgraph_node"
META_STEP = "langgraph_step"
META_TRIGGERS = "langgraph_triggers"
META_PATH = "langgraph_path"
META_NS = "langgraph_checkpoint_ns"
# The ``configurable`` entries a node's run metadata repeats (when set and not in the
# metadata already), as LangGraph does; the others reach only LangSmith's tracer
# (``tracing_metadata``), so a secret in ``configurable`` is not streamed.
META_FROM_CONFIGURABLE = ("thread_id", "checkpoint_id", "checkpoint_ns", "task_id", "run_id",
                          "assistant_id", "graph_id")


def run_metadata(config: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata of a graph run's callbacks run (and the base of its nodes'): the
    config's ``metadata`` and the ``META_FROM_CONFIGURABLE`` entries of its
    ``configurable`` that are set."""
    metadata = dict(config.get("metadata") or ())
    configurable = config.get(CONF)
    if configurable:
        for k in META_FROM_CONFIGURABLE:
            if k not in metadata:
                v = configurable.get(k)
                if v:
                    metadata[k] = v
    return metadata


PULL = 0  # a task started because a trigger channel changed
PUSH = 1  # a task started by a Send packet


class Task:
    """One execution of one node in one step, and (once the runner enters it, see
    :meth:`enter`) the running task: what ``get_config()``, ``interrupt()`` and writers
    see. One object per task, not two: every run in flight holds its step's task.

    ``writes`` collects the (channel, value) pairs the task produced; they are applied
    only at the end of the step, and only if the task succeeded.
    """

    __slots__ = (
        # the planned task (``pregel._algo``)
        "name", "node", "input", "kind", "index", "triggers", "writes", "id", "update", "error",
        "interrupts", "done", "resume", "prior_interrupts", "fresh", "resume_raw", "cache_key",
        "cached", "handles", "failure", "timeout", "call_path",
        # the running task, set by :meth:`enter`
        "run", "step", "_config", "interrupt_idx", "resume_values", "traced", "attempt", "started",
        "calls", "subgraph_calls", "on_progress",
        # set by _runner.enter_inline only, for leaving the task (complete_inline,
        # settle_inline): the current task and the children's config it replaced
        "outer", "outer_config",
    )

    run: RunContext
    step: int
    outer: Task | None
    outer_config: Any
    call_path: tuple[Any, ...]  # a functional-API call's task only (pregel/_call.py)

    def __init__(
        self,
        node: NodePlan,
        input: Any,
        kind: int,
        index: int,
        triggers: tuple[str, ...],
    ) -> None:
        self.name = node.name
        self.node = node
        self.input = input
        self.kind = kind
        self.index = index
        self.triggers = triggers
        self.writes: list[tuple[str, Any]] = []
        self.id: TaskId = TaskId("")  # set by the loop when it needs stable ids (checkpointing)
        self.update: Any = None  # what the node returned, for stream_mode="updates"
        self.error: BaseException | None = None
        self.interrupts: Sequence[Any] = ()  # set if it called interrupt()
        self.done = False
        self.resume: list[Any] | None = None  # answers to its interrupt() calls, in order
        self.prior_interrupts: Sequence[Any] = ()  # interrupts it raised before a resume
        # State channels with only this task's writes applied (made for its conditional
        # edges): in a step with no other task they are exactly the barrier's result.
        self.fresh: dict[str, tuple[BaseChannel[Any, Any], bool]] | None = None
        # The run's Command(resume=...) value when this task is being resumed: a
        # subgraph run inside the task resumes its own interrupted tasks with it.
        self.resume_raw: Any = None
        # Node result caching: this task's (namespace, key), and whether its writes
        # came from the cache instead of running the node.
        self.cache_key: Any = None
        self.cached = False
        # An error handler's task took this task over (see ``to_error_handler``): the
        # failed node's name (its triggers count as seen, its writes' place in the
        # barrier's order is kept) and the failure the handler receives.
        self.handles: str | None = None
        self.failure: NodeError | None = None
        # ``Send(..., timeout=...)``: this task's TimeoutPolicy, instead of its node's.
        self.timeout: Any = None

    def enter(self, run: RunContext, step: int, resume: list[Any] | None = None) -> Task:
        """The task starts running in ``run`` at ``step`` (again, from a clean slate,
        when an error handler takes it over); returns itself."""
        self.run = run
        self.step = step
        self._config: dict[str, Any] | None = None
        self.interrupt_idx = 0
        self.resume_values: list[Any] | None = resume
        # When someone listens: the config of code running inside this task's node
        # run (callbacks = that run's child manager). Set by the runner.
        self.traced: dict[str, Any] | None = None
        # For Runtime.execution_info: the node attempt (set by the retry loop) and
        # when the first one started.
        self.attempt = 1
        self.started = time.time()
        self.calls: Any = None  # the calls this task made (pregel/_call.py)
        self.subgraph_calls = 0  # graph runs started inside this task (their namespaces)
        # While an attempt runs under an idle timeout: called with heartbeat=True
        # (runtime.heartbeat()) or False (streamed output) to push the deadline on.
        self.on_progress: Callable[[bool], None] | None = None
        return self

    @property
    def task(self) -> Task:
        """The task itself: code written for the running task's context reads
        ``tc.task.name``, ``tc.task.node``..."""
        return self

    @property
    def path(self) -> tuple[Any, ...]:
        """LangGraph's task path: why the task exists (made on demand, rarely read). A
        ``Send`` task's ends with False, as LangGraph's does (not a ``@task`` call); a
        call's is set by ``pregel._call``."""
        call_path = getattr(self, "call_path", None)
        if call_path is not None:
            return call_path
        return (PULL_PATH, self.name) if self.kind == PULL else (PUSH_PATH, self.index, False)

    def __repr__(self) -> str:
        return f"Task({self.name!r}, step-kind={'pull' if self.kind == PULL else 'push'})"

    @property
    def task_ns(self) -> str:
        """This task's checkpoint namespace: ``parent_ns|node:task_id``.

        A run that made no task ids (nothing saves or shows them) makes this task's
        here, when its namespace is first asked for (its config, an interrupt, a
        subgraph run): it is the id the loop would have given it.
        """
        task = self
        if not task.id:
            run = self.run
            task.id = task_id(run.progress.checkpoint_id, run.ns, self.step, task.name, task.kind, task.index)
        own = f"{task.name}{NS_END}{task.id}"
        return f"{self.run.ns}{NS_SEP}{own}" if self.run.ns else own

    def config(self, callbacks: Any = None) -> dict[str, Any]:
        """The langchain-core config this task's node (and its children) runs with."""
        cfg = self._config
        if cfg is not None and callbacks is None:
            return cfg
        run = self.run
        shared = run.progress.task_config
        if shared is None:
            # What every task's config of this run starts from, made once per run.
            base = run.config
            shared = run.progress.task_config = (
                run_metadata(base), base.get("tags") or (), base.get(CONF) or {},
                base.get("recursion_limit", 10007), base.get("max_concurrency"),
            )
        meta, tags, configurable, limit, max_concurrency = shared
        task = self
        ns = self.task_ns
        metadata = {**meta, META_STEP: self.step, META_NODE: task.name, META_TRIGGERS: task.triggers,
                    META_PATH: task.path, META_NS: ns}
        if task.node.metadata:
            metadata.update(task.node.metadata)
        cfg = {
            "tags": list(tags),
            "metadata": metadata,
            "callbacks": callbacks if callbacks is not None else run.callbacks,
            "recursion_limit": limit,
            # LangGraph's CONFIG_KEY_DURABILITY: nodes that read it find the run's mode.
            "configurable": {**configurable, "checkpoint_ns": ns, "__pregel_durability": run.durability},
        }
        if max_concurrency is not None:
            cfg["max_concurrency"] = max_concurrency
        if callbacks is None:
            self._config = cfg
        return cfg

    def writer(self, chunk: Any) -> None:
        """``stream_mode="custom"`` writer for this task."""
        progress = self.on_progress
        if progress is not None:
            progress(False)
        self.run.emit("custom", chunk)

    def chunk_progress(self, chunk: Any) -> None:
        """The stream writer when nobody streams ``custom``: the chunk is dropped, but
        counts as progress for an idle timeout."""
        progress = self.on_progress
        if progress is not None:
            progress(False)

    def heartbeat(self) -> None:
        """``runtime.heartbeat()``: the node is making progress (pushes an idle
        timeout's deadline on; nothing otherwise)."""
        progress = self.on_progress
        if progress is not None:
            progress(True)


# The running task's name where code reads it as the task's context.
TaskContext = Task

current_task: ContextVar[Task | None] = ContextVar("asyncgraph_task", default=None)


def interrupt_in_task(value: Any, schema: dict[str, Any] | None, adapter: Any) -> Any:
    """Implementation of :func:`asyncgraph.types.interrupt`."""
    tc = current_task.get()
    if tc is None:
        raise RuntimeError("interrupt() was called outside of a running graph node")
    idx = tc.interrupt_idx
    tc.interrupt_idx += 1
    resume = tc.resume_values
    if resume is not None and idx < len(resume):
        answer = resume[idx]
        if adapter is None:
            return answer
        try:
            return adapter.validate_python(answer)
        except Exception as exc:
            mark_invalid_resume(exc, interrupt_id(tc, idx), value)
            raise
    raise GraphInterrupt([Interrupt(value=value, id=interrupt_id(tc, idx), response_schema=schema)])


def interrupt_id(tc: TaskContext, idx: int) -> InterruptId:
    raw = f"{tc.task_ns}|{tc.task.name}|{tc.task.index}|{idx}".encode()
    return InterruptId(hashlib.blake2b(raw, digest_size=16).hexdigest())


def get_task_context() -> TaskContext:
    tc = current_task.get()
    if tc is None:
        raise RuntimeError("Called get_config outside of a runnable context")
    return tc


def noop_writer(chunk: Any) -> None:
    """The stream writer outside a run, or when nobody streams ``custom``."""


def stream_writer() -> Callable[[Any], None]:
    tc = current_task.get()
    if tc is None:
        return noop_writer
    sink = tc.run.sink
    if sink is None or "custom" not in sink.modes:
        # Nobody reads the chunks, but under an idle timeout writing one is progress.
        return noop_writer if tc.on_progress is None else tc.chunk_progress
    return tc.writer
