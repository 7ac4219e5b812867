"""Differential tests: a dozen graph shapes, run on LangGraph and on asyncgraph.

Each test builds the graph through ``m`` (either package's modules) and asserts the
two engines agree on the final state, the values stream and the per-step updates.
"""

from __future__ import annotations

import asyncio
import dataclasses
import operator
from types import SimpleNamespace
from typing import Annotated, Any, TypedDict

import pydantic
import pytest
from langchain_core.messages import AIMessage, HumanMessage

from ._harness import assert_same, raised_by_both


class Log(TypedDict):
    log: Annotated[list[str], operator.add]
    n: int


def visit(name: str) -> Any:
    def run(state: Log) -> dict[str, Any]:
        return {"log": [name]}

    return run


def avisit(name: str, delay: float = 0.0) -> Any:
    async def run(state: Log) -> dict[str, Any]:
        await asyncio.sleep(delay)
        return {"log": [name]}

    return run


def _builder(m: SimpleNamespace, *names: str, schema: Any = Log) -> Any:
    g = m.graph.StateGraph(schema)
    for n in names:
        g.add_node(n, visit(n))
    return g


START, END = "__start__", "__end__"


async def test_chain() -> None:
    def build(m: SimpleNamespace) -> Any:
        g = _builder(m, "a", "b", "c")
        g.add_edge(START, "a")
        g.add_edge("a", "b")
        g.add_edge("b", "c")
        g.add_edge("c", END)
        return g.compile()

    ours = await assert_same(build, {"log": ["in"], "n": 0})
    assert ours.final == {"log": ["in", "a", "b", "c"], "n": 0}


async def test_add_sequence() -> None:
    def build(m: SimpleNamespace) -> Any:
        g = m.graph.StateGraph(Log)
        g.add_sequence([("one", visit("one")), ("two", visit("two"))])
        g.set_entry_point("one")
        g.set_finish_point("two")
        return g.compile()

    await assert_same(build, {"log": [], "n": 1})


@pytest.mark.parametrize("n", [0, 1, 2])
async def test_conditional_branches_with_path_map(n: int) -> None:
    def route(state: Log) -> str:
        return ["zero", "one", "other"][min(state["n"], 2)]

    def build(m: SimpleNamespace) -> Any:
        g = _builder(m, "start", "left", "right")
        g.add_edge(START, "start")
        g.add_conditional_edges(
            "start", route, {"zero": "left", "one": "right", "other": END}
        )
        g.add_edge("left", END)
        g.add_edge("right", END)
        return g.compile()

    await assert_same(build, {"log": [], "n": n})


async def test_parallel_branches_then_plain_edges_to_one_node() -> None:
    def build(m: SimpleNamespace) -> Any:
        g = m.graph.StateGraph(Log)
        g.add_node("fork", visit("fork"))
        g.add_node("fast", avisit("fast", 0.0))
        g.add_node("slow", avisit("slow", 0.02))
        g.add_node("slow2", visit("slow2"))
        g.add_node("merge", visit("merge"))
        g.add_edge(START, "fork")
        g.add_conditional_edges("fork", lambda s: ["slow", "fast"])
        g.add_edge("slow", "slow2")
        g.add_edge("fast", "merge")
        g.add_edge("slow2", "merge")
        return g.compile()

    ours = await assert_same(build, {"log": [], "n": 0})
    assert ours.final["log"].count("merge") == 2


async def test_join_across_steps() -> None:
    def build(m: SimpleNamespace) -> Any:
        g = _builder(m, "a", "b1", "b2", "b3", "join")
        g.add_edge(START, "a")
        g.add_edge(START, "b1")
        g.add_edge("b1", "b2")
        g.add_edge("b2", "b3")
        g.add_edge(["a", "b3"], "join")
        return g.compile()

    ours = await assert_same(build, {"log": [], "n": 0})
    assert ours.final["log"] == ["a", "b1", "b2", "b3", "join"]


async def test_cycle_with_conditional_exit() -> None:
    def inc(state: Log) -> dict[str, Any]:
        return {"n": state["n"] + 1, "log": [f"inc{state['n']}"]}

    def build(m: SimpleNamespace) -> Any:
        g = m.graph.StateGraph(Log)
        g.add_node("inc", inc)
        g.add_node("check", visit("check"))
        g.add_edge(START, "inc")
        g.add_edge("inc", "check")
        g.add_conditional_edges("check", lambda s: "inc" if s["n"] < 4 else END)
        return g.compile()

    ours = await assert_same(build, {"log": [], "n": 0})
    assert ours.final["n"] == 4


