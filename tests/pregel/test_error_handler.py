"""Node error handlers (``add_node(error_handler=...)``, ``set_node_defaults``) and
node timeouts (``TimeoutPolicy``): behaviour on the in-memory saver, plus the pure
parts (``_algo.to_error_handler`` / ``restore_pending``) without an event loop.

LangGraph parity of outputs, streams and history is in
``tests/differential/test_error_handler.py``.
"""

from __future__ import annotations

import asyncio
import operator
from datetime import timedelta
from typing import Annotated, Any, TypedDict

import pytest

from asyncgraph.checkpoint.memory import InMemorySaver
from asyncgraph.config import get_stream_writer
from asyncgraph.constants import ERROR, ERROR_SOURCE, START
from asyncgraph.errors import InvalidGraphError, NodeError, NodeTimeoutError
from asyncgraph.graph import StateGraph
from asyncgraph.pregel._algo import PULL, RunState, Task, apply_writes, restore_pending, to_error_handler
from asyncgraph.runtime import Runtime
from asyncgraph.types import Command, RetryPolicy, TimeoutPolicy, interrupt

pytestmark = pytest.mark.anyio


class State(TypedDict):
    foo: str
    log: Annotated[list[str], operator.add]


def failing(state: State) -> State:
    raise ValueError("boom")


def _graph(**node_kw: Any) -> StateGraph[Any, Any, Any, Any]:
    g = StateGraph(State)
    g.add_node("bad", failing, **node_kw)
    g.add_edge(START, "bad")
    return g


# -- declaring handlers ---------------------------------------------------------------


def test_a_handler_with_a_parameter_the_engine_cannot_fill_names_the_node() -> None:
    def handler(state: State, error: NodeError, extra: int) -> State:
        return state

    with pytest.raises(TypeError, match=r"error_handler of node 'bad'.*'extra'"):
        _graph(error_handler=handler)


def test_a_handler_that_is_not_callable_names_the_node() -> None:
    with pytest.raises(TypeError, match="error_handler of node 'bad'"):
        _graph(error_handler="not a function")


def test_a_default_handler_with_a_bad_signature_is_refused_when_set() -> None:
    with pytest.raises(TypeError, match=r"default error_handler.*'extra'"):
        StateGraph(State).set_node_defaults(error_handler=lambda state, error, extra: state)


def test_the_default_handler_name_may_not_be_taken() -> None:
    g = StateGraph(State).set_node_defaults(error_handler=lambda s: {})
    g.add_node("__default_error_handler__", lambda s: {})
    g.add_edge(START, "__default_error_handler__")
    with pytest.raises(InvalidGraphError, match="__default_error_handler__"):
        g.compile()


def test_set_node_defaults_after_compile_warns() -> None:
    g = _graph()
    g.compile()
    with pytest.warns(UserWarning, match=r"set_node_defaults\(\) on a StateGraph that was already compiled"):
        g.set_node_defaults(retry_policy=RetryPolicy())
    g.compile()


@pytest.mark.parametrize("bad", [0, -1, timedelta(0), TimeoutPolicy(idle_timeout=0)])
def test_a_timeout_must_be_positive(bad: Any) -> None:
    with pytest.raises(InvalidGraphError, match="Node 'bad': .*must be greater than 0"):
        _graph(timeout=bad)
    with pytest.raises(InvalidGraphError, match="greater than 0"):
        StateGraph(State).set_node_defaults(timeout=bad)


def test_timeout_policy_coerce() -> None:
    assert TimeoutPolicy.coerce(2) == TimeoutPolicy(run_timeout=2.0)
    assert TimeoutPolicy.coerce(timedelta(milliseconds=500)) == TimeoutPolicy(run_timeout=0.5)
    p = TimeoutPolicy.coerce(TimeoutPolicy(idle_timeout=1))
    assert p == TimeoutPolicy(idle_timeout=1.0) and type(p.idle_timeout) is float  # type: ignore[union-attr]
    assert TimeoutPolicy.coerce(p) is p
    assert TimeoutPolicy.coerce(TimeoutPolicy()) is None
    with pytest.raises(ValueError, match="refresh_on"):
        TimeoutPolicy.coerce(TimeoutPolicy(run_timeout=1, refresh_on="never"))  # type: ignore[arg-type]


# -- running them ---------------------------------------------------------------------


