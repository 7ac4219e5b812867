"""Hostile stored bytes: reading a crafted checkpoint, write or cache row never imports or
calls anything outside the serializer's allowlist.

Everything a saver or a cache reads goes through ``MsgpackSerde.loads``; an attacker who can
write one row controls those bytes completely. Each test here decodes crafted payloads under
an audit hook that refuses (and records) process launches, file opens, imports and the like,
and checks that ``sys.modules`` did not grow.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import decimal
import enum
import os
import sys
import threading
import uuid
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import ormsgpack
import pydantic
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage

import asyncgraph.pregel.main  # noqa: F401  (the reported walk starts from this module)
from asyncgraph.cache.sqlite import SqliteCache
from asyncgraph.checkpoint.serde import Allowlist, MsgpackSerde, StoredError, StoredObject
from asyncgraph.types import Command, Interrupt, Send

# -- the audit guard ---------------------------------------------------------------------

# Audit events that mean "the decoder reached outside plain data". ``open`` is allowed only
# for the time zone database (a stored ZoneInfo reads its file).
_FORBIDDEN_PREFIXES = (
    "subprocess.", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
    "os.kill", "os.remove", "os.rename", "os.mkdir", "os.rmdir", "os.chmod", "os.truncate",
    "shutil.", "socket.", "urllib.", "http.", "ctypes.", "pickle.", "marshal.", "import",
    "exec", "compile", "open", "builtins.input", "webbrowser.", "code.", "cpython.run_",
)
_TZ_ROOTS = tuple(str(Path(p)) + os.sep for p in zoneinfo.TZPATH)
try:
    # zoneinfo falls back to the tzdata package (installed with e.g. python-dateutil 4, a
    # dependency of the server extra's procrastinate): reading its files is reading time
    # zone data too. Imported now so the decoder's fallback imports nothing new.
    import tzdata.zoneinfo

    _TZ_ROOTS += (str(Path(tzdata.zoneinfo.__file__).parent) + os.sep,)
except ImportError:
    pass


class _Refused(Exception):
    pass


class _Guard:
    def __init__(self) -> None:
        self.active_thread: int | None = None
        self.events: list[str] = []

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if self.active_thread != threading.get_ident():
            return
        if not event.startswith(_FORBIDDEN_PREFIXES):
            return
        if event == "open" and isinstance(args[0], str) and args[0].startswith(_TZ_ROOTS):
            if args[1] in ("r", "rb", None):
                return
        self.events.append(f"{event} {args[:2]!r}")
        raise _Refused(event)

    @contextlib.contextmanager
    def watch(self) -> Iterator[None]:
        modules = set(sys.modules)
        self.events.clear()
        self.active_thread = threading.get_ident()
        try:
            yield
        finally:
            self.active_thread = None
        assert self.events == [], f"the decoder reached outside plain data: {self.events}"
        assert set(sys.modules) == modules, f"imported {set(sys.modules) - modules}"


GUARD = _Guard()
sys.addaudithook(GUARD.hook)  # hooks cannot be removed; inactive outside GUARD.watch()


# -- classes a user registered -------------------------------------------------------------

CALLS: list[str] = []


class Tagged(str):
    """A registered str subclass whose constructor must not run when it is read back."""

    def __new__(cls, value: str = "") -> Tagged:
        CALLS.append("Tagged.__new__")
        return super().__new__(cls, value)

    def __init__(self, value: str = "") -> None:
        CALLS.append("Tagged.__init__")


class Bag(dict[str, Any]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        CALLS.append("Bag.__init__")
        super().__init__(*args, **kwargs)

    def __setitem__(self, key: str, value: Any) -> None:
        CALLS.append("Bag.__setitem__")
        super().__setitem__(key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        CALLS.append("Bag.update")
        super().update(*args, **kwargs)


class Stack(list[Any]):
    def __init__(self, *args: Any) -> None:
        CALLS.append("Stack.__init__")
        super().__init__(*args)


class Count(int):
    def __new__(cls, value: int = 0) -> Count:
        CALLS.append("Count.__new__")
        return super().__new__(cls, value)


class Level(enum.IntEnum):
    LOW = 1


@dataclasses.dataclass
class Point:
    x: int = 0


class Pair(NamedTuple):
    a: Any
    b: Any


class Model(pydantic.BaseModel):
    name: str = ""


class NotRegistered(dict[str, Any]):
    def __init__(self, *args: Any) -> None:
        CALLS.append("NotRegistered.__init__")
        super().__init__(*args)


REGISTERED: list[type] = [Tagged, Bag, Stack, Count, Level, Point, Pair, Model]


def serde() -> MsgpackSerde:
    return MsgpackSerde(allowlist=Allowlist(REGISTERED))


def ext(code: int, body: Any) -> ormsgpack.Ext:
    return ormsgpack.Ext(code, ormsgpack.packb(body))


def blob(value: Any) -> bytes:
    return ormsgpack.packb(value)


@pytest.fixture(autouse=True, scope="module")
def _warm_up() -> None:
    """Everything legitimate is imported once, so any later import is the payload's doing."""
    s = serde()
    legit = [
        HumanMessage("hi", id="1"), AIMessage("a"), Document("d", metadata={"k": 1}),
        Send("n", 1), Interrupt(1, id="i"), Command(resume=1), (1,), {1}, frozenset({1}),
        dt.datetime(2020, 1, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
        dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc), dt.date(2020, 1, 1),
        dt.time(1, tzinfo=dt.timezone(dt.timedelta(hours=1), "X")), dt.timedelta(1),
        uuid.uuid4(), decimal.Decimal("1.5"), 2**80, Level.LOW, Point(1), Pair(1, 2),
        Model(name="m"), Tagged("t"), Bag(a=1), Stack([1]), Count(3), ValueError("v"),
        RuntimeError("r"),
    ]
    assert repr(s.loads(s.dumps(legit))) == repr(legit)
    with contextlib.suppress(ValueError):
        s.loads(blob(ext(14, ["NoSuchMessage", "", {}, None])))
    with contextlib.suppress(ValueError):
        s.loads(blob(ext(4, ["2020-01-01T00:00:00", ["z", "No/Such_Zone"], 0])))


