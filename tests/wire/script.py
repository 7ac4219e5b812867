"""What the fake provider servers answer, and what they record.

A *script* is a sequence of items, one consumed per model request:

- ``"Hello"`` or ``Text("Hello", tokens=("Hel", "lo"))``: an assistant text reply.
- ``ToolCall("get_weather", {"city": "Paris"})``: a reply that calls one tool.
- ``ToolCalls(ToolCall(...), ToolCall(...), text="Let me check.")``: several calls, with
  optional text before them.
- ``ErrorResponse(529)``: an HTTP error in the provider's own error format, or, with
  ``mid_stream=True``, an error event after a 200 stream has begun.

The items are provider neutral: the same script drives the Anthropic and the OpenAI
server, each rendering it in its own wire format. Items are recognised by their ``kind``
attribute rather than by ``isinstance``, because under pytest's importlib mode this
module can be imported under two names (``wire.script`` from the fixtures and
``tests.wire.script`` from a test elsewhere) and both copies must work with either server.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

__all__ = [
    "ErrorResponse",
    "RecordedRequest",
    "Reply",
    "Responder",
    "ScriptItem",
    "Text",
    "ToolCall",
    "ToolCalls",
    "as_reply",
    "routed",
    "split_json",
    "split_tokens",
]


@dataclass(frozen=True)
class Text:
    """An assistant text reply.

    Attributes:
        text: The whole reply.
        tokens: How the text is cut into stream deltas. Defaults to :func:`split_tokens`,
            one delta per word with its leading whitespace. Must join to ``text``.
        truncated: End the turn as if ``max_tokens`` was hit (Anthropic ``max_tokens``,
            OpenAI ``length``) instead of a normal end of turn.
    """

    text: str
    tokens: Sequence[str] | None = None
    truncated: bool = False
    kind: ClassVar[Literal["text"]] = "text"

    def __post_init__(self) -> None:
        if self.tokens is not None and "".join(self.tokens) != self.text:
            raise ValueError(f"tokens {list(self.tokens)!r} do not join to {self.text!r}")


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model makes.

    Attributes:
        name: The tool's name, as bound with ``bind_tools``.
        args: The arguments; sent as a JSON object, streamed in several fragments.
        id: The call id. When ``None`` the server makes one in the provider's format
            (``toolu_...`` for Anthropic, ``call_...`` for OpenAI).
    """

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None
    kind: ClassVar[Literal["tool_call"]] = "tool_call"


@dataclass(frozen=True, init=False)
class ToolCalls:
    """A reply that calls one or more tools, optionally after some text."""

    calls: tuple[ToolCall, ...]
    text: str
    kind: ClassVar[Literal["tool_calls"]] = "tool_calls"

    def __init__(self, *calls: ToolCall, text: str = "") -> None:
        if not calls:
            raise ValueError("ToolCalls needs at least one ToolCall")
        object.__setattr__(self, "calls", calls)
        object.__setattr__(self, "text", text)


@dataclass(frozen=True)
class ErrorResponse:
    """An error the provider returns instead of a reply.

    Attributes:
        status: HTTP status, e.g. 400, 429, 500, 529.
        message: Human-readable message; a provider-typical one when ``None``.
        type: Provider error type (``overloaded_error``, ``rate_limit_exceeded``...);
            derived from ``status`` when ``None``.
        headers: Extra response headers, e.g. ``{"retry-after-ms": "10"}`` to make an
            SDK retry quickly.
        mid_stream: For streaming requests only: answer 200, stream ``partial_text``,
            then send the provider's in-stream error event. Non-streaming requests get
            the plain HTTP error.
        partial_text: Text streamed before a mid-stream error.
    """

    status: int
    message: str | None = None
    type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    mid_stream: bool = False
    partial_text: str = ""
    kind: ClassVar[Literal["error"]] = "error"


ScriptItem = str | Text | ToolCall | ToolCalls | ErrorResponse
"""Anything a script may hold; a bare ``str`` means ``Text(str)``."""


@dataclass(frozen=True)
class Reply:
    """A successful reply, normalised from a script item; what the servers render."""

    text: str
    tokens: tuple[str, ...]
    tool_calls: tuple[ToolCall, ...]
    truncated: bool = False


