"""Messages read back from a checkpoint are the messages that were stored.

The serializer rebuilds a stored langchain-core message without running pydantic
validation (data it wrote itself was validated when the message was made). These tests
compare what it rebuilds, for every message class and generated field values, with the
message as stored, with the same message rebuilt *with* validation from its stored
fields, and with pydantic's own ``model_construct``: equal, same type, same fields in
the same order, same fields set, same extras, same dump and repr, and the same
behaviour afterwards (assignment, copies, chunk addition, independent mutable
defaults). Crafted rows never build anything but a message class.
"""

from __future__ import annotations

import uuid
from typing import Any

import ormsgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    ChatMessageChunk,
    FunctionMessage,
    FunctionMessageChunk,
    HumanMessage,
    HumanMessageChunk,
    RemoveMessage,
    SystemMessage,
    SystemMessageChunk,
    ToolMessage,
    ToolMessageChunk,
)

from asyncgraph.checkpoint.serde import MsgpackSerde
from asyncgraph.checkpoint.serde._msgpack import MESSAGE, _construct

serde = MsgpackSerde()

_scalar = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8) \
    | st.floats(allow_nan=False)
_json = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_content = st.text(max_size=20) | st.lists(
    st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=10)}), max_size=2
)
_id = st.none() | st.uuids().map(str) | st.text(min_size=1, max_size=12)
_kwargs = st.dictionaries(st.text(min_size=1, max_size=6).filter(lambda k: not k.startswith("__")), _json,
                          max_size=3)
_tool_call = st.fixed_dictionaries({
    "name": st.text(min_size=1, max_size=6),
    "args": st.dictionaries(st.text(max_size=4), _json, max_size=2),
    "id": st.none() | st.text(min_size=1, max_size=6),
})
_invalid_call = st.fixed_dictionaries({
    "name": st.none() | st.text(max_size=6),
    "args": st.none() | st.text(max_size=6),
    "id": st.none() | st.text(max_size=6),
    "error": st.none() | st.text(max_size=6),
})
_usage = st.none() | st.builds(
    lambda i, o: {"input_tokens": i, "output_tokens": o, "total_tokens": i + o},
    st.integers(0, 1000), st.integers(0, 1000),
)
_call_chunk = st.fixed_dictionaries({
    "name": st.none() | st.text(max_size=6),
    "args": st.none() | st.text(max_size=6),
    "id": st.none() | st.text(max_size=6),
    "index": st.none() | st.integers(0, 5),
})
_extra = st.dictionaries(st.sampled_from(["custom", "x_extra", "tag"]), _json, max_size=2)


def _common(draw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"content": draw(_content)}
    for key, strategy in (("id", _id), ("name", st.none() | st.text(max_size=6)),
                          ("additional_kwargs", _kwargs), ("response_metadata", _kwargs)):
        if draw(st.booleans()):
            out[key] = draw(strategy)
    out.update(draw(_extra))
    return out


@st.composite
def messages(draw: Any) -> Any:
    cls = draw(st.sampled_from([
        HumanMessage, HumanMessageChunk, AIMessage, AIMessageChunk, SystemMessage,
        SystemMessageChunk, ToolMessage, ToolMessageChunk, FunctionMessage,
        FunctionMessageChunk, ChatMessage, ChatMessageChunk, RemoveMessage,
    ]))
    kw = _common(draw)
    if cls is RemoveMessage:
        return RemoveMessage(id=draw(st.text(min_size=1, max_size=8)))
    if cls in (AIMessage, AIMessageChunk):
        if cls is AIMessage and draw(st.booleans()):
            kw["tool_calls"] = draw(st.lists(_tool_call, max_size=2))
        if draw(st.booleans()):
            kw["invalid_tool_calls"] = draw(st.lists(_invalid_call, max_size=2))
        kw["usage_metadata"] = draw(_usage)
        if cls is AIMessageChunk and draw(st.booleans()):
            kw["tool_call_chunks"] = draw(st.lists(_call_chunk, max_size=2))
    if cls in (ToolMessage, ToolMessageChunk):
        kw["tool_call_id"] = draw(st.text(min_size=1, max_size=6))
        if draw(st.booleans()):
            kw["artifact"] = draw(_json)
        kw["status"] = draw(st.sampled_from(["success", "error"]))
    if cls in (FunctionMessage, FunctionMessageChunk):
        kw["name"] = draw(st.text(min_size=1, max_size=6))
    if cls in (ChatMessage, ChatMessageChunk):
        kw["role"] = draw(st.text(min_size=1, max_size=6))
    return cls(**kw)


