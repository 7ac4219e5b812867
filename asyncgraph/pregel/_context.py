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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from asyncgraph.pregel._algo import RunState

if TYPE_CHECKING:
    from asyncgraph._context import TaskContext
    from asyncgraph.pregel._algo import Task
    from asyncgraph.pregel._plan import Plan
    from asyncgraph.pregel._saving import Saver


class RunProgress(RunState):
    """The part of a run that changes as it goes. Written by the loop (and by the saver
    it drives) only; tasks, ``_call`` and the run deadline read it.

    It is also the run's :class:`~asyncgraph.pregel._algo.RunState` (channels, versions,
    what each node has seen), filled in by the loop when the run starts (``setup``):
    one object per run instead of two, and every run in flight is one object fewer for
    the collector to walk. ``step`` is the step planned or running now.
    """

    __slots__ = ("checkpoint_id", "current", "left_running", "ckpt", "pending_writes", "pending_origin",
                 "loop", "replay", "resumed_step", "task_config")

    def __init__(self) -> None:
        self.plan = None  # type: ignore[assignment]  # no run state until the loop's setup()
        self.checkpoint_id: str | None = None  # the checkpoint the current step started from
        self.step = -1  # the step running now (for a run deadline's report)
        self.current: Any = ()  # tasks of the step running now (for a run deadline's report)
        # Once the run has closed (finished, failed, cancelled): the names of the tasks
        # of its last step that had not finished (a run deadline's report).
        self.left_running: tuple[str, ...] = ()
        # For calls made by running tasks (pregel/_call.py): the loop's Saver, the
        # writes saved against the checkpoint this run resumed (or replays; _call indexes
        # them by task id on first use), for a replay that checkpoint's (id, next step),
        # and the event loop the run runs on.
        self.ckpt: Saver | None = None
        self.pending_writes: Any = ()
        self.pending_origin: tuple[str, int] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        # While the root run replays an earlier checkpoint: which subgraph checkpoints
        # its subgraphs start from (pregel/_nested.ReplayBound), shared by them all.
        self.replay: Any = None
        # The step a resumed run (input None or ``Command(resume=...)``) runs first: a
        # subgraph run by one of its tasks continues its own saved run, whatever input
        # the task gives it (pregel/_loop.py, ``start``).
        self.resumed_step = -1
        # The run-wide part of its tasks' langchain-core configs (TaskContext.config),
        # made when the first one is.
        self.task_config: tuple[Any, ...] | None = None

    @property
    def run_state(self) -> RunState | None:
        """The run's channels, for nodes that read the state themselves (a ToolNode sent
        a bare list of tool calls: ``Send("tools", [call])``); None before the run
        started."""
        return None if self.plan is None else self


class _RunFields:
    """:class:`RunContext`'s fields, writable: a RunContext is built as one of these,
    then becomes a RunContext (same layout) and can no longer be changed. Plain slot
    stores cost a tenth of a frozen dataclass's ``object.__setattr__`` per field, and a
    run builds one per (sub)graph run."""

    __slots__ = ("graph", "plan", "config", "propagate", "callbacks", "run_manager", "sink", "ns", "ns_tuple",
                 "inline_sync", "sync_api", "context", "store", "cache", "control", "out_select", "saver",
                 "parent", "limits", "durability", "run_id", "step_timeout", "progress")

    graph: Any
    plan: Plan
    config: dict[str, Any]
    # Set var_child_runnable_config for nodes' children (someone traces, or the config
    # carries what a child must see).
    propagate: bool
    callbacks: Any  # parent callbacks (manager or list) when someone listens
    run_manager: Any  # the graph run's callback run manager
    sink: Any  # the StreamSink (or a subgraph's view of its parent's), or None
    ns: str  # checkpoint namespace of this (sub)graph run, "" at the root
    ns_tuple: tuple[str, ...]  # namespace as streamed with subgraphs=True
    inline_sync: bool  # sync API driving: single sync tasks may run inline
    # Started by sync invoke / stream (or a subgraph of such a run): Runnable nodes
    # then run their sync path, as in LangGraph.
    sync_api: bool
    context: Any
    store: Any
    cache: Any  # node result cache (compile(cache=...)), or the parent's
    control: Any  # RunControl of the call (or the parent's): drain requests
    # output_keys= of the call: (keys, one bare key given), or None for the schema's
    out_select: tuple[tuple[str, ...], bool] | None
    saver: Any  # the checkpointer (BaseCheckpointSaver), or None
    parent: TaskContext | None  # the parent graph's task running this subgraph
    limits: Any
    durability: str
    run_id: Any
    step_timeout: float | None
    progress: RunProgress  # what changes while the run goes: the loop's