def as_reply(item: object) -> Reply | ErrorResponse:
    """Normalise a script item.

    Raises:
        TypeError: ``item`` is not a script item.
    """
    if isinstance(item, str):
        return Reply(item, tuple(split_tokens(item)), ())
    kind = getattr(item, "kind", None)
    if kind == "text":
        tokens = item.tokens  # type: ignore[attr-defined]
        text = item.text  # type: ignore[attr-defined]
        return Reply(
            text,
            tuple(split_tokens(text) if tokens is None else tokens),
            (),
            truncated=item.truncated,  # type: ignore[attr-defined]
        )
    if kind == "tool_call":
        return Reply("", (), (item,))  # type: ignore[arg-type]
    if kind == "tool_calls":
        text = item.text  # type: ignore[attr-defined]
        return Reply(text, tuple(split_tokens(text)), tuple(item.calls))  # type: ignore[attr-defined]
    if kind == "error":
        return item  # type: ignore[return-value]
    raise TypeError(f"not a script item: {item!r}")


_WORD = re.compile(r"\s*\S+|\s+$")


def split_tokens(text: str) -> list[str]:
    """Cut text into stream deltas the way a tokenizer roughly would: one per word,
    each carrying its leading whitespace. ``"".join(split_tokens(t)) == t``."""
    return _WORD.findall(text)


def split_json(value: Mapping[str, Any], parts: int) -> list[str]:
    """Serialise ``value`` and cut the JSON text into ``parts`` fragments (fewer when the
    text is shorter), as providers stream tool arguments. Fragments cut through keys and
    strings, so a client must concatenate before parsing."""
    raw = json.dumps(value, separators=(",", ":"))
    parts = max(1, min(parts, len(raw)))
    size = -(-len(raw) // parts)
    return [raw[i : i + size] for i in range(0, len(raw), size)]


@dataclass
class RecordedRequest:
    """One HTTP request the server received, in arrival order.

    Attributes:
        index: Position in ``server.requests`` (0-based).
        method: ``"POST"`` for model calls.
        path: Request path, e.g. ``/v1/messages``.
        headers: Request headers, names lower-cased.
        body: The parsed JSON body, or ``None`` when it was not JSON.
        request_id: The id the server put in its response headers (``request-id`` /
            ``x-request-id``); SDK errors expose it as ``exc.request_id``.
        status: The HTTP status answered; set once the response has started.
        error: The error message answered, for rejected or scripted-error requests.
    """

    index: int
    method: str
    path: str
    headers: Mapping[str, str]
    body: Any
    request_id: str
    status: int | None = None
    error: str | None = None

    @property
    def stream(self) -> bool:
        """Whether the client asked for a streamed response."""
        return isinstance(self.body, dict) and bool(self.body.get("stream"))

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The ``messages`` array as sent (empty when absent)."""
        if isinstance(self.body, dict) and isinstance(self.body.get("messages"), list):
            return self.body["messages"]
        return []

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The ``tools`` array as sent (empty when absent)."""
        if isinstance(self.body, dict) and isinstance(self.body.get("tools"), list):
            return self.body["tools"]
        return []

    @property
    def first_user_text(self) -> str:
        """Text of the first user message: a natural key to tell concurrent
        conversations apart (see :func:`routed`)."""
        for message in self.messages:
            if message.get("role") == "user":
                return _text_of(message.get("content"))
        return ""


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            block.get("text", "") for block in content if isinstance(block, dict) and block.get("type") == "text"
        )
    return ""


Responder = Callable[[RecordedRequest], "ScriptItem | None"]
"""Chooses the answer to a request; ``None`` means "nothing scripted for this one",
which the server answers with a 500 and reports as a problem."""


def routed(
    key: Callable[[RecordedRequest], Hashable],
    scripts: Mapping[Hashable, Sequence[ScriptItem]],
) -> Responder:
    """A responder that keeps one script per conversation.

    Each request is mapped to a conversation with ``key`` (for example
    ``lambda r: r.first_user_text``) and gets the next item of that conversation's
    script, so concurrent runs get their own answers whatever order they arrive in.
    Thread safe.
    """
    queues = {name: deque(items) for name, items in scripts.items()}
    lock = threading.Lock()

    def respond(request: RecordedRequest) -> ScriptItem | None:
        with lock:
            queue = queues.get(key(request))
            return queue.popleft() if queue else None

    return respond