class Jokes(TypedDict):
    subjects: list[str]
    jokes: Annotated[list[str], operator.add]
    best: str


async def test_send_fan_out_map_reduce() -> None:
    async def joke(arg: dict[str, Any]) -> dict[str, Any]:
        # Later subjects finish first.
        await asyncio.sleep(0.005 * (4 - len(arg["s"])))
        return {"jokes": [f"{arg['s']}!"]}

    def pick(state: Jokes) -> dict[str, Any]:
        return {"best": max(state["jokes"], key=len)}

    def build(m: SimpleNamespace) -> Any:
        send = m.types.Send
        g = m.graph.StateGraph(Jokes)
        g.add_node("joke", joke)
        g.add_node("pick", pick)
        g.add_conditional_edges(
            START, lambda s: [send("joke", {"s": x}) for x in s["subjects"]]
        )
        g.add_edge("joke", "pick")
        return g.compile()

    ours = await assert_same(build, {"subjects": ["a", "bb", "ccc"], "jokes": []})
    assert ours.final["jokes"] == ["a!", "bb!", "ccc!"]


async def test_send_mixed_with_plain_targets() -> None:
    def build(m: SimpleNamespace) -> Any:
        send = m.types.Send
        g = m.graph.StateGraph(Jokes)
        g.add_node("w", lambda a: {"jokes": [f"w{a}"]})
        g.add_node("plain", lambda s: {"jokes": ["plain"]})
        g.add_node("again", lambda s: {"jokes": ["again"]})
        g.add_conditional_edges(START, lambda s: [send("w", 2), "plain", send("w", 1)])
        g.add_conditional_edges("plain", lambda s: [send("w", 3), "again"])
        return g.compile()

    await assert_same(build, {"subjects": [], "jokes": []})


async def test_command_update_and_goto() -> None:
    def build(m: SimpleNamespace) -> Any:
        command = m.types.Command

        def decide(state: Log) -> Any:
            target = "even" if state["n"] % 2 == 0 else "odd"
            return command(
                update={"n": state["n"] + 10, "log": ["decide"]}, goto=target
            )

        g = _builder(m, "even", "odd")
        g.add_node("decide", decide, destinations=("even", "odd"))
        g.add_edge(START, "decide")
        return g.compile()

    await assert_same(build, {"log": [], "n": 3})


async def test_command_goto_list_with_send_and_static_edge() -> None:
    def build(m: SimpleNamespace) -> Any:
        command, send = m.types.Command, m.types.Send

        def decide(state: Log) -> Any:
            return command(goto=[send("worker", {"log": ["sent"], "n": 5}), "b"])

        g = _builder(m, "b", "worker", "tail")
        g.add_node("decide", decide)
        g.add_edge(START, "decide")
        g.add_edge("decide", "tail")
        return g.compile()

    await assert_same(build, {"log": [], "n": 0})


async def test_subgraph_as_a_node() -> None:
    def build(m: SimpleNamespace) -> Any:
        sub = m.graph.StateGraph(Log)
        sub.add_node("inner1", visit("inner1"))
        sub.add_node("inner2", lambda s: {"n": s["n"] * 2})
        sub.add_edge(START, "inner1")
        sub.add_edge("inner1", "inner2")
        g = _builder(m, "before", "after")
        g.add_node("sub", sub.compile())
        g.add_edge(START, "before")
        g.add_edge("before", "sub")
        g.add_edge("sub", "after")
        return g.compile()

    ours = await assert_same(build, {"log": ["x"], "n": 3})
    assert ours.final["n"] == 6


class Outer(TypedDict):
    log: Annotated[list[str], operator.add]


class InnerWithPrivateKeys(TypedDict):
    log: Annotated[list[str], operator.add]
    scratch: str


async def test_subgraph_with_keys_the_parent_does_not_have() -> None:
    def build(m: SimpleNamespace) -> Any:
        sub = m.graph.StateGraph(InnerWithPrivateKeys)
        sub.add_node("think", lambda s: {"scratch": "thought"})
        sub.add_node("say", lambda s: {"log": [s["scratch"]]})
        sub.add_edge(START, "think")
        sub.add_edge("think", "say")
        g = m.graph.StateGraph(Outer)
        g.add_node("sub", sub.compile())
        g.add_edge(START, "sub")
        return g.compile()

    ours = await assert_same(build, {"log": []})
    assert ours.final == {"log": ["thought"]}


