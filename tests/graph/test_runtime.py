"""Running graphs: run context, stream modes, subgraphs, Runnable nodes, sync/async
bridging, batch, with_config, cancellation, callbacks-based event streams, drawing."""

from __future__ import annotations

import asyncio
import operator
import threading
import time
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig, RunnableLambda

from asyncgraph.config import get_config, get_stream_writer
from asyncgraph.constants import END, START
from asyncgraph.errors import GraphRecursionError
from asyncgraph.graph import StateGraph
from asyncgraph.types import StreamWriter


class State(TypedDict):
    log: Annotated[list[str], operator.add]


def visit(name: str) -> Any:
    def run(state: State) -> dict[str, Any]:
        return {"log": [name]}

    return run


def _chain(*names: str) -> Any:
    g = StateGraph(State)
    prev = START
    for n in names:
        g.add_node(n, visit(n))
        g.add_edge(prev, n)
        prev = n
    return g.compile()


# --- run context --------------------------------------------------------------------


async def test_get_config_inside_nodes_has_langgraph_metadata() -> None:
    seen: dict[str, dict[str, Any]] = {}

    def record(name: str) -> Any:
        def run(state: State) -> dict[str, Any]:
            seen[name] = dict(get_config()["metadata"])
            return {"log": [name]}

        return run

    g = StateGraph(State)
    g.add_node("a", record("a"))
    g.add_node("b", record("b"))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    await g.compile().ainvoke({"log": []}, {"metadata": {"user": "u1"}, "tags": ["t"]})
    a, b = seen["a"], seen["b"]
    assert a["langgraph_node"] == "a" and b["langgraph_node"] == "b"
    assert a["langgraph_step"] == 1 and b["langgraph_step"] == 2
    assert a["langgraph_triggers"] == ("branch:to:a",)
    assert a["langgraph_path"] == ("__pregel_pull", "a")
    assert str(a["langgraph_checkpoint_ns"]).split(":")[0] == "a"
    assert a["user"] == "u1"


async def test_get_config_carries_tags_and_configurable() -> None:
    seen: list[Any] = []

    async def node(state: State) -> None:
        cfg = get_config()
        seen.append((cfg["tags"], cfg["configurable"]["user_id"]))

    g = StateGraph(State)
    g.add_node("n", node)
    g.add_edge(START, "n")
    await g.compile().ainvoke(
        {"log": []}, {"tags": ["x"], "configurable": {"user_id": 7}}
    )
    assert seen == [(["x"], 7)]


def test_get_config_outside_a_run() -> None:
    with pytest.raises(RuntimeError):
        get_config()


def test_stream_writer_outside_a_run_is_a_noop() -> None:
    get_stream_writer()({"ignored": True})


async def test_node_taking_config_argument() -> None:
    def node(state: State, config: RunnableConfig) -> dict[str, Any]:
        return {"log": [config["metadata"]["langgraph_node"]]}

    g = StateGraph(State)
    g.add_node("me", node)
    g.add_edge(START, "me")
    assert (await g.compile().ainvoke({"log": []}))["log"] == ["me"]


# --- stream modes -------------------------------------------------------------------


def _writer_graph() -> Any:
    async def a(state: State) -> dict[str, Any]:
        get_stream_writer()({"progress": "a"})
        return {"log": ["a"]}

    def b(state: State, writer: StreamWriter) -> dict[str, Any]:
        writer({"progress": "b"})
        return {"log": ["b"]}

    g = StateGraph(State)
    g.add_node("a", a)
    g.add_node("b", b)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", END)
    return g.compile()


def _extend_in_place(left: list[int], right: list[int]) -> list[int]:
    left.extend(right)
    return left


class InPlaceState(TypedDict):
    xs: Annotated[list[int], _extend_in_place]


def test_a_reducer_that_extends_in_place_does_not_leak_into_the_next_run() -> None:
    # The reducer's starting value is made per run, not shared by every run of the
    # graph: otherwise one run's values would show up in all later ones.
    g = StateGraph(InPlaceState)
    g.add_node("n", lambda s: {"xs": [1]})
    g.add_edge(START, "n")
    graph = g.compile()
    assert graph.invoke({"xs": [0]}) == {"xs": [0, 1]}
    assert graph.invoke({"xs": [5]}) == {"xs": [5, 1]}


