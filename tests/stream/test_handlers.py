"""The callback handlers behind v3's ``messages`` and ``tools`` events, driven directly
with LangGraph's ``(stream, subgraphs, parent_ns)`` shape (as an engine would attach them)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, LLMResult

from asyncgraph.stream._handlers import MessagesV3Handler, ToolsV3Handler, _tool_call_writer

META = {"langgraph_node": "agent", "langgraph_checkpoint_ns": "sub:1|agent:2"}


def test_model_call_streams_protocol_events_with_run_id_and_is_not_sent_twice() -> None:
    out: list[Any] = []
    h = MessagesV3Handler(out.append)
    run = uuid4()
    h.on_chat_model_start({}, [[]], run_id=run, metadata=META)
    h.on_llm_new_token("x", chunk=ChatGenerationChunk(message=AIMessageChunk("x")), run_id=run)  # v1: ignored
    h.on_stream_event({"event": "message-start", "message_id": "m-start"}, run_id=run)
    h.on_llm_end(LLMResult(generations=[[ChatGeneration(message=AIMessage("hi", id="m-final"))]]), run_id=run)
    assert len(out) == 1
    ns, mode, (event, meta) = out[0]
    assert (ns, mode, event["event"]) == (("sub:1",), "messages", "message-start")
    assert meta["run_id"] == str(run) and meta["langgraph_node"] == "agent"
    node = uuid4()  # the node then returns the streamed message: not sent again
    h.on_chain_start({}, {}, run_id=node, name="agent", metadata=META)
    h.on_chain_end({"messages": [AIMessage("hi", id="m-final")]}, run_id=node)
    assert len(out) == 1


def test_node_output_messages_are_sent_once_and_tool_results_never() -> None:
    out: list[Any] = []
    h = MessagesV3Handler(out.append)
    node = uuid4()
    h.on_chain_start({}, {"messages": [AIMessage("old", id="old")]}, run_id=node, name="agent", metadata=META)
    h.on_chain_end({"messages": [AIMessage("old", id="old"), AIMessage("new", id="new"),
                                 ToolMessage("r", tool_call_id="c")]}, run_id=node)
    assert [m.id for _, _, (m, _) in out] == ["new"]


def test_subgraphs_false_keeps_only_the_root_and_parent_ns() -> None:
    out: list[Any] = []
    h = MessagesV3Handler(out.append, subgraphs=False)
    run = uuid4()
    h.on_chat_model_start({}, [[]], run_id=run, metadata=META)
    h.on_llm_end(LLMResult(generations=[[ChatGeneration(message=AIMessage("x"))]]), run_id=run)
    assert out == []
    h = MessagesV3Handler(out.append, subgraphs=False, parent_ns=("sub:1",))
    h.on_chat_model_start({}, [[]], run_id=run, metadata=META)
    h.on_llm_end(LLMResult(generations=[[ChatGeneration(message=AIMessage("x"))]]), run_id=run)
    assert len(out) == 1


def test_tool_call_lifecycle_and_deltas() -> None:
    out: list[Any] = []
    h = ToolsV3Handler(out.append)
    ok, bad = uuid4(), uuid4()
    h.on_tool_start({"name": "add"}, "", run_id=ok, metadata=META, inputs={"a": 1}, tool_call_id="c1")
    writer = _tool_call_writer.get()
    assert writer is not None
    writer("partial")
    h.on_tool_end("3", run_id=ok)
    assert _tool_call_writer.get() is None
    h.on_tool_start({"name": "boom"}, "", run_id=bad, metadata=META, tool_call_id="c2")
    h.on_tool_error(ValueError("nope"), run_id=bad)
    assert [p for _, _, p in out] == [
        {"event": "tool-started", "tool_call_id": "c1", "tool_name": "add", "input": {"a": 1}},
        {"event": "tool-output-delta", "tool_call_id": "c1", "delta": "partial"},
        {"event": "tool-finished", "tool_call_id": "c1", "output": "3"},
        {"event": "tool-started", "tool_call_id": "c2", "tool_name": "boom"},
        {"event": "tool-error", "tool_call_id": "c2", "message": "nope"},
    ]
    assert {ns for ns, _, _ in out} == {("sub:1",)}


def test_an_interrupted_tool_is_paused_not_failed() -> None:
    from asyncgraph.errors import GraphInterrupt

    out: list[Any] = []
    h = ToolsV3Handler(out.append)
    run = uuid4()
    h.on_tool_start({"name": "ask"}, "", run_id=run, metadata=META, tool_call_id="c1")
    h.on_tool_error(GraphInterrupt(()), run_id=run)
    assert [p["event"] for _, _, p in out] == ["tool-started"]
