"""v3 streaming, differential: the same graph and input on LangGraph (the oracle) and on
asyncgraph; what a user reads from the run stream's projections must match."""

from __future__ import annotations

import gc
import importlib
import logging
import operator
import types
from typing import Annotated, Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from typing_extensions import TypedDict

from asyncgraph.testing import ScriptedChatModel

pytestmark = pytest.mark.filterwarnings("ignore:The v3 streaming protocol")

PACKAGES = ("langgraph", "asyncgraph")


def _load(pkg: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        graph=importlib.import_module(f"{pkg}.graph"),
        types=importlib.import_module(f"{pkg}.types"),
        config=importlib.import_module(f"{pkg}.config"),
        stream=importlib.import_module(f"{pkg}.stream"),
        prebuilt=importlib.import_module(f"{pkg}.prebuilt"),
        memory=importlib.import_module(f"{pkg}.checkpoint.memory"),
    )


_MODS = {pkg: _load(pkg) for pkg in PACKAGES}  # imported up front, not inside event loops
for _lazy in ("asyncgraph.pregel.main", "asyncgraph.stream._run", "langgraph.pregel.main",
              "langchain_core.language_models.chat_model_stream", "langchain_core.language_models._compat_bridge"):
    importlib.import_module(_lazy)


def mods(pkg: str) -> types.SimpleNamespace:
    return _MODS[pkg]


class S(TypedDict):
    xs: Annotated[list, operator.add]


def nested(m: types.SimpleNamespace) -> Any:
    """root: a -> sub (inner: sa -> deep (innermost: da)) -> b; custom writes at each level."""

    def write(tag: str) -> Any:
        def node(s: S) -> dict[str, Any]:
            m.config.get_stream_writer()({"at": tag})
            return {"xs": [tag]}

        return node

    g3 = m.graph.StateGraph(S)
    g3.add_node("da", write("da"))
    g3.add_edge(m.graph.START, "da")
    g2 = m.graph.StateGraph(S)
    g2.add_node("sa", write("sa"))
    g2.add_node("deep", g3.compile())
    g2.add_edge(m.graph.START, "sa")
    g2.add_edge("sa", "deep")
    g1 = m.graph.StateGraph(S)
    g1.add_node("a", write("a"))
    g1.add_node("sub", g2.compile())
    g1.add_node("b", write("b"))
    g1.add_edge(m.graph.START, "a")
    g1.add_edge("a", "sub")
    g1.add_edge("sub", "b")
    st = m.stream
    return g1.compile(transformers=[st.UpdatesTransformer, st.CustomTransformer])


def _seg(ns: list[str] | tuple[str, ...]) -> list[str]:
    """A namespace without task ids (they differ between the engines)."""
    return [s.split(":")[0] for s in ns]


