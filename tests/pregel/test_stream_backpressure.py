"""A stream does not let a node run far ahead of a slow reader, and a node writing to a
stream nobody reads any more is stopped.

A sync node runs in a worker thread; its ``get_stream_writer()`` chunks wait for the
reader once ``STREAM_BUFFER`` of them are unread. When the reader leaves (``break`` out
of the stream, ``aclose``), the node's next write raises ``StreamClosedError``: a thread
cannot be cancelled, so that is what stops it.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, TypedDict

import pytest

from asyncgraph.config import get_stream_writer
from asyncgraph.errors import StreamClosedError
from asyncgraph.graph import END, START, StateGraph
from asyncgraph.pregel._stream import STREAM_BUFFER

N = STREAM_BUFFER * 6


class S(TypedDict):
    n: int


class Producer:
    """A sync node that writes ``limit`` custom chunks as fast as it can, counting them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.written = 0
        self.error: BaseException | None = None
        self.exited = threading.Event()

    def __call__(self, state: S) -> dict[str, Any]:
        write = get_stream_writer()
        try:
            for i in range(self.limit):
                write(i)
                self.written += 1
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self.exited.set()
        return {"n": self.limit}


def _graph(producer: Producer) -> Any:
    g = StateGraph(S)
    g.add_node("produce", producer)
    g.add_edge(START, "produce")
    g.add_edge("produce", END)
    return g.compile()


async def test_a_slow_reader_holds_a_sync_node_back() -> None:
    producer = Producer(N)
    taken = 0
    ahead = 0
    async for chunk in _graph(producer).astream({"n": 0}, stream_mode="custom"):
        assert chunk == taken
        taken += 1
        ahead = max(ahead, producer.written - taken)
        if taken % 64 == 0:
            await asyncio.sleep(0.001)  # a reader slower than the node
    assert taken == N
    # The node never got more than the buffer (plus the chunk it was writing) ahead.
    assert ahead <= STREAM_BUFFER + 1


def test_sync_stream_reads_a_sync_node_as_it_writes() -> None:
    producer = Producer(N)
    taken = 0
    ahead = 0
    for chunk in _graph(producer).stream({"n": 0}, stream_mode="custom"):
        assert chunk == taken
        taken += 1
        ahead = max(ahead, producer.written - taken)
    assert taken == N
    assert ahead <= STREAM_BUFFER + 1


@pytest.mark.parametrize("api", ["astream", "stream"])
async def test_an_abandoned_stream_stops_a_sync_node(api: str) -> None:
    producer = Producer(10**7)
    app = _graph(producer)
    if api == "astream":
        stream = app.astream({"n": 0}, stream_mode="custom")
        async for chunk in stream:
            if chunk == 3:
                break
        await stream.aclose()
    else:

        def read() -> None:
            for chunk in app.stream({"n": 0}, stream_mode="custom"):
                if chunk == 3:
                    break

        await asyncio.to_thread(read)
    # The node's next write after the reader left raised, and the thread ended.
    assert await asyncio.to_thread(producer.exited.wait, 30)
    assert isinstance(producer.error, StreamClosedError)
    assert producer.written < 4 + STREAM_BUFFER + 1
