"""Graph lifecycle callbacks (``asyncgraph.callbacks``): on_interrupt / on_resume."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest
from langchain_core.callbacks.base import BaseCallbackHandler
from langchain_core.callbacks.manager import CallbackManager

from asyncgraph.callbacks import GraphCallbackHandler, GraphInterruptEvent, GraphResumeEvent
from asyncgraph.checkpoint.memory import InMemorySaver
from asyncgraph.graph import START, StateGraph
from asyncgraph.types import Command, interrupt


class _S(TypedDict):
    answer: str | None
    steps: int


class Recorder(GraphCallbackHandler):
    def __init__(self, *, fail: bool = False, raise_error: bool = False) -> None:
        self.events: list[Any] = []
        self.fail = fail
        self.raise_error = raise_error

    def on_interrupt(self, event: GraphInterruptEvent) -> None:
        self.events.append(event)
        if self.fail:
            raise ValueError("handler broke")

    def on_resume(self, event: GraphResumeEvent) -> None:
        self.events.append(event)


class AsyncRecorder(GraphCallbackHandler):
    def __init__(self) -> None:
        self.events: list[Any] = []

    async def on_interrupt(self, event: GraphInterruptEvent) -> None:
        self.events.append(event)

    async def on_resume(self, event: GraphResumeEvent) -> None:
        self.events.append(event)


class Plain(BaseCallbackHandler):
    run_inline = True

    def __init__(self) -> None:
        self.custom: list[str] = []

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        self.custom.append(name)


def _graph(**compile_kwargs: Any) -> Any:
    def ask(state: _S) -> dict[str, Any]:
        return {"answer": interrupt("your name?")}

    def after(state: _S) -> dict[str, Any]:
        return {"steps": state.get("steps", 0) + 1}

    g = StateGraph(_S)
    g.add_node("ask", ask)
    g.add_node("after", after)
    g.add_edge(START, "ask")
    g.add_edge("ask", "after")
    return g.compile(checkpointer=InMemorySaver(), **compile_kwargs)


@pytest.mark.parametrize("handler_cls", [Recorder, AsyncRecorder])
async def test_interrupt_and_resume_are_reported(handler_cls: type) -> None:
    app = _graph()
    handler, plain = handler_cls(), Plain()
    config = {"configurable": {"thread_id": "t"}, "callbacks": [plain, handler]}
    await app.ainvoke({"answer": None}, config)
    [paused] = handler.events
    assert isinstance(paused, GraphInterruptEvent)
    assert [i.value for i in paused.interrupts] == ["your name?"] and paused.checkpoint_ns == ()
    assert paused.status == "pending"
    assert paused.checkpoint_id == app.get_state(config).config["configurable"]["checkpoint_id"]
    out = await app.ainvoke(Command(resume="Ada"), config)
    assert out["answer"] == "Ada"
    resumed = handler.events[1]
    assert isinstance(resumed, GraphResumeEvent) and resumed.checkpoint_id == paused.checkpoint_id
    assert len(handler.events) == 2 and plain.custom == []


def test_a_breakpoint_is_reported_with_its_kind_and_no_interrupts() -> None:
    handler = Recorder()
    app = _graph(interrupt_before=["ask"])
    app.invoke({"answer": None}, {"configurable": {"thread_id": "t"}, "callbacks": [handler]})
    [event] = handler.events
    assert event.status == "interrupt_before" and event.interrupts == ()


def test_a_failing_handler_is_logged_and_the_run_goes_on() -> None:
    broken, recorder = Recorder(fail=True), Recorder()
    out = _graph().invoke({"answer": None}, {"configurable": {"thread_id": "t"}, "callbacks": [broken, recorder]})
    assert "__interrupt__" in out and len(recorder.events) == 1


def test_raise_error_makes_a_handler_failure_the_runs() -> None:
    with pytest.raises(ValueError, match="handler broke"):
        _graph().invoke({"answer": None},
                        {"configurable": {"thread_id": "t"}, "callbacks": [Recorder(fail=True, raise_error=True)]})


def test_handlers_inside_a_callback_manager_are_found() -> None:
    handler = Recorder()
    manager = CallbackManager.configure(inheritable_callbacks=[Plain()])
    manager.add_handler(handler)
    _graph().invoke({"answer": None}, {"configurable": {"thread_id": "t"}, "callbacks": manager})
    assert len(handler.events) == 1