def _lifecycle(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for p in items:
        p = dict(p)
        p["namespace"] = _seg(p["namespace"])
        if "trigger_call_id" in p:
            p["trigger_call_id"] = "<task>"
        out.append(p)
    return out


def _sorted_runs(items: list[dict[str, Any]]) -> list[str]:
    return sorted(repr(i) for i in items)


@pytest.mark.parametrize("projection", ["values", "updates", "custom", "lifecycle", "output"])
def test_nested_graph_projections_match_sync(projection: str) -> None:
    seen = {}
    for pkg in PACKAGES:
        run = nested(mods(pkg)).stream_events({"xs": []}, version="v3")
        if projection == "output":
            seen[pkg] = (run.output, run.interrupted, run.interrupts)
        elif projection == "lifecycle":
            seen[pkg] = _lifecycle(list(run.lifecycle))
        else:
            seen[pkg] = list(getattr(run, projection))
    assert seen["asyncgraph"] == seen["langgraph"]


async def test_nested_graph_projections_match_async() -> None:
    seen = {}
    for pkg in PACKAGES:
        run = await nested(mods(pkg)).astream_events({"xs": []}, version="v3")
        values, updates = run.values.atee(1)[0], None
        seen[pkg] = ([v async for v in values], await run.output(), await run.interrupted())
        run = await nested(mods(pkg)).astream_events({"xs": []}, version="v3")
        updates = [u async for u in run.updates]
        seen[pkg] += (updates, _lifecycle([p async for p in (await nested(mods(pkg)).astream_events(
            {"xs": []}, version="v3")).lifecycle]))
    assert seen["asyncgraph"] == seen["langgraph"]


def _walk(handle: Any, depth: int = 0) -> list[Any]:
    """A subgraph handle tree: path, name, its own values and its children, in order."""
    out: list[Any] = []
    for child in handle.subgraphs:
        kids = _walk(child, depth + 1)
        out.append((_seg(child.path), child.graph_name, child.status, kids, child.output))
    return out


def test_subgraph_handles_match() -> None:
    seen = {pkg: _walk(nested(mods(pkg)).stream_events({"xs": []}, version="v3")) for pkg in PACKAGES}
    assert seen["asyncgraph"] == seen["langgraph"]
    assert seen["asyncgraph"][0][0] == ["sub"] and seen["asyncgraph"][0][3][0][0] == ["sub", "deep"]


async def test_subgraph_handles_values_match_async() -> None:
    seen = {}
    for pkg in PACKAGES:
        run = await nested(mods(pkg)).astream_events({"xs": []}, version="v3")
        got = []
        async for h in run.subgraphs:
            got.append((_seg(h.path), h.graph_name, [v async for v in h.values], h.status))
        seen[pkg] = got
    assert seen["asyncgraph"] == seen["langgraph"]


def test_raw_event_methods_match_as_a_multiset() -> None:
    # Within a step the engines may order a task's result and its parent's updates
    # differently; which events appear, at which namespace, must not differ.
    seen = {}
    for pkg in PACKAGES:
        events = list(nested(mods(pkg)).stream_events({"xs": []}, version="v3"))
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        seen[pkg] = sorted((e["method"], tuple(_seg(e["params"]["namespace"]))) for e in events)
    assert seen["asyncgraph"] == seen["langgraph"]
    assert ("tasks", ()) not in seen["asyncgraph"]  # folded into lifecycle / subgraphs


def _asking(m: types.SimpleNamespace) -> Any:
    def ask(s: S) -> dict[str, Any]:
        return {"xs": [m.types.interrupt({"q": "name?"})]}

    g = m.graph.StateGraph(S)
    g.add_node("first", lambda s: {"xs": ["first"]})
    g.add_node("ask", ask)
    g.add_edge(m.graph.START, "first")
    g.add_edge("first", "ask")
    return g.compile(checkpointer=m.memory.InMemorySaver())


async def test_interrupt_and_resume_match() -> None:
    seen = {}
    for pkg in PACKAGES:
        m = mods(pkg)
        g = _asking(m)
        cfg = {"configurable": {"thread_id": "t"}}
        run = await g.astream_events({"xs": []}, cfg, version="v3")
        first = (await run.output(), await run.interrupted(), [i.value for i in await run.interrupts()])
        run = await g.astream_events(m.types.Command(resume="ada"), cfg, version="v3")
        # [-1]: on resume LangGraph's engine first re-streams the restored state (also in
        # plain stream(stream_mode="values")); asyncgraph's engine does not. Not v3's.
        seen[pkg] = (first, [v async for v in run.values][-1], await run.output(), await run.interrupted())
    assert seen["asyncgraph"] == seen["langgraph"]
    assert seen["asyncgraph"][0][1] is True


def test_interrupt_before_is_passed_through() -> None:
    seen = {}
    for pkg in PACKAGES:
        g = _asking(mods(pkg))
        run = g.stream_events({"xs": []}, {"configurable": {"thread_id": "t"}}, version="v3", interrupt_before=["ask"])
        seen[pkg] = (run.output, run.interrupted)
    assert seen["asyncgraph"] == seen["langgraph"]


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@tool
def boom(a: int) -> int:
    """Always fails."""
    raise ValueError("nope")


def _agent(m: types.SimpleNamespace) -> Any:
    """A model call (streamed), then a node returning a finished message with two tool
    calls, then a ToolNode (one call fails)."""
    model = ScriptedChatModel(responses=["thinking about it"])

    def think(s: Any) -> dict[str, Any]:  # sync, so it runs under stream_events too
        return {"messages": [model.invoke(s["messages"])]}

    def plan(s: Any) -> dict[str, Any]:
        calls = [{"name": "add", "args": {"a": 1, "b": 2}, "id": "c1"}, {"name": "boom", "args": {"a": 1}, "id": "c2"}]
        return {"messages": [AIMessage("calling", id="plan", tool_calls=calls)]}

    g = m.graph.StateGraph(m.graph.MessagesState)
    g.add_node("think", think)
    g.add_node("plan", plan)
    g.add_node("tools", m.prebuilt.ToolNode([add, boom], handle_tool_errors=True))
    g.add_edge(m.graph.START, "think")
    g.add_edge("think", "plan")
    g.add_edge("plan", "tools")
    return g.compile(transformers=[m.prebuilt.ToolCallTransformer])


async def test_messages_projection_matches() -> None:
    seen = {}
    for pkg in PACKAGES:
        run = await _agent(mods(pkg)).astream_events({"messages": [HumanMessage("hi", id="h")]}, version="v3")
        got = []
        async for stream in run.messages:
            got.append((stream.node, str(await stream.text)))
        seen[pkg] = got
    assert seen["asyncgraph"] == seen["langgraph"]
    assert seen["asyncgraph"] == [("think", "thinking about it"), ("plan", "calling")]


def test_messages_projection_matches_sync() -> None:
    seen = {}
    for pkg in PACKAGES:
        run = _agent(mods(pkg)).stream_events({"messages": [HumanMessage("hi", id="h")]}, version="v3")
        seen[pkg] = [(s.node, str(s.text)) for s in run.messages]
    assert seen["asyncgraph"] == seen["langgraph"]


def test_message_protocol_events_match() -> None:
    seen = {}
    for pkg in PACKAGES:
        run = _agent(mods(pkg)).stream_events({"messages": [HumanMessage("hi", id="h")]}, version="v3")
        seen[pkg] = [
            e["params"]["data"][0]["event"] if isinstance(e["params"]["data"][0], dict) else type(e["params"]["data"][0]).__name__
            for e in run
            if e["method"] == "messages"
        ]
    assert seen["asyncgraph"] == seen["langgraph"]
    assert seen["asyncgraph"][0] == "message-start" and "AIMessage" in seen["asyncgraph"]


async def test_tool_calls_projection_and_tools_events_match() -> None:
    seen = {}
    for pkg in PACKAGES:
        run = await _agent(mods(pkg)).astream_events({"messages": [HumanMessage("hi", id="h")]}, version="v3")
        calls = []
        async for tc in run.tool_calls:
            calls.append((tc.tool_call_id, tc.tool_name, tc.input, [d async for d in tc], tc.output, tc.error, tc.completed))
        run = await _agent(mods(pkg)).astream_events({"messages": [HumanMessage("hi", id="h")]}, version="v3")
        tools = [
            {k: (type(v).__name__ if k == "output" else v) for k, v in e["params"]["data"].items()}
            async for e in run
            if e["method"] == "tools"
        ]
        # The two calls run concurrently: compare each call's own event sequence.
        seen[pkg] = (calls, sorted(tools, key=lambda e: e["tool_call_id"]))
    assert seen["asyncgraph"] == seen["langgraph"]
    assert [c[4] for c in seen["asyncgraph"][0]] == ["3", None]  # the ToolMessage content
    assert seen["asyncgraph"][0][1][5] == "nope"


def test_failing_node_fails_output_and_projections() -> None:
    seen = {}
    for pkg in PACKAGES:
        m = mods(pkg)

        def bad(s: S) -> dict[str, Any]:
            raise KeyError("broken")

        g = m.graph.StateGraph(S)
        g.add_node("bad", bad)
        g.add_edge(m.graph.START, "bad")
        run = g.compile().stream_events({"xs": []}, version="v3")
        values = iter(run.values)
        first = next(values)
        with pytest.raises(KeyError) as err:
            next(values)
        with pytest.raises(KeyError):
            run.output  # noqa: B018 - the property drives the run
        seen[pkg] = (first, str(err.value))
    assert seen["asyncgraph"] == seen["langgraph"]


def _graph_with_a_failing_subgraph(m: Any) -> Any:
    """START -> "sub", a compiled subgraph whose one node raises RuntimeError."""

    def boom(s: S) -> dict[str, Any]:
        raise RuntimeError("subgraph explosion")

    sub = m.graph.StateGraph(S)
    sub.add_node("boom", boom)
    sub.add_edge(m.graph.START, "boom")
    g = m.graph.StateGraph(S)
    g.add_node("sub", sub.compile())
    g.add_edge(m.graph.START, "sub")
    return g.compile()


def test_failing_subgraph_marks_its_handle_and_lifecycle() -> None:
    seen = {}
    for pkg in PACKAGES:
        m = mods(pkg)
        g = _graph_with_a_failing_subgraph(m)
        run = g.stream_events({"xs": []}, version="v3")
        handle = next(iter(run.subgraphs))
        with pytest.raises(RuntimeError, match="subgraph explosion"):
            handle.output  # noqa: B018 - the property drives the run
        got: list[Any] = []
        with pytest.raises(RuntimeError, match="subgraph explosion"):
            for item in g.stream_events({"xs": []}, version="v3").lifecycle:
                got.append(item)
        seen[pkg] = (handle.status, handle.error, _lifecycle(got))
    assert seen["asyncgraph"] == seen["langgraph"]
    assert seen["asyncgraph"][:2] == ("failed", "subgraph explosion")


def test_a_failed_run_left_after_its_handle_raised_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    # The reader stops after a subgraph handle raised the run's error: the run's task
    # must not be reported by asyncio as "Task exception was never retrieved".
    g = _graph_with_a_failing_subgraph(mods("asyncgraph"))
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        run = g.stream_events({"xs": []}, version="v3")
        handle = next(iter(run.subgraphs))
        with pytest.raises(RuntimeError, match="subgraph explosion"):
            handle.output  # noqa: B018 - the property drives the run
        del run, handle
        gc.collect()
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
