"""Sync tasks called from a sync entrypoint (``invoke``, ``.result()``).

A call's first attempt may run in the caller's own thread when the caller asks for the
result before a worker started it (``pregel._call.Offload``); everything else about the
call (saving, retries, errors, interrupts) still goes through the loop's one path. These
tests pin what a user sees, whichever thread ran the attempt.
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any

import pytest

from asyncgraph.checkpoint.memory import InMemorySaver
from asyncgraph.config import get_config
from asyncgraph.func import entrypoint, task
from asyncgraph.types import Command, RetryPolicy, interrupt


def cfg(thread: str = "t") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


@pytest.mark.allow_blocking
def test_sync_tasks_started_together_run_concurrently() -> None:
    # Each waits for the other at a barrier: run one after the other, they would
    # time out (the first is run by the caller as it waits, the second by a worker).
    barrier = threading.Barrier(2, timeout=10)

    @task
    def meet(i: int) -> int:
        barrier.wait()
        return i

    @entrypoint(checkpointer=InMemorySaver())
    def wf(n: int) -> list[int]:
        a, b = meet(n), meet(n + 1)
        return [a.result(), b.result()]

    assert wf.invoke(1, cfg()) == [1, 2]


def test_futures_waited_on_without_result_still_run() -> None:
    @task
    def inc(x: int) -> int:
        return x + 1

    @entrypoint()
    def wf(n: int) -> list[int]:
        futs = [inc(i) for i in range(n)]
        done, pending = concurrent.futures.wait(futs, timeout=30)
        assert not pending
        return sorted(f.result(timeout=5) for f in done)

    assert wf.invoke(4) == [1, 2, 3, 4]


def test_a_failed_first_attempt_is_retried() -> None:
    attempts: list[int] = []

    @task(retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.001, jitter=False))
    def flaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) < 2:
            raise ConnectionError("try again")
        return x * 10

    saver = InMemorySaver()

    @entrypoint(checkpointer=saver)
    def wf(x: int) -> int:
        return flaky(x).result()

    assert wf.invoke(4, cfg()) == 40
    assert attempts == [4, 4]


def test_an_error_reaches_result_and_the_caller_as_it_would_through_a_worker() -> None:
    @task
    def bad(x: int) -> int:
        raise ValueError(f"bad {x}")

    seen: list[str] = []

    @entrypoint()
    def wf(x: int) -> str:
        fut = bad(x)
        exc = fut.exception()
        seen.append(repr(exc))
        return fut.result()

    with pytest.raises(ValueError, match="bad 3"):
        wf.invoke(3)
    assert seen == ["ValueError('bad 3')"]


def test_the_task_sees_its_own_config_and_can_call_tasks() -> None:
    @task
    def leaf(x: int) -> str:
        return f"{get_config()['metadata']['langgraph_node']}:{x}"

    @task
    def mid(x: int) -> list[str]:
        return [get_config()["metadata"]["langgraph_node"], leaf(x).result()]

    @entrypoint(checkpointer=InMemorySaver())
    def wf(x: int) -> list[Any]:
        return mid(x).result()

    assert wf.invoke(5, cfg()) == ["mid", "leaf:5"]


def test_interrupt_in_a_task_pauses_and_a_resume_reuses_finished_tasks() -> None:
    ran: list[str] = []

    @task
    def before(x: int) -> int:
        ran.append("before")
        return x + 1

    @task
    def ask(x: int) -> Any:
        ran.append("ask")
        return [x, interrupt(f"ok {x}?")]

    @entrypoint(checkpointer=InMemorySaver())
    def wf(x: int) -> Any:
        return ask(before(x).result()).result()

    out = wf.invoke(1, cfg())
    assert [i.value for i in out["__interrupt__"]] == ["ok 2?"]
    assert wf.invoke(Command(resume="yes"), cfg()) == [2, "yes"]
    assert ran == ["before", "ask", "ask"]


def test_a_result_with_a_timeout_waits_for_a_worker() -> None:
    @task
    def inc(x: int) -> int:
        return x + 1

    @entrypoint()
    def wf(x: int) -> int:
        return inc(x).result(timeout=30)

    assert wf.invoke(1) == 2
