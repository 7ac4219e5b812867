"""Scenarios run on LangGraph (the oracle) and on asyncgraph: one function each, written
once against a namespace ``m`` (``m.entrypoint``, ``m.task``, ``m.interrupt``,
``m.Command``, ``m.InMemorySaver``, ``m.get_stream_writer``, ``m.RetryPolicy``), returning what
a user would see: outputs, stream chunks, state snapshots, and how often each task ran.

:func:`normalize` turns what the two libraries return into comparable plain data
(interrupt ids, checkpoint ids and timestamps differ by design and are dropped).
"""

from __future__ import annotations

import asyncio
import importlib
import types
from typing import Any


def modules(pkg: str) -> types.SimpleNamespace:
    func = importlib.import_module(f"{pkg}.func")
    typ = importlib.import_module(f"{pkg}.types")
    cfg = importlib.import_module(f"{pkg}.config")
    mem = importlib.import_module(f"{pkg}.checkpoint.memory")
    return types.SimpleNamespace(
        name=pkg, entrypoint=func.entrypoint, task=func.task, interrupt=typ.interrupt,
        Command=typ.Command, RetryPolicy=typ.RetryPolicy, InMemorySaver=mem.InMemorySaver,
        get_stream_writer=cfg.get_stream_writer,
    )


