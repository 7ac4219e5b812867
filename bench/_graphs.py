"""Graph builders shared by both implementations.

Every builder takes the package name (``"langgraph"`` or ``"asyncgraph"``) and
imports the public API from it, so the two sides run literally the same
graph-building code. Nothing here measures anything; see ``bench/_worker.py``.
"""

from __future__ import annotations

import importlib
import itertools
import operator
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from bench._fake_model import TOOLS, FakeAgentModel


def _from(module: str, *names: str) -> Any:
    """``from module import names`` as a namespace object.

    A module that exists but lacks a name raises ``ImportError`` like the
    ``from`` statement does, so the harness reports a missing API as skipped.
    """
    mod = importlib.import_module(module)
    missing = [n for n in names if not hasattr(mod, n)]
    if missing:
        raise ImportError(f"cannot import {', '.join(missing)} from {module}")
    return mod


def _api(pkg: str) -> tuple[Any, Any]:
    """Return the ``<pkg>.graph`` and ``<pkg>.types`` modules."""
    graph_mod = _from(f"{pkg}.graph", "StateGraph", "START", "END", "MessagesState")
    return graph_mod, _from(f"{pkg}.types", "Send")


class ChainState(TypedDict):
    x: int


def chain(pkg: str, length: int, *, sync: bool) -> Any:
    """A straight line of ``length`` trivial nodes, each adding one to ``x``."""
    graph_mod, _ = _api(pkg)
    builder = graph_mod.StateGraph(ChainState)

    if sync:

        def step(state: ChainState) -> dict[str, int]:
            return {"x": state["x"] + 1}

    else:

        async def step(state: ChainState) -> dict[str, int]:  # type: ignore[misc]
            return {"x": state["x"] + 1}

    names = [f"n{i}" for i in range(length)]
    for name in names:
        builder.add_node(name, step)
    builder.add_edge(graph_mod.START, names[0])
    for a, b in itertools.pairwise(names):
        builder.add_edge(a, b)
    builder.add_edge(names[-1], graph_mod.END)
    return builder.compile()


class FanoutState(TypedDict, total=False):
    results: Annotated[list[int], operator.add]
    total: int


class WorkerInput(TypedDict):
    i: int


def fanout(pkg: str, width: int) -> Any:
    """``prepare`` -> ``width`` x ``Send("worker")`` -> ``join``."""
    graph_mod, types_mod = _api(pkg)
    send = types_mod.Send

    async def prepare(state: FanoutState) -> dict[str, Any]:
        return {}

    def scatter(state: FanoutState) -> list[Any]:
        return [send("worker", {"i": i}) for i in range(width)]

    async def worker(arg: WorkerInput) -> dict[str, list[int]]:
        return {"results": [arg["i"]]}

    async def join(state: FanoutState) -> dict[str, int]:
        return {"total": len(state["results"])}

    builder = graph_mod.StateGraph(FanoutState)
    builder.add_node("prepare", prepare)
    builder.add_node("worker", worker)
    builder.add_node("join", join)
    builder.add_edge(graph_mod.START, "prepare")
    builder.add_conditional_edges("prepare", scatter, ["worker"])
    builder.add_edge("worker", "join")
    builder.add_edge("join", graph_mod.END)
    return builder.compile()


def agent(pkg: str, model: FakeAgentModel, *, model_retry: Any = None, checkpointer: Any = None) -> Any:
    """The two-call agent loop built by hand: model node, tool node, conditional edge.

    ``model_retry``: a ``RetryPolicy`` of ``pkg`` for the model node (the soak uses it).
    ``checkpointer``: compiled with this saver (``bench.savers_load``).
    """
    graph_mod, _ = _api(pkg)
    tools_by_name = {t.name: t for t in TOOLS}

    async def call_model(state: dict[str, Any]) -> dict[str, list[BaseMessage]]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    async def call_tools(state: dict[str, Any]) -> dict[str, list[BaseMessage]]:
        last = state["messages"][-1]
        outputs = [
            await tools_by_name[tc["name"]].ainvoke(tc) for tc in last.tool_calls
        ]
        return {"messages": outputs}

    def route(state: dict[str, Any]) -> str:
        last = state["messages"][-1]
        return (
            "tools"
            if isinstance(last, AIMessage) and last.tool_calls
            else graph_mod.END
        )

    builder = graph_mod.StateGraph(graph_mod.MessagesState)
    builder.add_node("model", call_model, retry_policy=model_retry)
    builder.add_node("tools", call_tools)
    builder.add_edge(graph_mod.START, "model")
    builder.add_conditional_edges("model", route, ["tools", graph_mod.END])
    builder.add_edge("tools", "model")
    return builder.compile(checkpointer=checkpointer)


def agent_toolnode(pkg: str, model: FakeAgentModel) -> Any:
    """The same loop with the prebuilt ``ToolNode`` and ``tools_condition``."""
    graph_mod, _ = _api(pkg)
    prebuilt = _from(f"{pkg}.prebuilt", "ToolNode", "tools_condition")

    async def call_model(state: dict[str, Any]) -> dict[str, list[BaseMessage]]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    builder = graph_mod.StateGraph(graph_mod.MessagesState)
    builder.add_node("model", call_model)
    builder.add_node("tools", prebuilt.ToolNode(TOOLS))
    builder.add_edge(graph_mod.START, "model")
    builder.add_conditional_edges("model", prebuilt.tools_condition)
    builder.add_edge("tools", "model")
    return builder.compile()


def agent_react(pkg: str, model: FakeAgentModel) -> Any:
    """The same loop from ``create_react_agent``."""
    prebuilt = _from(f"{pkg}.prebuilt", "create_react_agent")
    return prebuilt.create_react_agent(model, TOOLS)


AGENT_BUILDERS = {
    "agent": agent,
    "agent_toolnode": agent_toolnode,
    "agent_react": agent_react,
}


async def floor_run(model: FakeAgentModel, question: str) -> list[BaseMessage]:
    """The same dialogue with no graph at all: the cost of the model and tool alone."""
    tools_by_name = {t.name: t for t in TOOLS}
    messages: list[BaseMessage] = [HumanMessage(question)]
    while True:
        reply = await model.ainvoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            return messages
        for tc in reply.tool_calls:
            out: ToolMessage = await tools_by_name[tc["name"]].ainvoke(tc)
            messages.append(out)