def test_a_node_mutating_the_starting_list_in_place_does_not_leak_into_the_next_run() -> None:
    def mutate(state: State) -> dict[str, Any]:
        state["log"].append("mutated")  # in place, into the key's starting value
        return {}

    g = StateGraph(State)
    g.add_node("n", mutate)
    g.add_edge(START, "n")
    graph = g.compile()
    assert graph.invoke({}) == {"log": ["mutated"]}
    assert graph.invoke({}) == {"log": ["mutated"]}


async def test_stream_values() -> None:
    chunks = [
        c async for c in _writer_graph().astream({"log": ["in"]}, stream_mode="values")
    ]
    assert chunks == [{"log": ["in"]}, {"log": ["in", "a"]}, {"log": ["in", "a", "b"]}]


async def test_stream_updates() -> None:
    chunks = [
        c async for c in _writer_graph().astream({"log": []}, stream_mode="updates")
    ]
    assert chunks == [{"a": {"log": ["a"]}}, {"b": {"log": ["b"]}}]


async def test_compiled_state_graph_streams_updates_by_default() -> None:
    chunks = [c async for c in _writer_graph().astream({"log": []})]
    assert chunks == [{"a": {"log": ["a"]}}, {"b": {"log": ["b"]}}]


async def test_stream_custom() -> None:
    chunks = [
        c async for c in _writer_graph().astream({"log": []}, stream_mode="custom")
    ]
    assert chunks == [{"progress": "a"}, {"progress": "b"}]


async def test_stream_list_of_modes_yields_pairs_in_order() -> None:
    chunks = [
        c
        async for c in _writer_graph().astream(
            {"log": []}, stream_mode=["updates", "custom", "values"]
        )
    ]
    assert chunks == [
        ("values", {"log": []}),
        ("custom", {"progress": "a"}),
        ("updates", {"a": {"log": ["a"]}}),
        ("values", {"log": ["a"]}),
        ("custom", {"progress": "b"}),
        ("updates", {"b": {"log": ["b"]}}),
        ("values", {"log": ["a", "b"]}),
    ]


async def test_stream_single_mode_in_a_list_still_yields_pairs() -> None:
    chunks = [
        c async for c in _writer_graph().astream({"log": []}, stream_mode=["updates"])
    ]
    assert chunks == [
        ("updates", {"a": {"log": ["a"]}}),
        ("updates", {"b": {"log": ["b"]}}),
    ]


async def test_invoke_with_stream_mode_returns_the_chunks() -> None:
    out = await _writer_graph().ainvoke({"log": []}, stream_mode="updates")
    assert out == [{"a": {"log": ["a"]}}, {"b": {"log": ["b"]}}]


def test_sync_stream() -> None:
    it = _writer_graph().stream({"log": []}, stream_mode="updates")
    assert next(it) == {"a": {"log": ["a"]}}
    assert list(it) == [{"b": {"log": ["b"]}}]


def test_sync_stream_delivers_each_step_as_it_finishes() -> None:
    ran: list[str] = []

    def step(name: str) -> Any:
        def run(state: State) -> dict[str, Any]:
            ran.append(name)
            return {"log": [name]}

        return run

    g = StateGraph(State)
    for n in ("a", "b", "c"):
        g.add_node(n, step(n))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    it = g.compile().stream({"log": []}, stream_mode="updates")
    assert next(it) == {"a": {"log": ["a"]}}
    # The consumer sees a step's chunk before the run is two steps further on.
    assert "c" not in ran
    it.close()  # type: ignore[attr-defined]
    assert "c" not in ran


# --- subgraphs --------------------------------------------------------------------


class SubState(TypedDict):
    log: Annotated[list[str], operator.add]
    inner_only: str


def _parent_with_subgraph(schema: Any = State) -> Any:
    def inner(state: Any) -> dict[str, Any]:
        get_stream_writer()("from inner")
        if schema is SubState:
            return {"log": ["inner"], "inner_only": "x"}
        return {"log": ["inner"]}

    sub = StateGraph(schema)
    sub.add_node("inner", inner)
    sub.add_edge(START, "inner")
    g = StateGraph(State)
    g.add_node("before", visit("before"))
    g.add_node("sub", sub.compile())
    g.add_node("after", visit("after"))
    g.add_edge(START, "before")
    g.add_edge("before", "sub")
    g.add_edge("sub", "after")
    return g.compile()


