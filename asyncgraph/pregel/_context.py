"""The run context: one object per run that its tasks share.

The task context (what a running node sees) is :mod:`asyncgraph._context`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from asyncgraph.pregel._stream import StreamSink

if TYPE_CHECKING:
    from asyncgraph._context import TaskContext
    from asyncgraph.pregel._plan import Plan


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
        "sync_api",
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
        "run_state",
        "ckpt",
        "pending_writes",
        "pending_origin",
        "loop",
        "replay",
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
        # Started by sync invoke / stream (or a subgraph of such a run): Runnable nodes
        # then run their sync path, as in LangGraph.
        self.sync_api = False
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
        # The run's channels (RunState), for nodes that read the state themselves: a
        # ToolNode sent a bare list of tool calls (Send("tools", [call])).
        self.run_state: Any = None
        # For calls made by running tasks (pregel/_call.py): the loop's Saver, the
        # writes saved against the checkpoint this run resumed (or replays), for a
        # replay that checkpoint's (id, next step), and the event loop the run runs on.
        self.ckpt: Any = None
        self.pending_writes: Any = ()
        self.pending_origin: tuple[str, int] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        # While the root run replays an earlier checkpoint: which subgraph checkpoints
        # its subgraphs start from (pregel/_nested.ReplayBound), shared by them all.
        self.replay: Any = None

    def emit(self, mode: str, chunk: Any) -> None:
        sink = self.sink
        if sink is not None and mode in sink.modes:
            sink.push(self.ns_tuple, mode, chunk)
