"""Node result caching: ``add_node(..., cache_policy=CachePolicy(...))`` with
``compile(cache=...)``, on asyncgraph and (for the streams) against LangGraph."""

from __future__ import annotations

import importlib
import operator
import time
from typing import Annotated, Any, TypedDict

import pytest

from asyncgraph.cache.memory import InMemoryCache
from asyncgraph.cache.sqlite import SqliteCache
from asyncgraph.constants import END, START
from asyncgraph.graph import StateGraph
from asyncgraph.types import CachePolicy


class S(TypedDict):
    x: int
    out: Annotated[list[Any], operator.add]


def _graph(pkg: str, calls: list[int], cache: Any, policy: Any = None) -> Any:
    """expensive (cached) -> conditional edge -> even / odd."""
    g_mod = importlib.import_module(f"{pkg}.graph")
    types_mod = importlib.import_module(f"{pkg}.types")

    def expensive(state: S) -> dict[str, Any]:
        calls.append(state["x"])
        return {"out": [state["x"] * 2]}

    def route(state: S) -> str:
        return "even" if state["x"] % 2 == 0 else "odd"

    g = g_mod.StateGraph(S)
    g.add_node("expensive", expensive, cache_policy=policy or types_mod.CachePolicy())
    g.add_node("even", lambda s: {"out": ["even"]})
    g.add_node("odd", lambda s: {"out": ["odd"]})
    g.add_edge(g_mod.START, "expensive")
    g.add_conditional_edges("expensive", route, ["even", "odd"])
    return g.compile(cache=cache)


def _updates(graph: Any, x: int) -> list[Any]:
    return list(graph.stream({"x": x, "out": []}, stream_mode="updates"))


def test_update_streams_match_langgraph_over_hits_and_misses() -> None:
    from langgraph.cache.memory import InMemoryCache as LGCache

    seen: dict[str, list[Any]] = {}
    for pkg, cache in (("langgraph", LGCache()), ("asyncgraph", InMemoryCache())):
        calls: list[int] = []
        graph = _graph(pkg, calls, cache)
        seen[pkg] = [_updates(graph, x) for x in (1, 1, 2, 1, 2)] + [calls]
    assert seen["asyncgraph"] == seen["langgraph"]
    # The node ran once per distinct input; hits are marked in the stream.
    assert seen["asyncgraph"][-1] == [1, 2]
    assert seen["asyncgraph"][1][0] == {"expensive": {"out": [2]}, "__metadata__": {"cached": True}}


def test_a_hit_replays_the_conditional_edge_choice_without_calling_the_node() -> None:
    calls: list[int] = []
    graph = _graph("asyncgraph", calls, InMemoryCache())
    assert graph.invoke({"x": 3, "out": []}) == {"x": 3, "out": [6, "odd"]}
    assert graph.invoke({"x": 3, "out": []}) == {"x": 3, "out": [6, "odd"]}
    assert calls == [3]


def test_results_expire_after_the_ttl() -> None:
    calls: list[int] = []
    graph = _graph("asyncgraph", calls, InMemoryCache(), CachePolicy(ttl=1))
    graph.invoke({"x": 1, "out": []})
    graph.invoke({"x": 1, "out": []})
    assert calls == [1]
    time.sleep(1.05)
    graph.invoke({"x": 1, "out": []})
    assert calls == [1, 1]


async def test_clear_cache_forgets_results() -> None:
    calls: list[int] = []
    graph = _graph("asyncgraph", calls, InMemoryCache())
    await graph.ainvoke({"x": 1, "out": []})
    graph.clear_cache(["expensive"])
    await graph.ainvoke({"x": 1, "out": []})
    await graph.aclear_cache()
    await graph.ainvoke({"x": 1, "out": []})
    assert calls == [1, 1, 1]
    with pytest.raises(Exception, match="unknown node.*nope"):
        graph.clear_cache(["nope"])


def test_a_custom_key_function_decides_what_counts_as_the_same_input() -> None:
    calls: list[int] = []
    policy = CachePolicy(key_func=lambda state: str(state["x"] % 2))  # parity only
    graph = _graph("asyncgraph", calls, InMemoryCache(), policy)
    graph.invoke({"x": 1, "out": []})
    assert graph.invoke({"x": 3, "out": []})["out"] == [2, "odd"]  # x=1's result
    assert calls == [1]


def test_a_key_function_returning_a_non_string_names_the_node() -> None:
    graph = _graph("asyncgraph", [], InMemoryCache(), CachePolicy(key_func=lambda state: 42))
    with pytest.raises(TypeError, match="key_func of node 'expensive' returned int"):
        graph.invoke({"x": 1, "out": []})


