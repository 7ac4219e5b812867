"""The low-level API (``Pregel(nodes=..., channels=...)`` with ``NodeBuilder``) on
LangGraph (the oracle) and on asyncgraph: the same graph gives the same output, the
same stream chunks and the same checkpoints."""

from __future__ import annotations

import importlib
import operator
import types
from collections.abc import Callable
from typing import Any

import pytest

PACKAGES = ("langgraph", "asyncgraph")


def _m(pkg: str) -> types.SimpleNamespace:
    ch = importlib.import_module(f"{pkg}.channels")
    return types.SimpleNamespace(
        name=pkg,
        Pregel=importlib.import_module(f"{pkg}.pregel").Pregel,
        NodeBuilder=importlib.import_module(f"{pkg}.pregel").NodeBuilder,
        LastValue=ch.LastValue,
        Topic=ch.Topic,
        EphemeralValue=ch.EphemeralValue,
        BinaryOperatorAggregate=ch.BinaryOperatorAggregate,
        InMemorySaver=importlib.import_module(f"{pkg}.checkpoint.memory").InMemorySaver,
        errors=importlib.import_module(f"{pkg}.errors"),
        types=importlib.import_module(f"{pkg}.types"),
    )


def _both(build: Callable[[types.SimpleNamespace], Any], run: Callable[[Any, types.SimpleNamespace], Any]) -> None:
    seen = {pkg: run(build(_m(pkg)), _m(pkg)) for pkg in PACKAGES}
    assert seen["asyncgraph"] == seen["langgraph"]


def _chain(m: types.SimpleNamespace, **kw: Any) -> Any:
    one = m.NodeBuilder().subscribe_only("input").do(lambda x: x + 1).write_to("inbox")
    two = m.NodeBuilder().subscribe_only("inbox").do(lambda x: x * 10).write_to("output")
    return m.Pregel(
        nodes={"one": one, "two": two},
        channels={"input": m.LastValue(int), "inbox": m.LastValue(int), "output": m.LastValue(int)},
        input_channels="input",
        output_channels="output",
        **kw,
    )


STREAM_MODES = ["values", "updates", ["values", "updates"]]


@pytest.mark.parametrize("mode", STREAM_MODES, ids=str)
def test_chain_output_and_streams(mode: Any) -> None:
    def run(app: Any, m: Any) -> Any:
        return app.invoke(2), list(app.stream(2, stream_mode=mode)), app.invoke(2, stream_mode="updates")

    _both(_chain, run)


def test_output_keys_and_schemas() -> None:
    def run(app: Any, m: Any) -> Any:
        return (
            app.invoke(2, output_keys=["output", "inbox"]),
            list(app.stream(2, output_keys="inbox")),
            app.input_schema.model_json_schema(),
            app.output_schema.model_json_schema(),
            app.get_context_jsonschema(),
        )

    _both(_chain, run)


def test_dict_input_and_several_outputs() -> None:
    def build(m: Any) -> Any:
        node = (
            m.NodeBuilder()
            .subscribe_to("a", "b")
            .do(lambda d: d.get("a", 0) + d.get("b", 0))
            .write_to("sum", fixed=7, doubled=lambda v: 2 * v)
        )
        return m.Pregel(
            nodes={"add": node},
            channels={k: m.LastValue(int) for k in ("a", "b", "sum", "fixed", "doubled")},
            input_channels=["a", "b"],
            output_channels=["sum", "fixed", "doubled"],
        )

    def run(app: Any, m: Any) -> Any:
        return (
            app.invoke({"a": 1, "b": 2}),
            app.invoke({"a": 5}),
            list(app.stream({"a": 1, "b": 2}, stream_mode="updates")),
            app.input_schema.model_json_schema(),
            app.output_schema.model_json_schema(),
        )

    _both(build, run)


def test_topic_collects_parallel_writes_and_fan_in() -> None:
    def build(m: Any) -> Any:
        one = m.NodeBuilder().subscribe_only("input").do(lambda x: x + 1).write_to("inbox")
        two = m.NodeBuilder().subscribe_only("input").do(lambda x: x + 2).write_to("inbox")
        join = m.NodeBuilder().subscribe_only("inbox").do(sorted).write_to("output")
        return m.Pregel(
            nodes={"one": one, "two": two, "join": join},
            channels={"input": m.LastValue(int), "inbox": m.Topic(int), "output": m.LastValue(list)},
            input_channels="input",
            output_channels="output",
        )

    def run(app: Any, m: Any) -> Any:
        return app.invoke(1), list(app.stream(1, stream_mode=["updates", "values"]))

    _both(build, run)


