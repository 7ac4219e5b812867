"""``@task``: call tasks started from entrypoints and nodes, their futures, and what
is saved for a resume (asyncgraph's own behaviour; LangGraph parity is in
``test_differential.py``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asyncgraph.cache.memory import InMemoryCache
from asyncgraph.checkpoint.memory import InMemorySaver
from asyncgraph.func import entrypoint, task
from asyncgraph.types import Command, RetryPolicy, interrupt


def cfg(thread: str = "t") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def test_calling_a_task_outside_a_run_names_it() -> None:
    @task
    def lonely(x: int) -> int:
        return x

    with pytest.raises(RuntimeError, match="Task 'lonely' was called outside"):
        lonely(1)


def test_generator_entrypoints_are_rejected_and_generator_tasks_return_the_generator() -> None:
    # LangGraph's behaviour: an entrypoint may not be a generator; a task may, and its
    # result is the generator object (fine without a checkpointer, unsavable with one).
    def gen(x: int) -> Any:
        yield x
        yield x + 1

    with pytest.raises(NotImplementedError, match="Generators"):
        entrypoint()(gen)
    gen_task = task(gen)

    @entrypoint()
    def wf(x: int) -> list[int]:
        return list(gen_task(x).result())

    assert wf.invoke(1) == [1, 2]

    @entrypoint(checkpointer=InMemorySaver())
    def saved(x: int) -> list[int]:
        return list(gen_task(x).result())

    with pytest.raises(TypeError, match="generator"):
        saved.invoke(1, cfg())


def test_name_renames_the_task_not_the_function() -> None:
    def work(x: int) -> int:
        return x + 1

    renamed = task(name="better")(work)

    @entrypoint()
    def wf(x: int) -> int:
        return renamed(x).result()

    assert list(wf.stream(1)) == [{"better": 2}, {"wf": 2}]
    assert work.__name__ == "work"


async def test_futures_left_unawaited_still_finish_before_the_run_ends() -> None:
    done: list[int] = []

    @task
    async def side(i: int) -> None:
        await asyncio.sleep(0.01)
        done.append(i)

    @entrypoint(checkpointer=InMemorySaver())
    async def wf(n: int) -> str:
        for i in range(n):
            side(i)  # fire and forget
        return "returned"

    assert await wf.ainvoke(3, cfg()) == "returned"
    assert sorted(done) == [0, 1, 2]


async def test_interrupts_in_concurrent_tasks_pause_the_run_together() -> None:
    ran: list[str] = []

    @task
    async def ask(q: str) -> Any:
        ran.append(q)
        return interrupt(q)

    @entrypoint(checkpointer=InMemorySaver())
    async def wf(x: int) -> list[Any]:
        return list(await asyncio.gather(ask("a"), ask("b")))

    out = await wf.ainvoke(1, cfg())
    assert sorted(i.value for i in out["__interrupt__"]) == ["a", "b"]
    snap = await wf.aget_state(cfg())
    answers = {i.id: f"ans-{i.value}" for i in snap.interrupts}
    # One resume answers both (LangGraph pauses for them one at a time).
    assert await wf.ainvoke(Command(resume=answers), cfg()) == ["ans-a", "ans-b"]
    assert sorted(ran) == ["a", "a", "b", "b"]


def test_several_waiting_tasks_are_answered_by_interrupt_id() -> None:
    @task
    def ask(q: str) -> Any:
        return (q, interrupt(q))

    @entrypoint(checkpointer=InMemorySaver())
    def wf(x: int) -> list[Any]:
        futs = [ask("a"), ask("b")]
        return [f.result() for f in futs]

    wf.invoke(1, cfg())
    # As LangGraph: one plain value for several pending interrupts is refused.
    with pytest.raises(RuntimeError, match="multiple pending interrupts"):
        wf.invoke(Command(resume="yes"), cfg())
    answers = {i.id: f"yes-{i.value}" for i in wf.get_state(cfg()).interrupts}
    assert wf.invoke(Command(resume=answers), cfg()) == [("a", "yes-a"), ("b", "yes-b")]


def test_an_answer_meant_for_a_task_is_not_taken_by_the_entrypoints_own_interrupt() -> None:
    @task
    def ask() -> Any:
        return interrupt("task question")

    @entrypoint(checkpointer=InMemorySaver())
    def wf(x: int) -> list[Any]:
        first = ask().result()
        return [first, interrupt("own question")]

    assert wf.invoke(1, cfg())["__interrupt__"][0].value == "task question"
    out = wf.invoke(Command(resume="for the task"), cfg())
    assert [i.value for i in out["__interrupt__"]] == ["own question"]
    assert wf.invoke(Command(resume="for the entrypoint"), cfg()) == ["for the task", "for the entrypoint"]


def test_replaying_a_checkpoint_reuses_the_task_results_saved_there() -> None:
    ran: list[int] = []

    @task
    def expensive(x: int) -> int:
        ran.append(x)
        return x * 100

    @entrypoint(checkpointer=InMemorySaver())
    def wf(x: int) -> Any:
        return [expensive(x).result(), interrupt("approve?")]

    wf.invoke(1, cfg())
    assert wf.invoke(Command(resume="ok"), cfg()) == [100, "ok"]
    first = list(wf.get_state_history(cfg()))[-1]
    assert first.metadata["source"] == "input"
    replayed = wf.invoke(None, first.config)
    assert [i.value for i in replayed["__interrupt__"]] == ["approve?"]
    assert wf.invoke(Command(resume="again"), cfg()) == [100, "again"]
    assert ran == [1]  # LangGraph runs it again on replay


def test_the_entrypoints_retry_policy_covers_tasks_without_one() -> None:
    attempts: list[int] = []

    @task
    def flaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return x

    @entrypoint(retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.001, jitter=False))
    def wf(x: int) -> int:
        return flaky(x).result()

    assert wf.invoke(7) == 7
    assert attempts == [7, 7, 7]


def test_a_task_failing_after_retries_says_how_often_it_ran() -> None:
    @task(retry_policy=RetryPolicy(max_attempts=2, initial_interval=0.001, jitter=False))
    def broken(x: int) -> int:
        raise ConnectionError("down")

    @entrypoint()
    def wf(x: int) -> int:
        return broken(x).result()

    with pytest.raises(ConnectionError) as info:
        wf.invoke(1)
    assert "Task 'broken' failed after 2 attempts" in "\n".join(info.value.__notes__)


def test_cached_task_results_are_reused_across_threads() -> None:
    from asyncgraph.types import CachePolicy

    ran: list[int] = []

    @task(cache_policy=CachePolicy())
    def slow(x: int) -> int:
        ran.append(x)
        return x + 1

    @entrypoint(checkpointer=InMemorySaver(), cache=InMemoryCache())
    def wf(x: int) -> int:
        return slow(x).result()

    assert list(wf.stream(1, cfg("a"))) == [{"slow": 2}, {"wf": 2}]
    assert list(wf.stream(1, cfg("b"))) == [{"slow": 2, "__metadata__": {"cached": True}}, {"wf": 2}]
    assert wf.invoke(2, cfg("c")) == 3
    assert ran == [1, 2]


async def test_async_task_interrupt_and_resume() -> None:
    ran: list[str] = []

    @task
    async def fetch(x: int) -> int:
        ran.append("fetch")
        return x + 1

    @task
    async def approve(x: int) -> Any:
        ran.append("approve")
        return {"x": x, "ok": interrupt(f"approve {x}?")}

    @entrypoint(checkpointer=InMemorySaver())
    async def wf(x: int) -> Any:
        return await approve(await fetch(x))

    first = [c async for c in wf.astream(1, cfg())]
    assert first[0] == {"fetch": 2}
    assert first[-1]["__interrupt__"][0].value == "approve 2?"
    assert await wf.ainvoke(Command(resume=True), cfg()) == {"x": 2, "ok": True}
    assert ran == ["fetch", "approve", "approve"]


def test_a_sync_node_run_inline_cannot_call_an_async_task() -> None:
    from typing import TypedDict

    from asyncgraph.graph import START, StateGraph

    class S(TypedDict):
        a: int

    @task
    async def aincr(x: int) -> int:
        return x + 1

    def node(s: S) -> dict[str, int]:
        return {"a": aincr(s["a"]).result()}

    graph = StateGraph(S)
    graph.add_node("node", node)
    graph.add_edge(START, "node")
    with pytest.raises(RuntimeError, match="Task 'aincr' is async"):
        graph.compile().invoke({"a": 1})


def test_without_a_checkpointer_concurrent_interrupts_are_all_reported() -> None:
    @task
    def ask(q: str) -> Any:
        return interrupt(q)

    @entrypoint()
    def wf(x: int) -> list[Any]:
        futs = [ask("a"), ask("b")]
        return [f.result() for f in futs]

    out = wf.invoke(1)
    assert sorted(i.value for i in out["__interrupt__"]) == ["a", "b"]
    assert len({i.id for i in out["__interrupt__"]}) == 2


async def test_each_call_is_a_traced_run_inside_the_entrypoints_run() -> None:
    from langchain_core.tracers.base import BaseTracer

    class Tracer(BaseTracer):
        def __init__(self) -> None:
            super().__init__()
            self.runs: list[Any] = []

        def _persist_run(self, run: Any) -> None:
            self.runs.append(run)

    @task()
    async def mapper(item: int, suffix: str = "!") -> str:
        return f"{item}{suffix}"

    @entrypoint(checkpointer=InMemorySaver())
    async def graph(items: list[int]) -> list[str]:
        return list(await asyncio.gather(*[mapper(i) for i in items]))

    tracer = Tracer()
    assert await graph.ainvoke([1, 2], {**cfg(), "callbacks": [tracer]}) == ["1!", "2!"]
    (root,) = tracer.runs
    assert root.outputs == {"output": ["1!", "2!"]}
    (node,) = root.child_runs
    assert node.name == "graph"
    calls = sorted((r.name, r.inputs["item"], r.inputs["suffix"], r.outputs["output"]) for r in node.child_runs)
    assert calls == [("mapper", 1, "!", "1!"), ("mapper", 2, "!", "2!")]


async def test_timeouts_bound_async_tasks_and_are_refused_on_sync_ones() -> None:
    from asyncgraph.errors import NodeTimeoutError

    @task(timeout=0.05)
    async def stuck(x: int) -> int:
        await asyncio.sleep(10)
        return x

    @entrypoint()
    async def wf(x: int) -> int:
        return await stuck(x)

    with pytest.raises(NodeTimeoutError, match="'stuck' exceeded its run timeout of 0.05s"):
        await wf.ainvoke(1)

    def blocking(x: int) -> int:
        return x

    with pytest.raises(ValueError, match="Task 'blocking' is sync"):
        task(timeout=1)(blocking)
    with pytest.raises(ValueError, match="Node 'blocking' is sync"):
        entrypoint(timeout=1)(blocking)


def test_answering_one_of_two_paused_calls_by_id_leaves_the_other_waiting() -> None:
    @task
    def ask(q: str) -> Any:
        return interrupt(q)

    @task
    def both() -> list[Any]:
        futs = [ask("a"), ask("b")]
        return [f.result() for f in futs]

    @entrypoint(checkpointer=InMemorySaver())
    def wf(x: int) -> list[Any]:
        return both().result()

    wf.invoke(1, cfg())
    by_value = {i.value: i.id for i in wf.get_state(cfg()).interrupts}
    out = wf.invoke(Command(resume={by_value["a"]: "A"}), cfg())
    assert [i.value for i in out["__interrupt__"]] == ["b"]
    assert wf.invoke(Command(resume={by_value["b"]: "B"}), cfg()) == ["A", "B"]


async def test_graph_nodes_call_tasks_and_a_resume_reuses_their_results() -> None:
    from typing import TypedDict

    from asyncgraph.graph import START, StateGraph

    class S(TypedDict):
        a: int

    ran: list[str] = []

    @task
    def sync_double(x: int) -> int:
        ran.append("sync")
        return 2 * x

    @task
    async def async_inc(x: int) -> int:
        ran.append("async")
        return x + 1

    def sync_node(s: S) -> dict[str, int]:  # runs in a worker thread under ainvoke
        return {"a": sync_double(s["a"]).result() + interrupt("more?")}

    async def async_node(s: S) -> dict[str, int]:
        return {"a": await async_inc(s["a"])}

    graph = StateGraph(S)
    graph.add_node("sync_node", sync_node)
    graph.add_node("async_node", async_node)
    graph.add_edge(START, "async_node")
    graph.add_edge("async_node", "sync_node")
    app = graph.compile(checkpointer=InMemorySaver())
    out = await app.ainvoke({"a": 1}, cfg())
    assert [i.value for i in out["__interrupt__"]] == ["more?"]
    assert await app.ainvoke(Command(resume=100), cfg()) == {"a": 104}
    assert ran == ["async", "sync"]
