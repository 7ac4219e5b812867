"""Run and task context: one object per run, one per task, found through a ContextVar.

Nothing here builds a langchain-core config unless someone asks for it: a node that
takes no ``config`` argument, in a run nobody traces, costs one ContextVar set/reset.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from asyncgraph.constants import CONF, NS_END, NS_SEP
from asyncgraph.errors import GraphInterrupt
from asyncgraph.types import Interrupt

if TYPE_CHECKING:
    import asyncio

    from asyncgraph.pregel._algo import Task
    from asyncgraph.pregel._plan import Plan

# Metadata keys LangGraph users and tracing tools read; keep the names.
META_NODE = "langgraph_node"
META_STEP = "langgraph_step"
META_TRIGGERS = "langgraph_triggers"
META_PATH = "langgraph_path"
META_NS = "langgraph_checkpoint_ns"


class StreamSink:
    """Where a run's stream chunks go: a buffer the consumer drains.

    ``push`` may be called from any thread; chunks keep the order they were pushed in.
    Each item is ``(namespace, mode, chunk)``.
    """

    __slots__ = ("buf", "waiter", "modes", "subgraphs", "loop", "thread", "drained")

    def __init__(self, modes: frozenset[str], subgraphs: bool, loop: asyncio.AbstractEventLoop) -> None:
        self.buf: deque[tuple[tuple[str, ...], str, Any]] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.modes = modes
        self.subgraphs = subgraphs
        self.loop = loop
        self.thread = threading.get_ident()
        # Runs waiting for the consumer to take what they streamed (backpressure:
        # a stream does not run ahead of its reader by more than one step).
        self.drained: list[asyncio.Future[None]] = []

    def push(self, ns: tuple[str, ...], mode: str, chunk: Any) -> None:
        if threading.get_ident() != self.thread:
            self.loop.call_soon_threadsafe(self._push, ns, mode, chunk)
        else:
            self._push(ns, mode, chunk)

    def _push(self, ns: tuple[str, ...], mode: str, chunk: Any) -> None:
        self.buf.append((ns, mode, chunk))
        self.wake()

    def wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def wait_drained(self) -> None:
        """Wait until the consumer has taken every chunk pushed so far."""
        if not self.buf:
            return
        fut = self.loop.create_future()
        self.drained.append(fut)
        self.wake()
        await fut

    def release(self) -> None:
        """Called by the consumer when the buffer is empty."""
        waiting = self.drained
        if waiting:
            self.drained = []
            for fut in waiting:
                if not fut.done():
                    fut.set_result(None)


class ChildSink:
    """A subgraph's view of its parent's stream when ``subgraphs=False``: only
    ``custom`` chunks pass through (tokens reach the parent through callbacks)."""

    __slots__ = ("parent", "modes", "subgraphs")

    def __init__(self, parent: StreamSink) -> None:
        self.parent = parent
        self.modes = parent.modes & {"custom"}
        self.subgraphs = False

    def push(self, ns: tuple[str, ...], mode: str, chunk: Any) -> None:
        self.parent.push(ns, mode, chunk)

    async def wait_drained(self) -> None:
        await self.parent.wait_drained()


class RunContext:
    """Everything about one run that its tasks share. Built once per run."""

    __slots__ = (
        "graph",
        "plan",
        "config",
        "propagate",
        "callbacks",
        "run_manager",
        "sink",
        "ns",
        "ns_tuple",
        "stop",
        "inline_sync",
        "context",
        "store",
        "cache",
        "control",
        "out_select",
        "saver",
        "checkpoint_id",
        "resume",
        "parent",
        "limits",
        "durability",
        "run_id",
        "step_timeout",
        "current",
        "step",
        "ckpt",
        "pending_writes",
        "pending_origin",
        "loop",
    )

    def __init__(self, graph: Any, plan: Plan, config: dict[str, Any]) -> None:
        self.graph = graph
        self.plan = plan
        self.config = config
        self.propagate = False  # set var_child_runnable_config for nodes' children
        self.callbacks: Any = None  # parent callbacks (manager or list) when someone listens
        self.run_manager: Any = None  # the graph run's callback run manager
        self.sink: StreamSink | None = None
        self.ns = ""  # checkpoint namespace of this (sub)graph run, "" at the root
        self.ns_tuple: tuple[str, ...] = ()  # namespace as streamed with subgraphs=True
        self.stop = 0
        self.inline_sync = False  # sync API driving: single sync tasks may run inline
        self.context: Any = None
        self.store: Any = None
        self.cache: Any = None  # node result cache (compile(cache=...)), or the parent's
        self.control: Any = None  # RunControl of the call (or the parent's): drain requests
        # output_keys= of the call: (keys, one bare key given), or None for the schema's
        self.out_select: tuple[tuple[str, ...], bool] | None = None
        self.saver: Any = None
        self.checkpoint_id: str | None = None
        self.resume: Any = None  # Command(resume=...) value(s) for this run
        self.parent: TaskContext | None = None
        self.limits: Any = None
        self.durability = "async"
        self.run_id: Any = None
        self.step_timeout: float | None = None
        self.current: Any = ()  # tasks of the step running now (for timeout reports)
        self.step = -1
        # For calls made by running tasks (asyncgraph.pregel._call): the loop's
        # checkpoint writer, the writes saved against the checkpoint this run resumed
        # (or replays), and for a replay that checkpoint's (id, next step).
        self.ckpt: Any = None
        self.pending_writes: Any = ()
        self.pending_origin: tuple[str, int] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop the run runs on

    def emit(self, mode: str, chunk: Any) -> None:
        sink = self.sink
        if sink is not None and mode in sink.modes:
            sink.push(self.ns_tuple, mode, chunk)


class TaskContext:
    """One running task: what ``get_config()``, ``interrupt()`` and writers see."""

    __slots__ = ("run", "task", "step", "_config", "interrupt_idx", "resume_values", "traced", "calls")

    def __init__(self, run: RunContext, task: Task, step: int) -> None:
        self.run = run
        self.task = task
        self.step = step
        self._config: dict[str, Any] | None = None
        self.interrupt_idx = 0
        self.resume_values: list[Any] | None = None
        # When someone listens: the config of code running inside this task's node
        # run (callbacks = that run's child manager). Set by the runner.
        self.traced: dict[str, Any] | None = None
        self.calls: Any = None  # the calls this task made (asyncgraph.pregel._call)

    @property
    def task_ns(self) -> str:
        """This task's checkpoint namespace: ``parent_ns|node:task_id``."""
        own = f"{self.task.name}{NS_END}{self.task.id}" if self.task.id else self.task.name
        return f"{self.run.ns}{NS_SEP}{own}" if self.run.ns else own

    def config(self, callbacks: Any = None) -> dict[str, Any]:
        """The langchain-core config this task's node (and its children) runs with."""
        cfg = self._config
        if cfg is not None and callbacks is None:
            return cfg
        run = self.run
        base = run.config
        task = self.task
        metadata = dict(base.get("metadata") or ())
        configurable = base.get(CONF) or {}
        for k, v in configurable.items():
            if not k.startswith("__") and isinstance(v, (str, int, float, bool)) and k not in metadata:
                metadata[k] = v
        metadata[META_STEP] = self.step
        metadata[META_NODE] = task.name
        metadata[META_TRIGGERS] = task.triggers
        metadata[META_PATH] = task.path
        metadata[META_NS] = self.task_ns
        if task.node.metadata:
            metadata.update(task.node.metadata)
        cfg = {
            "tags": list(base.get("tags") or ()),
            "metadata": metadata,
            "callbacks": callbacks if callbacks is not None else run.callbacks,
            "recursion_limit": base.get("recursion_limit", 10007),
            "configurable": {**configurable, "checkpoint_ns": self.task_ns} if run.saver is not None or configurable else dict(configurable),
        }
        if base.get("max_concurrency") is not None:
            cfg["max_concurrency"] = base["max_concurrency"]
        if callbacks is None:
            self._config = cfg
        return cfg

    def writer(self, chunk: Any) -> None:
        """``stream_mode="custom"`` writer for this task."""
        self.run.emit("custom", chunk)


current_task: ContextVar[TaskContext | None] = ContextVar("asyncgraph_task", default=None)


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
            from asyncgraph.errors import mark_invalid_resume

            mark_invalid_resume(exc, interrupt_id(tc, idx), value)
            raise
    raise GraphInterrupt([Interrupt(value=value, id=interrupt_id(tc, idx), response_schema=schema)])


def interrupt_id(tc: TaskContext, idx: int) -> str:
    import hashlib

    raw = f"{tc.task_ns}|{tc.task.name}|{tc.task.index}|{idx}".encode()
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


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
        return noop_writer
    return tc.writer
