"""Tool calls as live handles in a v3 run: ``run.tool_calls`` yields a
:class:`ToolCallStream` per call, fed by ``stream_mode="tools"`` events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from langchain_core.messages import ToolMessage

from asyncgraph.stream._types import ProtocolEvent, StreamTransformer
from asyncgraph.stream.stream_channel import StreamChannel

__all__ = ["ToolCallStream", "ToolCallTransformer"]


class ToolCallStream:
    """One tool call: ``tool_call_id``, ``tool_name``, ``input`` from its start;
    ``output_deltas`` (iterate it, or the handle) as the tool streams; then ``output``
    or ``error``, and ``completed``. Made by :class:`ToolCallTransformer`."""

    def __init__(self, tool_call_id: str, tool_name: str, input: dict[str, Any] | None = None) -> None:
        self.tool_call_id = tool_call_id
        self.tool_name = tool_name
        self.input = input
        self._output_deltas: StreamChannel[Any] = StreamChannel()
        self.output: Any = None
        self.error: str | None = None
        self.completed = False

    @property
    def output_deltas(self) -> StreamChannel[Any]:
        """The partial outputs the tool emitted, in order; closes when the call ends."""
        return self._output_deltas

    def _bind(self, *, is_async: bool) -> None:
        self._output_deltas._bind(is_async=is_async)

    def _push_delta(self, delta: Any) -> None:
        self._output_deltas.push(delta)

    def _finish(self, output: Any) -> None:
        self.output, self.completed = output, True
        self._output_deltas.close()

    def _fail(self, message: str) -> None:
        self.error, self.completed = message, True
        self._output_deltas.close()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._output_deltas)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._output_deltas.__aiter__()

    def __repr__(self) -> str:
        status = "running" if not self.completed else "failed" if self.error is not None else "completed"
        return f"ToolCallStream(tool_call_id={self.tool_call_id!r}, tool_name={self.tool_name!r}, status={status})"


def _tool_output(output: Any) -> Any:
    """A tool's result as its content: a ``ToolMessage`` (or its serialized form)
    gives its ``content``; anything else is returned as is."""
    if isinstance(output, ToolMessage):
        return output.content
    if (
        isinstance(output, dict)
        and output.get("type") == "constructor"
        and isinstance(output.get("id"), list)
        and output["id"][-1] == "ToolMessage"
        and isinstance(output.get("kwargs"), dict)
    ):
        return output["kwargs"].get("content")
    return output


class ToolCallTransformer(StreamTransformer):
    """``run.tool_calls``: a :class:`ToolCallStream` per tool call at the run's level.

    Not a built-in: register it with ``compile(transformers=[ToolCallTransformer])``
    (LangChain's ``create_agent`` does). The ``tools`` events stay in the raw log.
    """

    _native = True
    required_stream_modes = ("tools",)

    def __init__(self, scope: tuple[str, ...] = ()) -> None:
        super().__init__(scope)
        self._log: StreamChannel[ToolCallStream] = StreamChannel()
        self._active: dict[str, ToolCallStream] = {}
        self._is_async = False
        self._pump_fn: Callable[[], bool] | None = None
        self._apump_fn: Callable[[], Awaitable[bool]] | None = None

    def init(self) -> dict[str, Any]:
        return {"tool_calls": self._log}

    def _bind_pump(self, fn: Callable[[], bool]) -> None:
        self._pump_fn, self._is_async = fn, False

    def _bind_apump(self, fn: Callable[[], Awaitable[bool]]) -> None:
        self._apump_fn, self._is_async = fn, True

    def process(self, event: ProtocolEvent) -> bool:
        if event["method"] != "tools" or tuple(event["params"]["namespace"]) != self.scope:
            return True
        data = event["params"]["data"]
        call_id = data.get("tool_call_id")
        kind = data.get("event")
        if call_id is None:
            return True
        if kind == "tool-started":
            stream = ToolCallStream(call_id, data.get("tool_name", ""), data.get("input"))
            stream._bind(is_async=self._is_async)
            stream._output_deltas._request_more = self._pump_fn
            stream._output_deltas._arequest_more = self._apump_fn
            self._active[call_id] = stream
            self._log.push(stream)
        elif kind == "tool-output-delta":
            if call_id in self._active:
                self._active[call_id]._push_delta(data.get("delta"))
        elif kind == "tool-finished":
            if call_id in self._active:
                self._active.pop(call_id)._finish(_tool_output(data.get("output")))
        elif kind == "tool-error":
            if call_id in self._active:
                self._active.pop(call_id)._fail(data.get("message", ""))
        return True

    def finalize(self) -> None:
        for stream in self._active.values():
            stream._finish(None)
        self._active.clear()

    def fail(self, err: BaseException) -> None:
        for stream in self._active.values():
            stream._fail(str(err))
        self._active.clear()