async def test_compiled_subgraph_as_a_node() -> None:
    out = await _parent_with_subgraph().ainvoke({"log": ["in"]})
    # The subgraph gets the parent's state, and its output is the node's update.
    assert out == {"log": ["in", "before", "in", "before", "inner", "after"]}


def test_compiled_subgraph_as_a_node_sync() -> None:
    assert _parent_with_subgraph().invoke({"log": []})["log"] == [
        "before",
        "before",
        "inner",
        "after",
    ]


async def test_subgraph_keys_the_parent_lacks_stay_in_the_subgraph() -> None:
    # A subgraph whose state has extra keys is added as a node (LangGraph's "shared
    # keys" pattern): only the keys the parent knows flow back.
    out = await _parent_with_subgraph(SubState).ainvoke({"log": []})
    assert out == {"log": ["before", "before", "inner", "after"]}


async def test_subgraphs_true_namespaces_chunks() -> None:
    chunks = [
        c
        async for c in _parent_with_subgraph().astream(
            {"log": []}, stream_mode="updates", subgraphs=True
        )
    ]
    assert [(ns, list(upd)) for ns, upd in chunks if ns == ()] == [
        ((), ["before"]),
        ((), ["sub"]),
        ((), ["after"]),
    ]
    inner = [(ns, upd) for ns, upd in chunks if ns != ()]
    assert len(inner) == 1
    ns, upd = inner[0]
    assert len(ns) == 1 and ns[0].split(":")[0] == "sub"
    assert upd == {"inner": {"log": ["inner"]}}
    # The subgraph's chunk comes between the parent's "before" and "sub" updates.
    assert chunks.index(inner[0]) == 1


async def test_subgraphs_true_with_a_list_of_modes_yields_triples() -> None:
    chunks = [
        c
        async for c in _parent_with_subgraph().astream(
            {"log": []}, stream_mode=["updates", "values"], subgraphs=True
        )
    ]
    assert all(len(c) == 3 for c in chunks)
    assert chunks[0] == ((), "values", {"log": []})
    assert {mode for ns, mode, _ in chunks if ns != ()} == {"updates", "values"}


@pytest.mark.parametrize(
    "modes", [["updates"], ["updates", "custom"], ["values", "custom"]]
)
async def test_without_subgraphs_true_only_the_parent_state_is_streamed(
    modes: list[str],
) -> None:
    chunks = [
        c async for c in _parent_with_subgraph().astream({"log": []}, stream_mode=modes)
    ]
    updates = [chunk for mode, chunk in chunks if mode == "updates"]
    values = [chunk for mode, chunk in chunks if mode == "values"]
    for upd in updates:
        assert set(upd) <= {"before", "sub", "after"}
    if "updates" in modes:
        assert [next(iter(u)) for u in updates] == ["before", "sub", "after"]
    if "values" in modes:
        assert values == [
            {"log": []},
            {"log": ["before"]},
            {"log": ["before", "before", "inner"]},
            {"log": ["before", "before", "inner", "after"]},
        ]


# --- Runnables, sync and async ----------------------------------------------------


async def test_runnable_lambda_node() -> None:
    g = StateGraph(State)
    g.add_node("r", RunnableLambda(lambda s: {"log": [f"saw {len(s['log'])}"]}))
    g.add_node("ar", RunnableLambda(lambda s: {"log": ["sync"]}, afunc=_async_log))
    g.add_edge(START, "r")
    g.add_edge("r", "ar")
    assert (await g.compile().ainvoke({"log": ["x"]}))["log"] == ["x", "saw 1", "async"]


async def _async_log(state: State) -> dict[str, Any]:
    return {"log": ["async"]}


def test_runnable_node_name_is_inferred() -> None:
    g = StateGraph(State)
    g.add_node(RunnableLambda(visit("r"), name="named"))
    g.add_edge(START, "named")
    assert g.compile().invoke({"log": []}) == {"log": ["r"]}


async def test_sync_node_runs_in_a_thread_and_the_loop_keeps_ticking() -> None:
    threads: list[int] = []
    ticked = threading.Event()  # set by the loop's ticker; the node blocks until it is

    def blocking(state: State) -> dict[str, Any]:
        threads.append(threading.get_ident())
        assert ticked.wait(10), "the event loop did not tick while a sync node blocked"
        return {"log": ["blocking"]}

    g = StateGraph(State)
    g.add_node("blocking", blocking)
    g.add_edge(START, "blocking")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1
            if ticks >= 10:
                ticked.set()

    t = asyncio.create_task(ticker())
    try:
        out = await g.compile().ainvoke({"log": []})
    finally:
        t.cancel()
    assert out == {"log": ["blocking"]}
    assert threads and threads[0] != threading.get_ident()
    assert ticks >= 10


