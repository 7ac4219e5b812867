"""``@entrypoint``: the workflow as a compiled graph (asyncgraph's own checks;
LangGraph parity is in ``test_differential.py``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from langchain_core.runnables import Runnable
from pydantic import BaseModel

from asyncgraph.checkpoint.memory import InMemorySaver
from asyncgraph.func import entrypoint, task
from asyncgraph.pregel import Pregel
from asyncgraph.types import Command, interrupt


def cfg(thread: str = "t") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def test_a_function_without_parameters_is_rejected() -> None:
    def nothing() -> int:
        return 1

    with pytest.raises(ValueError, match="at least one parameter"):
        entrypoint()(nothing)


def test_unknown_decorator_arguments_are_named() -> None:
    with pytest.raises(TypeError, match="checkpoint"):
        entrypoint(checkpoint=InMemorySaver())  # type: ignore[call-arg]


def test_the_workflow_is_a_compiled_graph_and_a_runnable() -> None:
    @entrypoint()
    def wf(x: int) -> str:
        return str(x)

    assert isinstance(wf, Pregel) and isinstance(wf, Runnable)
    assert wf.InputType is int and wf.OutputType is str
    assert wf.batch([1, 2]) == ["1", "2"]
    assert list(wf.stream(3, stream_mode="values")) == ["3"]


def test_final_types_are_read_from_the_annotation() -> None:
    @entrypoint(checkpointer=InMemorySaver())
    def wf(x: int, *, previous: Any = None) -> entrypoint.final[str, int]:
        return entrypoint.final(value=str(previous), save=x)

    assert wf.OutputType is str
    assert wf.invoke(1, cfg()) == "None"
    assert wf.invoke(2, cfg()) == "1"
    assert wf.get_state(cfg()).values == "1"


def test_store_and_context_reach_the_function_and_its_tasks() -> None:
    @dataclasses.dataclass
    class Ctx:
        user: str

    store = {"kind": "any store object is passed through"}
    seen: list[Any] = []

    @task
    def look() -> Any:
        from asyncgraph.config import get_store
        from asyncgraph.runtime import get_runtime

        return get_store(), get_runtime().context

    @entrypoint(store=store, context_schema=Ctx)
    def wf(x: int, *, store: Any, runtime: Any) -> Any:
        seen.append((store, runtime.context, runtime.store))
        return look().result()

    assert wf.invoke(1, context=Ctx("ada")) == (store, Ctx("ada"))
    assert seen == [(store, Ctx("ada"), store)]
    assert wf.context_schema is Ctx


async def test_async_entrypoint_under_sync_invoke_and_sync_under_ainvoke() -> None:
    @task
    def inc(x: int) -> int:
        return x + 1

    @entrypoint()
    def sync_wf(x: int) -> int:
        return inc(x).result()

    assert await sync_wf.ainvoke(1) == 2


def test_an_async_entrypoint_runs_under_the_sync_api() -> None:
    @task
    async def inc(x: int) -> int:
        return x + 1

    @entrypoint()
    async def wf(x: int) -> int:
        return await inc(x)

    assert wf.invoke(1) == 2  # LangGraph: "No synchronous function provided"


def test_time_travel_forks_from_an_earlier_checkpoint() -> None:
    @entrypoint(checkpointer=InMemorySaver())
    def wf(x: str) -> str:
        return f"{x}!{interrupt('how loud?')}"

    wf.invoke("hi", cfg())
    wf.invoke(Command(resume="!!"), cfg())
    history = list(wf.get_state_history(cfg()))
    assert [h.metadata["source"] for h in history] == ["loop", "input"]
    assert history[0].values == "hi!!!" and history[1].values is None
    assert history[1].next == ("wf",)
    wf.invoke(None, history[1].config)  # replay: pauses again, on a fork
    assert wf.invoke(Command(resume="?"), cfg()) == "hi!?"
    sources = [h.metadata["source"] for h in wf.get_state_history(cfg())]
    assert sources == ["loop", "fork", "loop", "input"]


def test_update_state_sets_what_previous_will_be() -> None:
    @entrypoint(checkpointer=InMemorySaver())
    def wf(x: int, *, previous: Any = None) -> list[Any]:
        return [previous, x]

    wf.invoke(1, cfg())
    wf.update_state(cfg(), entrypoint.final(value="shown", save="kept"))
    assert wf.get_state(cfg()).values == "shown"
    assert wf.invoke(2, cfg()) == ["kept", 2]


def test_a_nested_entrypoint_pauses_once_and_keeps_its_task_results() -> None:
    ran: list[int] = []

    @task
    def pre(x: int) -> int:
        ran.append(x)
        return x + 1

    @entrypoint()
    def child(x: int) -> int:
        return pre(x).result() + interrupt("child?")

    @entrypoint(checkpointer=InMemorySaver())
    def parent(x: int) -> int:
        return child.invoke(x) * 2

    out = parent.invoke(1, cfg())
    assert [i.value for i in out["__interrupt__"]] == ["child?"]
    assert parent.invoke(Command(resume=10), cfg()) == 24
    assert ran == [1]


class Essay(BaseModel):
    text: str


def test_classes_in_the_signature_can_be_checkpointed() -> None:
    @task
    def polish(e: Essay) -> Essay:
        return Essay(text=e.text.upper())

    @entrypoint(checkpointer=InMemorySaver())
    def wf(e: Essay) -> Essay:
        done = polish(e).result()
        interrupt("ok?")
        return done

    wf.invoke(Essay(text="hi"), cfg())
    assert wf.invoke(Command(resume=True), cfg()) == Essay(text="HI")