async def test_the_handler_gets_the_input_and_the_failure() -> None:
    got: list[Any] = []

    def handler(state: State, error: NodeError) -> State:
        got.append((state, error))
        return {"foo": "handled", "log": []}

    out = await _graph(error_handler=handler).compile().ainvoke({"foo": "in", "log": []})
    assert out == {"foo": "handled", "log": []}
    (state, error), = got
    assert state == {"foo": "in", "log": []}
    assert error.node == "bad" and isinstance(error.error, ValueError) and str(error.error) == "boom"


async def test_a_node_that_is_not_a_handler_gets_error_none() -> None:
    got: list[Any] = []

    def node(state: State, error: NodeError) -> State:
        got.append(error)
        return {"foo": "ran", "log": []}

    g = StateGraph(State)
    g.add_node("n", node)
    g.add_edge(START, "n")
    assert (await g.compile().ainvoke({"foo": "", "log": []}))["foo"] == "ran"
    assert got == [None]


async def test_a_failing_handler_fails_the_run_and_no_other_handler_takes_it() -> None:
    def handler(state: State) -> State:
        raise RuntimeError("handler boom")

    g = _graph(error_handler=handler).set_node_defaults(error_handler=lambda s: {"foo": "default"})
    with pytest.raises(RuntimeError, match="handler boom") as info:
        await g.compile().ainvoke({"foo": "", "log": []})
    assert any("__error_handler__bad" in note for note in info.value.__notes__)


async def test_interrupts_and_cancellation_of_the_run_are_not_handled() -> None:
    handled: list[str] = []

    def asks(state: State) -> State:
        return {"foo": interrupt("question"), "log": []}

    g = StateGraph(State)
    g.add_node("asks", asks, error_handler=lambda s: handled.append("x") or {})
    g.add_edge(START, "asks")
    app = g.compile(checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "1"}}
    out = await app.ainvoke({"foo": "", "log": []}, cfg)
    assert out["__interrupt__"][0].value == "question" and handled == []

    async def slow(state: State) -> State:
        await asyncio.sleep(5)
        return state

    g2 = StateGraph(State)
    g2.add_node("slow", slow, error_handler=lambda s: handled.append("x") or {})
    g2.add_edge(START, "slow")
    task = asyncio.ensure_future(g2.compile().ainvoke({"foo": "", "log": []}))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert handled == []


async def test_the_failure_is_saved_before_the_handler_runs() -> None:
    saver = InMemorySaver()
    seen: list[Any] = []

    def handler(state: State) -> State:
        # The failure and the marker are durable while the handler runs.
        tup = saver.get_tuple({"configurable": {"thread_id": "1"}})
        seen.extend((c, v) for _, c, v in tup.pending_writes)  # type: ignore[union-attr]
        return {"foo": "handled", "log": []}

    app = _graph(error_handler=handler).compile(checkpointer=saver)
    await app.ainvoke({"foo": "", "log": []}, {"configurable": {"thread_id": "1"}})
    assert (ERROR_SOURCE, "bad") in seen
    # saved as LangGraph saves it: the error's repr
    assert any(c == ERROR and isinstance(v, str) and v.startswith("ValueError(") for c, v in seen)


async def test_the_checkpoint_after_a_handled_failure_records_what_the_failed_node_saw() -> None:
    # versions_seen has the failed node's triggers (the handler took its place), as
    # LangGraph's checkpoints do, and as the run's own state had them.
    saver = InMemorySaver()
    app = _graph(error_handler=lambda s: {"foo": "handled", "log": []}).compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "1"}}
    await app.ainvoke({"foo": "", "log": []}, config)
    seen = saver.get_tuple(config).checkpoint["versions_seen"]  # type: ignore[union-attr]
    assert set(seen) == {START, "bad"}
    assert seen["bad"] == {"branch:to:bad": 2}


async def test_tasks_stream_shows_the_failure_then_the_handler() -> None:
    g = _graph(error_handler=lambda s: Command(update={"foo": "h"}))
    events = [
        (chunk["name"], "error" in chunk and chunk["error"] is not None, "result" in chunk)
        async for chunk in g.compile().astream({"foo": "", "log": []}, stream_mode="tasks")
    ]
    assert events == [
        ("bad", False, False),  # started
        ("bad", True, True),  # failed
        ("__error_handler__bad", False, True),  # the handler's result
    ]