class Opaque:
    """Not something the serializer knows: no default cache key for it."""


class WithObject(TypedDict):
    obj: Any
    out: Annotated[list[Any], operator.add]


def test_an_input_that_cannot_be_serialized_asks_for_a_key_function() -> None:
    g = StateGraph(WithObject)
    g.add_node("n", lambda s: {"out": [1]}, cache_policy=CachePolicy())
    g.add_edge(START, "n")
    graph = g.compile(cache=InMemoryCache())
    with pytest.raises(TypeError, match="Node 'n' has a cache policy.*key_func"):
        graph.invoke({"obj": Opaque(), "out": []})


def test_a_cached_result_is_a_copy_a_node_cannot_change_later() -> None:
    calls: list[int] = []
    graph = _graph("asyncgraph", calls, InMemoryCache())
    first = graph.invoke({"x": 1, "out": []})
    first["out"].append("mutated by the caller")
    assert graph.invoke({"x": 1, "out": []}) == {"x": 1, "out": [2, "odd"]}


def test_sqlite_cache_keeps_results_across_instances(tmp_path: Any) -> None:
    path = str(tmp_path / "cache.db")
    calls: list[int] = []
    first = SqliteCache(path)
    _graph("asyncgraph", calls, first).invoke({"x": 2, "out": []})
    first.close()
    second = SqliteCache(path)
    graph = _graph("asyncgraph", calls, second)
    assert _updates(graph, 2)[0] == {"expensive": {"out": [4]}, "__metadata__": {"cached": True}}
    assert calls == [2]
    graph.clear_cache()
    graph.invoke({"x": 2, "out": []})
    assert calls == [2, 2]
    second.close()


def test_send_tasks_are_cached_per_payload() -> None:
    calls: list[int] = []

    def work(arg: dict[str, Any]) -> dict[str, Any]:
        calls.append(arg["x"])
        return {"out": [arg["x"]]}

    from asyncgraph.types import Send

    g = StateGraph(S)
    g.add_node("prep", lambda s: {})
    g.add_node("work", work, cache_policy=CachePolicy())
    g.add_edge(START, "prep")
    g.add_conditional_edges("prep", lambda s: [Send("work", {"x": i, "out": []}) for i in (1, 2, 1)], ["work"])
    g.add_edge("work", END)
    graph = g.compile(cache=InMemoryCache())
    assert sorted(graph.invoke({"x": 0, "out": []})["out"]) == [1, 1, 2]
    assert sorted(graph.invoke({"x": 0, "out": []})["out"]) == [1, 1, 2]
    # The first run looked the three payloads up before running any: all ran once.
    assert sorted(calls) == [1, 1, 2]


def test_a_subgraph_uses_its_parents_cache() -> None:
    calls: list[int] = []
    inner = _graph("asyncgraph", calls, None)
    g = StateGraph(S)
    g.add_node("inner", inner)
    g.add_edge(START, "inner")
    graph = g.compile(cache=InMemoryCache())
    graph.invoke({"x": 5, "out": []})
    graph.invoke({"x": 5, "out": []})
    assert calls == [5]


def _threads_with_a_saver(pkg: str) -> list[Any]:
    g_mod = importlib.import_module(f"{pkg}.graph")
    types_mod = importlib.import_module(f"{pkg}.types")
    cache = importlib.import_module(f"{pkg}.cache.memory").InMemoryCache()
    saver = importlib.import_module(f"{pkg}.checkpoint.memory").InMemorySaver()
    g = g_mod.StateGraph(S)
    g.add_node("e", lambda s: {"out": [s["x"]]}, cache_policy=types_mod.CachePolicy())
    g.add_node("f", lambda s: {"out": ["f"]})
    g.add_edge(g_mod.START, "e")
    g.add_edge("e", "f")
    graph = g.compile(cache=cache, checkpointer=saver)
    seen = []
    for thread in ("a", "b"):  # the second thread hits what the first one cached
        cfg = {"configurable": {"thread_id": thread}}
        seen.append(list(graph.stream({"x": 1, "out": []}, cfg, stream_mode="updates")))
        seen.append([(s.metadata["step"], s.next, s.values) for s in graph.get_state_history(cfg)])
    return seen


def test_with_a_checkpointer_history_matches_langgraph() -> None:
    ours = _threads_with_a_saver("asyncgraph")
    assert ours == _threads_with_a_saver("langgraph")
    assert ours[2][0] == {"e": {"out": [1]}, "__metadata__": {"cached": True}}