async def test_parallel_sync_nodes_overlap() -> None:
    # The three sync nodes of one step meet at a barrier: run one after another, the
    # first would wait there alone and the barrier would break (no wall-clock bound).
    meet = threading.Barrier(3, timeout=10)

    def sleeper(name: str) -> Any:
        def run(state: State) -> dict[str, Any]:
            meet.wait()
            return {"log": [name]}

        return run

    g = StateGraph(State)
    for n in ("a", "b", "c"):
        g.add_node(n, sleeper(n))
        g.add_edge(START, n)
    out = await g.compile().ainvoke({"log": []})
    assert out == {"log": ["a", "b", "c"]}


def test_async_nodes_under_sync_invoke() -> None:
    async def a(state: State) -> dict[str, Any]:
        await asyncio.sleep(0.001)
        return {"log": ["a"]}

    g = StateGraph(State)
    g.add_node("a", a)
    g.add_node("b", visit("b"))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    assert g.compile().invoke({"log": []}) == {"log": ["a", "b"]}


async def test_sync_invoke_called_from_inside_an_event_loop() -> None:
    assert _chain("a").invoke({"log": []}) == {"log": ["a"]}


# --- batch and config -------------------------------------------------------------


def _concurrency_probe() -> tuple[Any, list[int]]:
    peak = [0, 0]  # current, max

    async def work(state: State) -> dict[str, Any]:
        peak[0] += 1
        peak[1] = max(peak[1], peak[0])
        await asyncio.sleep(0.02)
        peak[0] -= 1
        return {"log": [f"done {state['log'][0]}"]}

    g = StateGraph(State)
    g.add_node("work", work)
    g.add_edge(START, "work")
    return g.compile(), peak


async def test_abatch_respects_max_concurrency_and_keeps_order() -> None:
    graph, peak = _concurrency_probe()
    inputs = [{"log": [str(i)]} for i in range(6)]
    outs = await graph.abatch(inputs, {"max_concurrency": 2})
    assert [o["log"][-1] for o in outs] == [f"done {i}" for i in range(6)]
    assert peak[1] == 2


def test_batch() -> None:
    graph, peak = _concurrency_probe()
    outs = graph.batch(
        [{"log": ["0"]}, {"log": ["1"]}, {"log": ["2"]}], {"max_concurrency": 1}
    )
    assert [o["log"] for o in outs] == [
        ["0", "done 0"],
        ["1", "done 1"],
        ["2", "done 2"],
    ]
    assert peak[1] == 1


async def test_with_config_sets_run_defaults() -> None:
    seen: list[Any] = []

    def node(state: State) -> dict[str, Any]:
        cfg = get_config()
        seen.append((cfg["metadata"].get("team"), cfg.get("tags")))
        return {"log": ["n"]}

    g = StateGraph(State)
    for i in range(3):
        g.add_node(f"n{i}", node)
    g.add_edge(START, "n0")
    g.add_edge("n0", "n1")
    g.add_edge("n1", "n2")
    graph = g.compile()
    bound = graph.with_config({"metadata": {"team": "red"}, "tags": ["bound"]})
    await bound.ainvoke({"log": []})
    assert seen[0] == ("red", ["bound"])
    limited = graph.with_config(recursion_limit=3)
    with pytest.raises(GraphRecursionError):
        await limited.ainvoke({"log": []})
    # The original graph is unchanged.
    assert (await graph.ainvoke({"log": []}))["log"] == ["n", "n", "n"]


# --- cancellation -----------------------------------------------------------------


def _slow_graph(started: asyncio.Event, cancelled: asyncio.Event) -> Any:
    async def slow(state: State) -> dict[str, Any]:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return {"log": ["slow"]}

    g = StateGraph(State)
    g.add_node("slow", slow)
    g.add_node("other", slow)
    g.add_edge(START, "slow")
    g.add_edge(START, "other")
    return g.compile()


