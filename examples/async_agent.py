"""An async tool-calling agent on asyncgraph: stream one conversation, then run many at once.

    python examples/async_agent.py                 # picks a model (see below)
    python examples/async_agent.py --model scripted --n 200

The graph is the classic LangGraph seed agent (swap ``asyncgraph`` for ``langgraph`` in the
imports and it runs there too): an async ``call_model`` node, a ``ToolNode`` and a
``should_continue`` edge.

The model: ``ChatAnthropic`` when ``ANTHROPIC_API_KEY`` is set; otherwise, offline, the
embedded SmolLM2 model (``asyncgraph.models``, if installed; at most one tool round
per user turn); otherwise a scripted fake model that answers with realistic latency. The
concurrency demo uses the chosen model if it is remote, else the scripted model with
~50 ms per call (the embedded model runs one generation at a time, so it cannot show
concurrency).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Annotated, Any, TypedDict

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langchain_core.tools import tool

from asyncgraph.graph import END, StateGraph
from asyncgraph.graph.message import add_messages
from asyncgraph.prebuilt import ToolNode


class State(TypedDict):
    messages: Annotated[list, add_messages]


@tool
async def search(query: str) -> str:
    """Call to surf the web."""
    await asyncio.sleep(0.01)  # a real search would await the network here
    if "sf" in query.lower() or "san francisco" in query.lower():
        return "It's 60 degrees and foggy."
    return "It's 90 degrees and sunny."


TOOLS = [search]


def build_app(model: Any) -> Any:
    """The seed agent: call the model, run the tools it asks for, repeat until it answers."""
    bound = model.bind_tools(TOOLS)
    tool_node = ToolNode(TOOLS)

    def should_continue(state: State) -> str:
        last_message = state["messages"][-1]
        return "continue" if getattr(last_message, "tool_calls", None) else "end"

    async def call_model(state: State) -> dict[str, list[BaseMessage]]:
        response = await bound.ainvoke(state["messages"])
        return {"messages": [response]}

    workflow = StateGraph(State)
    workflow.add_node("agent", call_model)
    workflow.add_node("action", tool_node)
    workflow.set_entry_point("agent")
    workflow.add_conditional_edges("agent", should_continue, {"continue": "action", "end": END})
    workflow.add_edge("action", "agent")
    return workflow.compile()


# -- models ------------------------------------------------------------------------------------


def scripted_model(latency: float) -> Any:
    """A fake model that calls ``search`` once per question, then answers from the result."""
    from asyncgraph.testing import ScriptedChatModel

    def respond(messages: list[BaseMessage]) -> AIMessage | str:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            return f"According to my search: {last.content} Anything else?"
        question = str(last.content)
        return AIMessage("", tool_calls=[{"name": "search", "args": {"query": question}, "id": None}])

    return ScriptedChatModel(respond=respond, latency=latency, token_delay=0.005, record_calls=False)


def choose_model(kind: str, latency: float) -> tuple[str, Any]:
    if kind in ("auto", "anthropic") and os.environ.get("ANTHROPIC_API_KEY"):
        from langchain_anthropic import ChatAnthropic

        return "anthropic", ChatAnthropic(model=os.environ.get("ANTHROPIC_MODEL", "claude-3-5-haiku-latest"))  # type: ignore[call-arg]
    if kind == "anthropic":
        sys.exit("--model anthropic needs ANTHROPIC_API_KEY")
    if kind in ("auto", "local"):
        try:
            from asyncgraph.models import LocalChatModel

            model = LocalChatModel(max_tokens=48, max_tool_rounds=1)
            model.load()
            return "local", model
        except Exception as exc:  # noqa: BLE001  not installed, or the weights cannot load: fall back
            if kind == "local":
                sys.exit(f"--model local is unavailable: {exc}")
    return "scripted", scripted_model(latency)


# -- demos -------------------------------------------------------------------------------------


async def stream_one(app: Any, question: str) -> None:
    """Print each node's update as it finishes, and the model's tokens as they arrive."""
    print(f"> {question}")
    inputs = {"messages": [HumanMessage(content=question)]}
    streaming = False
    async for mode, chunk in app.astream(inputs, stream_mode=["updates", "messages"]):
        if mode == "messages":
            message, metadata = chunk
            if metadata.get("langgraph_node") == "agent" and isinstance(message, (AIMessageChunk, AIMessage)) and message.text:
                if not streaming:
                    print("  tokens: ", end="")
                    streaming = True
                print(message.text, end="", flush=True)
            continue
        if streaming:
            print()
            streaming = False
        for node, update in chunk.items():
            last = update["messages"][-1]
            if isinstance(last, ToolMessage):
                print(f"  [{node}] tool {last.name} -> {last.content}")
            elif isinstance(last, AIMessage) and last.tool_calls:
                calls = ", ".join(f"{c['name']}({c['args']})" for c in last.tool_calls)
                print(f"  [{node}] calls {calls}")
            else:
                print(f"  [{node}] answer: {last.text}")


def progress(done: int, total: int, width: int = 30) -> None:
    if not sys.stdout.isatty() and done < total:
        return  # piped or logged: only the final bar, not one per run
    filled = width * done // total
    print(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", flush=True)


async def run_many(app: Any, n: int, concurrent: bool) -> float:
    """Run ``n`` conversations, all at once or one after another; return the wall time."""
    done = 0

    async def one(i: int) -> None:
        nonlocal done
        out = await app.ainvoke({"messages": [HumanMessage(content=f"what is the weather in city {i}?")]})
        assert isinstance(out["messages"][-1], AIMessage)
        done += 1
        progress(done, n)

    print(f"{'concurrently' if concurrent else 'sequentially'}:")
    start = time.perf_counter()
    if concurrent:
        async with asyncio.TaskGroup() as group:
            for i in range(n):
                group.create_task(one(i))
    else:
        for i in range(n):
            await one(i)
    elapsed = time.perf_counter() - start
    print(f"\n  {elapsed:.2f} s")
    return elapsed


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=["auto", "anthropic", "local", "scripted"], default="auto")
    parser.add_argument("--n", type=int, default=100, help="conversations in the concurrency demo")
    parser.add_argument("--latency", type=float, default=0.05, help="scripted model latency per call, s")
    args = parser.parse_args(argv)

    kind, model = choose_model(args.model, args.latency)
    print(f"model: {kind}")
    await stream_one(build_app(model), "what is the weather in sf")

    many = model if kind == "anthropic" else scripted_model(args.latency)
    print(f"\n{args.n} conversations ({'anthropic' if kind == 'anthropic' else f'scripted model, {args.latency * 1000:.0f} ms per call'}):")
    app = build_app(many)
    sequential = await run_many(app, args.n, concurrent=False)
    concurrent = await run_many(app, args.n, concurrent=True)
    print(f"speedup: {sequential / concurrent:.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