# -- hand-crafted payloads, one or more for every extension code ---------------------------

# (module, qualname) pairs an attacker might name. None of them is allowed.
HOSTILE_NAMES = [
    ("asyncgraph.pregel.main", "asyncio.subprocess.subprocess.Popen"),  # the reported walk
    ("asyncgraph.types", "dataclasses.sys.modules"),
    ("asyncgraph.pregel.main", "asyncio.subprocess.os.system"),
    ("subprocess", "Popen"),
    ("os", "system"),
    ("posix", "system"),
    ("builtins", "eval"),
    ("builtins", "open"),
    ("builtins", "__import__"),
    ("builtins", "type"),
    ("builtins", "object"),
    ("langchain_core.callbacks.file", "FileCallbackHandler"),  # opens a file in __init__
    ("langchain_core.callbacks.stdout", "StdOutCallbackHandler"),
    ("langchain_core.runnables.base", "RunnableLambda"),
    ("langchain_core.messages.human", "HumanMessage.__class__"),
    ("langchain_core.messages.human", "HumanMessage.model_construct"),
    ("asyncgraph.types", "Send.__init__.__globals__"),
    ("asyncgraph.types", "Interrupt.__mro__"),
    ("asyncgraph_evil", "Thing"),
    ("tests.checkpoint.test_serde_fuzz", "NotRegistered"),
    (__name__, "Bag.__init__.__globals__"),
    (__name__, "Bag.__class__"),
    (__name__, "os.system"),
    ("", ""),
    ("..", "x"),
]

CLASS_CODES = {10: "enum", 11: "pydantic", 12: "dataclass", 13: "namedtuple", 19: "subclass"}


