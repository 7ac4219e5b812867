"""Deprecated arguments and names warn as on LangGraph: the same category (one of
``asyncgraph.warnings``' classes, so a filter written for LangGraph works) and the same
message, module paths spelled with the package the code imports. Current spellings
warn about nothing."""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from typing_extensions import TypedDict

PACKAGES = ("langgraph", "asyncgraph")


class S(TypedDict, total=False):
    a: int


def _mod(pkg: str, name: str) -> Any:
    return importlib.import_module(f"{pkg}.{name}")


def _graph(pkg: str) -> Any:
    b = _mod(pkg, "graph").StateGraph(S)
    b.add_node("n", lambda s: {"a": 1})
    b.set_entry_point("n")
    return b.compile()


def _pregel_types(pkg: str) -> None:
    sys.modules.pop(f"{pkg}.pregel.types", None)  # the warning is the module's import
    importlib.import_module(f"{pkg}.pregel.types")


SCENARIOS: dict[str, Callable[[str], Any]] = {
    "StateGraph(input=)": lambda p: _mod(p, "graph").StateGraph(S, input=S),
    "StateGraph(output=)": lambda p: _mod(p, "graph").StateGraph(S, output=S),
    "StateGraph(config_schema=)": lambda p: _mod(p, "graph").StateGraph(S, config_schema=S),
    "add_node(retry=)": lambda p: _mod(p, "graph").StateGraph(S).add_node(
        "n", lambda s: s, retry=_mod(p, "types").RetryPolicy()
    ),
    "add_node(input=)": lambda p: _mod(p, "graph").StateGraph(S).add_node("n", lambda s: s, input=S),
    "task(retry=)": lambda p: _mod(p, "func").task(retry=_mod(p, "types").RetryPolicy())(lambda x: x),
    "entrypoint(retry=)": lambda p: _mod(p, "func").entrypoint(retry=_mod(p, "types").RetryPolicy())(lambda x: x),
    "entrypoint(config_schema=)": lambda p: _mod(p, "func").entrypoint(config_schema=S)(lambda x: x),
    "constants.Send": lambda p: _mod(p, "constants").Send,
    "constants.Interrupt": lambda p: _mod(p, "constants").Interrupt,
    "constants.PREVIOUS": lambda p: _mod(p, "constants").PREVIOUS,
    "pregel.types": _pregel_types,
    "config_schema()": lambda p: _graph(p).config_schema(),
    "get_config_jsonschema()": lambda p: _graph(p).get_config_jsonschema(),
    "invoke(checkpoint_during=)": lambda p: _graph(p).invoke({}, checkpoint_during=False),
    "Interrupt.interrupt_id": lambda p: _mod(p, "types").Interrupt(value="q", id="i").interrupt_id,
    "NodeInterrupt()": lambda p: _mod(p, "errors").NodeInterrupt("q"),
    "MessageGraph()": lambda p: _mod(p, "graph.message").MessageGraph(),
    "GraphOutput[key]": lambda p: _mod(p, "types").GraphOutput(value={"a": 1})["a"],
    "key in GraphOutput": lambda p: "a" in _mod(p, "types").GraphOutput(value={"a": 1}),
}


def _deprecations(pkg: str, action: Callable[[str], Any]) -> list[tuple[str, str]]:
    base = _mod(pkg, "warnings").LangGraphDeprecationWarning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        action(pkg)
    return [
        (w.category.__name__, str(w.message).replace(pkg, "<pkg>"))
        for w in caught
        if issubclass(w.category, base)
    ]


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_deprecated_form_warns_as_on_langgraph(scenario: str) -> None:
    action = SCENARIOS[scenario]
    expected = _deprecations("langgraph", action)
    assert expected, f"LangGraph no longer warns for {scenario}"
    got = _deprecations("asyncgraph", action)
    assert [c for c, _ in got] == [c for c, _ in expected]
    for (_, ours), (_, theirs) in zip(got, expected, strict=True):
        # The same message, except that asyncgraph does not ask users to write to the
        # LangGraph team (LangGraph's last sentence for a private constant).
        body, _, when = ours.partition(" Deprecated in LangGraph")
        assert when == theirs.partition(" Deprecated in LangGraph")[2]
        assert theirs.replace(" Please let the LangGraph team know if you need this value.", "").startswith(body)
        assert body.endswith(".") and len(body) > 30


