"""The checkpoint serializer: exact round trips, an allowlist, and clear errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import uuid
import zoneinfo
from typing import Any, NamedTuple

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

from asyncgraph.checkpoint.serde import Allowlist, MsgpackSerde, StoredError, allow
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


def test_an_unallowed_class_is_refused_at_write_with_the_fix() -> None:
    with pytest.raises(TypeError, match=r"allow\(Unregistered\)"):
        MsgpackSerde().dumps(Unregistered(a=1))
    private = MsgpackSerde(allowlist=Allowlist([Unregistered]))
    assert private.loads(private.dumps(Unregistered(a=1))) == Unregistered(a=1)


def test_reading_a_class_outside_the_allowlist_is_refused_without_importing_it() -> None:
    permissive = MsgpackSerde(allowlist=Allowlist(["os"]))
    strict = MsgpackSerde(allowlist=Allowlist())

    @dataclasses.dataclass
    class Fake:
        pass

    Fake.__module__, Fake.__qualname__ = "os", "system"
    with pytest.raises(ValueError, match="not in the checkpoint serializer's allowlist"):
        strict.loads(permissive.dumps(Fake()))


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
