"""The checkpoint serializer: exact round trips, an allowlist, and clear errors."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import decimal
import enum
import pickle
import uuid
import zoneinfo
from typing import Any, ClassVar, NamedTuple

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    HumanMessageChunk,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
    ToolMessageChunk,
)

from asyncgraph.checkpoint.serde import Allowlist, MsgpackSerde, StoredError, StoredObject, allow
from asyncgraph.types import Command, Interrupt, Send


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: tuple[int, ...] = ()


class Pair(NamedTuple):
    a: Any
    b: Any


class Profile(pydantic.BaseModel):
    name: str
    tags: list[str] = []
    when: dt.datetime | None = None


class Unregistered(pydantic.BaseModel):
    a: int


allow(Color, Level, Point, Pair, Profile)


def roundtrip(value: Any) -> Any:
    serde = MsgpackSerde()
    return serde.loads(serde.dumps(value))


MESSAGES = [
    HumanMessage("hi", id="8c0f3e7e-8b3f-4c83-9d3a-1f4e7c9b2a10", name="ann"),
    HumanMessage([{"type": "text", "text": "blocks"}], id="not-a-uuid"),
    AIMessage(
        "calling",
        id="run-1",
        tool_calls=[{"name": "search", "args": {"q": "x", "n": 2}, "id": "call_1"}],
        additional_kwargs={"refusal": None},
        response_metadata={"model": "m", "stop": "tool_calls"},
        usage_metadata={"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
    ),
    AIMessageChunk("par", id="c1", tool_call_chunks=[{"name": "f", "args": "{", "id": "1", "index": 0}]),
    HumanMessageChunk("h"),
    ToolMessage("42", tool_call_id="call_1", status="error", artifact={"raw": [1]}),
    ToolMessageChunk("4", tool_call_id="call_1"),
    SystemMessage("be brief"),
    FunctionMessage("f()", name="f"),
    ChatMessage("x", role="critic"),
    RemoveMessage(id="m1"),
    AIMessage("no id"),
    AIMessage("extra field", custom_extra=[1, 2]),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_class_round_trips_with_its_type(message: Any) -> None:
    back = roundtrip(message)
    assert type(back) is type(message)
    assert back == message
    assert back.id == message.id
    assert back.model_dump() == message.model_dump()


def test_reading_messages_back_keeps_tool_calls_usable() -> None:
    back = roundtrip(MESSAGES[2])
    assert back.tool_calls[0]["args"] == {"q": "x", "n": 2}
    assert back.usage_metadata["total_tokens"] == 3


@pytest.mark.parametrize(
    "value",
    [
        (1, (2, "3")),
        {1, 2},
        frozenset({"a"}),
        b"\x00bytes",
        dt.datetime(2024, 3, 31, 2, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
        dt.datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
        dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=-3, minutes=-30))),
        dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1), "CET")),
        dt.datetime(2024, 1, 1, 12, 0, 0, 123456),
        dt.date(1999, 12, 31),
        dt.time(23, 59, 59, 1, tzinfo=dt.timezone.utc),
        dt.timedelta(days=-2, microseconds=5),
        uuid.uuid4(),
        decimal.Decimal("-1.2300"),
        2**100,
        Color.RED,
        Level.HIGH,
        Point(1, (2, 3)),
        Pair(a=(1,), b={"k": {1, 2}}),
        Profile(name="p", when=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)),
        Send("node", {"arg": (1, 2)}),
        Interrupt({"question": "ok?"}, id="i1"),
        Command(resume={"i1": "yes"}, goto=[Send("a", 1)], update={"x": 1}),
        {(1, 2): "tuple key", 3: "int key", None: "none key"},
    ],
    ids=repr,
)
def test_types_round_trip_exactly(value: Any) -> None:
    back = roundtrip(value)
    assert type(back) is type(value)
    assert back == value
    if isinstance(value, (dt.datetime, dt.time)):
        assert back.tzinfo == value.tzinfo and back.fold == value.fold
        assert back.utcoffset() == value.utcoffset()


def test_pydantic_round_trip_keeps_fields_set() -> None:
    p = Profile(name="x")
    back = roundtrip(p)
    assert back.model_fields_set == {"name"}
    assert back.model_dump(exclude_unset=True) == {"name": "x"}


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    | st.binary() | st.datetimes(timezones=st.none() | st.timezones()) | st.uuids()
    | st.decimals(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    | st.frozensets(st.integers() | st.text(), max_size=3),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(json_like)
def test_arbitrary_nested_values_round_trip(value: Any) -> None:
    back = roundtrip(value)
    assert back == value
    assert repr(type(back)) == repr(type(value))


def test_an_unknown_type_is_a_type_error_naming_it() -> None:
    class Opaque:
        pass

    with pytest.raises(TypeError, match="Opaque"):
        MsgpackSerde().dumps({"a": [Opaque()]})


def test_an_encoder_for_one_save_makes_the_bytes_dumps_makes_and_its_errors() -> None:
    """``encoder()`` encodes an object met again in the same save once; what it returns
    is byte for byte what ``dumps`` returns, value by value, and it fails as ``dumps``."""
    serde = MsgpackSerde()
    msg = AIMessage(content="hi", id="m1", tool_calls=[{"name": "f", "args": {"q": 1}, "id": "c1"}])
    human = HumanMessage(content="q", id="11111111-2222-4333-8444-555555555555")
    values = [
        [human, msg],
        [msg],
        {"state": {"messages": [human, msg]}, "send": Send("tools", {"m": msg})},
        (msg, msg, (1, 2)),
        None, 3, "text", 2**70, dt.date(2026, 1, 2),
    ]
    dumps = serde.encoder()
    assert [dumps(v) for v in values] == [serde.dumps(v) for v in values]

    class Opaque:
        pass

    with pytest.raises(TypeError, match="Opaque"):
        dumps([msg, Opaque()])
    assert dumps([msg]) == serde.dumps([msg])  # usable after an error


def test_each_encoder_sees_objects_as_they_are_now() -> None:
    """A new save's encoder encodes a message changed in place since the last save
    afresh (what a saver makes one encoder per checkpoint for)."""
    serde = MsgpackSerde()
    msg = AIMessage(content="", id="m1", tool_calls=[{"name": "f", "args": {"q": 1}, "id": "c1"}])
    first = serde.encoder()([msg])
    msg.tool_calls[0]["args"]["q"] = 2
    msg.additional_kwargs["edited"] = True
    second = serde.encoder()([msg])
    assert serde.loads(first)[0].tool_calls[0]["args"] == {"q": 1}
    back = serde.loads(second)[0]
    assert back.tool_calls[0]["args"] == {"q": 2}
    assert back.additional_kwargs == {"edited": True}


def test_an_unallowed_class_is_stored_with_a_warning_and_read_back_as_its_data(
    caplog: pytest.LogCaptureFixture,
) -> None:
    serde = MsgpackSerde()
    data = serde.dumps([Unregistered(a=1), Unregistered(a=2)])
    assert caplog.text.count("Storing unregistered type") == 1  # once per class
    assert "allow(Unregistered)" in caplog.text
    assert serde.loads(data) == [{"a": 1}, {"a": 2}]
    assert caplog.text.count(f"Blocked deserialization of {__name__}.Unregistered") == 1
    private = MsgpackSerde(allowlist=Allowlist([Unregistered]))
    assert private.loads(data) == [Unregistered(a=1), Unregistered(a=2)]


class _Counted(pydantic.BaseModel):
    """Counts how often Pydantic builds it (a stand-in must never build it)."""

    name: str
    n: int = 3
    built: ClassVar[list[int]] = []

    def model_post_init(self, context: Any) -> None:
        _Counted.built.append(1)


@dataclasses.dataclass
class _Spot:
    x: int
    tags: list[str] = dataclasses.field(default_factory=list)


def test_an_unallowed_model_reads_back_as_a_stand_in_equal_to_the_original() -> None:
    # As LangGraph's default serializer, the value read back equals the one stored, but
    # the class is never imported or built: a StoredObject holds its stored fields.
    serde = MsgpackSerde()
    model, spot = _Counted(name="a"), _Spot(1, ["t"])
    built = len(_Counted.built)
    back = serde.loads(serde.dumps({"m": model, "s": spot}))
    assert len(_Counted.built) == built
    m, sp = back["m"], back["s"]
    assert type(m) is StoredObject and m.type_name == f"{__name__}._Counted"
    assert m == model and model == m and m == _Counted(name="a", n=3)  # n: its default
    assert m != _Counted(name="a", n=4) and m != _Counted(name="b")
    assert sp == spot and sp != _Spot(1, ["u"]) and sp != Point(1, 2)
    assert m == {"name": "a"} and m.name == "a" and m["name"] == "a"  # still its data
    with pytest.raises(AttributeError, match="no field 'n'"):
        m.n  # noqa: B018  (a field stored without a value is not made up)
    # Stored again, it is the original class's record: once allowed, the class itself.
    again = serde.dumps({"m": m, "s": sp})
    assert serde.loads(again) == {"m": model, "s": spot}
    allowed = MsgpackSerde(allowlist=Allowlist([_Counted, _Spot]))
    assert allowed.loads(again) == {"m": model, "s": spot}
    assert type(allowed.loads(again)["m"]) is _Counted
    assert copy.deepcopy(m) == model and pickle.loads(pickle.dumps(m)) == model


def test_a_strict_serializer_refuses_an_unallowed_class_at_write_with_the_fix() -> None:
    with pytest.raises(TypeError, match=r"allow\(Unregistered\)"):
        MsgpackSerde(strict=True).dumps(Unregistered(a=1))


def test_reading_a_class_outside_the_allowlist_never_imports_it(caplog: pytest.LogCaptureFixture) -> None:
    permissive = MsgpackSerde(allowlist=Allowlist(["os"]))

    @dataclasses.dataclass
    class Fake:
        arg: str

    Fake.__module__, Fake.__qualname__ = "os", "system"
    data = permissive.dumps(Fake("ls"))
    with pytest.raises(ValueError, match="not in the checkpoint serializer's allowlist"):
        MsgpackSerde(allowlist=Allowlist(), strict=True).loads(data)
    assert MsgpackSerde(allowlist=Allowlist()).loads(data) == {"arg": "ls"}
    assert "Blocked deserialization of os.system" in caplog.text


def test_exceptions_read_back_as_themselves_or_as_stored_error() -> None:
    back = roundtrip(ValueError("bad", 3))
    assert type(back) is ValueError and back.args == ("bad", 3)

    class Custom(Exception):
        pass

    stored = roundtrip(Custom("no allowlist entry"))
    assert isinstance(stored, StoredError)
    assert stored.type_name.endswith("Custom") and stored.message == "no allowlist entry"


def test_corrupt_data_is_a_value_error() -> None:
    serde = MsgpackSerde()
    data = serde.dumps([HumanMessage("x" * 50)])
    with pytest.raises(ValueError):
        serde.loads(data[:-10])
    with pytest.raises(ValueError, match="unknown type code 99"):
        serde.loads(b"\xd4\x63\x00")  # fixext1 with code 99


def test_unsupported_timezone_is_refused_not_converted() -> None:
    class Odd(dt.tzinfo):
        def utcoffset(self, d: Any) -> dt.timedelta:
            return dt.timedelta(hours=1)

    with pytest.raises(TypeError, match="tzinfo"):
        MsgpackSerde().dumps(dt.datetime(2020, 1, 1, tzinfo=Odd()))


def test_a_dataclass_stored_before_a_field_was_added_reads_back_with_its_default() -> None:
    import dataclasses

    from asyncgraph.checkpoint.serde import MsgpackSerde
    from asyncgraph.types import Interrupt

    # What an older asyncgraph stored: an Interrupt without ``response_schema``.
    @dataclasses.dataclass
    class OldInterrupt:
        value: object
        id: str = ""

    OldInterrupt.__module__, OldInterrupt.__qualname__ = Interrupt.__module__, Interrupt.__qualname__
    serde = MsgpackSerde()
    restored = serde.loads_typed(serde.dumps_typed(OldInterrupt(value="v", id="i")))
    assert type(restored) is Interrupt
    assert restored == Interrupt(value="v", id="i")
    assert restored.response_schema is None


# -- the trusted set -------------------------------------------------------------------


def test_documents_and_own_types_round_trip_without_registration() -> None:
    from langchain_core.documents import Document

    from asyncgraph.errors import GraphRecursionError
    from asyncgraph.types import Overwrite

    doc = Document("text", metadata={"source": "a", "page": 2}, id="d1")
    back = roundtrip([doc, Overwrite([1])])
    assert type(back[0]) is Document and back[0] == doc
    assert back[1] == Overwrite([1])
    original = GraphRecursionError(25)
    original.add_note("in step 25")
    err = roundtrip(original)
    assert type(err) is GraphRecursionError and str(err) == str(original)
    assert err.__notes__ == ["in step 25"]


def test_exceptions_come_back_with_their_attributes_without_init() -> None:
    from asyncgraph.errors import NodeTimeoutError

    err = roundtrip(NodeTimeoutError("fetch", 1.5, attempts=3))
    assert type(err) is NodeTimeoutError
    assert (err.node, err.timeout, err.attempts) == ("fetch", 1.5, 3)
    assert str(err) == str(NodeTimeoutError("fetch", 1.5, attempts=3))


def test_other_langchain_core_classes_are_not_trusted() -> None:
    from langchain_core.outputs import ChatGeneration

    with pytest.raises(TypeError, match=r"allow\(ChatGeneration\)"):
        MsgpackSerde(strict=True).dumps(ChatGeneration(message=AIMessage("x")))
    serde = MsgpackSerde()
    back = serde.loads(serde.dumps(ChatGeneration(message=AIMessage("x"))))
    assert type(back) is StoredObject and back["message"] == AIMessage("x")


def test_every_trusted_name_resolves_to_its_class() -> None:
    from asyncgraph.checkpoint.serde._allow import import_class, trusted_classes

    trusted = trusted_classes()
    assert ("langchain_core.documents.base", "Document") in trusted
    assert ("asyncgraph.types", "Interrupt") in trusted
    assert not any(m.startswith("langchain_core.callbacks") for m, _ in trusted)
    for (module, qualname), cls in trusted.items():
        assert (cls.__module__, cls.__qualname__) == (module, qualname)
        assert import_class(module, qualname) is cls


def test_stored_error_keeps_the_original_class_name() -> None:
    back = roundtrip(StoredError("myapp.errors.Boom", "it broke"))
    assert type(back) is StoredError
    assert (back.type_name, back.message) == ("myapp.errors.Boom", "it broke")


class Tags(dict[str, int]):
    pass


class Name(str):
    pass


allow(Tags, Name)


def test_builtin_subclasses_round_trip_with_their_class() -> None:
    import collections

    values = [
        Tags(a=1), Name("n"), collections.OrderedDict([("b", 1), ("a", 2)]),
        collections.Counter("hello"),
    ]
    back = roundtrip(values)
    assert [type(v) for v in back] == [type(v) for v in values]
    assert back == values
    assert list(back[2]) == ["b", "a"]


# -- registering classes ---------------------------------------------------------------


class ByName(pydantic.BaseModel):
    v: int = 0


def test_a_class_can_be_allowed_by_module_and_qualname() -> None:
    serde = MsgpackSerde(allowlist=Allowlist([(__name__, "ByName")]))
    assert serde.loads(serde.dumps(ByName(v=2))) == ByName(v=2)


def test_allow_rejects_what_it_cannot_use() -> None:
    for bad in [3, ("only-one",), ("a b", "c"), "", None]:
        with pytest.raises(TypeError, match="allow"):
            Allowlist([bad])  # type: ignore[list-item]


# -- LangGraph's serializer API --------------------------------------------------------


def test_json_plus_serializer_uses_langgraph_type_tags() -> None:
    from asyncgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    serde = JsonPlusSerializer()
    assert serde.dumps_typed(None) == ("null", b"")
    assert serde.dumps_typed(b"raw") == ("bytes", b"raw")
    assert serde.loads_typed(serde.dumps_typed(bytearray(b"x"))) == bytearray(b"x")
    value = {"m": [HumanMessage("hi", id="1")], "p": Point(1)}
    tag, data = serde.dumps_typed(value)
    assert tag == "msgpack" and serde.loads_typed((tag, data)) == value
    assert serde.loads(serde.dumps(value)) == value  # the savers' untyped calls


def test_json_plus_serializer_never_pickles() -> None:
    import pickle

    from asyncgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    with pytest.raises(ValueError, match="never pickles"):
        JsonPlusSerializer(pickle_fallback=True)
    with pytest.raises(ValueError, match="never unpickles"):
        JsonPlusSerializer().loads_typed(("pickle", pickle.dumps(1)))
    with pytest.raises(ValueError, match="malformed JSON"):
        JsonPlusSerializer().loads_typed(("json", b"{"))
    # LangGraph's "rebuild any class" mode: the process-wide allowlist, nothing more.
    assert JsonPlusSerializer(allowed_msgpack_modules=True).allowlist is JsonPlusSerializer().allowlist


def test_json_plus_serializer_maps_allowed_msgpack_modules() -> None:
    from asyncgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    # None: LangGraph's strict mode, the built-in trusted set only.
    strict = JsonPlusSerializer(allowed_msgpack_modules=None)
    assert strict.loads(strict.dumps([HumanMessage("x")])) == [HumanMessage("x")]
    # registered process-wide, but not for this serializer: blocked, read as its data
    assert strict.loads(strict.dumps(Point(1))) == {"x": 1, "y": ()}
    with pytest.raises(TypeError, match="Point"):
        JsonPlusSerializer(allowed_msgpack_modules=None, strict=True).dumps(Point(1))
    listed = JsonPlusSerializer(allowed_msgpack_modules=[Unregistered, (__name__, "ByName")])
    both = [Unregistered(a=1), ByName(v=1), Point(2)]
    assert listed.loads(listed.dumps(both)) == both
    with pytest.raises(TypeError, match="Unregistered"):
        JsonPlusSerializer(strict=True).dumps(Unregistered(a=1))
    wider = JsonPlusSerializer(strict=True).with_msgpack_allowlist([Unregistered])
    assert wider.loads(wider.dumps(Unregistered(a=3))) == Unregistered(a=3)
    assert wider.with_msgpack_allowlist([Unregistered]) is wider
    assert wider.strict


def test_serializer_compat_adds_typed_methods() -> None:
    from asyncgraph.checkpoint.serde.base import (
        SerializerCompat,
        SerializerProtocol,
        maybe_add_typed_methods,
    )

    serde = MsgpackSerde()
    assert maybe_add_typed_methods(serde) is serde

    class Untyped:
        def dumps(self, obj: Any) -> bytes:
            return repr(obj).encode()

        def loads(self, data: bytes) -> Any:
            return data.decode()

    wrapped = maybe_add_typed_methods(Untyped())
    assert isinstance(wrapped, SerializerCompat) and isinstance(wrapped, SerializerProtocol)
    assert wrapped.loads_typed(wrapped.dumps_typed(12)) == "12"


AES_KEY = b"0123456789abcdef"


def test_encrypted_serializer_round_trips_and_hides_the_data() -> None:
    from asyncgraph.checkpoint.serde.encrypted import EncryptedSerializer

    serde = EncryptedSerializer.from_pycryptodome_aes(key=AES_KEY)
    value = {"secret": "TOPSECRET", "m": HumanMessage("hi", id="1")}
    tag, data = serde.dumps_typed(value)
    assert tag == "msgpack+aes" and b"TOPSECRET" not in data
    assert serde.loads_typed((tag, data)) == value
    raw = serde.dumps(value)
    assert b"TOPSECRET" not in raw and serde.loads(raw) == value
    assert serde.loads_typed(serde.dumps_typed(None)) is None


def test_encrypted_serializer_refuses_tampered_data_and_wrong_keys() -> None:
    from asyncgraph.checkpoint.serde.encrypted import EncryptedSerializer

    serde = EncryptedSerializer.from_pycryptodome_aes(key=AES_KEY)
    tag, data = serde.dumps_typed({"a": 1})
    flipped = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(ValueError, match="MAC"):
        serde.loads_typed((tag, flipped))
    other = EncryptedSerializer.from_pycryptodome_aes(key=b"f" * 32)
    with pytest.raises(ValueError, match="MAC"):
        other.loads_typed((tag, data))


def test_encrypted_serializer_reads_plaintext_written_before_unless_told_not_to() -> None:
    from asyncgraph.checkpoint.serde.encrypted import EncryptedSerializer

    plain = MsgpackSerde()
    serde = EncryptedSerializer.from_pycryptodome_aes(key=AES_KEY)
    assert serde.loads(plain.dumps({"old": 1})) == {"old": 1}
    assert serde.loads_typed(plain.dumps_typed({"old": 1})) == {"old": 1}
    strict = EncryptedSerializer(serde.cipher, allow_plaintext=False)
    with pytest.raises(ValueError, match="unencrypted"):
        strict.loads(plain.dumps({"old": 1}))
    assert strict.loads(strict.dumps({"new": 1})) == {"new": 1}


def test_encrypted_serializer_key_from_the_environment_and_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from Crypto.Cipher import AES

    from asyncgraph.checkpoint.serde.encrypted import EncryptedSerializer

    monkeypatch.delenv("ASYNCGRAPH_AES_KEY", raising=False)
    monkeypatch.delenv("LANGGRAPH_AES_KEY", raising=False)
    with pytest.raises(ValueError, match="no AES key"):
        EncryptedSerializer.from_pycryptodome_aes()
    monkeypatch.setenv("LANGGRAPH_AES_KEY", "k" * 24)
    env = EncryptedSerializer.from_pycryptodome_aes()
    assert EncryptedSerializer.from_pycryptodome_aes(key=b"k" * 24).loads(env.dumps(5)) == 5
    with pytest.raises(ValueError, match="16, 24 or 32"):
        EncryptedSerializer.from_pycryptodome_aes(key=b"short")
    with pytest.raises(ValueError, match="authenticated"):
        EncryptedSerializer.from_pycryptodome_aes(key=AES_KEY, mode=AES.MODE_CBC)
    gcm = EncryptedSerializer.from_pycryptodome_aes(key=AES_KEY, mode=AES.MODE_GCM)
    assert gcm.loads(gcm.dumps([1, 2])) == [1, 2]


def test_a_saver_with_the_encrypted_serializer_stores_no_plaintext(tmp_path: Any) -> None:
    from typing import TypedDict

    from asyncgraph.checkpoint.serde.encrypted import EncryptedSerializer
    from asyncgraph.checkpoint.sqlite import SqliteSaver
    from asyncgraph.graph import START, StateGraph

    class State(TypedDict):
        text: str

    builder = StateGraph(State)
    builder.add_node("a", lambda s: {"text": s["text"] + " CONFIDENTIAL"})
    builder.add_edge(START, "a")
    path = tmp_path / "enc.db"
    serde = EncryptedSerializer.from_pycryptodome_aes(key=AES_KEY)
    config = {"configurable": {"thread_id": "t"}}
    with SqliteSaver.from_conn_string(str(path), serde=serde) as saver:
        graph = builder.compile(checkpointer=saver)
        assert graph.invoke({"text": "PRIVATE"}, config) == {"text": "PRIVATE CONFIDENTIAL"}
        assert graph.get_state(config).values == {"text": "PRIVATE CONFIDENTIAL"}
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"PRIVATE" not in stored and b"CONFIDENTIAL" not in stored


class Versioned(NamedTuple):
    a: Any
    b: Any = "added later"


class Loud(Exception):
    def __init__(self, *args: Any) -> None:
        raise AssertionError("__init__ must not run when reading")


allow(Versioned, Loud)


def test_a_named_tuple_stored_before_a_field_was_added_reads_back_with_its_default() -> None:
    import ormsgpack

    old = ormsgpack.packb(ormsgpack.Ext(13, ormsgpack.packb([__name__, "Versioned", [1]])))
    assert MsgpackSerde().loads(old) == Versioned(1, "added later")
    too_long = ormsgpack.packb(ormsgpack.Ext(13, ormsgpack.packb([__name__, "Versioned", [1, 2, 3]])))
    with pytest.raises(ValueError, match="3 items for 2 fields"):
        MsgpackSerde().loads(too_long)


def test_stored_exceptions_of_allowed_classes_are_rebuilt_without_init() -> None:
    import ormsgpack

    err = Loud.__new__(Loud)
    err.args = ("boom",)
    back = roundtrip(err)
    assert type(back) is Loud and back.args == ("boom",)
    # the format of older versions (no attributes) is read the same way
    old = ormsgpack.packb(ormsgpack.Ext(17, ormsgpack.packb(
        [__name__, "Loud", ormsgpack.packb(["old"]), "old"])))
    back = MsgpackSerde().loads(old)
    assert type(back) is Loud and back.args == ("old",)


def test_a_package_entry_allows_its_own_classes_and_no_walk_out_of_them() -> None:
    import ormsgpack

    package = __name__.rpartition(".")[0]
    serde = MsgpackSerde(allowlist=Allowlist([package]))
    assert serde.loads(serde.dumps(ByName(v=4))) == ByName(v=4)

    def model(qualname: str) -> bytes:
        return ormsgpack.packb(ormsgpack.Ext(11, ormsgpack.packb([__name__, qualname, {}])))

    strict = MsgpackSerde(allowlist=Allowlist([package]), strict=True)
    for qualname in ["pydantic.BaseModel", "ByName.__class__", "ByName.__base__", "Any"]:
        with pytest.raises(ValueError, match="is not a class defined in"):
            strict.loads(model(qualname))
        assert serde.loads(model(qualname)) == {}  # not rebuilt: the stored fields


def test_what_users_keep_from_langchain_core_round_trips_without_registration() -> None:
    from langchain_core.agents import AgentAction, AgentFinish, AgentStep

    text = AIMessage("hello").text  # a str subclass in langchain-core 1.x
    values = [
        text,
        AgentAction("search", {"q": "x"}, "log"),
        AgentFinish({"output": "done"}, "log"),
        AgentStep(action=AgentAction("t", "in", "l"), observation="seen"),
    ]
    back = roundtrip(values)
    assert [type(v) for v in back] == [type(v) for v in values]
    assert back == values


def test_dumps_and_loads_leave_no_cyclic_garbage() -> None:
    # Every checkpoint value goes through dumps: a reference cycle per call (a nested
    # hook that refers to itself) is garbage only the cyclic collector frees, which
    # made the collector a large share of a busy agent's CPU time.
    import gc

    from langchain_core.messages import AIMessage, HumanMessage

    serde = MsgpackSerde()
    value = {"messages": [HumanMessage("hi", id="1"), AIMessage("", tool_calls=[{"name": "t", "args": {}, "id": "c"}])],
             "pair": (1, {2, 3})}
    serde.loads(serde.dumps(value))  # first use builds (once) what later calls reuse
    gc.collect()
    gc.disable()
    try:
        for _ in range(200):
            assert serde.loads(serde.dumps(value)) == value
        # A cycle per call would leave 400+ objects (two or more each); a few from other
        # threads (a test's leftover executor, the watchdog) may land in the same window.
        assert gc.collect() < 50
    finally:
        gc.enable()


class _Blocked(pydantic.BaseModel):
    name: str
    tags: list[str] = []


def test_a_blocked_model_reads_back_as_on_langgraph_in_strict_mode(caplog: pytest.LogCaptureFixture) -> None:
    from langgraph.checkpoint.serde import jsonplus as theirs

    from asyncgraph.checkpoint.serde import jsonplus as ours

    value = {"m": _Blocked(name="x", tags=["a"]), "n": [1, 2]}
    results = []
    for module in (theirs, ours):
        module._warned_blocked_types.clear()
        serde = module.JsonPlusSerializer(allowed_msgpack_modules=None)
        caplog.clear()
        for _ in range(2):
            results.append(serde.loads_typed(serde.dumps_typed(value)))
        # Warned once per class, and the class is in the module's dedup set.
        assert caplog.text.count("Blocked deserialization") == 1
        assert (__name__, "_Blocked") in module._warned_blocked_types
    assert results[0] == results[2] == {"m": {"name": "x", "tags": ["a"]}, "n": [1, 2]}
    # Clearing the set re-arms the warning.
    ours._warned_blocked_types.clear()
    caplog.clear()
    ours.JsonPlusSerializer(allowed_msgpack_modules=None).loads(ours.JsonPlusSerializer().dumps(_Blocked(name="y")))
    assert "Blocked deserialization" in caplog.text


def test_the_warned_sets_are_the_serializers_own() -> None:
    from asyncgraph.checkpoint.serde import _allow, jsonplus

    assert jsonplus._warned_blocked_types is _allow._warned_blocked_types
    assert jsonplus._warned_unregistered_types is _allow._warned_unregistered_types
    MsgpackSerde().dumps(_Blocked(name="z"))
    assert (__name__, "_Blocked") in jsonplus._warned_unregistered_types


def _lc2(module: list[str], name: str, **body: Any) -> dict[str, Any]:
    return {"lc": 2, "type": "constructor", "id": [*module, name], **body}


def test_old_langgraph_json_values_read_without_importing_what_they_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import json

    from langchain_core.load import dumpd

    from asyncgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    stored = {
        "msg": dumpd(HumanMessage("hi", id="m1")),  # LangChain's lc:1 form
        "when": _lc2(["datetime"], "datetime", args=["2024-05-01T10:00:00+00:00"]),
        "id": _lc2(["uuid"], "UUID", args=["6ba7b831-9dad-11d1-80b4-00c04fd430c8"]),
        "tags": _lc2(["builtins"], "set", args=[["a", "b"]]),
        "send": _lc2(["langgraph", "types"], "Send", args=["node", {"x": 1}]),
        "point": _lc2([__name__], "Point", kwargs={"x": 3, "y": [1]}),
        "popen": _lc2(["subprocess"], "Popen", args=[["touch", "/tmp/never"]]),
        "model": _lc2(["myapp", "models"], "Secret", kwargs={"a": 1}),
    }
    for serde in (JsonPlusSerializer(), JsonPlusSerializer(allowed_json_modules=True)):
        back = serde.loads_typed(("json", json.dumps(stored).encode()))
        assert back["msg"] == HumanMessage("hi", id="m1")
        assert back["when"] == dt.datetime(2024, 5, 1, 10, tzinfo=dt.timezone.utc)
        assert back["id"] == uuid.UUID("6ba7b831-9dad-11d1-80b4-00c04fd430c8")
        assert back["tags"] == {"a", "b"}
        assert back["send"] == Send("node", {"x": 1})
        assert type(back["point"]) is Point and back["point"].x == 3
        # Not allowed: the stored arguments, never the class.
        assert back["popen"] == ["touch", "/tmp/never"] and back["model"] == {"a": 1}
    assert "Blocked deserialization of subprocess.Popen" in caplog.text


def test_pre_0_6_interrupts_get_langgraphs_id_from_their_namespace() -> None:
    import json

    from asyncgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    legacy = _lc2(["langgraph", "types"], "Interrupt",
                  kwargs={"value": "q", "resumable": True, "ns": ["a:1", "b:2"], "when": "during"})
    back = JsonPlusSerializer().loads_typed(("json", json.dumps(legacy).encode()))
    assert back == Interrupt.from_ns("q", "a:1|b:2") == Interrupt(value="q", ns=["a:1", "b:2"])
    # LangGraph's own id for the same interrupt.
    from langgraph.types import Interrupt as Theirs

    assert back.id == Theirs.from_ns("q", "a:1|b:2").id
    assert Interrupt(value="q", id="given", ns=["x"]).id == "given"
    with pytest.raises(TypeError, match="nope"):
        Interrupt(value="q", nope=1)


# Stored data depends on these bytes: the message encoding must not drift (messages are
# encoded through a per-class plan and a cache of packed ids; the bytes stay as before).
_GOLDEN_MESSAGES = (
    "94c7170e9401a17180c4105f0c6b1e3d5a4a439a8e2b1b7c1d9e00c7650e9402a082aa746f6f6c5f63616c6c73"
    "9184a46e616d65a173a46172677381a17101a26964a26331a474797065a9746f6f6c5f63616c6ca6637573746f"
    "6d9101d92435463043364231452d334435412d344134332d394138452d324231423743314439453031c7220e94"
    "04a17282a46e616d65a173ac746f6f6c5f63616c6c5f6964a26331a572756e2d31c7200e9402a4646f6e6581b1"
    "726573706f6e73655f6d6574616461746181a16da178c0"
)


def test_message_bytes_are_stable_and_read_back_twice_over() -> None:
    msgs = [
        HumanMessage("q", id="5f0c6b1e-3d5a-4a43-9a8e-2b1b7c1d9e00"),
        AIMessage("", id="5F0C6B1E-3D5A-4A43-9A8E-2B1B7C1D9E01",  # not canonical: kept as text
                  tool_calls=[{"name": "s", "args": {"q": 1}, "id": "c1"}], custom=[1]),
        ToolMessage("r", tool_call_id="c1", name="s", id="run-1"),
        AIMessage("done", response_metadata={"m": "x"}),
    ]
    serde = MsgpackSerde()
    for _ in range(2):  # the second time from the cached plans and ids
        data = serde.dumps(msgs)
        assert data.hex() == _GOLDEN_MESSAGES
        assert serde.loads(data) == msgs


def test_scalars_are_packed_to_the_same_bytes_as_through_the_hook() -> None:
    # dumps packs a plain scalar without its hook objects: the bytes must not change
    # (ormsgpack only calls the hook for what it cannot pack), big ints included.
    import ormsgpack

    from asyncgraph.checkpoint.serde._msgpack import _PACK_OPTS, _Hook

    serde = MsgpackSerde()
    for value in (None, 0, -1, 2**63 - 1, 2**64 - 1, 2**64, -(2**63) - 1, 10**30, 1.5,
                  float("inf"), True, False, "", "é" * 40):
        slow = ormsgpack.packb(value, default=_Hook(serde._encode), option=_PACK_OPTS)
        assert serde.dumps(value) == slow
        assert serde.loads(slow) == value
