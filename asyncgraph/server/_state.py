"""StateSnapshot -> the API's ``ThreadState`` dict, and checkpoint copies between threads."""

from __future__ import annotations

from typing import Any

from asyncgraph.server._serialize import to_jsonable

__all__ = ["copy_checkpoints", "empty_state", "rollback_checkpoints", "snapshot_to_dict"]


def _checkpoint(config: Any) -> dict[str, Any] | None:
    if not config:
        return None
    c = config.get("configurable", {})
    return {
        "thread_id": c.get("thread_id"),
        "checkpoint_ns": c.get("checkpoint_ns", ""),
        "checkpoint_id": c.get("checkpoint_id"),
        "checkpoint_map": c.get("checkpoint_map"),
    }


def snapshot_to_dict(snap: Any) -> dict[str, Any]:
    tasks = []
    for t in getattr(snap, "tasks", ()) or ():
        state = getattr(t, "state", None)
        tasks.append(
            {
                "id": t.id,
                "name": t.name,
                "error": repr(t.error) if getattr(t, "error", None) else None,
                "interrupts": to_jsonable(list(getattr(t, "interrupts", ()) or ())),
                "checkpoint": _checkpoint(state) if isinstance(state, dict) else None,
                "state": snapshot_to_dict(state) if hasattr(state, "values") else None,
                "result": to_jsonable(getattr(t, "result", None)),
            }
        )
    return {
        "values": to_jsonable(snap.values),
        "next": list(snap.next),
        "checkpoint": _checkpoint(snap.config),
        "metadata": to_jsonable(snap.metadata or {}),
        "created_at": snap.created_at,
        "parent_checkpoint": _checkpoint(snap.parent_config),
        "tasks": tasks,
        "interrupts": to_jsonable(list(getattr(snap, "interrupts", ()) or ())),
    }


def empty_state(thread_id: str) -> dict[str, Any]:
    return {
        "values": {},
        "next": [],
        "checkpoint": None,
        "metadata": {},
        "created_at": None,
        "parent_checkpoint": None,
        "tasks": [],
        "interrupts": [],
    }


async def rollback_checkpoints(saver: Any, thread_id: str, run_id: str) -> bool:
    """Take every checkpoint ``run_id`` wrote out of thread ``thread_id`` (a rollback);
    True if there was one. The thread is rewritten without them through a scratch thread
    (the others copied there, the thread deleted, copied back, the scratch deleted);
    nothing is written when the run left no checkpoint. A rollback of the run that
    stopped half-way (its worker fenced out by another taking the run over) is finished
    by the next one from the scratch copy.

    The caller makes sure no write of the run is still on its way (see the workers'
    ``_finish_cancelled``): one landing after this would stay.
    """
    tuples = [t async for t in saver.alist({"configurable": {"thread_id": thread_id}})]
    scratch = f"__rollback__{run_id}"
    kept = [t async for t in saver.alist({"configurable": {"thread_id": scratch}})]
    if any((t.metadata or {}).get("run_id") == run_id for t in tuples):
        # (A scratch copy here is from an earlier rollback of the run stopped before it
        # deleted the thread: start again.)
        await saver.adelete_thread(scratch)
        await _put_all(saver, tuples, scratch, skip_run_id=run_id)
        kept = [t async for t in saver.alist({"configurable": {"thread_id": scratch}})]
    elif not kept:
        return False
    # (Else an earlier rollback of the run, stopped (fenced out, say) after it deleted the
    # thread, left the whole copy in the scratch thread: finish it.)
    await saver.adelete_thread(thread_id)
    await _put_all(saver, kept, thread_id, skip_run_id=None)
    await saver.adelete_thread(scratch)
    return True


async def copy_checkpoints(
    saver: Any, source: str, target: str, *, skip_run_id: str | None = None
) -> None:
    """Put ``source``'s checkpoints (oldest first) into thread ``target``.

    With ``skip_run_id``, checkpoints written by that run are left out (rollback).
    """
    tuples = [t async for t in saver.alist({"configurable": {"thread_id": source}})]
    await _put_all(saver, tuples, target, skip_run_id=skip_run_id)


async def _put_all(saver: Any, tuples: list[Any], target: str, *, skip_run_id: str | None) -> None:
    """Put ``tuples`` (newest first, as ``alist`` gives them) into ``target``, oldest first."""
    for t in reversed(tuples):
        if skip_run_id is not None and (t.metadata or {}).get("run_id") == skip_run_id:
            continue
        conf = t.config["configurable"]
        parent = (t.parent_config or {}).get("configurable", {})
        put_config = {
            "configurable": {
                "thread_id": target,
                "checkpoint_ns": conf.get("checkpoint_ns", ""),
                **({"checkpoint_id": parent["checkpoint_id"]} if parent.get("checkpoint_id") else {}),
            }
        }
        new_config = await saver.aput(
            put_config, t.checkpoint, t.metadata, dict(t.checkpoint.get("channel_versions", {}))
        )
        writes: dict[str, list[tuple[str, Any]]] = {}
        for task_id, channel, value in t.pending_writes or ():
            writes.setdefault(task_id, []).append((channel, value))
        for task_id, ws in writes.items():
            await saver.aput_writes(new_config, ws, task_id)