def test_two_writes_to_a_last_value_in_one_step_fail_on_both() -> None:
    def build(m: Any) -> Any:
        one = m.NodeBuilder().subscribe_only("input").write_to("output")
        two = m.NodeBuilder().subscribe_only("input").write_to("output")
        return m.Pregel(
            nodes={"one": one, "two": two},
            channels={"input": m.LastValue(int), "output": m.LastValue(int)},
            input_channels="input",
            output_channels="output",
        )

    def run(app: Any, m: Any) -> Any:
        with pytest.raises(m.errors.InvalidUpdateError):
            app.invoke(1)
        return True

    _both(build, run)


def test_read_from_with_a_reducer_and_checkpoints() -> None:
    def build(m: Any) -> Any:
        node = (
            m.NodeBuilder()
            .subscribe_to("input")
            .read_from("total")
            .do(lambda d: d["input"] + d.get("total", 0))
            .write_to("output", "total")
        )
        return m.Pregel(
            nodes={"one": node},
            channels={
                "input": m.LastValue(int),
                "output": m.LastValue(int),
                "total": m.BinaryOperatorAggregate(int, operator.add),
            },
            input_channels="input",
            output_channels="output",
            checkpointer=m.InMemorySaver(),
        )

    def run(app: Any, m: Any) -> Any:
        cfg = {"configurable": {"thread_id": "t"}}
        outs = [app.invoke(2, cfg), app.invoke(3, cfg)]
        history = [
            (s.values, s.next, s.metadata["source"], s.metadata["step"], [t.name for t in s.tasks])
            for s in app.get_state_history(cfg)
        ]
        return outs, history, app.get_state(cfg).values

    _both(build, run)


def test_interrupt_after_and_resume() -> None:
    def run(app: Any, m: Any) -> Any:
        cfg = {"configurable": {"thread_id": "1"}}
        first = app.invoke(2, cfg)
        state = app.get_state(cfg)
        resumed = app.invoke(None, cfg)
        again = app.invoke(5, cfg)  # the output channel still holds the last run's value
        streamed = list(app.stream(7, {"configurable": {"thread_id": "2"}}, stream_mode="updates"))
        return first, state.values, state.next, resumed, again, streamed

    _both(lambda m: _chain(m, checkpointer=m.InMemorySaver(), interrupt_after_nodes=["one"]), run)


def test_no_output_written_is_none() -> None:
    def build(m: Any) -> Any:
        one = m.NodeBuilder().subscribe_only("input").do(lambda x: x + 1).write_to("between")
        two = m.NodeBuilder().subscribe_only("between").do(lambda x: x)
        return m.Pregel(
            nodes={"one": one, "two": two},
            channels={"input": m.LastValue(int), "between": m.LastValue(int), "output": m.LastValue(int)},
            input_channels="input",
            output_channels="output",
        )

    _both(build, lambda app, m: app.invoke(1))


def test_recursion_limit_counts_steps_from_the_first_node() -> None:
    def run(app: Any, m: Any) -> Any:
        ok = app.invoke(2, {"recursion_limit": 2})
        with pytest.raises(m.errors.GraphRecursionError):
            app.invoke(2, {"recursion_limit": 1})
        return ok

    _both(_chain, run)


def test_send_entries_and_ephemeral_channels() -> None:
    def build(m: Any) -> Any:
        fan = (
            m.NodeBuilder()
            .subscribe_only("input")
            .write_to(m.types.Send("worker", 10), m.types.Send("worker", 20))
        )
        worker = m.NodeBuilder().subscribe_only("never").do(lambda x: x + 1).write_to("results")
        return m.Pregel(
            nodes={"fan": fan, "worker": worker},
            channels={
                "input": m.LastValue(int),
                "never": m.EphemeralValue(int),
                "results": m.Topic(int, accumulate=True),
            },
            input_channels="input",
            output_channels="results",
        )

    def run(app: Any, m: Any) -> Any:
        # Send objects of the two packages never compare equal: compare their reprs.
        return sorted(app.invoke(1)), repr(list(app.stream(1, stream_mode="updates")))

    _both(build, run)


