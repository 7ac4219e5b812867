"""Where a subgraph run keeps its checkpoints, and which one it starts from.

A graph run inside a running task (a subgraph node, or a graph a node invokes) shares
its parent's thread and saves under a namespace of its own:

- ``node:task_id`` (the task's namespace) by default: a new task, a new namespace, so
  each run of the subgraph starts fresh, while a resume of the same task finds the
  checkpoint of the run it interrupted;
- a task that runs several graphs gives the second one ``node:task_id|1`` and so on,
  so they never read each other's checkpoints;
- a subgraph compiled with ``checkpointer=True`` drops the task ids (``node``): one
  history per thread, so its state accumulates from one run to the next (its stream
  chunks and its tasks' namespaces drop them too, as in LangGraph).

Which checkpoint a run starts from (:func:`address`, :func:`load`):

- the root of a run addressed with a subgraph's config (``checkpoint_ns`` names a
  subgraph) starts from ``checkpoint_map[""]``, its own checkpoint of that moment;
  a subgraph whose namespace the map names starts from that exact checkpoint;
- while the root replays an earlier checkpoint (time travel), each subgraph, the
  first time it runs, starts from its latest checkpoint saved *before* the one the
  root replays (:class:`ReplayBound`): its state as it was then, not as it is now;
- otherwise from the latest checkpoint of its namespace.
"""

from __future__ import annotations

import functools
from typing import Any

from asyncgraph.constants import CONF, NS_END, NS_SEP
from asyncgraph.pregel._protocol import is_pregel

MAP = "checkpoint_map"  # namespace -> checkpoint id, in a subgraph snapshot's config


def own_namespace(ns: str) -> str:
    """``ns`` without task ids (``a:1f2..|b:9c1..|1`` -> ``a|b|1``): where a
    ``checkpointer=True`` subgraph saves, the same for every run on the thread."""
    return NS_SEP.join(part.split(NS_END, 1)[0] for part in ns.split(NS_SEP)) if ns else ns


def child_namespace(task_ns: str, calls: int, own: bool = False) -> str:
    """The namespace of the ``calls``-th (from 0) graph run inside a task; with
    ``own`` (a ``checkpointer=True`` subgraph), without task ids: its checkpoints,
    its stream chunks and its tasks' namespaces are the same in every run."""
    ns = task_ns if calls == 0 else f"{task_ns}{NS_SEP}{calls}"
    return own_namespace(ns) if own else ns


class ReplayBound:
    """Shared by every subgraph run of one root run that replays checkpoint
    ``checkpoint_id``: the first run of each subgraph starts from its state as it was
    before that checkpoint; later runs of it (a loop) from its latest checkpoint."""

    __slots__ = ("checkpoint_id", "visited")

    def __init__(self, checkpoint_id: str) -> None:
        self.checkpoint_id = checkpoint_id
        self.visited: set[str] = set()

    def first_visit(self, ns: str) -> bool:
        # Without the last task id: the same subgraph node in a later step is the same.
        key = ns.rsplit(NS_END, 1)[0]
        if key in self.visited:
            return False
        self.visited.add(key)
        return True


def replay_bound(tup: Any) -> ReplayBound:
    """The bound for a root run that replays ``tup``: subgraph checkpoints older than
    it. A fork made by ``update_state`` was saved after the subgraph checkpoints of the
    run it forks, so its parent is the bound."""
    cid = tup.checkpoint["id"]
    if tup.metadata.get("source") in ("update", "fork") and tup.parent_config:
        cid = (tup.parent_config.get(CONF) or {}).get("checkpoint_id") or cid
    return ReplayBound(cid)