async def test_defaults_apply_where_a_node_sets_nothing() -> None:
    tries = {"a": 0, "b": 0, "h": 0}

    def node(name: str) -> Any:
        def run(state: State) -> State:
            tries[name] += 1
            raise KeyError(name)

        return run

    def handler(state: State, error: NodeError) -> State:
        tries["h"] += 1
        if tries["h"] == 1:
            raise KeyError("handler once")  # retried: the default policy applies to handlers
        return {"log": [str(error.node)]}  # type: ignore[typeddict-item]

    g = StateGraph(State)
    g.add_node("a", node("a"))
    g.add_node("b", node("b"), retry_policy=RetryPolicy(max_attempts=1))
    g.add_edge(START, "a")
    g.add_edge(START, "b")
    g.set_node_defaults(
        retry_policy=RetryPolicy(max_attempts=3, initial_interval=0, jitter=False, retry_on=KeyError),
        error_handler=handler,
    )
    out = await g.compile().ainvoke({"foo": "", "log": []})
    assert sorted(out["log"]) == ["a", "b"]
    assert tries == {"a": 3, "b": 1, "h": 3}


# -- timeouts -------------------------------------------------------------------------


def _timed(node: Any, policy: TimeoutPolicy) -> Any:
    g = StateGraph(State)
    g.add_node("n", node, timeout=policy)
    g.add_edge(START, "n")
    return g.compile()


async def test_idle_timeout_fires_without_progress() -> None:
    async def stuck(state: State) -> State:
        await asyncio.sleep(5)
        return state

    with pytest.raises(NodeTimeoutError) as info:
        await _timed(stuck, TimeoutPolicy(idle_timeout=0.05)).ainvoke({"foo": "", "log": []})
    err = info.value
    assert (err.node, err.kind, err.idle_timeout, err.run_timeout) == ("n", "idle", 0.05, None)
    assert err.elapsed >= 0.05


async def test_heartbeats_and_chunks_keep_an_idle_node_alive() -> None:
    # 0.8 s in all, progress every 0.1 s: only a refreshed 0.4 s idle timeout lets it end.
    async def beats(state: State, runtime: Runtime[Any]) -> State:
        for _ in range(8):
            await asyncio.sleep(0.1)
            runtime.heartbeat()
        return {"foo": "done", "log": []}

    async def writes(state: State) -> State:
        write = get_stream_writer()
        for i in range(8):
            await asyncio.sleep(0.1)
            write(i)
        return {"foo": "done", "log": []}

    for node in (beats, writes):
        out = await _timed(node, TimeoutPolicy(idle_timeout=0.4)).ainvoke({"foo": "", "log": []})
        assert out["foo"] == "done"
    # refresh_on="heartbeat": chunks are not progress.
    with pytest.raises(NodeTimeoutError, match="idle"):
        await _timed(writes, TimeoutPolicy(idle_timeout=0.4, refresh_on="heartbeat")).ainvoke({"foo": "", "log": []})


async def test_the_run_timeout_is_not_extended_by_heartbeats() -> None:
    async def beats(state: State, runtime: Runtime[Any]) -> State:
        for _ in range(40):
            await asyncio.sleep(0.02)
            runtime.heartbeat()
        return state

    with pytest.raises(NodeTimeoutError) as info:
        await _timed(beats, TimeoutPolicy(run_timeout=0.2, idle_timeout=1.0)).ainvoke({"foo": "", "log": []})
    assert info.value.kind == "run" and info.value.timeout == 0.2


async def test_a_nodes_own_timeout_error_is_not_a_node_timeout() -> None:
    async def raises(state: State) -> State:
        raise TimeoutError("the node's own")

    with pytest.raises(TimeoutError, match="the node's own") as info:
        await _timed(raises, TimeoutPolicy(run_timeout=5)).ainvoke({"foo": "", "log": []})
    assert not isinstance(info.value, NodeTimeoutError)


async def test_a_timed_out_node_can_be_handled() -> None:
    async def stuck(state: State) -> State:
        await asyncio.sleep(5)
        return state

    def handler(state: State, error: NodeError) -> State:
        return {"foo": type(error.error).__name__, "log": []}

    g = StateGraph(State)
    g.add_node("n", stuck, timeout=0.05, error_handler=handler, retry_policy=RetryPolicy(max_attempts=1))
    g.add_edge(START, "n")
    assert (await g.compile().ainvoke({"foo": "", "log": []}))["foo"] == "NodeTimeoutError"


