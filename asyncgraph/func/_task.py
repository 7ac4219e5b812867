"""``@task``: a function whose calls, made inside a run, become checkpointed call tasks."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, Generic, ParamSpec, TypeVar, overload

from asyncgraph.pregel._call import TaskSpec, call, timeout_policy
from asyncgraph.types import CachePolicy, RetryPolicy
from asyncgraph.warnings import LangGraphDeprecatedSinceV05, _renamed

P = ParamSpec("P")
T = TypeVar("T")

__all__ = ["task"]


def _is_async(func: Any) -> bool:
    while isinstance(func, functools.partial):
        func = func.func
    if inspect.iscoroutinefunction(func):
        return True
    call_ = getattr(func, "__call__", None)  # noqa: B004  (callable objects)
    return call_ is not None and not inspect.isfunction(func) and inspect.iscoroutinefunction(call_)


def _name_of(func: Any) -> str:
    for obj in (func, getattr(func, "func", None)):
        name = getattr(obj, "__name__", None)
        if isinstance(name, str):
            return name
    return type(func).__name__


class _TaskFunction(Generic[P, T]):
    """What ``@task`` returns: calling it inside a run starts the function as a call task
    and returns a future of its result."""

    def __init__(self, func: Callable[..., Any], *, name: str | None, retry_policy: Sequence[RetryPolicy],
                 cache_policy: CachePolicy | None, timeout: Any = None) -> None:
        # A generator function is accepted, as LangGraph does: its result is the
        # generator object, unstarted (one a checkpointer cannot save).
        self.func = func
        self.retry_policy = retry_policy
        self.cache_policy = cache_policy
        self.name = name or _name_of(func)
        is_async = _is_async(func)
        self.timeout = timeout_policy(timeout, self.name, "Task", is_async)
        self._spec = TaskSpec(func, self.name, is_async, retry_policy, cache_policy, self.timeout)
        functools.update_wrapper(self, func)
        if name is not None:
            self.__name__ = name

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        return call(self._spec, args, kwargs)

    def clear_cache(self, cache: Any) -> None:
        """Forget this task's cached results in ``cache``."""
        if self.cache_policy is not None:
            from asyncgraph.pregel._call import cache_namespace

            cache.clear([cache_namespace(self._spec)])

    async def aclear_cache(self, cache: Any) -> None:
        """Async twin of :meth:`clear_cache`."""
        if self.cache_policy is not None:
            from asyncgraph.pregel._call import cache_namespace

            await cache.aclear([cache_namespace(self._spec)])


def _policies(retry_policy: RetryPolicy | Sequence[RetryPolicy] | None) -> tuple[RetryPolicy, ...]:
    if retry_policy is None:
        return ()
    if isinstance(retry_policy, RetryPolicy):
        return (retry_policy,)
    return tuple(retry_policy)


@overload
def task(__func_or_none__: Callable[P, T]) -> _TaskFunction[P, T]: ...


@overload
def task(
    __func_or_none__: None = None,
    *,
    name: str | None = None,
    retry_policy: RetryPolicy | Sequence[RetryPolicy] | None = None,
    cache_policy: CachePolicy | None = None,
    timeout: Any = None,
    **kwargs: Any,
) -> Callable[[Callable[P, T]], _TaskFunction[P, T]]: ...


def task(
    __func_or_none__: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    retry_policy: RetryPolicy | Sequence[RetryPolicy] | None = None,
    cache_policy: CachePolicy | None = None,
    timeout: Any = None,
    **kwargs: Any,
) -> Any:
    """Make a function a task: called inside an ``@entrypoint`` (or a graph node), it
    starts at once, concurrently with its caller, and returns a future (``.result()``,
    or ``await`` / ``asyncio.gather`` in async code).

    With a checkpointer its result is saved as soon as it finishes: a resumed or
    replayed run gets it back without calling the function again. Arguments and
    results must then be serializable.

    Args:
        name: the task's name in streams and checkpoints (default: the function's).
        retry_policy: one policy or several, as for graph nodes.
        cache_policy: cache results by arguments (the entrypoint needs ``cache=``).
        timeout: seconds (or a ``timedelta`` / ``TimeoutPolicy``) one attempt of an async
            task may take; past it, ``NodeTimeoutError`` (retried if the policy says so).

    A generator function's result is its generator object, unstarted, as in LangGraph
    (a checkpointer cannot save it: use it in runs without one, or return a list).

    Raises:
        TypeError: an unknown keyword argument.
        ValueError: ``timeout`` on a sync function.
    """
    unknown = set(kwargs) - {"retry"}
    if unknown:
        raise TypeError(f"task() got unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    if "retry" in kwargs:
        _renamed("retry", "retry_policy", LangGraphDeprecatedSinceV05)
        if retry_policy is None:
            retry_policy = kwargs["retry"]
    policies = _policies(retry_policy)

    def decorator(func: Callable[..., Any]) -> _TaskFunction[Any, Any]:
        return _TaskFunction(func, name=name, retry_policy=policies, cache_policy=cache_policy, timeout=timeout)

    if __func_or_none__ is not None:
        return decorator(__func_or_none__)
    return decorator