def _other_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def test_cancelling_ainvoke_cancels_the_nodes_and_leaves_no_tasks() -> None:
    before = _other_tasks()
    started, cancelled = asyncio.Event(), asyncio.Event()
    run = asyncio.create_task(_slow_graph(started, cancelled).ainvoke({"log": []}))
    await asyncio.wait_for(started.wait(), 2)
    t0 = time.monotonic()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert time.monotonic() - t0 < 1
    assert cancelled.is_set()
    await asyncio.sleep(0)
    assert _other_tasks() - before == set()


async def test_timeout_around_ainvoke() -> None:
    before = _other_tasks()
    started, cancelled = asyncio.Event(), asyncio.Event()
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await _slow_graph(started, cancelled).ainvoke({"log": []})
    assert time.monotonic() - t0 < 1
    assert cancelled.is_set()
    await asyncio.sleep(0)
    assert _other_tasks() - before == set()


async def test_breaking_out_of_astream_cancels_the_run() -> None:
    before = _other_tasks()
    cancelled = asyncio.Event()

    async def slow(state: State) -> dict[str, Any]:
        get_stream_writer()("started")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return {"log": ["slow"]}

    g = StateGraph(State)
    g.add_node("first", visit("first"))
    g.add_node("slow", slow)
    g.add_edge(START, "first")
    g.add_edge("first", "slow")
    stream = g.compile().astream({"log": []}, stream_mode="custom")
    t0 = time.monotonic()
    async for chunk in stream:
        assert chunk == "started"
        break
    await stream.aclose()  # type: ignore[attr-defined]
    assert time.monotonic() - t0 < 1
    assert cancelled.is_set()
    await asyncio.sleep(0)
    assert _other_tasks() - before == set()


# --- callbacks-based streams ------------------------------------------------------


async def test_astream_events_v2_reports_graph_and_nodes() -> None:
    graph = _chain("a", "b")
    events = [e async for e in graph.astream_events({"log": []}, version="v2")]
    kinds = [(e["event"], e["name"]) for e in events]
    assert kinds[0] == ("on_chain_start", "LangGraph")
    assert kinds[-1] == ("on_chain_end", "LangGraph")
    assert events[-1]["data"]["output"] == {"log": ["a", "b"]}
    for node in ("a", "b"):
        assert ("on_chain_start", node) in kinds
        assert ("on_chain_end", node) in kinds
    start_a = next(
        e for e in events if e["name"] == "a" and e["event"] == "on_chain_start"
    )
    assert start_a["metadata"]["langgraph_node"] == "a"
    assert start_a["metadata"]["langgraph_step"] == 1
    assert kinds.index(("on_chain_end", "a")) < kinds.index(("on_chain_start", "b"))
    graph_streams = [
        e["data"]["chunk"]
        for e in events
        if e["event"] == "on_chain_stream" and e["name"] == "LangGraph"
    ]
    assert graph_streams == [{"a": {"log": ["a"]}}, {"b": {"log": ["b"]}}]


async def test_astream_events_names_the_graph() -> None:
    g = StateGraph(State)
    g.add_node("a", visit("a"))
    g.add_edge(START, "a")
    events = [
        e
        async for e in g.compile(name="my_agent").astream_events(
            {"log": []}, version="v2"
        )
    ]
    assert events[0]["name"] == "my_agent"


@pytest.mark.filterwarnings("ignore:.*astream_log is deprecated")
async def test_astream_log_logs_nodes_and_final_output() -> None:
    patches = [p async for p in _chain("a", "b").astream_log({"log": []})]
    state = patches[0]
    for p in patches[1:]:
        state = state + p
    run_log = state.state  # type: ignore[attr-defined]
    assert {"a", "b"} <= set(run_log["logs"])
    assert run_log["logs"]["a"]["final_output"] == {"log": ["a"]}
    assert run_log["final_output"] is not None


# --- drawing --------------------------------------------------------------------


def _drawable() -> Any:
    g = StateGraph(State)
    g.add_node("agent", visit("agent"))
    g.add_node("tools", visit("tools"))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", lambda s: END, {"continue": "tools", "stop": END})
    g.add_edge("tools", "agent")
    return g.compile()


def test_draw_mermaid() -> None:
    text = _drawable().get_graph().draw_mermaid()
    assert text.lstrip().startswith("---") or "graph TD" in text
    assert "graph TD;" in text
    for line in ("__start__ --> agent;", "tools --> agent;"):
        assert line in text
    assert "agent -. &nbsp;continue&nbsp; .-> tools;" in text
    assert "agent -. &nbsp;stop&nbsp; .-> __end__;" in text