async def test_mixed_sync_and_async_nodes() -> None:
    def build(m: SimpleNamespace) -> Any:
        g = m.graph.StateGraph(Log)
        g.add_node("s1", visit("s1"))
        g.add_node("a1", avisit("a1", 0.01))
        g.add_node("s2", visit("s2"))
        g.add_node("a2", avisit("a2"))
        g.add_edge(START, "s1")
        g.add_edge(START, "a1")
        g.add_edge("s1", "s2")
        g.add_edge("a1", "a2")
        g.add_edge(["s2", "a2"], END)
        return g.compile()

    await assert_same(build, {"log": [], "n": 0})


async def test_messages_state_with_add_messages() -> None:
    def agent(state: Any) -> dict[str, Any]:
        n = len(state["messages"])
        return {"messages": [AIMessage(f"reply {n}", id=f"ai-{n}")]}

    def edit(state: Any) -> dict[str, Any]:
        # Same id: replaces the first reply in place.
        return {"messages": [AIMessage("edited", id="ai-1")]}

    def build(m: SimpleNamespace) -> Any:
        g = m.graph.StateGraph(m.graph.MessagesState)
        g.add_node("agent", agent)
        g.add_node("edit", edit)
        g.add_edge(START, "agent")
        g.add_conditional_edges(
            "agent", lambda s: "agent" if len(s["messages"]) < 3 else "edit"
        )
        return g.compile()

    ours = await assert_same(build, {"messages": [HumanMessage("hi", id="h1")]})
    assert [c for _, c, _, _ in ours.final["messages"]] == ["hi", "edited", "reply 2"]


@dataclasses.dataclass
class DCState:
    n: int
    log: Annotated[list[str], operator.add] = dataclasses.field(default_factory=list)


class PState(pydantic.BaseModel):
    n: int
    tag: str = "none"
    log: Annotated[list[str], operator.add] = []


@pytest.mark.parametrize("schema", [DCState, PState], ids=["dataclass", "pydantic"])
async def test_object_state_schemas(schema: Any) -> None:
    def double(state: Any) -> dict[str, Any]:
        return {"n": state.n * 2, "log": [type(state).__name__]}

    def build(m: SimpleNamespace) -> Any:
        g = m.graph.StateGraph(schema)
        g.add_node("double", double)
        g.add_node("again", double)
        g.add_edge(START, "double")
        g.add_conditional_edges("double", lambda s: "again" if s.n < 10 else END)
        return g.compile()

    await assert_same(build, {"n": 3})


class Full(TypedDict):
    question: str
    answer: str


class Private(TypedDict):
    secret: str


async def test_private_state_between_nodes() -> None:
    def write(state: Full) -> Private:
        return {"secret": state["question"].upper()}

    def read(state: Private) -> dict[str, Any]:
        return {"answer": state["secret"]}

    def build(m: SimpleNamespace) -> Any:
        g = m.graph.StateGraph(Full)
        g.add_node("write", write)
        g.add_node("read", read)
        g.add_edge(START, "write")
        g.add_edge("write", "read")
        return g.compile()

    # LangGraph's values stream shows the private key 'secret' (and a chunk for the
    # step that wrote only it); asyncgraph streams the state schema's keys only.
    await assert_same(build, {"question": "q"}, values=False)


async def test_custom_stream_writer() -> None:
    def build(m: SimpleNamespace) -> Any:
        def talk(state: Log) -> dict[str, Any]:
            writer = m.config.get_stream_writer()
            writer({"progress": 1})
            writer("done")
            return {"log": ["talk"]}

        g = m.graph.StateGraph(Log)
        g.add_node("talk", talk)
        g.add_node("quiet", visit("quiet"))
        g.add_edge(START, "talk")
        g.add_edge("talk", "quiet")
        return g.compile()

    ours = await assert_same(build, {"log": [], "n": 0})
    assert ours.custom == [{"progress": 1}, "done"]


async def test_overwrite_in_a_parallel_step() -> None:
    def build(m: SimpleNamespace) -> Any:
        overwrite = m.types.Overwrite
        g = m.graph.StateGraph(Log)
        g.add_node("a", lambda s: {"log": overwrite(["reset"])})
        g.add_node("b", visit("b"))
        g.add_node("c", visit("c"))
        g.add_edge(START, "b")
        g.add_edge(START, "a")
        g.add_edge("a", "c")
        return g.compile()

    await assert_same(build, {"log": ["old"], "n": 0})


