"""Several tasks of one step pause; a resume answers one of them by interrupt id. The
answered task finishes while its sibling pauses again, and the next resume does not run
it a second time, as in LangGraph (LangChain's human-in-the-loop middleware gates several
tool calls this way)."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict


def _scenario(lib: str) -> list[Any]:
    if lib == "langgraph":
        from langgraph.checkpoint.memory import InMemorySaver
        from langgraph.graph import START, StateGraph
        from langgraph.types import Command, Send, interrupt
    else:
        from asyncgraph.checkpoint.memory import InMemorySaver  # type: ignore[assignment]
        from asyncgraph.graph import START, StateGraph  # type: ignore[assignment]
        from asyncgraph.types import Command, Send, interrupt  # type: ignore[assignment]

    ran: list[str] = []

    class S(TypedDict, total=False):
        done: Annotated[list[str], operator.add]

    def gate(arg: dict[str, str]) -> Any:
        answer = interrupt(arg["name"])
        ran.append(f"{arg['name']}={answer}")
        return {"done": [f"{arg['name']}={answer}"]}

    g: Any = StateGraph(S)
    g.add_node("gate", gate)
    g.add_conditional_edges(START, lambda s: [Send("gate", {"name": n}) for n in ("a", "b")], ["gate"])
    app = g.compile(checkpointer=InMemorySaver())
    cfg: Any = {"configurable": {"thread_id": "t"}}
    first = app.invoke({"done": []}, cfg)["__interrupt__"]
    ids = {i.value: i.id for i in first}
    second = app.invoke(Command(resume={ids["a"]: "yes"}), cfg)
    final = app.invoke(Command(resume={ids["b"]: "no"}), cfg)
    return [sorted(i.value for i in first), [i.value for i in second["__interrupt__"]],
            sorted(final["done"]), sorted(ran)]


def test_an_answered_task_that_finished_is_not_run_again_on_the_next_resume() -> None:
    ours = _scenario("asyncgraph")
    assert ours == _scenario("langgraph")
    assert ours[3] == ["a=yes", "b=no"]  # each ran once