def test_messages_name_the_package_the_code_imports() -> None:
    with pytest.warns(DeprecationWarning, match=r"from asyncgraph\.constants is deprecated.*asyncgraph\.types"):
        _mod("asyncgraph", "constants").Send


def test_message_graph_runs_a_list_of_messages() -> None:
    from langchain_core.messages import AIMessage, HumanMessage

    outputs = []
    for pkg in PACKAGES:
        with pytest.warns(DeprecationWarning):
            b = _mod(pkg, "graph.message").MessageGraph()
        b.add_node("bot", lambda msgs: AIMessage(content=f"{len(msgs)} so far", id="ai"))
        b.set_entry_point("bot")
        b.set_finish_point("bot")
        out = b.compile().invoke([HumanMessage(content="hi", id="h")])
        outputs.append([(type(m).__name__, m.content, m.id) for m in out])
    assert outputs[0] == outputs[1] == [("HumanMessage", "hi", "h"), ("AIMessage", "1 so far", "ai")]


def test_a_deprecated_argument_still_takes_effect() -> None:
    from asyncgraph.graph import StateGraph

    with pytest.warns(DeprecationWarning, match="checkpoint_during"):
        seen = []

        def node(state: S, config: Any) -> S:  # noqa: ANN401
            seen.append(config["configurable"]["__pregel_durability"])
            return {}

        with pytest.warns(UserWarning, match="should be typed as 'RunnableConfig'"):
            b = StateGraph(S)
            b.add_node("n", node)
        b.set_entry_point("n")
        b.compile().invoke({}, checkpoint_during=False)
    assert seen == ["exit"]
    with pytest.warns(DeprecationWarning, match="config_schema"):
        b = StateGraph(S, config_schema=S)
    b.add_node("n", lambda s: {})
    b.set_entry_point("n")
    assert b.compile().context_schema is S


def test_a_config_parameter_typed_otherwise_than_runnable_config_warns() -> None:
    from langchain_core.runnables import RunnableConfig

    from asyncgraph.graph import StateGraph

    def as_dict(state: S, config: dict) -> S:
        return {}

    def as_config(state: S, config: RunnableConfig) -> S:
        return {}

    def as_optional(state: S, config: RunnableConfig | None) -> S:
        return {}

    def untyped(state, config):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
        return {}

    b = StateGraph(S)
    with pytest.warns(UserWarning, match=r"not '.*dict.*'"):
        b.add_node(as_dict)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b.add_node(as_config)
        b.add_node(as_optional)
        b.add_node(untyped)


def test_current_spellings_warn_about_nothing() -> None:
    from asyncgraph.checkpoint.memory import InMemorySaver
    from asyncgraph.func import entrypoint, task
    from asyncgraph.graph import START, MessagesState, StateGraph
    from asyncgraph.types import Command, GraphOutput, Interrupt, RetryPolicy, interrupt

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b = StateGraph(S, context_schema=S, input_schema=S, output_schema=S)
        b.add_node("n", lambda s: {"a": interrupt("q")}, retry_policy=RetryPolicy(), input_schema=S)
        b.add_edge(START, "n")
        app = b.compile(checkpointer=InMemorySaver())
        cfg: Any = {"configurable": {"thread_id": "t"}}
        out = app.invoke({}, cfg, durability="sync", version="v2")
        assert isinstance(out, GraphOutput) and out.interrupts[0].id
        assert app.invoke(Command(resume=3), cfg) == {"a": 3}
        assert list(app.stream({}, {"configurable": {"thread_id": "u"}}))
        assert app.get_context_jsonschema() is not None
        StateGraph(MessagesState)
        Interrupt(value="q", id="i").id

        @task(retry_policy=RetryPolicy())
        def double(x: int) -> int:
            return x * 2

        @entrypoint(context_schema=dict)
        def main(x: int) -> int:
            return double(x).result()

        assert main.invoke(2) == 4