def _same(a: Any, b: Any, *, stored: bool = False, text: bool = True) -> None:
    """``a`` and ``b`` are the same message, in every way a caller can see.

    ``stored``: ``b`` is the message as it was stored, ``a`` as read back. The encoding
    leaves out a field equal to its default, so such a field, set explicitly on ``b``,
    is not among ``a``'s fields set (an older property of the format, not of reading).
    ``text``: also the same repr and JSON (validation may reorder the keys of a nested
    dict, such as a chunk's tool calls, which == does not see).
    """
    assert type(a) is type(b)
    assert a == b
    assert list(a.__dict__) == list(b.__dict__)  # the declared field order
    assert a.__dict__ == b.__dict__
    if stored:
        assert a.model_fields_set <= b.model_fields_set
        fields = type(a).model_fields
        for name in b.model_fields_set - a.model_fields_set:
            field = fields[name]
            default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
            assert b.__dict__[name] == default, name
    else:
        assert a.model_fields_set == b.model_fields_set
    assert a.__pydantic_extra__ == b.__pydantic_extra__
    assert a.__pydantic_private__ == b.__pydantic_private__
    assert a.model_dump() == b.model_dump()
    if text:
        assert repr(a) == repr(b)
        assert a.model_dump_json() == b.model_dump_json()