def test_draw_ascii() -> None:
    pytest.importorskip("grandalf")
    art = _drawable().get_graph().draw_ascii()
    for name in ("__start__", "agent", "tools", "__end__"):
        assert name in art


def test_get_graph_nodes_and_edges() -> None:
    graph = _drawable().get_graph()
    assert set(graph.nodes) == {"__start__", "agent", "tools", "__end__"}
    edges = {(e.source, e.target, e.conditional) for e in graph.edges}
    assert ("__start__", "agent", False) in edges
    assert ("agent", "tools", True) in edges
    assert ("agent", "__end__", True) in edges


def test_print_mode_prints_chunks_without_changing_what_is_returned(capsys: Any) -> None:
    graph = _chain("a", "b")
    assert list(graph.stream({"log": []}, stream_mode="updates", print_mode="values")) == [
        {"a": {"log": ["a"]}},
        {"b": {"log": ["b"]}},
    ]
    printed = capsys.readouterr().out.splitlines()
    assert [line.split("\x1b[0m ", 1)[1] for line in printed] == [
        "{'log': []}",
        "{'log': ['a']}",
        "{'log': ['a', 'b']}",
    ]
    assert all("[values]" in line for line in printed)
    assert graph.invoke({"log": []}, print_mode=["updates"]) == graph.invoke({"log": []})
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 and all("[updates]" in line for line in printed)


async def test_a_misspelled_keyword_argument_is_ignored_with_a_warning_and_strict_refuses_it() -> None:
    # LangGraph ignores unknown keyword arguments: working code must keep working here.
    graph = _chain("a")
    with pytest.warns(UserWarning, match=r"invoke\(\) ignores unexpected keyword argument\(s\) 'stream_mod'"):
        assert graph.invoke({"log": []}, stream_mod="updates") == {"log": ["a"]}
    with pytest.warns(UserWarning, match=r"astream\(\) ignores unexpected keyword argument\(s\) 'foo'"):
        chunks = [c async for c in graph.astream({"log": []}, foo=1)]
    assert chunks == [{"a": {"log": ["a"]}}]
    # LangGraph's own extras are taken: subgraphs/debug have no effect on invoke's output.
    assert graph.invoke({"log": []}, subgraphs=True, debug=False) == {"log": ["a"]}
    g = StateGraph(State)
    g.add_node("a", visit("a"))
    g.add_edge(START, "a")
    strict = g.compile(strict=True)
    with pytest.raises(TypeError, match=r"invoke\(\) got unexpected keyword argument\(s\): 'stream_mod'"):
        strict.invoke({"log": []}, stream_mod="updates")
    with pytest.raises(TypeError, match=r"astream\(\) got unexpected keyword argument\(s\): 'foo'"):
        async for _ in strict.astream({"log": []}, foo=1):
            pass


def test_checkpoint_during_maps_to_durability_with_a_deprecation_warning() -> None:
    from asyncgraph.checkpoint.memory import InMemorySaver

    g = StateGraph(State)
    g.add_node("a", visit("a"))
    g.add_edge(START, "a")
    graph = g.compile(checkpointer=InMemorySaver())
    cfg: RunnableConfig = {"configurable": {"thread_id": "t"}}
    with pytest.warns(DeprecationWarning, match="`checkpoint_during` is deprecated.*Please use `durability`"):
        graph.invoke({"log": []}, cfg, checkpoint_during=False)
    # durability="exit": one checkpoint for the whole run instead of one per step.
    assert len(list(graph.get_state_history(cfg))) == 1


# --- Runtime: execution_info, server_info, merge / override --------------------------------


def _capture_graph(pkg: str, seen: list[Any], *, fail_first: int = 0, checkpointer: bool = False) -> Any:
    """START -> sub (a subgraph: START -> inner) -> node, for LangGraph or asyncgraph;
    every node records its runtime."""
    import importlib

    graph_mod = importlib.import_module(f"{pkg}.graph")
    types_mod = importlib.import_module(f"{pkg}.types")
    runtime_mod = importlib.import_module(f"{pkg}.runtime")
    Runtime = runtime_mod.Runtime
    attempts = {"n": 0}

    def record(name: str) -> Any:
        def run(state: State, runtime: Runtime) -> dict[str, Any]:  # type: ignore[valid-type]
            seen.append((name, runtime))
            if name == "node" and attempts["n"] < fail_first:
                attempts["n"] += 1
                raise ConnectionError("try again")  # retried by the default retry_on
            return {"log": [name]}

        return run

    inner = graph_mod.StateGraph(State)
    inner.add_node("inner", record("inner"))
    inner.add_edge(graph_mod.START, "inner")
    outer = graph_mod.StateGraph(State)
    outer.add_node("sub", inner.compile())
    outer.add_node(
        "node",
        record("node"),
        retry_policy=types_mod.RetryPolicy(max_attempts=3, initial_interval=0.001, jitter=False),
    )
    outer.add_edge(graph_mod.START, "sub")
    outer.add_edge("sub", "node")
    saver = importlib.import_module(f"{pkg}.checkpoint.memory").InMemorySaver() if checkpointer else None
    return outer.compile(checkpointer=saver)