# --- errors -------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [2, 4, 7])
async def test_recursion_limit_raises_in_both(limit: int) -> None:
    def build(m: SimpleNamespace) -> Any:
        g = _builder(m, "loop")
        g.add_edge(START, "loop")
        g.add_edge("loop", "loop")
        return g.compile()

    theirs, ours = await raised_by_both(
        build, {"log": [], "n": 0}, {"recursion_limit": limit}
    )
    assert type(theirs).__name__ == type(ours).__name__ == "GraphRecursionError"
    assert str(ours).splitlines()[0] == str(theirs).splitlines()[0]


async def test_concurrent_last_value_writes_raise_in_both() -> None:
    def build(m: SimpleNamespace) -> Any:
        g = m.graph.StateGraph(Log)
        g.add_node("a", lambda s: {"n": 1})
        g.add_node("b", lambda s: {"n": 2})
        g.add_edge(START, "a")
        g.add_edge(START, "b")
        return g.compile()

    theirs, ours = await raised_by_both(build, {"log": [], "n": 0})
    assert type(theirs).__name__ == type(ours).__name__ == "InvalidUpdateError"
    assert "'n'" in str(theirs) and "'n'" in str(ours)


async def test_node_error_is_the_same_exception_type() -> None:
    def boom(state: Log) -> dict[str, Any]:
        raise KeyError("missing")

    def build(m: SimpleNamespace) -> Any:
        g = _builder(m, "ok")
        g.add_node("boom", boom)
        g.add_edge(START, "ok")
        g.add_edge(START, "boom")
        return g.compile()

    theirs, ours = await raised_by_both(build, {"log": [], "n": 0})
    assert type(theirs) is type(ours) is KeyError
    assert ours.args == theirs.args


class Topic(TypedDict):
    topic: str
    jokes: Annotated[list[str], operator.add]


async def test_send_to_a_subgraph_node() -> None:
    def build(m: SimpleNamespace) -> Any:
        send = m.types.Send
        sub = m.graph.StateGraph(Topic)
        sub.add_node("tell", lambda s: {"jokes": [f"sub:{s['topic']}"]})
        sub.add_edge(START, "tell")
        g = m.graph.StateGraph(Jokes)
        g.add_node("sub", sub.compile())
        g.add_conditional_edges(
            START, lambda s: [send("sub", {"topic": x}) for x in s["subjects"]]
        )
        return g.compile()

    ours = await assert_same(build, {"subjects": ["x", "y"], "jokes": []})
    assert ours.final["jokes"] == ["sub:x", "sub:y"]


async def test_nested_subgraphs_in_parallel_with_a_node() -> None:
    def build(m: SimpleNamespace) -> Any:
        inner = m.graph.StateGraph(Log)
        inner.add_node("deep", visit("deep"))
        inner.add_edge(START, "deep")
        middle = m.graph.StateGraph(Log)
        middle.add_node("inner", inner.compile())
        middle.add_node("mid", visit("mid"))
        middle.add_edge(START, "inner")
        middle.add_edge("inner", "mid")
        g = _builder(m, "side")
        g.add_node("middle", middle.compile())
        g.add_edge(START, "middle")
        g.add_edge(START, "side")
        return g.compile()

    await assert_same(build, {"log": [], "n": 0})


async def test_subgraphs_true_stream_matches_with_namespaces_by_node_name() -> None:
    from ._harness import PACKAGES, modules

    def build(m: SimpleNamespace) -> Any:
        inner = m.graph.StateGraph(Log)
        inner.add_node("deep", visit("deep"))
        inner.add_edge(START, "deep")
        middle = m.graph.StateGraph(Log)
        middle.add_node("inner", inner.compile())
        middle.add_node("mid", visit("mid"))
        middle.add_edge(START, "inner")
        middle.add_edge("inner", "mid")
        g = _builder(m, "first", "last")
        g.add_node("middle", middle.compile())
        g.add_edge(START, "first")
        g.add_edge("first", "middle")
        g.add_edge("middle", "last")
        return g.compile()

    seen = []
    for pkg in PACKAGES:
        graph = build(modules(pkg))
        chunks = [
            (tuple(part.split(":")[0] for part in ns), mode, chunk)
            async for ns, mode, chunk in graph.astream(
                {"log": [], "n": 0}, stream_mode=["updates", "values"], subgraphs=True
            )
        ]
        seen.append(chunks)
    oracle, ours = seen
    assert ours == oracle
    assert ((("middle", "inner"), "updates", {"deep": {"log": ["deep"]}})) in ours
