"""The ``messages`` state key: the ``add_messages`` reducer and ``MessagesState``.

``add_messages`` merges a node's message update into the conversation held in state.
It runs at every step of every agent run, so the common case (append a few new
messages to a list of messages that already carry ids) does one pass over the left
list and no per-message conversion.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from functools import partial
from operator import attrgetter
from typing import Annotated, Any, Literal, TypeAlias, cast, overload

from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    BaseMessageChunk,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    MessageLikeRepresentation,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
    convert_to_messages,
    convert_to_openai_messages,
    message_chunk_to_message,
)
from typing_extensions import TypedDict

from asyncgraph._ids import uuid4_str
from asyncgraph.graph.state import StateGraph
from asyncgraph.warnings import LangGraphDeprecatedSinceV10

__all__ = [
    "REMOVE_ALL_MESSAGES",
    "AnyMessage",
    "MessageGraph",
    "Messages",
    "MessagesState",
    "add_messages",
    "push_message",
]

REMOVE_ALL_MESSAGES = "__remove_all__"
"""Id for a ``RemoveMessage`` that drops every message before it.

``RemoveMessage(id=REMOVE_ALL_MESSAGES)`` in an update means: the new list is whatever
follows the last such marker in that update.
"""

Messages: TypeAlias = Sequence[MessageLikeRepresentation] | MessageLikeRepresentation
"""What either side of ``add_messages`` accepts: one message-like value or a list of them
(only a ``list`` is taken as several messages: a tuple is a ``(role, content)`` pair)."""

MessageFormat: TypeAlias = Literal["langchain-openai"]
_FORMATS: tuple[MessageFormat | None, ...] = ("langchain-openai", None)

# Concrete types known to be plain (non-chunk) messages. Checking ``type(m) in set``
# is a hash lookup; ``isinstance`` against pydantic's ABC-based metaclass is slower and
# runs once per message per step. Other message classes are added when first seen.
_PLAIN_TYPES: set[type] = {
    AIMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
}


_get_id = attrgetter("id")


def _as_message(value: Any) -> BaseMessage:
    """Coerce one message-like value (message, chunk, dict, tuple, str) to a message."""
    if isinstance(value, BaseMessage):
        if isinstance(value, BaseMessageChunk):
            return message_chunk_to_message(value)
        _PLAIN_TYPES.add(type(value))
        return value
    return convert_to_messages([value])[0]


def _coerce(value: Messages) -> tuple[list[BaseMessage], bool]:
    """Return ``value`` as a list of messages, each with an id.

    Messages missing an id get a fresh uuid4 string, set on the object itself (as
    LangGraph does; the object is then the one stored in state).

    Returns:
        ``(messages, had_ids)``. ``messages`` is ``value`` itself when it already was
        a list of plain messages, so the caller must not mutate it. ``had_ids`` is
        True when some message came with an id of its own (or is a
        ``RemoveMessage``), i.e. when it may refer to an existing message.
    """
    items: list[Any] = value if isinstance(value, list) else [value]
    # Fast path, the usual ``left``: a previous result, all plain messages with ids.
    # Both checks run at C speed (no Python frame per message).
    if _PLAIN_TYPES.issuperset(map(type, items)) and None not in map(_get_id, items):
        return items, bool(items)
    plain = _PLAIN_TYPES
    out: list[BaseMessage] | None = None
    had_ids = False
    for i, item in enumerate(items):
        msg: BaseMessage = item if type(item) in plain else _as_message(item)
        if msg is not item and out is None:
            out = items[:i]
        if msg.id is None:
            msg.id = uuid4_str()
        else:
            had_ids = True
        if out is not None:
            out.append(msg)
    return (items if out is None else out), had_ids


def _validate_format(format: str | None) -> None:
    if format not in _FORMATS:
        msg = f"Unknown message format {format!r}: use 'langchain-openai' or None."
        raise ValueError(msg)


def _to_openai_format(messages: list[BaseMessage]) -> list[BaseMessage]:
    # A round trip through OpenAI's dict shape normalizes content blocks (images
    # become image_url blocks, Anthropic tool_result blocks become ToolMessages).
    # Like LangGraph, this does not keep message ids.
    return convert_to_messages(convert_to_openai_messages(messages))


def _merge(left: Messages, right: Messages) -> tuple[list[BaseMessage], bool]:
    """Return the merged list, and whether a REMOVE_ALL_MESSAGES marker cleared it."""
    left_msgs, _ = _coerce(left)
    right_msgs, right_had_ids = _coerce(right)

    if not right_had_ids:
        # Every right message got a fresh uuid just now: none can match a left one,
        # and there is no RemoveMessage (those always carry an id).
        return left_msgs + right_msgs, False

    for k in range(len(right_msgs) - 1, -1, -1):
        msg = right_msgs[k]
        if msg.id == REMOVE_ALL_MESSAGES and isinstance(msg, RemoveMessage):
            # Everything before the last marker is dropped, unexamined.
            return right_msgs[k + 1 :], True

    merged = left_msgs.copy()
    # On duplicate ids in ``left`` the last one wins, so an update replaces the last.
    position = dict(zip(map(_get_id, merged), range(len(merged))))
    removed: set[str] = set()
    for msg in right_msgs:
        msg_id = cast(str, msg.id)
        i = position.get(msg_id)
        if i is None:
            if isinstance(msg, RemoveMessage):
                # The opening words are LangGraph's, for code that matches on them.
                err = (
                    f"Attempting to delete a message with an ID that doesn't exist ({msg_id!r}): "
                    f"RemoveMessage(id={msg_id!r}) names no message in the list."
                )
                raise ValueError(err)
            position[msg_id] = len(merged)
            merged.append(msg)
        elif isinstance(msg, RemoveMessage):
            removed.add(msg_id)
        else:
            # A later message with a removed id brings it back, in place.
            removed.discard(msg_id)
            merged[i] = msg
    if removed:
        merged = [m for m in merged if m.id not in removed]
    return merged, False


@overload
def add_messages(
    left: Messages,
    right: Messages,
    *,
    format: MessageFormat | None = None,
) -> list[BaseMessage]: ...


@overload
def add_messages(
    left: None = None,
    right: None = None,
    *,
    format: MessageFormat | None = None,
) -> Callable[[Messages, Messages], list[BaseMessage]]: ...


def add_messages(
    left: Messages | None = None,
    right: Messages | None = None,
    *,
    format: MessageFormat | None = None,
) -> list[BaseMessage] | Callable[[Messages, Messages], list[BaseMessage]]:
    """Merge a message update (``right``) into a list of messages (``left``).

    The reducer of a ``messages`` state key: ``Annotated[list, add_messages]``.
    Called with neither ``left`` nor ``right`` (``add_messages(format=...)``) it
    returns the reducer with that option bound.

    Rules, applied in this order:

    1. Both sides are coerced to messages: one value or a list of values, each a
       message, message chunk (converted to its message), dict, ``(role, content)``
       tuple or string (a ``HumanMessage``).
    2. A message without an id gets a fresh uuid4 string as id. The id is set on the
       message object itself, on both sides.
    3. If ``right`` holds ``RemoveMessage(id=REMOVE_ALL_MESSAGES)``, the result is the
       messages after the last such marker, taken as they are.
    4. Otherwise ``right`` is walked in order: a message whose id is already in the
       list replaces that message in place; ``RemoveMessage(id=x)`` marks ``x`` for
       removal (a later message with id ``x`` brings it back); any other message is
       appended.

    Args:
        left: The current messages. Not mutated, though messages in it that lack an
            id get one.
        right: The update.
        format: ``"langchain-openai"`` to return messages whose content is normalized
            to OpenAI's shape (text / ``image_url`` blocks, tool results as
            ``ToolMessage``). As in LangGraph, the reformatted messages carry no ids.
            Not applied when step 3 cleared the list.

    Returns:
        A new list; ``left`` and ``right`` are left as they were.

    Raises:
        ValueError: only one of ``left`` / ``right`` was given; a ``RemoveMessage``
            names an id that is not in the list; ``format`` is unknown.
        NotImplementedError: a value cannot be coerced to a message (from
            langchain-core).
    """
    if left is None and right is None:
        _validate_format(format)
        if format is None:
            return cast(Callable[[Messages, Messages], list[BaseMessage]], add_messages)
        return partial(add_messages, format=format)
    if left is None or right is None:
        missing = "left" if left is None else "right"
        msg = (
            f"add_messages() got no {missing!r} argument: pass both 'left' and "
            "'right', or neither to get a reducer with options bound."
        )
        raise ValueError(msg)

    merged, cleared = _merge(left, right)
    if format is None or cleared:
        return merged
    _validate_format(format)
    return _to_openai_format(merged)


def _messages_delta_reducer(state: list[AnyMessage], writes: list[Any]) -> list[AnyMessage]:
    """A batch reducer of messages for :class:`~asyncgraph.channels.delta.DeltaChannel`
    (experimental, as in LangGraph): ``Annotated[list, DeltaChannel(_messages_delta_reducer)]``.

    ``writes`` are one or more steps' writes; each is a list of message-likes or one
    message-like (message, dict, str, tuple). In order: a message with the id of a
    message in the list replaces it in place, a ``RemoveMessage`` drops the message
    with its id (an unknown id is ignored), anything else is appended (a message with
    no id keeps none). Folding writes in one call or in several gives the same list.

    Lighter than :func:`add_messages`: no ``REMOVE_ALL_MESSAGES``, no error for an
    unknown removal id, no ids made up, chunks are not converted.
    """
    flat: list[Any] = []
    for w in writes:
        if isinstance(w, list):
            flat.extend(w)
        else:
            flat.append(w)
    current: list[Any] = list(state) if state and isinstance(state[0], BaseMessage) else convert_to_messages(state or [])
    position = {m.id: i for i, m in enumerate(current) if m.id is not None}
    for msg in convert_to_messages(flat):
        mid = msg.id
        if mid is None:
            current.append(msg)
        elif isinstance(msg, RemoveMessage):
            i = position.pop(mid, None)
            if i is not None:
                current[i] = None
        elif mid in position:
            current[position[mid]] = msg
        else:
            position[mid] = len(current)
            current.append(msg)
    return [m for m in current if m is not None]


class MessagesState(TypedDict):
    """A state with one key, ``messages``, merged with ``add_messages``."""

    messages: Annotated[list[AnyMessage], add_messages]


class MessageGraph(StateGraph):
    """Deprecated (warns): a graph whose whole state is one list of messages.

    Nodes take the list and return a message or a list of them, merged with
    :func:`add_messages`; ``invoke`` takes and returns the list. Use a
    ``StateGraph(MessagesState)`` (a ``messages`` key) instead.
    """

    def __init__(self) -> None:
        warnings.warn(
            "MessageGraph is deprecated in LangGraph v1.0.0, to be removed in v2.0.0. Please use "
            "StateGraph with a `messages` key instead.",
            LangGraphDeprecatedSinceV10,
            stacklevel=2,
        )
        super().__init__(Annotated[list[AnyMessage], add_messages])  # type: ignore[arg-type]


def push_message(message: MessageLikeRepresentation | BaseMessageChunk, *, state_key: str | None = "messages") -> AnyMessage:
    """Send ``message`` from inside a node: it is streamed at once in ``messages`` mode
    (as a chat model's message would be) and, unless ``state_key`` is None, written to
    that state key with the node's other writes at the end of the step.

    Returns the message (converted to a message object).

    Raises:
        ValueError: the message has no ``id`` (the stream and the reducer need one).
        RuntimeError: called outside a running node.
    """
    from asyncgraph._context import current_task
    from asyncgraph.pregel._stream import push_message as stream_message

    tc = current_task.get()
    if tc is None:
        raise RuntimeError("push_message() was called outside of a running graph node")
    msg = convert_to_messages([message])[0]
    if msg.id is None:
        raise ValueError("Message ID is required")
    stream_message(tc, msg)
    if state_key:
        tc.writes.append((state_key, msg))
    return cast(AnyMessage, msg)
