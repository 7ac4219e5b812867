"""What ``stream_mode="messages"`` says about each message (its metadata dict), and a
few state shapes around it, on LangGraph and asyncgraph side by side.

The metadata is what UIs and tracing read: the node, step, triggers, path, the task's
namespace (``node:<task id>`` even without a checkpointer), the ``configurable``
entries LangGraph repeats (and not the others, which may be secrets), the model run's
own tags, and ``ls_integration``.
"""

# No ``from __future__ import annotations``: the state classes below are defined inside
# the tests, and both libraries read their annotations at run time.
import asyncio
import dataclasses
import importlib
import operator
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AnyMessage, HumanMessage
from langchain_core.runnables import RunnableLambda
from pydantic import BaseModel, Field

PACKAGES = ("langgraph", "asyncgraph")


def _mods(pkg: str) -> tuple[Any, Any, Any]:
    return (importlib.import_module(f"{pkg}.graph"), importlib.import_module(f"{pkg}.types"),
            importlib.import_module(f"{pkg}.checkpoint.memory"))


def _plain(meta: dict[str, Any]) -> dict[str, Any]:
    """The metadata with task ids blanked (they are hashes of different inputs) and the
    langchain-core version left out."""
    out = {}
    for k, v in meta.items():
        if k == "lc_versions":
            continue
        if isinstance(v, str) and "checkpoint_ns" in k and ":" in v:
            v = "|".join(part.split(":")[0] + ":<id>" for part in v.split("|"))
        out[k] = v
    return out


def _model() -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter(["one two"] * 10), tags=["meow"])


def _both(scenario: Any) -> None:
    got = {pkg: scenario(pkg) for pkg in PACKAGES}
    assert got["asyncgraph"] == got["langgraph"]


def _llm_graph(pkg: str, *, checkpointer: bool = False) -> Any:
    G, _, M = _mods(pkg)
    model = _model()
    g = G.StateGraph(G.MessagesState)
    g.add_node("call_model", lambda s: {"messages": model.invoke(s["messages"])})
    g.add_edge(G.START, "call_model")
    return g.compile(checkpointer=M.InMemorySaver() if checkpointer else None)


def _messages(app: Any, inp: Any, config: Any = None, **kw: Any) -> list[Any]:
    return [(type(m).__name__, m.content, _plain(md)) for m, md in app.stream(inp, config, stream_mode="messages", **kw)]


def test_model_tokens_carry_the_task_namespace_tags_and_ls_keys() -> None:
    _both(lambda pkg: _messages(_llm_graph(pkg), {"messages": "hi"}))


def test_configurable_entries_in_metadata_are_langgraphs_only() -> None:
    config = {
        "tags": ["t1"],
        "metadata": {"m": 1},
        "configurable": {"thread_id": "th", "run_id": "r", "assistant_id": "a", "graph_id": "g",
                         "model": "gpt", "some_api_key": "secret", "user_id": "u", "n": 3},
    }

    def scenario(pkg: str) -> Any:
        G, _, _ = _mods(pkg)
        g = G.StateGraph(G.MessagesState)
        g.add_node("n", lambda s: {"messages": HumanMessage("foo")})
        g.add_edge(G.START, "n")
        node_msgs = _messages(g.compile(), {"messages": []}, config)
        model_msgs = _messages(_llm_graph(pkg, checkpointer=True), {"messages": "hi"}, config)
        return node_msgs, model_msgs

    _both(scenario)
    node_meta = scenario("asyncgraph")[0][0][2]
    assert "some_api_key" not in node_meta and "model" not in node_meta
    assert node_meta["ls_integration"] == "langgraph"


def test_sequence_step_tags_are_left_out_and_subgraph_tokens_keep_their_namespace() -> None:
    def scenario(pkg: str) -> Any:
        G, _, M = _mods(pkg)
        model = _model()
        chain = RunnableLambda(lambda s: s["messages"]) | model.with_config(tags=["x"])
        g = G.StateGraph(G.MessagesState)
        g.add_node("c", chain | (lambda m: {"messages": m}))
        g.add_edge(G.START, "c")
        seq = _messages(g.compile(), {"messages": "hi"})
        sub = _llm_graph(pkg)
        parent = G.StateGraph(G.MessagesState)
        parent.add_node("outer", sub)
        parent.add_edge(G.START, "outer")
        app = parent.compile(checkpointer=M.InMemorySaver())
        nested = [(len(ns), _plain(md)) for ns, (_, md) in app.stream(
            {"messages": "hi"}, {"configurable": {"thread_id": "1"}}, stream_mode="messages", subgraphs=True)]
        return seq, nested

    _both(scenario)


def test_messages_from_a_list_of_commands_are_streamed() -> None:
    def scenario(pkg: str) -> Any:
        G, T, _ = _mods(pkg)

        def a(s: Any) -> Any:
            return T.Command(update={"messages": HumanMessage("one", id="1")})

        def b(s: Any) -> Any:
            return [T.Command(update={"messages": HumanMessage("two", id="2")}),
                    T.Command(update={"messages": [HumanMessage("three", id="3")]})]

        app = G.StateGraph(G.MessagesState).add_sequence([a, b]).add_edge(G.START, "a").compile()
        return _messages(app, {"messages": []})

    _both(scenario)
    assert [c for _, c, _ in scenario("asyncgraph")] == ["one", "two", "three"]