class RunContext(_RunFields):
    """One run's configuration, shared by its tasks. Frozen: built once, before the run
    (assigning raises ``dataclasses.FrozenInstanceError``); :meth:`replace` makes a
    changed copy, sharing :attr:`progress`."""

    __slots__ = ()

    def __new__(
        cls,
        graph: Any,
        plan: Plan,
        config: dict[str, Any],
        *,
        propagate: bool = False,
        callbacks: Any = None,
        run_manager: Any = None,
        sink: Any = None,
        ns: str = "",
        ns_tuple: tuple[str, ...] = (),
        inline_sync: bool = False,
        sync_api: bool = False,
        context: Any = None,
        store: Any = None,
        cache: Any = None,
        control: Any = None,
        out_select: tuple[tuple[str, ...], bool] | None = None,
        saver: Any = None,
        parent: TaskContext | None = None,
        limits: Any = None,
        durability: str = "async",
        run_id: Any = None,
        step_timeout: float | None = None,
        progress: RunProgress | None = None,
    ) -> RunContext:
        rc = _RunFields()
        rc.graph = graph
        rc.plan = plan
        rc.config = config
        rc.propagate = propagate
        rc.callbacks = callbacks
        rc.run_manager = run_manager
        rc.sink = sink
        rc.ns = ns
        rc.ns_tuple = ns_tuple
        rc.inline_sync = inline_sync
        rc.sync_api = sync_api
        rc.context = context
        rc.store = store
        rc.cache = cache
        rc.control = control
        rc.out_select = out_select
        rc.saver = saver
        rc.parent = parent
        rc.limits = limits
        rc.durability = durability
        rc.run_id = run_id
        rc.step_timeout = step_timeout
        rc.progress = RunProgress() if progress is None else progress
        rc.__class__ = cls  # from now on frozen
        return rc  # type: ignore[return-value]

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(
            f"RunContext is the run's configuration, frozen once built: cannot assign {name!r}"
            " (per-step state lives in RunContext.progress, written by the loop)"
        )

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"RunContext is frozen: cannot delete {name!r}")

    def emit(self, mode: str, chunk: Any) -> None:
        sink = self.sink
        if sink is not None and mode in sink.modes:
            sink.push(self.ns_tuple, mode, chunk)

    def replace(self, **changes: Any) -> RunContext:
        """A copy with ``changes``; the copy shares this run's :attr:`progress`."""
        fields = {name: getattr(self, name) for name in _RunFields.__slots__}
        fields.update(changes)
        return RunContext(**fields)


__all__ = ["RunContext", "RunProgress"]


# -- whether LangSmith traces this run ----------------------------------------------


def _tracing_check() -> Callable[[], bool]:
    """The check :func:`tracing_enabled` makes, imported on first use (langsmith is not
    imported by ``import asyncgraph``).

    The answer is langchain-core's (``langchain_core.tracers.context.
    _tracing_v2_is_enabled``, the check its own callback manager makes), asked in the
    same order of the same places: langchain-core's ``tracing_v2_enabled`` context, then
    langsmith's ``tracing_context(enabled=...)``, a current run tree, the process-wide
    setting and the environment (``LANGSMITH_TRACING``, read once by langsmith). That
    function builds langsmith's whole tracing-context dict (nine context variables)
    each time: 5-10 µs per run for a question of four context-variable reads.
    ``tests/pregel/test_tracing_check.py`` holds the two answers equal in each case.
    If langsmith's internals are not where this looks, the check is langchain-core's.
    """
    from langchain_core.tracers.context import _tracing_v2_is_enabled, tracing_v2_callback_var

    try:
        from langsmith import utils as ls_utils
        from langsmith._internal import _context as ls_context

        enabled_var = ls_context._TRACING_ENABLED
        run_tree = ls_context.get_current_run_tree
        env = ls_utils.get_env_var
        ls_context._GLOBAL_TRACING_ENABLED  # noqa: B018  (present: read at each check)
    except (ImportError, AttributeError):  # pragma: no cover  (another langsmith layout)
        return lambda: bool(_tracing_v2_is_enabled())

    def check() -> bool:
        if tracing_v2_callback_var.get() is not None:
            return True
        enabled = enabled_var.get()
        if enabled is not None:
            return bool(enabled)
        if run_tree():
            return True
        fallback = ls_context._GLOBAL_TRACING_ENABLED
        if fallback is not None:
            return bool(fallback)
        return env("TRACING_V2", env("TRACING", "")) == "true"  # positional: a cheaper cache key

    return check


_check_tracing: Callable[[], bool] | None = None


def tracing_enabled() -> bool:
    """Whether LangSmith tracing is on for a run starting here (env or context), as
    langchain-core decides it; see :func:`_tracing_check`."""
    global _check_tracing
    if _check_tracing is None:
        _check_tracing = _tracing_check()
    return _check_tracing()
