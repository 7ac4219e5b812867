"""InMemorySaver's LangGraph surface beyond the saver contract: its base class,
``create_checkpoint``'s LangGraph form, config metadata on ``put``, ``with_allowlist``
and ``get_delta_channel_history`` (the history a DeltaChannel is rebuilt from)."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest
from pydantic import BaseModel

from asyncgraph.channels import BinaryOperatorAggregate, LastValue
from asyncgraph.channels.delta import DeltaChannel
from asyncgraph.checkpoint.base import BaseCheckpointSaver, create_checkpoint, empty_checkpoint
from asyncgraph.checkpoint.memory import InMemorySaver
from asyncgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from asyncgraph.graph import END, START, StateGraph


class Model(BaseModel):
    foo: str


class BaseWalkSaver(InMemorySaver):
    """An in-memory saver that uses the base class's generic history walk."""

    get_delta_channel_history = BaseCheckpointSaver.get_delta_channel_history  # type: ignore[assignment]
    aget_delta_channel_history = BaseCheckpointSaver.aget_delta_channel_history  # type: ignore[assignment]


def _cfg(thread: str = "t", cid: str | None = None, ns: str = "") -> Any:
    conf: dict[str, Any] = {"thread_id": thread, "checkpoint_ns": ns}
    if cid:
        conf["checkpoint_id"] = cid
    return {"configurable": conf}


def _list_graph(saver: Any, channel: Any) -> Any:
    S = TypedDict("S", {"items": Annotated[list, channel]})  # type: ignore[misc]

    def noop(state: Any) -> dict[str, Any]:
        return {}

    return StateGraph(S).add_node("noop", noop).add_edge(START, "noop").add_edge("noop", END).compile(
        checkpointer=saver
    )


def _concat(value: list, writes: list) -> list:
    out = list(value)
    for w in writes:
        out.extend(w if isinstance(w, list) else [w])
    return out


# -- base class, create_checkpoint, metadata -----------------------------------------------


def test_the_base_saver_is_the_first_base_class_and_async_stays_inline() -> None:
    # LangGraph's tests reach the base saver's methods as InMemorySaver.__mro__[1].
    assert InMemorySaver.__mro__[1] is BaseCheckpointSaver
    assert InMemorySaver.aput.__doc__ and "inline" in InMemorySaver.aput.__doc__


def test_create_checkpoint_langgraph_form_copies_versions_and_reads_channels() -> None:
    base = empty_checkpoint()
    base["channel_values"] = {"a": 1}
    base["channel_versions"] = {"a": 3, "b": 2}
    base["versions_seen"] = {"n": {"a": 3}}
    empty_chan = LastValue(int)
    full_chan = BinaryOperatorAggregate(list, operator.add).from_checkpoint([1, 2])

    new = create_checkpoint(base, {"b": full_chan, "c": empty_chan}, 5)
    assert new["id"] != base["id"] and new["id"] > base["id"]
    assert new["channel_values"] == {"b": [1, 2]}  # empty channels left out
    assert new["channel_versions"] == {"a": 3, "b": 2}
    assert new["versions_seen"] == {"n": {"a": 3}}
    new["channel_versions"]["a"] = 9
    assert base["channel_versions"]["a"] == 3  # a copy, not the parent's dict

    same_values = create_checkpoint(base, None, 1, id="fixed", updated_channels=["a"])
    assert same_values["id"] == "fixed"
    assert same_values["channel_values"] == {"a": 1}
    assert same_values["updated_channels"] == ["a"]


def test_create_checkpoint_parts_form_still_works() -> None:
    c = create_checkpoint({"x": 1}, {"x": 1}, {"n": {"x": 1}}, ["x"])
    assert c["channel_values"] == {"x": 1} and c["updated_channels"] == ["x"]
    assert create_checkpoint({}, {}, {})["updated_channels"] is None


def test_put_adds_config_metadata_and_scalar_configurable_values() -> None:
    saver = InMemorySaver()
    config = {
        "configurable": {"thread_id": "t", "checkpoint_ns": "", "__private": "x", "user": "u1",
                         "obj": object(), "step": 99},
        "metadata": {"run_id": "r1", "source": "ignored"},
    }
    saver.put(config, empty_checkpoint(), {"source": "loop", "step": 1}, {})
    meta = saver.get_tuple(_cfg()).metadata
    # Explicit metadata wins; private keys, the address and non-scalars are left out.
    assert meta == {"source": "loop", "step": 1, "run_id": "r1", "user": "u1"}


# -- with_allowlist -----------------------------------------------------------------------


def test_with_allowlist_returns_a_proxy_on_the_same_storage() -> None:
    saver = InMemorySaver(serde=JsonPlusSerializer(allowed_msgpack_modules=None))
    proxy = saver.with_allowlist([(Model.__module__, Model.__qualname__)])
    assert proxy is not saver and proxy.storage is saver.storage
    c = empty_checkpoint()
    c["channel_values"] = {"m": Model(foo="bar")}
    c["channel_versions"] = {"m": 1}
    cfg = proxy.put(_cfg(), c, {}, {"m": 1})
    assert proxy.get_tuple(cfg).checkpoint["channel_values"]["m"] == Model(foo="bar")
    # The original keeps its strict allowlist: the class is read back as its data.
    assert saver.get_tuple(cfg).checkpoint["channel_values"]["m"] == {"foo": "bar"}


def test_with_allowlist_is_a_no_op_when_nothing_is_new() -> None:
    saver = InMemorySaver(serde=JsonPlusSerializer(allowed_msgpack_modules=[Model]))
    assert saver.with_allowlist([Model]) is saver