def test_nested_pregel_as_a_step() -> None:
    def build(m: Any) -> Any:
        inner = _chain(m)
        outer = m.NodeBuilder().subscribe_only("x").do(inner).write_to("y")
        return m.Pregel(
            nodes={"outer": outer},
            channels={"x": m.LastValue(int), "y": m.LastValue(int)},
            input_channels="x",
            output_channels="y",
        )

    _both(build, lambda app, m: app.invoke(4))


def test_validation_errors() -> None:
    for pkg in PACKAGES:
        m = _m(pkg)
        node = m.NodeBuilder().subscribe_only("missing").write_to("out")
        with pytest.raises(ValueError):
            m.Pregel(nodes={"n": node}, channels={"out": m.LastValue(int)}, input_channels="out", output_channels="out")
        with pytest.raises(TypeError):
            m.Pregel(nodes={"n": node})
        ok = m.NodeBuilder().subscribe_only("a").write_to("b")
        with pytest.raises(ValueError):  # nobody reads the input channel
            m.Pregel(nodes={"n": ok}, channels={"a": m.LastValue(int), "b": m.LastValue(int)},
                     input_channels="b", output_channels="b")
        with pytest.raises(ValueError):
            m.NodeBuilder().subscribe_to("a").subscribe_only("b")


def test_node_timeout() -> None:
    import asyncio

    from asyncgraph.channels import LastValue
    from asyncgraph.errors import NodeTimeoutError
    from asyncgraph.pregel import NodeBuilder, Pregel

    async def slow(x: int) -> int:
        await asyncio.sleep(x)
        return x

    def build(timeout: Any) -> Any:
        node = NodeBuilder().subscribe_only("a").do(slow).set_timeout(timeout).write_to("b")
        return Pregel(nodes={"n": node}, channels={"a": LastValue(float), "b": LastValue(float)},
                      input_channels="a", output_channels="b")

    app = build(0.2)
    assert asyncio.run(app.ainvoke(0)) == 0
    with pytest.raises(NodeTimeoutError):
        asyncio.run(app.ainvoke(5))
    with pytest.raises(ValueError, match="greater than 0"):
        build(0)
    sync_node = NodeBuilder().subscribe_only("a").do(lambda x: x).set_timeout(1).write_to("b")
    with pytest.raises(ValueError, match="only supported for async nodes"):
        Pregel(nodes={"n": sync_node}, channels={"a": LastValue(int), "b": LastValue(int)},
               input_channels="a", output_channels="b")


def test_node_timeout_policy_idle_and_sync_refusals_match_langgraph() -> None:
    """``set_timeout(TimeoutPolicy(idle_timeout=...))`` on a low-level node: an async
    node that goes quiet too long times out; a node with a sync step (wrapped, or one
    branch of a parallel step) is refused when the graph is built."""
    import asyncio

    from langchain_core.runnables import RunnableLambda, RunnableParallel

    async def quiet(x: int) -> int:
        await asyncio.sleep(0.3)
        return x + 1

    def sync_step(x: int) -> int:
        return x + 1

    def outcome(m: types.SimpleNamespace, step: Any) -> str:
        policy = m.types.TimeoutPolicy(idle_timeout=0.05)
        try:
            app = m.Pregel(
                nodes={"n": m.NodeBuilder().subscribe_only("a").do(step).set_timeout(policy).write_to("b")},
                channels={"a": m.EphemeralValue(int), "b": m.LastValue(object)},
                input_channels="a", output_channels="b",
            )
        except ValueError as exc:
            return "refused: " + ("sync" if "only supported for async nodes" in str(exc) else str(exc))
        try:
            return f"ran: {asyncio.run(app.ainvoke(1))}"
        except m.errors.NodeTimeoutError:
            return "timed out"

    steps = {
        "async function": lambda: quiet,
        "async lambda": lambda: RunnableLambda(quiet),
        "wrapped sync lambda": lambda: RunnableLambda(sync_step).with_config(tags=["t"]),
        "sync function": lambda: sync_step,
        "parallel with a sync branch": lambda: RunnableParallel(s=RunnableLambda(sync_step), a=RunnableLambda(quiet)),
    }
    seen = {pkg: {name: outcome(_m(pkg), make()) for name, make in steps.items()} for pkg in PACKAGES}
    assert seen["asyncgraph"] == seen["langgraph"]
    assert seen["asyncgraph"]["async function"] == "timed out"
    assert seen["asyncgraph"]["sync function"] == "refused: sync"
