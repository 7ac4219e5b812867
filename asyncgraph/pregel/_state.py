"""Thread state: ``get_state``, ``get_state_history``, ``update_state``.

Reads checkpoints through the graph's saver and rebuilds what would run next with the
same planning code the loop uses, so ``next`` and ``tasks`` are exactly what a resume
would do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from asyncgraph.checkpoint.base import create_checkpoint
from asyncgraph.constants import CONF, END, INPUT, NS_END, NS_SEP, NULL_TASK_ID, START
from asyncgraph.errors import InvalidInputError, InvalidUpdateError
from asyncgraph.pregel._algo import (
    task_result,
    PULL,
    apply_input,
    apply_null_writes,
    SPECIAL,
    RunState,
    Task,
    apply_writes,
    prepare_tasks,
    read_state,
    with_pending_applied,
)
from asyncgraph._context import TaskContext, current_task
from asyncgraph.pregel._context import RunContext
from asyncgraph.pregel._nested import MAP, node_graph, task_state, with_map
from asyncgraph.constants import ERROR, INTERRUPT, NO_WRITES
from asyncgraph.pregel._runner import run_branch
from asyncgraph.pregel._saving import saved_values, user_metadata
from asyncgraph.pregel._schema import ROOT_KEY
from asyncgraph.pregel._writes import input_writes, output_writes
from asyncgraph.types import Interrupt, PregelTask, StateSnapshot, StateUpdate

COPY = "__copy__"  # update_state(as_node=COPY): fork the checkpoint


def _saver(graph: Any) -> Any:
    saver = graph.checkpointer
    if saver is None or saver is True or saver is False:
        raise InvalidInputError("No checkpointer set: compile the graph with checkpointer=... to keep state")
    return saver


def subgraphs_of(graph: Any, namespace: str | None = None, recurse: bool = False) -> list[tuple[str, Any]]:
    """``(name, graph)`` of the subgraphs added as nodes of ``graph`` (with ``recurse``,
    theirs too, named ``parent|child``); ``namespace`` keeps only that one (and, with
    ``recurse``, a nested one such as ``"a|b"``)."""
    out: list[tuple[str, Any]] = []
    for name, node in graph.plan.nodes.items():
        sub = node_graph(node)
        if sub is None or sub is graph:
            continue
        if namespace == name:
            return [(name, sub)]
        if namespace is None:
            out.append((name, sub))
        elif not namespace.startswith(name + NS_SEP):
            continue
        if recurse:
            rest = None if namespace is None else namespace[len(name) + 1:]
            out.extend((f"{name}{NS_SEP}{n}", g) for n, g in subgraphs_of(sub, rest, recurse))
    return out


def _graph_for(graph: Any, config: Any) -> Any:
    """The (sub)graph a config's ``checkpoint_ns`` (``node:task_id|...``) addresses: a
    subgraph's checkpoint is read and written with the subgraph's own plan."""
    ns = (config.get(CONF) or {}).get("checkpoint_ns") or ""
    target = graph
    for part in ns.split(NS_SEP) if ns else ():
        if part.isdigit():
            continue  # the n-th graph run of one task (pregel/_nested.child_namespace)
        node = target.plan.nodes.get(part.split(NS_END, 1)[0])
        sub = None if node is None else node_graph(node)
        if sub is None:
            return graph  # not a node that runs a graph we can find
        target = sub
    return target


async def _with_subgraph_states(graph: Any, saver: Any, snapshot: StateSnapshot, recurse: bool) -> StateSnapshot:
    """``snapshot`` with each subgraph task's ``state``: the subgraph's snapshot (with
    ``recurse``, when it has a checkpoint) or else the config that addresses it."""
    conf = snapshot.config[CONF]
    ns = conf.get("checkpoint_ns") or ""
    tasks = []
    changed = False
    for t in snapshot.tasks:
        node = graph.plan.nodes.get(t.name)
        child = None if node is None else node_graph(node)
        if child is not None and child is not graph:
            cmap = {**(conf.get(MAP) or {}), ns: conf["checkpoint_id"]} if conf.get("checkpoint_id") else {}
            child_config = task_state(conf["thread_id"], ns, t.name, t.id, child)
            state: Any = child_config
            if recurse:
                tup = await saver.aget_tuple(child_config)
                if tup is not None:
                    snap = _snapshot(child, tup, apply_pending=True)
                    if cmap:
                        snap = snap._replace(config=with_map(snap.config, cmap),
                                             parent_config=snap.parent_config and with_map(snap.parent_config, cmap))
                    state = await _with_subgraph_states(child, saver, snap, True)
            t = t._replace(state=state)
            changed = True
        tasks.append(t)
    return snapshot._replace(tasks=tuple(tasks)) if changed else snapshot


def _require_thread(config: Any) -> dict[str, Any]:
    """``config``, its thread id as text (a UUID or an int is saved as its ``str``).

    Raises:
        InvalidInputError: ``config`` names no thread.
    """
    if not isinstance(config, dict) or "thread_id" not in (config.get(CONF) or {}):
        raise InvalidInputError("Pass config={'configurable': {'thread_id': ...}} to address a thread")
    conf = config[CONF]
    if not isinstance(conf["thread_id"], str):  # savers see the text, as the run's puts do
        return {**config, CONF: {**conf, "thread_id": str(conf["thread_id"])}}
    return config


def _snapshot(graph: Any, tup: Any, *, apply_pending: bool) -> StateSnapshot:
    """The snapshot of one checkpoint.

    ``apply_pending`` (the latest state): writes of tasks that already finished are
    shown in ``values`` and those tasks left out of ``next``. History shows each
    checkpoint as it was, with every task of its next step.
    """
    plan = graph.plan
    ckpt = tup.checkpoint
    run = RunState(plan, ckpt["channel_values"], ckpt["channel_versions"], ckpt["versions_seen"])
    step = int(tup.metadata.get("step", -1)) + 1
    run.step = step
    if ckpt.get("updated_channels") is not None:
        run.updated = set(ckpt["updated_channels"])
    rc = RunContext(graph, plan, tup.config, ns=(tup.config.get(CONF) or {}).get("checkpoint_ns", ""))
    rc.progress.checkpoint_id = ckpt["id"]
    tasks = prepare_tasks(plan, run, step, stop=step + 10007, checkpoint_id=ckpt["id"], ns=rc.ns, with_ids=True)
    by_task: dict[str, list[tuple[str, Any]]] = {}
    for task_id, channel, value in tup.pending_writes or ():
        by_task.setdefault(task_id, []).append((channel, value))
    out_tasks = []
    interrupts: list[Interrupt] = []
    next_names = []
    done_tasks = []
    for t in tasks:
        saved = by_task.get(t.id, [])
        err = next((v for c, v in saved if c == ERROR), None)
        its = tuple(i for c, v in saved if c == INTERRUPT for i in v)
        interrupts.extend(its)
        result = None
        writes = [(c, v) for c, v in saved if c not in SPECIAL]
        # Finished: it wrote (or recorded writing nothing). A task resumed after an
        # interrupt keeps its interrupt beside the writes it made when resumed.
        done = err is None and (bool(writes) or any(c == NO_WRITES for c, _ in saved))
        if done:
            t.writes = writes
            done_tasks.append(t)
        if writes or any(c == NO_WRITES for c, _ in saved):
            # The task finished (maybe after pausing): its result, ``{}`` when it wrote
            # no state key, as LangGraph shows it.
            result = task_result(plan, writes)
            if plan.state_info.kind == "root":
                result = None if result is None else result.get(ROOT_KEY)
            elif result is None:
                result = {}
        if not (apply_pending and done):
            next_names.append(t.name)
        out_tasks.append(PregelTask(t.id, t.name, t.path, err, its, None, result))
    null = [(c, v) for tid, c, v in tup.pending_writes or () if tid == NULL_TASK_ID]
    if null:  # a Command that continued this checkpoint: in its values, not in next
        apply_null_writes(plan, run, null)
    if apply_pending:
        run = with_pending_applied(plan, run, done_tasks)
    values: Any = read_state(run.channels, plan.state_info.keys or plan.state_keys)
    if plan.state_info.kind == "root":  # a root state (StateGraph(list[str])): its value
        values = values.get(ROOT_KEY)
    config, parent_config = tup.config, tup.parent_config
    parents = tup.metadata.get("parents") if tup.metadata else None
    if parents:  # a subgraph's checkpoint: the map that leads a run of the root to it
        config = with_map(config, parents)
        parent_config = parent_config and with_map(parent_config, parents)
    return StateSnapshot(
        values=values,
        next=tuple(next_names),
        config=config,
        metadata=tup.metadata,
        created_at=ckpt.get("ts"),
        parent_config=parent_config,
        tasks=tuple(out_tasks),
        interrupts=tuple(interrupts),
    )


async def aget_state(graph: Any, config: Any, *, subgraphs: bool = False) -> StateSnapshot:
    saver = _saver(graph)
    config = _require_thread(config)
    tup = await saver.aget_tuple(config)
    if tup is None:
        return StateSnapshot({}, (), config, None, None, None, (), ())
    graph = _graph_for(graph, config)
    # A checkpoint chosen by id is shown as it was saved, as in LangGraph: the writes of
    # its tasks that finished are not applied (the thread's latest state applies them).
    apply = "checkpoint_id" not in (config.get(CONF) or {})
    return await _with_subgraph_states(graph, saver, _snapshot(graph, tup, apply_pending=apply), subgraphs)


async def aget_state_history(graph: Any, config: Any, *, filter: Any = None, before: Any = None,
                             limit: int | None = None) -> AsyncIterator[StateSnapshot]:
    saver = _saver(graph)
    config = _require_thread(config)
    graph = _graph_for(graph, config)
    conf = config[CONF]
    if "checkpoint_ns" not in conf:
        # The graph's own history, as in LangGraph: not its subgraphs' checkpoints.
        config = {**config, CONF: {**conf, "checkpoint_ns": ""}}
    async for tup in saver.alist(config, filter=filter, before=before, limit=limit):
        yield await _with_subgraph_states(graph, saver, _snapshot(graph, tup, apply_pending=False), False)


async def aupdate_state(graph: Any, config: Any, values: Any, as_node: str | None) -> Any:
    """Apply ``values`` as if node ``as_node`` had returned them; save a new checkpoint.

    ``as_node="__copy__"`` saves a copy of the checkpoint (a fork: same values, same
    parent); ``values=None`` with ``as_node=END`` finishes the pending step without
    running it (its tasks count as run, with no writes).

    Raises:
        InvalidUpdateError: ``as_node`` is unknown, or cannot be inferred.
    """
    return await abulk_update_state(graph, config, [[StateUpdate(values, as_node)]])


async def abulk_update_state(graph: Any, config: Any, supersteps: Sequence[Sequence[Any]]) -> Any:
    """Apply each superstep's updates together, as the tasks of one step would be, and
    save one checkpoint per superstep; returns the last checkpoint's config.

    Raises:
        InvalidInputError: no supersteps, or a superstep with no updates.
        InvalidUpdateError: an update names an unknown node, or several updates of
            one superstep leave ``as_node`` out.
    """
    saver = _saver(graph)
    config = _require_thread(config)
    if not supersteps:
        raise InvalidInputError("No supersteps provided")
    if any(len(u) == 0 for u in supersteps):
        raise InvalidInputError("No updates provided")
    graph = _graph_for(graph, config)
    cmap = (config.get(CONF) or {}).get(MAP)
    for updates in supersteps:
        config = await _update_superstep(graph, saver, config, [StateUpdate(*u) for u in updates])
    # A subgraph's fork leads a run of the root graph back to it, as its snapshot did.
    return with_map(config, cmap) if cmap else config


async def _update_superstep(graph: Any, saver: Any, config: Any, updates: list[StateUpdate]) -> Any:
    plan = graph.plan
    tup = await saver.aget_tuple(config)
    if tup is not None:
        ckpt = tup.checkpoint
        run = RunState(plan, ckpt["channel_values"], ckpt["channel_versions"], ckpt["versions_seen"])
        step = int(tup.metadata.get("step", -1)) + 1
        save_config = tup.config
    else:
        run = RunState(plan)
        step = 0
        save_config = {CONF: {"thread_id": config[CONF]["thread_id"], "checkpoint_ns": config[CONF].get("checkpoint_ns", "")}}
    first = updates[0]
    if first.as_node == COPY:
        if len(updates) > 1:
            raise InvalidUpdateError("Cannot copy a checkpoint with multiple updates")
        if tup is None:
            raise InvalidUpdateError("Cannot copy a non-existent checkpoint")
        versions = dict(run.versions)
        copy = create_checkpoint(
            saved_values(run, versions), versions, {k: dict(v) for k, v in run.seen.items()},
            tup.checkpoint.get("updated_channels"),
        )
        parent = tup.parent_config or {CONF: {k: v for k, v in tup.config[CONF].items() if k != "checkpoint_id"}}
        metadata: dict[str, Any] = {"source": "fork", "step": step, "parents": tup.metadata.get("parents", {})}
        # Every channel's value goes with the copy (not only the changed ones, as for a
        # step): it is saved under the source's parent, and a value the source had under
        # a version a fork reused must reach the saver, which keeps it apart.
        new_config = await saver.aput(parent, copy, metadata, versions)
        if isinstance(first.values, list) and first.values:
            return await _update_superstep(graph, saver, new_config, [StateUpdate(*u) for u in first.values])
        return new_config
    if first.as_node == INPUT:
        return await _update_as_input(saver, config, tup, run, step, save_config, updates)
    rc = RunContext(graph, plan, config)
    run.step = step
    if first.values is None and first.as_node == END:
        if len(updates) > 1:
            raise InvalidUpdateError("Cannot apply multiple updates when clearing state")
        tasks = [] if tup is None else prepare_tasks(
            plan, run, step, stop=step + 10007, checkpoint_id=tup.checkpoint["id"],
            ns=(tup.config.get(CONF) or {}).get("checkpoint_ns", ""), with_ids=True)
        # Tasks that finished keep their writes; the rest count as run, with none.
        saved: dict[str, list[tuple[str, Any]]] = {}
        null: list[tuple[str, Any]] = []
        for tid, c, v in tup.pending_writes or () if tup is not None else ():
            if tid == NULL_TASK_ID:
                null.append((c, v))
            elif c not in SPECIAL:
                saved.setdefault(tid, []).append((c, v))
        if null:
            apply_null_writes(plan, run, null)
        for t in tasks:
            t.writes = saved.get(t.id, [])
    else:
        if len(updates) > 1 and any(u.as_node is None for u in updates):
            raise InvalidUpdateError("as_node is required when applying multiple updates")
        # The checkpoint's own next tasks, before the updates change the state: an
        # update made as one of them is kept as that task's writes on the checkpoint,
        # so its history shows what the task "returned", as in LangGraph.
        pending = [] if tup is None else prepare_tasks(
            plan, run, step, stop=step + 10007, checkpoint_id=tup.checkpoint["id"],
            ns=(tup.config.get(CONF) or {}).get("checkpoint_ns", ""), with_ids=True)
        tasks = []
        for i, u in enumerate(updates):
            task, own = await _update_task(rc, run, tup, u, step, i)
            tasks.append(task)
            match = next((t for t in pending if t.name == task.name), None)
            if match is not None:
                pending.remove(match)
                await saver.aput_writes(tup.config, own or [(NO_WRITES, None)], match.id, str(match.path))
    updated = apply_writes(plan, run, tasks)
    return await _put(saver, config, save_config, run, updated, "update", step, tup)


async def _put(saver: Any, config: Any, save_config: Any, run: RunState, updated: Iterable[str],
               source: str, step: int, tup: Any) -> Any:
    """Save ``run`` as the thread's next checkpoint (``updated``: the channels that
    changed since ``tup``, the one it follows, if any)."""
    versions = dict(run.versions)
    # No list of updated channels (LangGraph leaves it out too): what runs next is
    # planned from every node's versions, so a task pending before the update (say
    # behind a breakpoint) is still next, whatever the update changed.
    new = create_checkpoint(saved_values(run, versions), versions, {k: dict(v) for k, v in run.seen.items()}, None)
    # A subgraph's update keeps the enclosing runs' checkpoints of the one it updates.
    parents = tup.metadata.get("parents") if tup is not None and tup.metadata else None
    metadata = {"source": source, "step": step, "parents": dict(parents) if parents else {}}
    for k, v in user_metadata(config).items():
        if k not in metadata:
            metadata[k] = v
    new_versions = {k: versions[k] for k in updated if k in versions}
    return await saver.aput(save_config, new, metadata, new_versions)


async def _update_as_input(saver: Any, config: Any, tup: Any, run: RunState, step: int, save_config: Any,
                           updates: list[StateUpdate]) -> Any:
    """``as_node="__input__"``: ``values`` become the thread's next input, saved as a run
    saves its input (source ``"input"``, step -1 on a new thread): the START task (or,
    in a low-level graph, the nodes its input channels trigger) runs next."""
    if len(updates) > 1:
        raise InvalidUpdateError("Cannot apply multiple updates when updating as input")
    values = updates[0].values
    if values is None:
        raise InvalidUpdateError("An update as '__input__' needs values: None is no input")
    apply_input(run, values)
    return await _put(saver, config, save_config, run, run.updated or (), "input", step if tup is not None else -1, tup)


async def _update_task(rc: RunContext, run: RunState, tup: Any, update: StateUpdate, step: int,
                       index: int) -> tuple[Task, list[tuple[str, Any]]]:
    """The task of one update: ``values`` written as node ``as_node`` would write them
    (inferred, when None, as the node that ran last), its edges taken; and the writes
    of the values alone."""
    plan = rc.plan
    values, as_node = update.values, update.as_node
    if as_node is None:
        if tup is None:
            as_node = START
        else:
            # The node that ran last (highest trigger version seen) is the writer.
            last: dict[str, Any] = {
                n: max(seen.values()) for n, seen in run.seen.items() if seen and n in plan.nodes
            }
            if not last:
                as_node = START
            else:
                top = max(last.values())
                names = [n for n, v in last.items() if v == top]
                if len(names) > 1:
                    raise InvalidUpdateError(
                        f"Ambiguous update: nodes {', '.join(sorted(names))} ran last; pass as_node=..."
                    )
                as_node = names[0]
    node = plan.nodes.get(as_node)
    if node is None:
        raise InvalidUpdateError(f"as_node '{as_node}' is not a node of this graph; nodes: {', '.join(plan.nodes)}")
    task = Task(node, None, PULL, index, ())
    if as_node == START:
        task.input = values
        if values is not None:  # None: no input, only START's edges (as LangGraph)
            input_writes(plan, task)
    else:
        output_writes(plan, task, values)
    own = list(task.writes)
    task.writes.extend(node.after)
    tc = task.enter(rc, step)
    token = current_task.set(tc)
    try:
        for branch in node.branches:
            await run_branch(tc, run, branch, values)
    finally:
        current_task.reset(token)
    return task, own