def normalize(x: Any) -> Any:
    """Plain data: interrupts by value, snapshots by what does not depend on ids/time."""
    name = type(x).__name__
    if name == "Interrupt":
        return ("Interrupt", normalize(x.value))
    if name == "StateSnapshot":
        return {
            "values": normalize(x.values),
            "next": tuple(x.next),
            "metadata": {k: v for k, v in (x.metadata or {}).items() if k in ("source", "step")},
            "tasks": [(t.name, normalize(t.interrupts), t.error is not None) for t in x.tasks],
            "interrupts": normalize(x.interrupts),
            "parent": x.parent_config is not None,
        }
    if name == "GraphOutput":
        return ("GraphOutput", normalize(x.value), normalize(x.interrupts))
    if isinstance(x, dict):
        return {k: normalize(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(normalize(v) for v in x)
    return x


CFG = {"configurable": {"thread_id": "t1"}}


# -- scenarios: each returns a list of observations --------------------------------


def sync_basic(m: Any) -> list[Any]:
    ran: list[Any] = []

    @m.task
    def double(x: int) -> int:
        ran.append(("double", x))
        return 2 * x

    @m.task()
    def add(a: int, b: int) -> int:
        ran.append(("add", a, b))
        return a + b

    @m.entrypoint(checkpointer=m.InMemorySaver())
    def wf(n: int) -> dict:
        futs = [double(i) for i in range(n)]
        vals = [f.result() for f in futs]
        total = add(vals[0], vals[-1]).result()
        return {"vals": vals, "total": total}

    out = [wf.invoke(3, CFG)]
    out.append(sorted(map(repr, wf.stream(4, {"configurable": {"thread_id": "t2"}}))))
    out.append(list(wf.stream(2, {"configurable": {"thread_id": "t3"}}, stream_mode="values")))
    out.append(wf.get_state(CFG))
    out.append(list(wf.get_state_history(CFG)))
    out.append(sorted(ran))
    return out


async def async_gather(m: Any) -> list[Any]:
    ran: list[Any] = []

    @m.task
    async def fetch(i: int) -> str:
        ran.append(i)
        await asyncio.sleep(0.001 * (3 - i))
        return f"r{i}"

    @m.task(name="summarize")
    async def summ(parts: list[str]) -> str:
        return "+".join(parts)

    @m.entrypoint(checkpointer=m.InMemorySaver())
    async def wf(n: int) -> str:
        parts = await asyncio.gather(*[fetch(i) for i in range(n)])
        return await summ(list(parts))

    out = [await wf.ainvoke(3, CFG)]
    chunks = [c async for c in wf.astream(2, {"configurable": {"thread_id": "t2"}})]
    out.append(sorted(map(repr, chunks[:-1])))
    out.append(chunks[-1])
    out.append(await wf.aget_state(CFG))
    out.append(sorted(ran))
    return out


def previous_and_final(m: Any) -> list[Any]:
    @m.entrypoint(checkpointer=m.InMemorySaver())
    def counter(n: int, *, previous: Any = None) -> Any:
        prev = previous or 0
        return m.entrypoint.final(value=prev, save=prev + n)

    @m.entrypoint(checkpointer=m.InMemorySaver())
    def echo(x: str, previous: Any) -> list:
        return [*(previous or []), x]

    out = [counter.invoke(3, CFG), counter.invoke(4, CFG), counter.invoke(1, CFG)]
    out.append(counter.get_state(CFG))
    out += [echo.invoke("a", CFG), echo.invoke("b", CFG)]
    out.append(echo.get_state(CFG))
    out.append(list(echo.stream("c", CFG, stream_mode=["updates", "values"])))
    return out


def interrupt_in_entrypoint(m: Any) -> list[Any]:
    ran: list[Any] = []

    @m.task
    def draft(topic: str) -> str:
        ran.append("draft")
        return f"essay on {topic}"

    @m.entrypoint(checkpointer=m.InMemorySaver())
    def review(topic: str) -> dict:
        essay = draft(topic).result()
        verdict = m.interrupt({"essay": essay})
        return {"essay": essay, "verdict": verdict}

    out = [review.invoke("cats", CFG)]
    out.append(review.get_state(CFG))
    out.append(list(review.stream(m.Command(resume="ok"), CFG)))
    out.append(review.get_state(CFG))
    out.append(list(review.get_state_history(CFG)))
    out.append(list(ran))
    return out


def interrupt_in_task(m: Any) -> list[Any]:
    ran: list[Any] = []

    @m.task
    def step(x: int) -> int:
        ran.append(("step", x))
        return x + 1

    @m.task
    def ask(x: int) -> Any:
        ran.append(("ask", x))
        a = m.interrupt(f"first {x}")
        b = m.interrupt(f"second {x}")
        return [a, b]

    @m.entrypoint(checkpointer=m.InMemorySaver())
    def wf(x: int) -> Any:
        y = step(x).result()
        answers = ask(y).result()
        z = step(y).result()
        mine = m.interrupt("own")
        return {"answers": answers, "z": z, "mine": mine}

    out = [list(wf.stream(1, CFG, stream_mode=["updates", "values"]))]
    out.append(wf.get_state(CFG))
    out.append(wf.invoke(m.Command(resume="A"), CFG))
    out.append(wf.invoke(m.Command(resume="B"), CFG))
    out.append(wf.get_state(CFG))
    out.append(wf.invoke(m.Command(resume="C"), CFG))
    out.append(wf.get_state(CFG))
    out.append(list(ran))
    return out


def task_calls_task(m: Any) -> list[Any]:
    ran: list[Any] = []

    @m.task
    def leaf(x: int) -> int:
        ran.append(("leaf", x))
        return x * 10

    @m.task
    def branch(x: int) -> int:
        ran.append(("branch", x))
        parts = [leaf(x + i) for i in range(2)]
        got = m.interrupt("go?")
        return sum(p.result() for p in parts) + got

    @m.entrypoint(checkpointer=m.InMemorySaver())
    def wf(x: int) -> int:
        return branch(x).result()

    out = [wf.invoke(1, CFG)]
    out.append(wf.invoke(m.Command(resume=5), CFG))
    out.append(sorted(ran))
    return out


def injected(m: Any) -> list[Any]:
    seen: list[Any] = []

    @m.task
    def shout(x: str) -> str:
        m.get_stream_writer()({"task": x})
        return x.upper()

    @m.entrypoint(checkpointer=m.InMemorySaver())
    def wf(x: str, *, config, writer, previous=None, runtime=None) -> str:  # noqa: ANN001
        seen.append((config["configurable"]["thread_id"], previous, runtime.context))
        writer({"custom": x})
        return shout(x).result()

    out = [list(wf.stream("hi", CFG, stream_mode=["custom", "updates"], context={"user": 1}))]
    out.append(list(wf.stream("yo", CFG, stream_mode="custom")))
    out.append(seen)
    return out


def failing_task(m: Any) -> list[Any]:
    ran: list[Any] = []

    @m.task
    def ok(x: int) -> int:
        ran.append("ok")
        return x

    @m.task(retry_policy=m.RetryPolicy(max_attempts=3, initial_interval=0.001, jitter=False,
                                       retry_on=KeyError))
    def flaky(x: int) -> int:
        ran.append("flaky")
        if ran.count("flaky") < 2:
            raise KeyError("once")
        if ran.count("flaky") == 2:
            raise ValueError("not retried")
        return x

    @m.entrypoint(checkpointer=m.InMemorySaver())
    def wf(x: int) -> int:
        return ok(x).result() + flaky(x).result()

    out: list[Any] = []
    try:
        wf.invoke(2, CFG)
    except ValueError as exc:
        out.append(("raised", str(exc)))
    snap = wf.get_state(CFG)
    out.append(snap)
    out.append(wf.invoke(None, CFG))
    out.append(list(ran))
    return out


def no_checkpointer(m: Any) -> list[Any]:
    @m.task
    def inc(x: int) -> int:
        return x + 1

    @m.entrypoint()
    def wf(x: int) -> int:
        return inc(inc(x).result()).result()

    return [wf.invoke(1), list(wf.stream(2)), list(wf.stream(3, stream_mode="values"))]


def resume_by_id(m: Any) -> list[Any]:
    @m.task
    def ask(q: str) -> Any:
        return m.interrupt(q)

    @m.entrypoint(checkpointer=m.InMemorySaver())
    def wf(x: int) -> Any:
        first = ask("a").result()
        return [first, ask("b").result()]

    out = [wf.invoke(1, CFG)]
    (intr,) = wf.get_state(CFG).interrupts
    out.append(wf.invoke(m.Command(resume={intr.id: "ans-a"}), CFG))
    (intr,) = wf.get_state(CFG).interrupts
    out.append(wf.invoke(m.Command(resume={intr.id: "ans-b"}), CFG))
    return out


def _strip(chunk: Any) -> Any:
    """A tasks / checkpoints / debug chunk without ids, timestamps and configs, and
    without the engine-level shapes of interrupts in them (checked with the graph API)."""
    if isinstance(chunk, dict):
        return {k: _strip(v) for k, v in chunk.items()
                if k not in ("id", "timestamp", "config", "parent_config", "parents")
                and not (k in ("interrupts", "result") and chunk.get("name") == "wf" and chunk.get("interrupts"))
                and not (k == "interrupts" and "state" in chunk)}
    if isinstance(chunk, (list, tuple)):
        return type(chunk)(_strip(v) for v in chunk)
    return chunk


def debug_modes(m: Any) -> list[Any]:
    @m.task
    def inc(x: int) -> int:
        return x + 1

    @m.task
    def ask(x: int) -> Any:
        return m.interrupt(x)

    @m.entrypoint(checkpointer=m.InMemorySaver())
    def wf(x: int) -> Any:
        return ask(inc(x).result()).result()

    out = []
    for i, mode in enumerate(["tasks", "checkpoints", "debug"]):
        cfg = {"configurable": {"thread_id": f"m{i}"}}
        out.append([_strip(c) for c in wf.stream(1, cfg, stream_mode=mode)])
        out.append([_strip(c) for c in wf.stream(m.Command(resume="r"), cfg, stream_mode=mode)])
    out.append(list(wf.stream(5, {"configurable": {"thread_id": "v2"}}, version="v2")))
    out.append(wf.invoke(m.Command(resume=6), {"configurable": {"thread_id": "v2"}}, version="v2"))
    return out


def concurrent_interrupts(m: Any) -> list[Any]:
    ran: list[Any] = []

    @m.task
    def ask(q: str) -> Any:
        ran.append(q)
        return m.interrupt(q)

    @m.entrypoint(checkpointer=m.InMemorySaver())
    def wf(x: int) -> Any:
        futs = [ask("a"), ask("b")]
        return [f.result() for f in futs]

    out: list[Any] = [wf.invoke(1, CFG)]
    snap = wf.get_state(CFG)
    out.append(sorted(i.value for i in snap.interrupts))
    answers = {i.id: f"ans-{i.value}" for i in snap.interrupts}
    out.append(wf.invoke(m.Command(resume=answers), CFG))
    out.append(sorted(ran))
    return out


def graph_node_calls_tasks(m: Any) -> list[Any]:
    import importlib
    from typing import TypedDict

    g = importlib.import_module(f"{m.name}.graph")
    ran: list[Any] = []

    class S(TypedDict):
        a: int

    @m.task
    def double(x: int) -> int:
        ran.append(x)
        return 2 * x

    def node(s: S) -> dict:
        v = double(s["a"]).result()
        w = m.interrupt("more?")
        return {"a": v + w}

    b = g.StateGraph(S)
    b.add_node("node", node)
    b.add_edge(g.START, "node")
    app = b.compile(checkpointer=m.InMemorySaver())
    out = [app.invoke({"a": 3}, CFG), app.invoke(m.Command(resume=1), CFG), list(ran)]
    return out


def exit_durability(m: Any) -> list[Any]:
    ran: list[Any] = []

    @m.task
    def inc(x: int) -> int:
        ran.append(x)
        return x + 1

    @m.entrypoint(checkpointer=m.InMemorySaver())
    def wf(x: int) -> Any:
        return [inc(x).result(), m.interrupt("q")]

    out = [wf.invoke(1, CFG, durability="exit"), wf.invoke(m.Command(resume="z"), CFG, durability="exit")]
    out.append(len(list(wf.get_state_history(CFG))))
    out.append(list(ran))
    return out


def nested_entrypoint(m: Any) -> list[Any]:
    ran: list[Any] = []

    @m.task
    def pre(x: int) -> int:
        ran.append(x)
        return x + 1

    @m.entrypoint()
    def child(x: int) -> int:
        return pre(x).result() + m.interrupt("child?")

    @m.entrypoint(checkpointer=m.InMemorySaver())
    def parent(x: int) -> int:
        return child.invoke(x) * 2

    return [parent.invoke(1, CFG), parent.invoke(m.Command(resume=10), CFG), list(ran)]


def _call_events(chunks: list[Any], node: str) -> list[Any]:
    """A node's calls' stream events, in order (the node's own task events and update
    are left out: where they fall relative to each other is the engine's business)."""
    out = []
    for mode, chunk in chunks:
        if mode == "tasks":
            if chunk["name"] != node:
                out.append((mode, {k: v for k, v in chunk.items() if k in ("name", "input", "result", "error")}))
        elif node not in chunk:
            out.append((mode, chunk))
    return out


def graph_node_task_retry_and_cache(m: Any) -> list[Any]:
    # A sync node under sync invoke calls tasks with a retry policy and a cache policy:
    # the node's calls run where it runs (asyncgraph: inline on the loop's thread).
    import importlib
    from typing import TypedDict

    g = importlib.import_module(f"{m.name}.graph")
    cache_mod = importlib.import_module(f"{m.name}.cache.memory")
    typ = importlib.import_module(f"{m.name}.types")
    ran: list[Any] = []

    class S(TypedDict):
        a: int

    @m.task(retry_policy=m.RetryPolicy(max_attempts=3, initial_interval=0.001, jitter=False))
    def flaky(x: int) -> int:
        ran.append(("flaky", x))
        if len([r for r in ran if r[0] == "flaky"]) == 1:
            raise ConnectionError("once")
        return x + 1

    @m.task(cache_policy=typ.CachePolicy())
    def cached(x: int) -> int:
        ran.append(("cached", x))
        return x * 10

    def node(s: S) -> dict:
        return {"a": cached(flaky(s["a"]).result()).result()}

    b = g.StateGraph(S)
    b.add_node("node", node)
    b.add_edge(g.START, "node")
    app = b.compile(checkpointer=m.InMemorySaver(), cache=cache_mod.InMemoryCache())
    out: list[Any] = []
    for thread in ("a", "b"):
        chunks = list(app.stream({"a": 1}, {"configurable": {"thread_id": thread}}, stream_mode=["tasks", "updates"]))
        out.append(_call_events(chunks, "node"))
        out.append(app.get_state({"configurable": {"thread_id": thread}}).values)
    out.append(list(ran))
    return out


SYNC = [debug_modes, graph_node_calls_tasks, exit_durability, nested_entrypoint, graph_node_task_retry_and_cache,
        sync_basic, previous_and_final, interrupt_in_entrypoint, interrupt_in_task, task_calls_task,
        injected, failing_task, no_checkpointer, resume_by_id]
async def messages_mode(m: Any) -> list[Any]:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    model = GenericFakeChatModel(messages=iter([AIMessage("hello big world"), AIMessage("bye now")]))

    @m.task
    async def call_model(q: str) -> str:
        return (await model.ainvoke(q)).content

    @m.entrypoint()
    async def wf(q: str) -> str:
        first = await call_model(q)
        return first + " / " + (await model.ainvoke(first)).content

    out = []
    async for chunk, meta in wf.astream("hi", stream_mode="messages"):
        out.append((chunk.content, meta["langgraph_node"], meta["langgraph_step"], meta["langgraph_triggers"]))
    return out



async def cached_call_stream(m: Any) -> list[Any]:
    # A call answered from the cache streams its update (marked cached), no task result.
    cache_mod = importlib.import_module(f"{m.name}.cache.memory")
    typ = importlib.import_module(f"{m.name}.types")
    ran: list[Any] = []

    @m.task(cache_policy=typ.CachePolicy())
    async def slow(x: int) -> int:
        ran.append(x)
        return x * 2

    @m.entrypoint(checkpointer=m.InMemorySaver(), cache=cache_mod.InMemoryCache())
    async def wf(x: int) -> int:
        return await slow(x)

    out: list[Any] = []
    for thread in ("a", "b"):
        chunks = [c async for c in wf.astream(3, {"configurable": {"thread_id": thread}}, stream_mode=["tasks", "updates"])]
        out.append(_call_events(chunks, "wf"))
    out.append(list(ran))
    return out

ASYNC = [cached_call_stream, async_gather, messages_mode]