def address(parent: Any, ns: str, config: dict[str, Any]) -> dict[str, Any]:
    """The config a run loads and saves its checkpoints with (see the module
    docstring): the root's own namespace ``""``; a subgraph on its parent's thread
    the namespace of :func:`child_namespace` (or :func:`own_namespace`), and the
    checkpoint id the ``checkpoint_map`` names for it, never its parent's."""
    conf = config.get(CONF) or {}
    if parent is None:
        if not conf.get("checkpoint_ns"):
            return config
        # A subgraph's config given to the root graph: the root's checkpoint of that
        # moment, and the subgraph's from the map when the subgraph runs.
        cmap = conf.get(MAP) or {}
        new = {k: v for k, v in conf.items() if k != "checkpoint_id"}
        new["checkpoint_ns"] = ""
        if cmap.get(""):
            new["checkpoint_id"] = cmap[""]
        return {**config, CONF: new}
    pconf = parent.run.config.get(CONF) or {}
    if conf.get("thread_id") != pconf.get("thread_id"):
        return config  # a thread of its own
    new = {k: v for k, v in conf.items() if k != "checkpoint_id"}
    new["checkpoint_ns"] = ns
    cid = (conf.get(MAP) or {}).get(ns)
    if cid:
        new["checkpoint_id"] = cid
    return {**config, CONF: new}


async def load(rc: Any, saver: Any, config: dict[str, Any]) -> tuple[Any, bool]:
    """The checkpoint a run starts from, and whether it is a subgraph's state from
    before a replayed checkpoint (the run then applies its input afresh)."""
    conf = config[CONF]
    bound = rc.progress.replay
    if bound is None or rc.parent is None or conf.get("checkpoint_id") or not bound.first_visit(conf["checkpoint_ns"]):
        return await saver.aget_tuple(config), False
    before = {CONF: {"checkpoint_id": bound.checkpoint_id}}
    async for tup in saver.alist(config, before=before, limit=1):
        return tup, True
    return None, True


def ancestors(rc: Any, config: dict[str, Any]) -> dict[str, str]:
    """The checkpoint of each enclosing graph run, by namespace, that a subgraph run
    saving with ``config`` runs under (LangGraph's ``metadata["parents"]``): its
    parent's, at the step running the subgraph, and the parent's own ancestors. Empty
    for the root, or for a subgraph on a thread of its own."""
    parent = rc.parent
    if parent is None:
        return {}
    prc = parent.run
    outer = prc.progress.ckpt  # the parent's Saver
    cid = prc.progress.checkpoint_id
    pconf = prc.config.get(CONF) or {}
    if outer is None or cid is None or (config.get(CONF) or {}).get("thread_id") != pconf.get("thread_id"):
        return {}
    return {**outer.parents, prc.ns: cid}


def task_state(thread_id: Any, ns: str, task_name: str, task_id: str, child: Any) -> dict[str, Any]:
    """A subgraph task's ``state`` in a snapshot or a ``debug`` checkpoint: the config
    that addresses the checkpoints of the subgraph run inside it."""
    own = f"{task_name}{NS_END}{task_id}"
    child_ns = f"{ns}{NS_SEP}{own}" if ns else own
    if child.checkpointer is True:
        child_ns = own_namespace(child_ns)
    return {CONF: {"thread_id": thread_id, "checkpoint_ns": child_ns}}


def with_map(config: Any, cmap: dict[str, str]) -> Any:
    """``config`` (of a subgraph checkpoint) with the ``checkpoint_map`` that leads a
    run of the root graph back to it: ``cmap`` (its ancestors') plus its own entry."""
    conf = config.get(CONF) or {}
    ns = conf.get("checkpoint_ns") or ""
    if not ns or "checkpoint_id" not in conf:
        return config
    return {**config, CONF: {**conf, MAP: {**cmap, ns: conf["checkpoint_id"]}}}


def node_graph(node: Any) -> Any:
    """The compiled graph a node runs: a subgraph node's, or one that the node's
    function refers to (a closure variable or a global it names) and so presumably
    invokes, as LangGraph finds them; None for other nodes."""
    call = node.call
    if call is None:
        return None
    if call.kind == "subgraph":
        return call.func
    return _referenced_graph(call.func)


def _referenced_graph(fn: Any) -> Any:
    for _ in range(8):  # through partials, decorators and Runnable wrappers
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif hasattr(fn, "__wrapped__"):
            fn = fn.__wrapped__
        elif getattr(fn, "__code__", None) is None and callable(getattr(fn, "func", None)):
            fn = fn.func  # RunnableCallable / RunnableLambda
        else:
            break
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if is_pregel(value):
            return value
    names = getattr(fn, "__globals__", None) or {}
    for name in code.co_names:
        value = names.get(name)
        if is_pregel(value):
            return value
    return None
