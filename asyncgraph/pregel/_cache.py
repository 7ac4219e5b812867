"""Node result caching (``add_node(..., cache_policy=CachePolicy(...))`` with
``compile(cache=...)``).

Before a step runs, each task of a node with a cache policy looks up its key: the
node's namespace and a hash of its input (or of ``CachePolicy.key_func(input)``). A
hit gives the task the writes it made last time (its state update, its edges and
conditional-edge choices, its Sends) without calling the node. After the step, the
writes of every cacheable task that ran are stored, with the policy's TTL.
"""

from __future__ import annotations

import hashlib
from typing import Any

from asyncgraph.cache.base import FullKey, Namespace
from asyncgraph.checkpoint.serde import default_serde
from asyncgraph.pregel._algo import Task, update_from_writes
from asyncgraph.pregel._context import RunContext
from asyncgraph.pregel._plan import NodePlan, Plan

_KEY_SERDE = default_serde()


def namespace(node: NodePlan) -> Namespace:
    """Where a node's results live: its name and its function's qualified name (so an
    edited graph that puts another function under the same name does not hit)."""
    fn = node.call.func if node.call is not None else None
    ident = f"{getattr(fn, '__module__', None) or '?'}.{getattr(fn, '__qualname__', type(fn).__name__)}"
    return ("asyncgraph:node", node.name, ident)


def task_key(task: Task) -> str:
    """The cache key of a task's input.

    Raises:
        TypeError: the input cannot be serialized for the default key, or the policy's
            ``key_func`` returned something other than ``str`` / ``bytes``.
    """
    policy = task.node.cache
    assert policy is not None
    raw: Any
    if policy.key_func is not None:
        try:
            raw = policy.key_func(task.input)
        except Exception as exc:
            exc.add_note(f"While computing the cache key of node '{task.name}' (CachePolicy.key_func)")
            raise
        if isinstance(raw, str):
            raw = raw.encode()
        if not isinstance(raw, bytes):
            raise TypeError(
                f"CachePolicy.key_func of node '{task.name}' returned {type(raw).__name__}; "
                "it must return str or bytes"
            )
    else:
        try:
            _, raw = _KEY_SERDE.dumps_typed(task.input)
        except Exception as exc:
            raise TypeError(
                f"Node '{task.name}' has a cache policy, but its input cannot be serialized "
                f"to make a cache key ({type(exc).__name__}: {exc}); give the policy a "
                "key_func: CachePolicy(key_func=lambda state: ...)"
            ) from exc
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


async def take_cached(rc: RunContext, plan: Plan, tasks: list[Task]) -> list[Task]:
    """Give cached tasks their stored writes (marking them done and ``cached``);
    return the tasks that still have to run."""
    keys: list[FullKey] = []
    for t in tasks:
        if t.node.cache is not None and not t.done:
            t.cache_key = (namespace(t.node), task_key(t))
            keys.append(t.cache_key)
    if not keys:
        return tasks
    hits = await rc.cache.aget(keys)
    if not hits:
        return tasks
    left = []
    for t in tasks:
        writes = hits.get(t.cache_key) if t.cache_key is not None else None  # type: ignore[arg-type]
        if writes is None:
            left.append(t)
            continue
        t.writes = [(channel, value) for channel, value in writes]
        t.update = update_from_writes(plan, t.writes)
        t.done = True
        t.cached = True
    return left


async def store_results(rc: RunContext, tasks: list[Task]) -> None:
    """Store the writes of the cacheable tasks that ran and finished."""
    pairs: dict[FullKey, tuple[Any, int | None]] = {}
    for t in tasks:
        if t.cache_key is None or t.cached or not t.done or t.interrupts or t.error is not None:
            continue
        policy = t.node.cache
        assert policy is not None
        pairs[t.cache_key] = ([list(w) for w in t.writes], policy.ttl)
    if pairs:
        await rc.cache.aset(pairs)


__all__ = ["namespace", "store_results", "take_cached", "task_key"]
