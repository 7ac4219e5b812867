"""StreamChannel / StreamMux / StreamTransformer contract, and the v3 entry points'
argument checks (asyncgraph only; behaviour mirrored from LangGraph's docs)."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any, ClassVar

import pytest
from typing_extensions import TypedDict

from asyncgraph.config import get_stream_writer
from asyncgraph.graph import START, StateGraph
from asyncgraph.stream import (
    CustomTransformer,
    ProtocolEvent,
    StreamChannel,
    StreamTransformer,
    UpdatesTransformer,
)
from asyncgraph.stream._mux import StreamMux


class S(TypedDict):
    xs: Annotated[list, operator.add]


def _graph(**compile_kw: Any) -> Any:
    g = StateGraph(S)
    g.add_node("a", lambda s: {"xs": ["a"]})
    g.add_node("b", lambda s: {"xs": ["b"]})
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    return g.compile(**compile_kw)


def _event(method: str, data: Any, ns: list[str] | None = None) -> ProtocolEvent:
    return {"type": "event", "method": method, "params": {"namespace": ns or [], "timestamp": 0, "data": data}}


class Recorder(StreamTransformer):
    """Counts events and keeps a named channel of what it saw."""

    def __init__(self, scope: tuple[str, ...] = ()) -> None:
        super().__init__(scope)
        self.channel: StreamChannel[str] = StreamChannel("seen")

    def init(self) -> dict[str, Any]:
        return {"seen": self.channel}

    def process(self, event: ProtocolEvent) -> bool:
        if event["method"] == "values":
            self.channel.push(repr(event["params"]["data"]))
        return True


def test_channel_has_one_subscriber_and_tee_fans_out() -> None:
    mux = StreamMux([Recorder()])
    ch = mux.extensions["seen"]
    a, b = ch.tee(2)
    mux.push(_event("values", 1))
    mux.push(_event("values", 2))
    mux.close()
    assert list(a) == ["1", "2"] and list(b) == ["1", "2"]
    with pytest.raises(RuntimeError, match="already has a subscriber"):
        iter(ch)


def test_channel_lane_is_fixed_by_the_mux() -> None:
    ch: StreamChannel[int] = StreamChannel()
    with pytest.raises(TypeError, match="not been bound"):
        iter(ch)
    StreamMux([_Holds(ch)], is_async=True)
    with pytest.raises(TypeError, match="async mode"):
        iter(ch)
    with pytest.raises(ValueError, match="maxlen"):
        StreamChannel(maxlen=0)


class _Holds(StreamTransformer):
    def __init__(self, ch: StreamChannel[Any], key: str = "held") -> None:
        super().__init__(())
        self.ch, self.key = ch, key

    def init(self) -> dict[str, Any]:
        return {self.key: self.ch}

    def process(self, event: ProtocolEvent) -> bool:
        return True


def test_named_channel_is_copied_to_the_raw_log_with_custom_prefix() -> None:
    mux = StreamMux([Recorder()])
    log = iter(mux._events)
    mux.push(_event("values", {"x": 1}))
    mux.close()
    events = list(log)
    assert [e["method"] for e in events] == ["custom:seen", "values"]
    assert [e["seq"] for e in events] == [1, 2]  # the copy first: it was pushed first


def test_projection_key_conflict_names_both_owners() -> None:
    with pytest.raises(ValueError, match=r"'held' \(owned by _Holds\)"):
        StreamMux([_Holds(StreamChannel()), _Holds(StreamChannel())])


class Early(StreamTransformer):
    before_builtins: ClassVar[bool] = True
    order: ClassVar[list[str]] = []

    def init(self) -> dict[str, Any]:
        return {}

    def process(self, event: ProtocolEvent) -> bool:
        Early.order.append("early")
        return False  # dropped from the raw log; later transformers still see it


class Late(Early):
    before_builtins: ClassVar[bool] = False

    def process(self, event: ProtocolEvent) -> bool:
        Early.order.append("late")
        return True


def test_before_builtins_run_first_and_false_drops_from_raw_log() -> None:
    Early.order.clear()
    mux = StreamMux(factories=[Late, Early])
    log = iter(mux._events)
    mux.push(_event("values", 1))
    mux.close()
    assert Early.order == ["early", "late"]
    assert list(log) == []


class NeedsLoop(StreamTransformer):
    def init(self) -> dict[str, Any]:
        return {}

    async def aprocess(self, event: ProtocolEvent) -> bool:
        return True


def test_async_only_transformer_is_refused_on_sync_runs() -> None:
    with pytest.raises(RuntimeError, match="NeedsLoop requires an async run"):
        _graph().stream_events({"xs": []}, version="v3", transformers=[NeedsLoop])


def test_v3_argument_checks() -> None:
    g = _graph()
    with pytest.raises(TypeError, match="stream_mode"):
        g.stream_events({"xs": []}, version="v3", stream_mode="values")
    with pytest.raises(TypeError, match="pre-built instance UpdatesTransformer"):
        g.stream_events({"xs": []}, version="v3", transformers=[UpdatesTransformer(())])
    with pytest.raises(TypeError, match="pre-built instance"):
        StateGraph(S).add_node("a", lambda s: {}).add_edge(START, "a").compile(transformers=[UpdatesTransformer(())])


def test_unregistered_projection_names_the_registered_ones() -> None:
    run = _graph().stream_events({"xs": []}, version="v3")
    with pytest.raises(AttributeError, match="no attribute 'updates'.*lifecycle, messages, subgraphs, values"):
        run.updates  # noqa: B018
    assert _graph(transformers=[UpdatesTransformer]).stream_events({"xs": []}, version="v3").updates is not None


def test_compile_and_call_transformers_both_register() -> None:
    run = _graph(transformers=[UpdatesTransformer]).stream_events({"xs": []}, version="v3",
                                                                   transformers=[CustomTransformer, Recorder])
    assert {"updates", "custom", "seen"} <= set(run.extensions)
    assert "seen" not in run.__dict__  # not native: only in extensions
    assert list(run.extensions["seen"]) == [repr({"xs": []}), repr({"xs": ["a"]}), repr({"xs": ["a", "b"]})]


def test_custom_data_only_reaches_the_raw_log_when_asked_for() -> None:
    def shout(s: S) -> dict[str, Any]:
        get_stream_writer()("hey")
        return {"xs": ["a"]}

    g = StateGraph(S)
    g.add_node("a", shout)
    g.add_edge(START, "a")
    g = g.compile()
    assert "custom" not in {e["method"] for e in g.stream_events({"xs": []}, version="v3")}
    run = g.stream_events({"xs": []}, version="v3", transformers=[CustomTransformer])
    assert list(run.custom) == ["hey"]


def test_abort_stops_the_run_before_later_nodes() -> None:
    ran: list[str] = []
    g = StateGraph(S)
    g.add_node("a", lambda s: ran.append("a") or {"xs": ["a"]})
    g.add_node("b", lambda s: ran.append("b") or {"xs": ["b"]})
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    with g.compile().stream_events({"xs": []}, version="v3") as run:
        assert next(iter(run.values)) == {"xs": []}
    assert "b" not in ran
    assert run.output == {"xs": []}  # the last state seen before it stopped


async def test_scheduled_work_finishes_before_the_run_ends() -> None:
    class Slow(StreamTransformer):
        requires_async = True

        def __init__(self, scope: tuple[str, ...] = ()) -> None:
            super().__init__(scope)
            self.out: StreamChannel[int] = StreamChannel()

        def init(self) -> dict[str, Any]:
            return {"slow": self.out}

        def process(self, event: ProtocolEvent) -> bool:
            if event["method"] == "values":
                self.schedule(self._later(len(event["params"]["data"]["xs"])))
            return True

        async def _later(self, n: int) -> None:
            await asyncio.sleep(0)
            self.out.push(n)

    run = await _graph().astream_events({"xs": []}, version="v3", transformers=[Slow])
    got = [n async for n in run.extensions["slow"]]
    assert sorted(got) == [0, 1, 2]


async def test_concurrent_consumers_share_one_pump() -> None:
    run = await _graph(transformers=[UpdatesTransformer]).astream_events({"xs": []}, version="v3")

    async def drain(ch: Any) -> list[Any]:
        return [x async for x in ch]

    values, updates = await asyncio.gather(drain(run.values), drain(run.updates))
    assert values == [{"xs": []}, {"xs": ["a"]}, {"xs": ["a", "b"]}]
    assert updates == [{"a": {"xs": ["a"]}}, {"b": {"xs": ["b"]}}]


def test_interleave_orders_items_across_projections() -> None:
    run = _graph(transformers=[UpdatesTransformer]).stream_events({"xs": []}, version="v3")
    got = [(name, item) for name, item in run.interleave("values", "updates")]
    assert [n for n, _ in got] == ["values", "updates", "values", "updates", "values"]