# -- get_delta_channel_history -----------------------------------------------------------


def _hand_built(saver: InMemorySaver) -> None:
    """cp0 (value []) -> cp1 (value ["A"]) -> cp2 (empty) -> cp3 (empty), each with a write."""
    serde = saver.serde
    versions = {f"cp{i}": f"v{i}" for i in range(4)}
    saver.blobs[("t", "", "items", "v0")] = serde.dumps_typed([])
    saver.blobs[("t", "", "items", "v1")] = serde.dumps_typed(["A"])
    saver.blobs[("t", "", "items", "v2")] = ("empty", b"")
    saver.blobs[("t", "", "items", "v3")] = ("empty", b"")
    chain = {}
    parent = None
    for i, (cid, version) in enumerate(versions.items()):
        c = empty_checkpoint()
        c["id"] = cid
        c["channel_versions"] = {"items": version}
        chain[cid] = (serde.dumps_typed(c), serde.dumps_typed({}), parent)
        parent = cid
        saver.writes[("t", "", cid)][(f"task{i}", 0)] = (f"task{i}", "items", serde.dumps_typed(f"w{i}"), "")
        saver.writes[("t", "", cid)][(f"task{i}", 1)] = (f"task{i}", "other", serde.dumps_typed("x"), "")
    saver.storage["t"][""] = chain


@pytest.mark.parametrize("cls", [InMemorySaver, BaseWalkSaver])
def test_history_seeds_from_the_nearest_stored_value_and_skips_the_target_writes(cls: type) -> None:
    saver = cls()
    _hand_built(saver)
    hist = saver.get_delta_channel_history(config=_cfg(cid="cp3"), channels=["items", "other"])
    # cp1 holds a value: it seeds, and its own write (which made cp2) is replayed after it.
    assert hist["items"]["seed"] == ["A"]
    assert [w[2] for w in hist["items"]["writes"]] == ["w1", "w2"]
    # "other" is never stored: the walk reaches the root, so there is no seed.
    assert "seed" not in hist["other"]
    assert [w[0] for w in hist["other"]["writes"]] == ["task0", "task1", "task2"]
    assert saver.get_delta_channel_history(config=_cfg(cid="cp3"), channels=[]) == {}
    # At the root there is no history at all; the latest checkpoint is the default.
    assert saver.get_delta_channel_history(config=_cfg(cid="cp0"), channels=["items"]) == {
        "items": {"writes": []}
    }
    assert saver.get_delta_channel_history(config=_cfg(), channels=["items"]) == {"items": hist["items"]}


def test_load_blobs_leaves_out_empty_and_missing_channels() -> None:
    saver = InMemorySaver()
    _hand_built(saver)
    assert saver._load_blobs("t", "", {"items": "v1"}) == {"items": ["A"]}
    assert saver._load_blobs("t", "", {"items": "v2", "gone": "v9"}) == {}


async def test_async_history_matches_sync_on_a_real_thread() -> None:
    saver = InMemorySaver()
    graph = _list_graph(saver, BinaryOperatorAggregate(list, operator.add))
    for i in range(3):
        await graph.ainvoke({"items": [f"u{i}"]}, _cfg("real"))
    fallback = BaseWalkSaver()
    fallback.storage, fallback.blobs, fallback.writes = saver.storage, saver.blobs, saver.writes
    for tup in saver.list(_cfg("real")):
        sync = saver.get_delta_channel_history(config=tup.config, channels=["items"])
        assert await saver.aget_delta_channel_history(config=tup.config, channels=["items"]) == sync
        assert await fallback.aget_delta_channel_history(config=tup.config, channels=["items"]) == sync
        parent = tup.parent_config
        if parent is None:
            assert sync == {"items": {"writes": []}}
        else:
            # Every checkpoint stores its value: the parent's is the seed.
            expected = saver.get_tuple(parent).checkpoint["channel_values"].get("items")
            assert sync["items"].get("seed") == expected


# -- migrating a reducer channel to DeltaChannel (differential against LangGraph) ----------


def _migration_states(lib: str) -> tuple[list[Any], list[Any]]:
    if lib == "langgraph":
        from langgraph.channels.binop import BinaryOperatorAggregate as Binop
        from langgraph.channels.delta import DeltaChannel as Delta
        from langgraph.checkpoint.memory import InMemorySaver as Saver
        from langgraph.graph import END as E, START as S0, StateGraph as SG
    else:
        Binop, Delta, Saver, E, S0, SG = BinaryOperatorAggregate, DeltaChannel, InMemorySaver, END, START, StateGraph

    def build(saver: Any, channel: Any) -> Any:
        St = TypedDict("St", {"items": Annotated[list, channel]})  # type: ignore[misc]
        return SG(St).add_node("noop", lambda s: {}).add_edge(S0, "noop").add_edge("noop", E).compile(
            checkpointer=saver
        )

    saver = Saver()
    config = {"configurable": {"thread_id": "m"}}
    before = build(saver, Binop(list, operator.add))
    for i in range(2):
        before.invoke({"items": [f"u{i}"]}, config)
    after = build(saver, Delta(_concat))
    for i in range(2):
        after.invoke({"items": [f"d{i}"]}, config)
    history = [(s.next, list(s.values.get("items", []))) for s in after.get_state_history(config)]
    return history, list(after.get_state(config).values["items"])


def test_a_thread_migrated_to_delta_channel_reads_like_langgraph() -> None:
    ours = _migration_states("asyncgraph")
    theirs = _migration_states("langgraph")
    assert ours == theirs
    assert ours[1] == ["u0", "u1", "d0", "d1"]
