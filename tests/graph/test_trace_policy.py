"""add_node(trace_policy=...): what the node's own trace run records, against LangGraph."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest
from langchain_core.callbacks import BaseCallbackHandler


class _Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.starts: dict[Any, tuple[str, Any]] = {}
        self.ends: dict[str, Any] = {}

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: Any, name: str = "", **kw: Any) -> None:
        self.starts[run_id] = (kw.get("name") or name or (serialized or {}).get("name", ""), inputs)

    def on_chain_end(self, outputs: Any, *, run_id: Any, **kw: Any) -> None:
        name = self.starts.get(run_id, ("?", None))[0]
        self.ends[name] = outputs

    def inputs_of(self, name: str) -> Any:
        return next(i for n, i in self.starts.values() if n == name)


def _run(impl: str) -> tuple[_Recorder, Any]:
    if impl == "asyncgraph":
        from asyncgraph.graph import END, START, StateGraph
        from asyncgraph.types import TracePolicy, omit_payload
    else:
        from langgraph.graph import END, START, StateGraph  # type: ignore[assignment]
        from langgraph.types import TracePolicy, omit_payload  # type: ignore[assignment,no-redef]

    class S(TypedDict):
        history: list[str]
        answer: str

    def summarize(value: Any) -> dict[str, int]:
        return {"history_len": len(value["history"])}

    g = StateGraph(S)
    g.add_node("quiet", lambda s: {"answer": "x" * 3}, trace_policy=TracePolicy(process_inputs=summarize, process_outputs=omit_payload))
    g.add_node("plain", lambda s: {"answer": s["answer"] + "!"})
    g.add_edge(START, "quiet")
    g.add_edge("quiet", "plain")
    g.add_edge("plain", END)
    rec = _Recorder()
    out = g.compile().invoke({"history": ["a", "b", "c"], "answer": ""}, {"callbacks": [rec]})
    return rec, out


@pytest.mark.parametrize("impl", ["asyncgraph", "langgraph"])
def test_trace_policy_never_changes_what_the_node_sees_or_returns(impl: str) -> None:
    rec, out = _run(impl)
    assert out == {"history": ["a", "b", "c"], "answer": "xxx!"}
    assert rec.inputs_of("plain") == {"history": ["a", "b", "c"], "answer": "xxx"}
    assert rec.ends["plain"] == {"answer": "xxx!"}


def test_trace_policy_leaves_plain_callback_handlers_the_raw_payload() -> None:
    # The policy is for tracers (tests/differential/test_trace_tags.py); a plain handler
    # sees what the node really got and returned, as on LangGraph.
    rec, _ = _run("asyncgraph")
    assert rec.inputs_of("quiet") == {"history": ["a", "b", "c"], "answer": ""}
    assert rec.ends["quiet"] == {"answer": "xxx"}


def test_a_raising_trace_processor_is_logged_and_the_payload_recorded_unchanged(caplog: pytest.LogCaptureFixture) -> None:
    from asyncgraph.graph import START, StateGraph
    from asyncgraph.types import TracePolicy

    class S(TypedDict):
        n: int

    def broken(value: Any) -> Any:
        raise RuntimeError("processor bug")

    g = StateGraph(S)
    g.add_node("node", lambda s: {"n": s["n"] + 1}, trace_policy=TracePolicy(process_inputs=broken))
    g.add_edge(START, "node")
    rec = _Recorder()
    assert g.compile().invoke({"n": 1}, {"callbacks": [rec]}) == {"n": 2}
    assert rec.inputs_of("node") == {"n": 1}
    assert "trace_policy processor of node 'node' raised" in caplog.text