def _info_shape(name: str, runtime: Any) -> tuple[Any, ...]:
    info = runtime.execution_info
    ns = info.checkpoint_ns.split("|")
    return (
        name,
        [part.split(":")[0] for part in ns],
        ns[-1] == f"{name}:{info.task_id}" and all(len(part.split(":")[1]) == 36 for part in ns),
        info.thread_id,
        info.run_id,
        info.node_attempt,
        isinstance(info.node_first_attempt_time, float),
        bool(info.checkpoint_id),
    )


@pytest.mark.parametrize("checkpointer", [True, False])
def test_execution_info_matches_langgraph(checkpointer: bool) -> None:
    config: RunnableConfig = {"configurable": {"thread_id": "t-1"}, "run_id": "00000000-0000-0000-0000-00000000002a"}  # type: ignore[typeddict-item]
    shapes = {}
    for pkg in ("langgraph", "asyncgraph"):
        seen: list[Any] = []
        _capture_graph(pkg, seen, fail_first=2, checkpointer=checkpointer).invoke({"log": []}, config)
        shapes[pkg] = [_info_shape(name, rt) for name, rt in seen]
        # Retries: the attempt counts up, the first attempt's time stays.
        times = {rt.execution_info.node_first_attempt_time for name, rt in seen if name == "node"}
        assert len(times) == 1
    if not checkpointer:
        # Without a checkpointer asyncgraph has no checkpoint id (LangGraph makes one).
        for rows in shapes.values():
            rows[:] = [r[:-1] for r in rows]
    assert shapes["asyncgraph"] == shapes["langgraph"]
    assert [s[5] for s in shapes["asyncgraph"] if s[0] == "node"] == [1, 2, 3]


def test_server_info_from_the_configurable() -> None:
    from asyncgraph.runtime import ServerInfo

    class User:
        identity = "ann"

    seen: list[Any] = []
    graph = _capture_graph("asyncgraph", seen)
    graph.invoke({"log": []})
    assert {rt.server_info for _, rt in seen} == {None}
    seen.clear()
    user = User()
    graph.invoke({"log": []}, {"configurable": {"assistant_id": "asst", "graph_id": "g", "langgraph_auth_user": user}})
    assert {rt.server_info for _, rt in seen} == {ServerInfo(assistant_id="asst", graph_id="g", user=user)}
    seen.clear()
    graph.invoke({"log": []}, {"configurable": {"langgraph_auth_user": {"no": "identity"}}})
    assert {rt.server_info for _, rt in seen} == {None}


def test_get_runtime_inside_a_node_has_the_execution_info() -> None:
    from asyncgraph.runtime import get_runtime

    seen: dict[str, Any] = {}

    def node(state: State) -> dict[str, Any]:
        seen["info"] = get_runtime().execution_info
        return {"log": ["n"]}

    g = StateGraph(State)
    g.add_node("n", node)
    g.add_edge(START, "n")
    g.compile().invoke({"log": []})
    assert seen["info"].checkpoint_ns == f"n:{seen['info'].task_id}"


