"""The run context: what one run's tasks share.

Two objects, by who may change them:

* :class:`RunContext`, the run's configuration: frozen, built once by
  ``main.Pregel._run_context`` before the run starts (assigning to it raises).
* :class:`RunProgress`, what changes while the run goes (the checkpoint it stands on,
  the step, the tasks running). The loop (``_loop._Loop``) owns and writes it; tasks read
  it through ``RunContext.progress``.

The task context (what a running node sees) is :mod:`asyncgraph._context`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncgraph._context import TaskContext
    from asyncgraph.pregel._algo import RunState, Task
    from asyncgraph.pregel._plan import Plan
    from asyncgraph.pregel._saving import Saver


class RunProgress:
    """The part of a run that changes as it goes. Written by the loop (and by the saver
    it drives) only; tasks, ``_call`` and the run deadline read it."""

    __slots__ = ("checkpoint_id", "step", "current", "run_state", "ckpt", "pending_writes", "pending_origin",
                 "loop")

    def __init__(self) -> None:
        self.checkpoint_id: str | None = None  # the checkpoint the current step started from
        self.step = -1  # the step running now (for a run deadline's report)
        self.current: Any = ()  # tasks of the step running now (for a run deadline's report)
        # The run's channels (RunState), for nodes that read the state themselves: a
        # ToolNode sent a bare list of tool calls (Send("tools", [call])).
        self.run_state: RunState | None = None
        # For calls made by running tasks (pregel/_call.py): the loop's Saver, the
        # writes saved against the checkpoint this run resumed (or replays; _call indexes
        # them by task id on first use), for a replay that checkpoint's (id, next step),
        # and the event loop the run runs on.
        self.ckpt: Saver | None = None
        self.pending_writes: Any = ()
        self.pending_origin: tuple[str, int] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None


@dataclass(frozen=True, slots=True, eq=False)
class RunContext:
    """One run's configuration, shared by its tasks. Frozen: built once, before the run;
    :meth:`replace` makes a changed copy (sharing :attr:`progress`)."""

    graph: Any
    plan: Plan
    config: dict[str, Any]
    # Set var_child_runnable_config for nodes' children (someone traces, or the config
    # carries what a child must see).
    propagate: bool = False
    callbacks: Any = None  # parent callbacks (manager or list) when someone listens
    run_manager: Any = None  # the graph run's callback run manager
    sink: Any = None  # the StreamSink (or a subgraph's view of its parent's), or None
    ns: str = ""  # checkpoint namespace of this (sub)graph run, "" at the root
    ns_tuple: tuple[str, ...] = ()  # namespace as streamed with subgraphs=True
    inline_sync: bool = False  # sync API driving: single sync tasks may run inline
    # Started by sync invoke / stream (or a subgraph of such a run): Runnable nodes
    # then run their sync path, as in LangGraph.
    sync_api: bool = False
    context: Any = None
    store: Any = None
    cache: Any = None  # node result cache (compile(cache=...)), or the parent's
    control: Any = None  # RunControl of the call (or the parent's): drain requests
    # output_keys= of the call: (keys, one bare key given), or None for the schema's
    out_select: tuple[tuple[str, ...], bool] | None = None
    saver: Any = None  # the checkpointer (BaseCheckpointSaver), or None
    parent: TaskContext | None = None  # the parent graph's task running this subgraph
    limits: Any = None
    durability: str = "async"
    run_id: Any = None
    step_timeout: float | None = None
    progress: RunProgress = field(default_factory=RunProgress)

    def emit(self, mode: str, chunk: Any) -> None:
        sink = self.sink
        if sink is not None and mode in sink.modes:
            sink.push(self.ns_tuple, mode, chunk)

    def replace(self, **changes: Any) -> RunContext:
        """A copy with ``changes``; the copy shares this run's :attr:`progress`."""
        return dataclasses.replace(self, **changes)


__all__ = ["RunContext", "RunProgress"]