def _class_payloads(path: str) -> list[tuple[str, bytes]]:
    cases = []
    for mod, qual in HOSTILE_NAMES:
        label = f"{mod}:{qual}"
        for code, kind in CLASS_CODES.items():
            for value in (["touch", path], path, {"filename": path}, 1):
                body: list[Any] = [mod, qual, value]
                if code == 11 and not isinstance(value, dict):
                    continue
                cases.append((f"{kind}-{label}-{type(value).__name__}", blob(ext(code, body))))
        # the same, nested inside every container code and inside a Send
        inner = ext(19, [mod, qual, ["touch", path]])
        for code in (1, 2, 3):
            cases.append((f"in-{code}-{label}", blob(ext(code, [inner]))))
        cases.append((f"in-send-{label}", blob(ext(15, ["node", inner]))))
        cases.append((f"in-message-{label}", blob(ext(14, ["HumanMessage", inner, {}, None]))))
    return cases


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


def test_the_reported_popen_walk_is_refused_naming_the_class(marker: Path, caplog: pytest.LogCaptureFixture) -> None:
    payload = blob(ext(19, ["asyncgraph.pregel.main", "asyncio.subprocess.subprocess.Popen",
                            ["touch", str(marker)]]))
    with GUARD.watch(), pytest.raises(ValueError, match=r"asyncio\.subprocess\.subprocess\.Popen"):
        MsgpackSerde(strict=True).loads(payload)
    with GUARD.watch():
        assert MsgpackSerde().loads(payload) == ["touch", str(marker)]  # the stored data only
    assert "Blocked deserialization of asyncgraph.pregel.main.asyncio.subprocess.subprocess.Popen" in caplog.text
    assert not marker.exists()


def test_a_langchain_core_callback_handler_is_not_trusted(marker: Path) -> None:
    for code in (11, 12, 19):
        body: list[Any] = ["langchain_core.callbacks.file", "FileCallbackHandler", str(marker)]
        if code == 11:
            body[2] = {"filename": str(marker)}
        with GUARD.watch(), pytest.raises(ValueError, match="FileCallbackHandler"):
            MsgpackSerde(strict=True).loads(blob(ext(code, body)))
        with GUARD.watch():
            if code == 12:  # a dataclass is stored with a field mapping
                with pytest.raises(ValueError, match="malformed stored FileCallbackHandler"):
                    MsgpackSerde().loads(blob(ext(code, body)))
            else:
                assert MsgpackSerde().loads(blob(ext(code, body))) == body[2]
    assert not marker.exists()


def test_every_class_naming_extension_refuses_every_hostile_name(marker: Path) -> None:
    cases = _class_payloads(str(marker))
    assert len(cases) > 400
    strict = MsgpackSerde(allowlist=Allowlist(REGISTERED), strict=True)
    for label, data in cases:
        with GUARD.watch():
            try:
                value = strict.loads(data)
            except ValueError:
                continue
        pytest.fail(f"{label}: decoded to {value!r} instead of being refused")
    # Not strict: each decodes to the plain data stored with it, no class of its naming.
    s = serde()
    for label, data in cases:
        with GUARD.watch():
            try:
                value = s.loads(data)
            except ValueError:
                continue  # malformed for its type code
        _check_types(value, s.allowlist)
    assert not marker.exists()
    assert "NotRegistered.__init__" not in CALLS


def test_a_refused_class_is_a_clear_error_in_strict_mode_else_its_data_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    for code in CLASS_CODES:
        body = ["myapp.models", "Secret", {"a": 1} if code != 13 else [1]]
        with pytest.raises(ValueError, match=r"myapp\.models\.Secret.*allow"):
            MsgpackSerde(strict=True).loads(blob(ext(code, body)))
        assert MsgpackSerde().loads(blob(ext(code, body))) == body[2]
    assert caplog.text.count("Blocked deserialization of myapp.models.Secret") == 1