def test_runtime_override_merge_and_patch() -> None:
    import dataclasses

    from asyncgraph.runtime import ExecutionInfo, RunControl, Runtime, ServerInfo

    info = ExecutionInfo(checkpoint_id="c", checkpoint_ns="n:1", task_id="1")
    assert (info.thread_id, info.run_id, info.node_attempt, info.node_first_attempt_time) == (None, None, 1, None)
    assert info.patch(node_attempt=2).node_attempt == 2 and info.node_attempt == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.task_id = "2"  # type: ignore[misc]
    control = RunControl()
    base = Runtime(context={"a": 1}, control=control, execution_info=info)
    assert base.override(context={"b": 2}).context == {"b": 2} and base.context == {"a": 1}
    merged = base.merge(Runtime(context=None, server_info=ServerInfo(assistant_id="x", graph_id="y")))
    assert merged.context == {"a": 1} and merged.control is control and merged.execution_info is info
    assert merged.server_info == ServerInfo(assistant_id="x", graph_id="y")
    assert base.patch_execution_info(node_attempt=3).execution_info.node_attempt == 3  # type: ignore[union-attr]
    with pytest.raises(RuntimeError, match="execution_info"):
        Runtime().patch_execution_info(node_attempt=2)
    with pytest.raises(TypeError):
        Runtime({"a": 1})  # type: ignore[misc]  # keyword-only, as in LangGraph


def test_a_nodes_runtime_copies_and_compares_like_a_dataclass() -> None:
    import dataclasses

    seen: list[Any] = []
    _capture_graph("asyncgraph", seen).invoke({"log": []})
    runtime = seen[-1][1]
    copy = dataclasses.replace(runtime, context="new")
    assert copy.execution_info == runtime.execution_info and copy.context == "new"
    assert copy == runtime.override(context="new")
    assert "execution_info=ExecutionInfo(" in repr(runtime)


@pytest.mark.parametrize(
    ("schema_kind", "context", "expected"),
    [
        ("dataclass", {"api_key": "k"}, ("k", 30)),
        ("pydantic", {"api_key": "k", "timeout": 5}, ("k", 5)),
        ("typeddict", {"api_key": "k", "timeout": 5}, {"api_key": "k", "timeout": 5}),
        ("dataclass", None, None),
    ],
)
def test_coerce_context_turns_a_dict_into_the_context_schema(schema_kind: str, context: Any, expected: Any) -> None:
    import dataclasses

    from pydantic import BaseModel

    from asyncgraph.runtime import coerce_context

    @dataclasses.dataclass
    class DC:
        api_key: str
        timeout: int = 30

    class PM(BaseModel):
        api_key: str
        timeout: int = 30

    class TD(TypedDict):
        api_key: str
        timeout: int

    schema = {"dataclass": DC, "pydantic": PM, "typeddict": TD}[schema_kind]
    out = coerce_context(schema, context)
    if isinstance(expected, tuple):
        assert isinstance(out, schema) and (out.api_key, out.timeout) == expected
    else:
        assert out == expected
    with pytest.raises(TypeError):
        coerce_context(DC, {"timeout": 1})
    instance = DC(api_key="x")
    assert coerce_context(DC, instance) is instance


def test_execution_info_names_the_checkpoint_the_step_started_from() -> None:
    steps = {}
    for pkg in ("langgraph", "asyncgraph"):
        seen: list[Any] = []
        graph = _capture_graph(pkg, seen, checkpointer=True)
        config: RunnableConfig = {"configurable": {"thread_id": "t"}}
        graph.invoke({"log": []}, config)
        step_of = {s.config["configurable"]["checkpoint_id"]: s.metadata["step"] for s in graph.get_state_history(config)}
        steps[pkg] = [(name, step_of.get(rt.execution_info.checkpoint_id)) for name, rt in seen if name != "inner"]
    assert steps["asyncgraph"] == steps["langgraph"] == [("node", 1)]


@pytest.mark.parametrize("impl", ["asyncgraph", "langgraph"])
async def test_a_context_dict_reaches_nodes_as_the_dataclass_context_schema(impl: str) -> None:
    import dataclasses

    if impl == "asyncgraph":
        from asyncgraph.graph import StateGraph as SG
        from asyncgraph.runtime import Runtime as RT
    else:
        from langgraph.graph import StateGraph as SG  # type: ignore[no-redef]
        from langgraph.runtime import Runtime as RT  # type: ignore[no-redef,assignment]

    @dataclasses.dataclass
    class Ctx:
        user: str
        limit: int = 3

    class S(TypedDict):
        out: str

    def node(state: S, runtime: RT[Ctx]) -> dict[str, str]:
        ctx = runtime.context
        return {"out": f"{type(ctx).__name__}:{ctx.user}:{ctx.limit}"}

    g = SG(S, context_schema=Ctx)
    g.add_node("node", node)
    g.add_edge(START, "node")
    app = g.compile()
    assert await app.ainvoke({"out": ""}, context={"user": "ada"}) == {"out": "Ctx:ada:3"}
