"""A thread whose run failed or was cancelled still accepts the next input.

A run can stop anywhere: applying its input can fail (``add_messages`` rejects a
malformed message), or it can be cancelled (or its process killed) between the input
checkpoint and its first step, or anywhere after. Whatever the thread holds then, the
next input on it must run normally, as LangGraph's does.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncgraph.checkpoint.memory import InMemorySaver
from asyncgraph.checkpoint.sqlite import SqliteSaver
from asyncgraph.graph import END, START, StateGraph
from asyncgraph.graph.message import add_messages


class State(TypedDict):
    messages: Annotated[list[Any], add_messages]


class CancelAt:
    """Cancels the running run at its ``at``-th observable point: a saver call (before
    or after it stores) or a node's start. Points are counted per run."""

    def __init__(self) -> None:
        self.at: int | None = None
        self.after = False
        self.count = 0

    async def point(self, after: bool) -> None:
        if self.at is None or after != self.after:
            return
        self.count += 1
        if self.count == self.at:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            await asyncio.sleep(0)  # raises CancelledError here


def _hooked(base: type, hook: CancelAt) -> type:
    class Hooked(base):  # type: ignore[valid-type, misc]
        async def aput(self, *args: Any, **kwargs: Any) -> Any:
            await hook.point(after=False)
            out = await super().aput(*args, **kwargs)
            await hook.point(after=True)
            return out

        async def aput_writes(self, *args: Any, **kwargs: Any) -> Any:
            await hook.point(after=False)
            out = await super().aput_writes(*args, **kwargs)
            await hook.point(after=True)
            return out

    return Hooked


def _graph(saver: Any, hook: CancelAt) -> Any:
    async def agent(state: State) -> dict[str, Any]:
        await hook.point(after=False)
        await asyncio.sleep(0)
        return {"messages": [("ai", f"re: {state['messages'][-1].content}")]}

    async def tidy(state: State) -> dict[str, Any]:
        await hook.point(after=False)
        return {}

    g = StateGraph(State)
    g.add_node("agent", agent)
    g.add_node("tidy", tidy)
    g.add_edge(START, "agent")
    g.add_edge("agent", "tidy")
    g.add_edge("tidy", END)
    return g.compile(checkpointer=saver)


@contextmanager
def _saver(kind: str, hook: CancelAt, tmp: Path) -> Iterator[Any]:
    if kind == "memory":
        yield _hooked(InMemorySaver, hook)()
        return
    conn = sqlite3.connect(tmp / "threads.db", check_same_thread=False, isolation_level=None)
    try:
        saver = _hooked(SqliteSaver, hook)(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()


# One operation on the thread: a malformed input, or a good one cancelled at a point
# (None: left to finish).
OPS = st.one_of(
    st.just(("malformed", None, False)),
    st.tuples(st.just("cancel"), st.integers(1, 6), st.booleans()),
    st.just(("finish", None, False)),
)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(OPS, min_size=1, max_size=4))
def test_thread_accepts_next_input_after_failure_or_cancel(kind: str, ops: list[Any], tmp_path_factory: Any) -> None:
    tmp = tmp_path_factory.mktemp("recovery")
    hook = CancelAt()

    async def main(app: Any) -> None:
        config = {"configurable": {"thread_id": "t"}}
        for i, (op, at, after) in enumerate(ops):
            hook.at, hook.after, hook.count = at, after, 0
            if op == "malformed":
                with pytest.raises(ValueError, match="role"):
                    await app.ainvoke({"messages": [{"bogus": i}]}, config)
            elif op == "cancel":
                try:
                    await app.ainvoke({"messages": [("user", f"m{i}")]}, config)
                except asyncio.CancelledError:
                    # Only the test's own cancel: uncancel so the test task goes on.
                    current = asyncio.current_task()
                    assert current is not None
                    current.uncancel()
            else:
                await app.ainvoke({"messages": [("user", f"m{i}")]}, config)
        hook.at = None
        out = await app.ainvoke({"messages": [("user", "last")]}, config)
        contents = [m.content for m in out["messages"]]
        assert contents[-2:] == ["last", "re: last"], contents
        state = await app.aget_state(config)
        assert state.next == ()
        assert [m.content for m in state.values["messages"]][-2:] == ["last", "re: last"]

    with _saver(kind, hook, tmp) as saver:
        asyncio.run(main(_graph(saver, hook)))


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_malformed_input_then_good_input(kind: str, tmp_path: Path) -> None:
    hook = CancelAt()
    with _saver(kind, hook, tmp_path) as saver:
        app = _graph(saver, hook)
        config = {"configurable": {"thread_id": "t"}}
        with pytest.raises(ValueError, match="role"):
            app.invoke({"messages": [{"bogus": 1}]}, config)
        out = app.invoke({"messages": [("user", "hi")]}, config)
        assert [m.content for m in out["messages"]] == ["hi", "re: hi"]
