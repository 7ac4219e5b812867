"""LangChain's ``create_agent`` with middleware, running on asyncgraph. Offline.

    pip install "asyncgraph[ecosystem]"     # LangChain 1.5
    python examples/create_agent_middleware.py

LangChain builds its agent with ``langgraph`` imports inside its own code. One line,
``asyncgraph.install_as_langgraph()``, before LangChain is imported, makes those imports
load asyncgraph, so the agent, its middleware and the checkpointer run on asyncgraph's
engine. The same switch without touching code: ``ASYNCGRAPH_AS_LANGGRAPH=1 python app.py``
or ``python -m asyncgraph run app.py``.

The agent drafts an e-mail with a tool. Two middlewares:

- ``HumanInTheLoopMiddleware`` pauses the run before ``send_email`` runs (an
  ``interrupt``); the run is resumed with the human's decision (``Command(resume=...)``);
- ``SummarizationMiddleware`` replaces older messages with a summary once the
  conversation grows past a few messages.

Both models are ``asyncgraph.testing.ScriptedChatModel``: scripted replies, no network.
"""

from __future__ import annotations

import asyncio
import os

import asyncgraph

if os.environ.get("EXAMPLE_ON_LANGGRAPH") != "1":  # compare: run it on the real LangGraph
    asyncgraph.install_as_langgraph()  # must come before LangChain is imported

from langchain.agents import create_agent  # noqa: E402
from langchain.agents.middleware import (  # noqa: E402
    HumanInTheLoopMiddleware,
    SummarizationMiddleware,
)
from langchain_core.messages import AIMessage, HumanMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402  (asyncgraph's, after the switch)
from langgraph.types import Command  # noqa: E402

from asyncgraph.testing import ScriptedChatModel  # noqa: E402

OUTBOX: list[dict[str, str]] = []


@tool
def send_email(to: str, body: str) -> str:
    """Send an e-mail."""
    OUTBOX.append({"to": to, "body": body})
    return f"sent to {to}"


def build_agent() -> object:
    model = ScriptedChatModel(
        responses=[
            "Hello! What should I write?",
            AIMessage(
                "",
                tool_calls=[
                    {
                        "name": "send_email",
                        "args": {"to": "ada@example.com", "body": "Lunch at noon?"},
                        "id": "call_1",
                    }
                ],
            ),
            "Done: the invitation is sent.",
        ]
    )
    summarizer = ScriptedChatModel(responses=["The user greeted the assistant."], cycle=True)
    return create_agent(
        model,
        tools=[send_email],
        middleware=[
            SummarizationMiddleware(model=summarizer, trigger=("messages", 4), keep=("messages", 2)),
            HumanInTheLoopMiddleware(interrupt_on={"send_email": True}),
        ],
        checkpointer=InMemorySaver(),
    )


async def main() -> None:
    agent = build_agent()
    config = {"configurable": {"thread_id": "demo"}}

    first = await agent.ainvoke({"messages": [HumanMessage("hi")]}, config)
    print("agent:", first["messages"][-1].content)

    paused = await agent.ainvoke(
        {"messages": [HumanMessage("Invite Ada to lunch by e-mail.")]}, config
    )
    request = paused["__interrupt__"][0].value
    action = request["action_requests"][0]
    print(f"paused for review: {action['name']}({action['args']})")
    assert not OUTBOX, "the tool must not run before the human decides"

    done = await agent.ainvoke(Command(resume={"decisions": [{"type": "approve"}]}), config)
    print("agent:", done["messages"][-1].content)
    print("outbox:", OUTBOX)
    kinds = [type(m).__name__ for m in done["messages"]]
    print("messages kept after summarization:", kinds)
    print("  the first one:", done["messages"][0].content.splitlines()[-1][:70])
    print("engine:", type(agent).__module__.split(".")[0])


if __name__ == "__main__":
    asyncio.run(main())