def _validated(msg: Any) -> Any:
    """``msg`` rebuilt *with* pydantic validation from the fields it has set."""
    data = {k: v for k, v in msg.__dict__.items() if k in msg.model_fields_set}
    data.update(msg.__pydantic_extra__ or {})
    return type(msg).model_validate(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(msg=messages())
def test_a_rebuilt_message_is_the_stored_one_and_the_validated_one(msg: Any) -> None:
    back = serde.loads(serde.dumps(msg))
    _same(back, msg, stored=True)
    validated = _validated(msg)
    if validated == msg:  # (a chunk's validators derive tool calls again from its chunks)
        _same(back, validated, stored=True, text=False)
    # The generic rebuild (pydantic models) and pydantic's own model_construct agree.
    fields = {**msg.__dict__, **(msg.__pydantic_extra__ or {})}
    _same(back, _construct(type(msg), dict(fields), set(back.model_fields_set)))
    _same(back, type(msg).model_construct(_fields_set=set(back.model_fields_set), **fields))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(msg=messages())
def test_a_rebuilt_message_behaves_as_the_stored_one(msg: Any) -> None:
    data = serde.dumps([msg, msg])
    first, second = serde.loads(data)
    # No mutable value is shared between two rebuilt messages, or with the class.
    for name, value in first.__dict__.items():
        if isinstance(value, (dict, list)):
            assert value is not second.__dict__[name], name
    assert first.model_fields_set is not second.model_fields_set
    if isinstance(first.additional_kwargs, dict):
        first.additional_kwargs["changed"] = 1
        assert "changed" not in second.additional_kwargs
        assert "changed" not in serde.loads(data)[0].additional_kwargs
    # Assignment records the field as set, as on the original.
    second.name = "renamed"
    copy = msg.model_copy()
    copy.name = "renamed"
    _same(second, copy, stored=True)
    _same(serde.loads(data)[0].model_copy(update={"content": "new"}), msg.model_copy(update={"content": "new"}),
          stored=True)
    # Chunks add up the same.
    if type(msg).__name__.endswith("Chunk") and not isinstance(msg, ToolMessageChunk):
        back = serde.loads(serde.dumps(msg))
        _same(back + back, msg + msg, stored=True)


def test_tool_calls_of_a_rebuilt_message_are_usable_and_fresh() -> None:
    msg = AIMessage("", id=str(uuid.uuid4()), tool_calls=[{"name": "f", "args": {"q": [1]}, "id": "c1"}],
                    usage_metadata={"input_tokens": 1, "output_tokens": 2, "total_tokens": 3})
    a, b = serde.loads(serde.dumps([msg, msg]))
    _same(a, msg)
    a.tool_calls[0]["args"]["q"].append(2)
    assert b.tool_calls[0]["args"] == {"q": [1]}
    assert msg.tool_calls[0]["args"] == {"q": [1]}
    tool = ToolMessage("42", tool_call_id=a.tool_calls[0]["id"], artifact={"raw": 1}, status="error")
    _same(serde.loads(serde.dumps(tool)), tool)


def _row(code: Any, content: Any = "x", values: Any = None, msg_id: Any = None) -> bytes:
    payload = ormsgpack.packb([code, content, {} if values is None else values, msg_id],
                              option=ormsgpack.OPT_NON_STR_KEYS)
    return ormsgpack.packb(ormsgpack.Ext(MESSAGE, payload))


@pytest.mark.parametrize(
    "row",
    [
        _row(0), _row(99), _row(True), _row(1.0), _row("BaseModel"), _row("object"), _row("HumanMessage\x00"),
        _row(["HumanMessage"]), _row("Document"), _row("ChatPromptValue"),
        _row(1, values={"__class__": "x"}), _row(1, values={"__dict__": {}}), _row(1, values={1: "x"}),
        _row(1, values=["content"]), _row(1, values="x"), _row(1, values=1),
        _row(1, msg_id=b"short"),
        ormsgpack.packb(ormsgpack.Ext(MESSAGE, ormsgpack.packb([1, "x", {}]))),
        ormsgpack.packb(ormsgpack.Ext(MESSAGE, b"\xc1")),
    ],
)
def test_a_crafted_message_row_is_a_value_error(row: bytes) -> None:
    with pytest.raises(ValueError):
        serde.loads(row)


def test_a_crafted_row_builds_only_message_classes_and_allowed_values() -> None:
    # A field may hold only what any stored value may: a model outside the allowlist
    # comes back as its data, never as an instance of its class.
    inner = ormsgpack.Ext(11, ormsgpack.packb(["os", "system", {"x": 1}]))
    back = serde.loads(_row(1, values={"additional_kwargs": {"k": inner}, "custom": inner}))
    assert type(back) is HumanMessage
    assert type(back.additional_kwargs["k"]).__name__ == "StoredObject"
    assert back.__pydantic_extra__ is not None and type(back.__pydantic_extra__["custom"]).__name__ == "StoredObject"
    # An unknown stored field is kept as an extra, as pydantic's model_construct keeps it.
    back = serde.loads(_row(2, values={"surprise": [1]}, msg_id=uuid.UUID(int=5).bytes))
    assert type(back) is AIMessage and back.surprise == [1] and back.id == str(uuid.UUID(int=5))
    assert back.tool_calls == [] and "surprise" in back.model_fields_set
    # A required field left out stays missing, as with model_construct.
    back = serde.loads(_row(4))
    assert type(back) is ToolMessage and "tool_call_id" not in back.__dict__


def test_ids_read_back_are_the_stored_ones_on_every_read_and_after_the_cache_is_full() -> None:
    from asyncgraph.checkpoint.serde import _msgpack

    msgs = [HumanMessage(f"m{i}", id=str(uuid.UUID(int=i, version=4))) for i in range(50)]
    msgs.append(AIMessage("no id"))
    msgs.append(AIMessage("text id", id="run-1"))
    data = serde.dumps(msgs)
    first = serde.loads(data)
    again = serde.loads(data)  # ids now come from the read-back cache
    assert first == msgs and again == msgs
    assert [m.id for m in again] == [m.id for m in msgs]
    assert [m.model_fields_set for m in again] == [m.model_fields_set for m in msgs]
    _msgpack._UNPACKED_IDS.clear()
    _msgpack._UNPACKED_IDS.update({uuid.UUID(int=10**6 + i).bytes: "x" for i in range(_msgpack._PACKED_IDS_MAX)})
    assert serde.loads(data) == msgs  # a full cache is cleared, never serves a wrong id
    assert len(_msgpack._UNPACKED_IDS) <= _msgpack._PACKED_IDS_MAX


def test_slots_are_set_as_object_setattr_sets_them() -> None:
    from asyncgraph.checkpoint.serde._msgpack import _slot_setter

    class Plain:
        marker = "class attribute, not a descriptor"

    for name in ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__"):
        a, b = AIMessage.__new__(AIMessage), AIMessage.__new__(AIMessage)
        value: Any = {"content": "x"} if name == "__dict__" else None
        _slot_setter(AIMessage, name)(a, value)
        object.__setattr__(b, name, value)
        assert getattr(a, name) == getattr(b, name)
    p = Plain()
    _slot_setter(Plain, "marker")(p, 1)  # not a data descriptor: an instance attribute
    assert p.__dict__ == {"marker": 1} and Plain.marker != 1