def test_stored_exceptions_of_unknown_or_hostile_classes_are_never_constructed() -> None:
    s = serde()
    for mod, qual in HOSTILE_NAMES + [("builtins", "SystemExit"), ("builtins", "KeyboardInterrupt")]:
        data = blob(ext(17, [mod, qual, blob(["touch", "/tmp/x"]), "message"]))
        with GUARD.watch():
            value = s.loads(data)
        assert type(value) is StoredError, (mod, qual, value)
        assert value.type_name == (f"{mod}.{qual}" if mod else qual)
    with GUARD.watch():
        back = s.loads(blob(ext(17, ["builtins", "ValueError", blob(["bad", 1]), "x"])))
    assert type(back) is ValueError and back.args == ("bad", 1)


def test_message_names_resolve_only_to_message_classes() -> None:
    s = serde()
    for name in ["BaseMessage.__class__", "__class__", "messages", "Popen", "AnyMessage",
                 "convert_to_messages", "message_to_dict", 0, 99, -1, [1], None]:
        with GUARD.watch(), pytest.raises(ValueError):
            s.loads(blob(ext(14, [name, "x", {}, None])))


def test_builtin_subclasses_are_rebuilt_without_running_their_code() -> None:
    s = serde()
    values = [Tagged("t"), Bag(a=1, b=[2]), Stack([1, Tagged("x")]), Count(7)]
    data = s.dumps(values)
    CALLS.clear()
    with GUARD.watch():
        back = s.loads(data)
    assert CALLS == []
    assert [type(v) for v in back] == [Tagged, Bag, Stack, Count]
    assert back == values
    assert type(back[2][1]) is Tagged


def test_a_builtin_subclass_must_match_the_stored_base() -> None:
    s = serde()
    for qual, value in [("Bag", "not a dict"), ("Tagged", {"a": 1}), ("Stack", 3),
                        ("Count", "3"), ("Level", 1), ("Point", {"x": 1}), ("Model", {})]:
        with GUARD.watch(), pytest.raises(ValueError, match=qual):
            s.loads(blob(ext(19, [__name__, qual, value])))
    assert CALLS.count("Bag.__init__") == 0


def test_registered_classes_resolve_only_under_their_own_name() -> None:
    s = serde()
    # Point is registered; a name that walks to it from elsewhere is not.
    strict = MsgpackSerde(allowlist=Allowlist(REGISTERED), strict=True)
    for mod, qual in [("asyncgraph.types", "Point"), (__name__, "Pair.Point"), (__name__, "point")]:
        with pytest.raises(ValueError, match="allowlist"):
            strict.loads(blob(ext(12, [mod, qual, {"x": 1}])))
        assert s.loads(blob(ext(12, [mod, qual, {"x": 1}]))) == {"x": 1}
    assert s.loads(blob(ext(12, [__name__, "Point", {"x": 1}]))) == Point(1)


def test_a_dataclass_payload_cannot_set_dunder_attributes() -> None:
    s = serde()
    for name in ["__class__", "__dict__", "__reduce__", "__init__"]:
        with GUARD.watch(), pytest.raises(ValueError, match=name):
            s.loads(blob(ext(12, [__name__, "Point", {"x": 1, name: 2}])))


def test_a_stored_time_zone_cannot_read_files_or_import_modules() -> None:
    s = serde()
    for key in ["../../../etc/passwd", "/etc/passwd", "No/Such_Zone", "x" * 300, "Europe/../..",
                "__init__", "zoneinfo", ""]:
        with GUARD.watch(), pytest.raises(ValueError):
            s.loads(blob(ext(4, ["2020-01-01T00:00:00", ["z", key], 0])))
    with GUARD.watch():
        back = s.loads(blob(ext(4, ["2020-01-01T00:00:00", ["z", "Europe/Paris"], 0])))
    assert back.tzinfo == zoneinfo.ZoneInfo("Europe/Paris")


@pytest.mark.parametrize("code", [0, 16, 20, 42, 127])
def test_unknown_extension_codes_are_refused(code: int) -> None:
    with GUARD.watch(), pytest.raises(ValueError, match=f"unknown type code {code}"):
        serde().loads(blob(ormsgpack.Ext(code, b"\x90")))