def test_node_config_sees_the_task_namespace_without_a_checkpointer() -> None:
    def scenario(pkg: str) -> Any:
        G, _, _ = _mods(pkg)
        cfg = importlib.import_module(f"{pkg}.config")
        seen: list[Any] = []

        def node(s: Any) -> Any:
            c = cfg.get_config()
            seen.append((_plain(c["metadata"]), _plain({"checkpoint_ns": c["configurable"]["checkpoint_ns"]})))
            return {"messages": []}

        app = G.StateGraph(G.MessagesState).add_node("node", node).add_edge(G.START, "node").compile()
        app.invoke({"messages": []}, {"configurable": {"thread_id": "t", "key": "v"}})
        return seen

    _both(scenario)


def test_astream_events_metadata() -> None:
    def scenario(pkg: str) -> Any:
        G, _, _ = _mods(pkg)
        app = G.StateGraph(G.MessagesState).add_node("n", lambda s: {"messages": HumanMessage("x")}).add_edge(G.START, "n").compile()

        async def go() -> list[Any]:
            return [(e["event"], e["name"], _plain(e["metadata"]))
                    async for e in app.astream_events({"messages": []}, {"configurable": {"thread_id": "z", "k": 1}},
                                                      version="v2")]

        return asyncio.run(go())

    _both(scenario)


# -- state shapes ------------------------------------------------------------------------


def test_pydantic_update_keeps_default_factory_fields() -> None:
    def scenario(pkg: str) -> Any:
        G, _, _ = _mods(pkg)

        class State(BaseModel):
            docs: Annotated[list[str], operator.add] = Field(default_factory=list)
            note: str | None = None
            count: int = 0

        class Docs(BaseModel):
            docs: list[str] = Field(default_factory=lambda: ["d1", "d2"])
            note: str | None = None
            count: int = 0

        app = (G.StateGraph(State).add_node("a", lambda s: Docs()).add_node("b", lambda s: Docs(note=None, count=5))
               .add_edge(G.START, "a").add_edge("a", "b").compile())
        return list(app.stream({"docs": [], "note": "keep"}, stream_mode="updates")), app.invoke({"docs": [], "note": "n"})

    _both(scenario)


def test_local_pydantic_state_and_input_with_a_checkpointer() -> None:
    """Classes defined inside a function, declared by the graph, are stored (the graph
    registers them); LangGraph stores them too."""

    def scenario(pkg: str) -> Any:
        G, T, M = _mods(pkg)

        class Inner(BaseModel):
            yo: int

        class State(BaseModel):
            query: str
            inner: Inner
            messages: Annotated[list[AnyMessage], G.add_messages] = Field(default_factory=list)

        def ask(s: State) -> Any:
            answer = T.interrupt("ok?")
            return {"query": f"{s.query} {answer}", "inner": Inner(yo=s.inner.yo + 1)}

        sub = G.StateGraph(State).add_node("ask", ask).add_edge(G.START, "ask").compile(checkpointer=M.InMemorySaver())
        app = G.StateGraph(State).add_node("sub", sub).add_edge(G.START, "sub").compile(checkpointer=M.InMemorySaver())
        cfg = {"configurable": {"thread_id": "1"}}
        first = app.invoke(State(query="q", inner=Inner(yo=1)), cfg)
        done = app.invoke(T.Command(resume="yes"), cfg)
        return [first["query"], type(first["inner"]).__name__, done["query"], done["inner"].yo]

    _both(scenario)


def test_path_function_with_its_own_schema() -> None:
    def scenario(pkg: str) -> Any:
        G, _, _ = _mods(pkg)

        class Overall(TypedDict):
            foo: Annotated[int, operator.add]
            bar: str

        class RouterState(TypedDict):
            baz: str

        class Node2State(TypedDict):
            foo: Annotated[int, operator.add]
            baz: str

        @dataclasses.dataclass
        class FooOnly:
            foo: int

        seen: list[Any] = []

        def n1(s: Overall) -> Any:
            return {"foo": 1, "baz": "meow"}

        def n2(s: Node2State) -> Any:
            return {"foo": 1, "bar": s["baz"]}

        def router(s: RouterState) -> str:
            seen.append(s)
            return "n2" if s["baz"] == "meow" else "__end__"

        def watcher(s: FooOnly) -> list[str]:
            seen.append(repr(s))
            return []

        b = G.StateGraph(Overall).add_node("n1", n1).add_node("n2", n2).add_edge(G.START, "n1")
        b.add_conditional_edges("n1", router)
        b.add_conditional_edges("n1", watcher)
        return b.compile().invoke({"foo": 0}), seen

    _both(scenario)


@pytest.mark.parametrize("pkg", ["asyncgraph"])
def test_unregistered_local_class_is_never_rebuilt(pkg: str, caplog: pytest.LogCaptureFixture) -> None:
    """Only classes registered as objects count: an undeclared local class in state is
    stored with a warning saying how to fix it, and read back as its data, never rebuilt."""
    from asyncgraph.checkpoint.memory import InMemorySaver
    from asyncgraph.graph import StateGraph

    @dataclasses.dataclass
    class Loose:
        a: int

    class S(TypedDict):
        x: Any

    app = StateGraph(S).add_node("n", lambda s: {"x": Loose(1)}).add_edge("__start__", "n").compile(
        checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "1"}}
    with caplog.at_level("WARNING", logger="asyncgraph.checkpoint.serde"):
        assert app.invoke({"x": 0}, cfg) == {"x": Loose(1)}
        assert app.get_state(cfg).values == {"x": {"a": 1}}
    assert "defined inside a function" in caplog.text and "allow(Loose)" in caplog.text
    assert "Blocked deserialization" in caplog.text