# -- the pure parts -------------------------------------------------------------------


def test_restore_pending_turns_a_handled_failure_back_into_the_handler() -> None:
    plan = _graph(error_handler=lambda s: {}).compile().plan
    node = plan.nodes["bad"]

    def fresh() -> Task:
        t = Task(node, {"foo": "x", "log": []}, PULL, 0, node.triggers)
        t.id = "failed-id"  # type: ignore[assignment]
        return t

    # The handler had not finished: its task runs (with the saved error).
    err = ValueError("boom")
    t = fresh()
    to_run = restore_pending(plan, [t], [("failed-id", ERROR, err), ("failed-id", ERROR_SOURCE, "bad")])
    assert to_run == [t]
    assert (t.name, t.handles, t.failure) == ("__error_handler__bad", "bad", NodeError("bad", err))
    assert t.id != "failed-id"

    # It had finished: its saved writes are reused, nothing runs.
    done = fresh()
    handler_id = t.id
    pending = [("failed-id", ERROR, err), ("failed-id", ERROR_SOURCE, "bad"), (handler_id, "foo", "handled")]
    assert restore_pending(plan, [done], pending) == []
    assert done.writes == [("foo", "handled")] and done.done

    # At the barrier the writes are applied and the failed node counts as having run.
    run = RunState(plan)
    apply_writes(plan, run, [done])
    assert run.channels["foo"].get() == "handled"
    assert "bad" in run.seen and "__error_handler__bad" not in run.seen


def test_to_error_handler_drops_the_failed_attempts_writes() -> None:
    plan = _graph(error_handler=lambda s: {}).compile().plan
    t = Task(plan.nodes["bad"], {}, PULL, 0, ())
    t.writes.append(("foo", "partial"))
    to_error_handler(plan, t, KeyError("k"))
    assert t.writes == [] and t.node is plan.nodes["__error_handler__bad"] and t.id == ""


async def test_callback_events_inside_the_node_are_progress() -> None:
    from langchain_core.runnables import RunnableLambda

    async def step(i: int) -> int:
        await asyncio.sleep(0.1)
        return i

    inner = RunnableLambda(step)

    async def chain(state: State) -> State:
        for i in range(6):  # 0.6 s in all, never 0.35 s without a callback event
            await inner.ainvoke(i)
        return {"foo": "done", "log": []}

    out = await _timed(chain, TimeoutPolicy(idle_timeout=0.35)).ainvoke({"foo": "", "log": []})
    assert out["foo"] == "done"
    with pytest.raises(NodeTimeoutError, match="idle"):
        await _timed(chain, TimeoutPolicy(idle_timeout=0.35, refresh_on="heartbeat")).ainvoke({"foo": "", "log": []})


async def test_a_send_timeout_overrides_the_nodes() -> None:
    from asyncgraph.types import Send

    async def slow(arg: dict[str, float]) -> State:
        await asyncio.sleep(arg["sleep"])
        return {"foo": "done", "log": []}

    def build(send_timeout: Any) -> Any:
        g = StateGraph(State)
        g.add_node("slow", slow, timeout=TimeoutPolicy(idle_timeout=1.0))
        g.add_conditional_edges(START, lambda s: [Send("slow", {"sleep": 0.2}, timeout=send_timeout)])
        return g.compile()

    with pytest.raises(NodeTimeoutError) as info:
        await build(TimeoutPolicy(idle_timeout=0.05)).ainvoke({"foo": "", "log": []})
    assert (info.value.node, info.value.kind, info.value.idle_timeout) == ("slow", "idle", 0.05)
    assert (await build(None).ainvoke({"foo": "", "log": []}))["foo"] == "done"

    def sync_node(arg: Any) -> State:
        return {"foo": "sync", "log": []}

    g = StateGraph(State)
    g.add_node("sync_node", sync_node)
    g.add_conditional_edges(START, lambda s: [Send("sync_node", {}, timeout=1)])
    with pytest.raises(ValueError, match="only supported for async nodes.*'sync_node' is sync"):
        await g.compile().ainvoke({"foo": "", "log": []})