def test_a_negative_extension_code_is_refused() -> None:
    with GUARD.watch(), pytest.raises(ValueError):
        serde().loads(b"\xd4\xff\x00")  # fixext1, code -1 (msgpack's timestamp)


@pytest.mark.parametrize(
    "code,body",
    [
        (1, "not a list"), (2, [[1]]), (3, {"a": 1}), (4, ["x", None, 0]), (4, [1]),
        (5, 2**64 - 1), (6, ["25:00", None, 0]), (7, [10**12, 0, 0]), (8, "short"),
        (9, "NaN?x"), (18, "1" * 5000), (18, "0x10"), (15, ["only node"]),
        (14, ["HumanMessage", "x", ["not", "a", "dict"], None]), (17, [1, 2]),
    ],
)
def test_malformed_payloads_are_value_errors(code: int, body: Any) -> None:
    with GUARD.watch(), pytest.raises(ValueError):
        serde().loads(blob(ext(code, body)))


# -- the SQLite cache reads with the same serde --------------------------------------------


def test_a_crafted_sqlite_cache_row_is_refused_on_a_cache_hit(tmp_path: Path, marker: Path) -> None:
    cache = SqliteCache(str(tmp_path / "cache.db"))
    try:
        cache.set({(("node",), "k"): ({"ok": 1}, None)})
        assert cache.get([(("node",), "k")]) == {(("node",), "k"): {"ok": 1}}
        hostile = blob(ext(19, ["asyncgraph.pregel.main", "asyncio.subprocess.subprocess.Popen",
                                ["touch", str(marker)]]))
        cache._conn.execute("UPDATE asyncgraph_cache SET value = ?", (hostile,))
        # Read as the data stored with it, never as the class it names.
        with GUARD.watch():
            assert cache.get([(("node",), "k")]) == {(("node",), "k"): ["touch", str(marker)]}
    finally:
        cache.close()
    assert not marker.exists()


# -- the fuzz test -------------------------------------------------------------------------

_MODULES = st.sampled_from(sorted({m for m, _ in HOSTILE_NAMES} | {
    "asyncgraph.types", "asyncgraph.errors", "langchain_core.messages.human",
    "langchain_core.documents.base", __name__, "builtins", "collections", "datetime",
}))
_QUALS = st.sampled_from(sorted({q for _, q in HOSTILE_NAMES} | {
    "Send", "Interrupt", "Command", "HumanMessage", "Document", "Tagged", "Bag", "Stack",
    "Count", "Level", "Point", "Pair", "Model", "OrderedDict", "Counter", "ValueError",
    "GraphRecursionError", "datetime",
}))
_NAMES = _MODULES | _QUALS | st.text(max_size=12)
_LEAVES = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.binary(max_size=12)
           | _NAMES | st.sampled_from(["z", "o", "UTC", "Europe/Paris", "../etc/passwd"]))


def _exts(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    any_code = st.integers(0, 127)
    known_code = st.sampled_from(range(1, 20))
    class_code = st.sampled_from([10, 11, 12, 13, 17, 19])
    return (
        st.builds(lambda c, b: ormsgpack.Ext(c, ormsgpack.packb(b)), known_code | any_code, children)
        | st.builds(ormsgpack.Ext, any_code, st.binary(max_size=24))
        | st.builds(lambda c, m, q, rest: ormsgpack.Ext(c, ormsgpack.packb([m, q, *rest])),
                    class_code, _MODULES | st.text(max_size=8), _QUALS | st.text(max_size=8),
                    st.lists(children, max_size=3))
        | st.builds(lambda n, rest: ormsgpack.Ext(14, ormsgpack.packb([n, *rest])),
                    st.integers(-2, 20) | _QUALS, st.lists(children, max_size=4))
    )


_PAYLOADS = st.recursive(
    _LEAVES,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=4), kids, max_size=3)
    | _exts(kids),
    max_leaves=12,
)

_PLAIN = (type(None), bool, int, float, str, bytes, list, dict, tuple, set, frozenset,
          dt.datetime, dt.date, dt.time, dt.timedelta, uuid.UUID, decimal.Decimal, Send)


def _check_types(value: Any, allowlist: Allowlist, depth: int = 0) -> None:
    """Every object in a decoded value is plain data or of a class the allowlist allows."""
    cls = type(value)
    if cls not in _PLAIN and not isinstance(value, (StoredError, StoredObject)):  # our stand-ins
        builtin_error = cls.__module__ == "builtins" and issubclass(cls, Exception)
        assert builtin_error or allowlist.allows(cls.__module__, cls.__qualname__), cls
    if depth > 50:
        return
    if isinstance(value, dict):
        items: list[Any] = [*value.keys(), *value.values()]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    elif isinstance(value, pydantic.BaseModel):
        items = list(value.__dict__.values()) + list((value.__pydantic_extra__ or {}).values())
    elif isinstance(value, Send):
        items = [value.arg]
    elif dataclasses.is_dataclass(value):
        items = list(vars(value).values()) if hasattr(value, "__dict__") else []
    else:
        items = []
    for item in items:
        _check_types(item, allowlist, depth + 1)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PAYLOADS)
def test_fuzzed_payloads_never_reach_outside_the_allowlist(payload: Any) -> None:
    s = serde()
    data = ormsgpack.packb(payload)
    CALLS.clear()
    with GUARD.watch():
        try:
            value = s.loads(data)
        except ValueError:
            event("refused")
            return
    event(f"decoded to a {type(value).__name__}")
    assert not [c for c in CALLS if c.startswith("NotRegistered")]
    assert not [c for c in CALLS if "__init__" in c or "__new__" in c or "update" in c], CALLS
    _check_types(value, s.allowlist)


# -- a saver reading a database an attacker wrote to ----------------------------------------


def test_a_sqlite_saver_reading_overwritten_rows_never_runs_anything(tmp_path: Path, marker: Path) -> None:
    import shutil
    import sqlite3
    from typing import TypedDict

    from asyncgraph.checkpoint.sqlite import SqliteSaver
    from asyncgraph.graph import START, StateGraph

    class State(TypedDict):
        messages: list[Any]
        count: int

    builder = StateGraph(State)
    builder.add_node("a", lambda s: {"messages": [AIMessage("ok")], "count": s["count"] + 1})
    builder.add_edge(START, "a")
    config = {"configurable": {"thread_id": "t"}}
    hostile = blob(ext(19, ["asyncgraph.pregel.main", "asyncio.subprocess.subprocess.Popen",
                            ["touch", str(marker)]]))
    original = tmp_path / "db.sqlite"
    with SqliteSaver.from_conn_string(str(original)) as saver:
        graph = builder.compile(checkpointer=saver)
        graph.invoke({"messages": [HumanMessage("hi")], "count": 0}, config)
        graph.get_state(config)  # imports what get_state itself needs, before the guard
    # Whatever the schema: overwrite one blob column at a time (values, writes, metadata,
    # bodies...) in a copy of the database, and read the thread back.
    conn = sqlite3.connect(original)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    columns = [(t, r[1]) for t in tables for r in conn.execute(f"PRAGMA table_info({t})")]
    conn.close()
    tried = 0
    for n, (table, column) in enumerate(columns):
        copy = tmp_path / f"copy{n}.sqlite"
        shutil.copy(original, copy)
        conn = sqlite3.connect(copy)
        changed = conn.execute(
            f"UPDATE OR IGNORE {table} SET {column} = ? WHERE typeof({column}) = 'blob'",
            (hostile,),
        ).rowcount
        conn.commit()
        conn.close()
        if not changed:
            continue
        tried += 1
        with SqliteSaver.from_conn_string(str(copy)) as saver:
            graph = builder.compile(checkpointer=saver)
            with GUARD.watch(), contextlib.suppress(Exception):
                graph.get_state(config)
                list(graph.get_state_history(config))
    assert tried >= 2
    assert not marker.exists()