def test_a_send_timeout_is_checked_and_saved() -> None:
    from asyncgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
    from asyncgraph.types import Send

    with pytest.raises(ValueError, match="greater than 0"):
        Send("n", {}, timeout=0)
    serde = JsonPlusSerializer()
    for packet in (Send("n", {"x": 1}, timeout=TimeoutPolicy(run_timeout=1, idle_timeout=2)), Send("n", 1)):
        back = serde.loads_typed(serde.dumps_typed(packet))
        assert back == packet and back.timeout == packet.timeout
    assert Send("n", 1, timeout=timedelta(seconds=3)).timeout == TimeoutPolicy(run_timeout=3.0)


def test_is_sync_target_looks_inside_composites() -> None:
    from langchain_core.runnables import RunnableLambda, RunnableParallel

    from asyncgraph._internal._runnable import RunnableCallable
    from asyncgraph._internal._timeout import is_sync_target

    def s(x: int) -> int:
        return x

    async def a(x: int) -> int:
        return x

    sync = [s, RunnableLambda(s), RunnableLambda(s).with_config(tags=["t"]), RunnableCallable(s),
            RunnableParallel(x=RunnableLambda(s), y=RunnableLambda(a)), RunnableLambda(a) | RunnableLambda(s)]
    not_sync = [a, RunnableLambda(a), RunnableLambda(a).with_config(tags=["t"]), RunnableCallable(s, a),
                RunnableCallable(None, a), RunnableParallel(y=RunnableLambda(a))]
    assert [is_sync_target(x) for x in sync] == [True] * len(sync)
    assert [is_sync_target(x) for x in not_sync] == [False] * len(not_sync)


async def test_functional_api_idle_timeouts() -> None:
    from asyncgraph.func import entrypoint, task

    @task(timeout=TimeoutPolicy(idle_timeout=0.05))
    async def stuck(x: int) -> int:
        await asyncio.sleep(1)
        return x

    @task(timeout=TimeoutPolicy(idle_timeout=0.35))
    async def beating(x: int) -> int:
        for _ in range(6):  # 0.6 s in all, a chunk every 0.1 s
            await asyncio.sleep(0.1)
            get_stream_writer()(x)
        return x + 1

    @entrypoint()
    async def wf(x: int) -> int:
        return await beating(x)

    @entrypoint()
    async def wf_stuck(x: int) -> int:
        return await stuck(x)

    @entrypoint(timeout=TimeoutPolicy(idle_timeout=0.05))
    async def idle_entry(x: int) -> int:
        await asyncio.sleep(1)
        return x

    assert await wf.ainvoke(1) == 2
    with pytest.raises(NodeTimeoutError) as info:
        await wf_stuck.ainvoke(1)
    assert (info.value.node, info.value.kind) == ("stuck", "idle")
    with pytest.raises(NodeTimeoutError, match="idle"):
        await idle_entry.ainvoke(1)
    with pytest.raises(ValueError, match="only supported for async nodes.*Task 'sync_task' is sync"):

        @task(timeout=TimeoutPolicy(idle_timeout=1))
        def sync_task(x: int) -> int:
            return x


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
async def test_a_paused_handler_is_saved_under_the_id_a_resume_looks_for(durability: str) -> None:
    from asyncgraph.constants import INTERRUPT
    from asyncgraph.pregel._algo import handler_task_id

    def handler(state: State) -> State:
        return {"foo": interrupt("why?"), "log": []}

    saver = InMemorySaver()
    app = _graph(error_handler=handler).compile(checkpointer=saver)
    cfg = {"configurable": {"thread_id": "1"}}
    await app.ainvoke({"foo": "", "log": []}, cfg, durability=durability)
    writes = saver.get_tuple(cfg).pending_writes  # type: ignore[union-attr]
    (failed_id,) = {tid for tid, c, _ in writes if c == ERROR_SOURCE}
    assert {tid for tid, c, _ in writes if c == INTERRUPT} == {handler_task_id(failed_id, "__error_handler__bad")}
    assert (await app.ainvoke(Command(resume="because"), cfg, durability=durability))["foo"] == "because"


async def test_a_runnable_callable_handler_gets_the_error() -> None:
    from asyncgraph._internal._runnable import RunnableCallable

    async def handle(state: State, error: NodeError | None = None) -> State:
        return {"foo": f"{error.node}: {error.error}" if error else "no error", "log": []}

    out = await _graph(error_handler=RunnableCallable(None, handle)).compile().ainvoke({"foo": "", "log": []})
    assert out["foo"] == "bad: boom"
