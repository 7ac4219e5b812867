"""The ids ``add_messages`` gives messages that come without one."""

from __future__ import annotations

import os
import sys
import threading
import uuid

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from asyncgraph._ids import uuid4_str
from asyncgraph.graph.message import add_messages


def test_ids_are_random_uuid4_strings() -> None:
    merged = add_messages([HumanMessage("hi")], [AIMessage("a"), AIMessage("b")])
    ids = [m.id for m in merged]
    assert len(set(ids)) == 3
    for i in ids:
        parsed = uuid.UUID(i)
        assert str(parsed) == i  # canonical lowercase 8-4-4-4-12 form
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_no_two_threads_get_the_same_id() -> None:
    # Crosses many 256-id batch refills while eight threads draw at once.
    per_thread: list[list[str]] = [[] for _ in range(8)]

    def draw(out: list[str]) -> None:
        out.extend(uuid4_str() for _ in range(5000))

    threads = [threading.Thread(target=draw, args=(out,)) for out in per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for out in per_thread for i in out]
    assert len(set(everything)) == len(everything) == 40000


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin", reason="needs fork")
def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    uuid4_str()  # the batch is started, so the child inherits a half-used one
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_end)
        os.write(write_end, "\n".join(uuid4_str() for _ in range(300)).encode())
        os._exit(0)
    os.close(write_end)
    parent_ids = {uuid4_str() for _ in range(300)}
    with os.fdopen(read_end) as f:
        child_ids = set(f.read().split("\n"))
    os.waitpid(pid, 0)
    assert len(child_ids) == 300
    assert not parent_ids & child_ids


def test_a_patched_uuid4_gives_the_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests make ids deterministic by patching uuid.uuid4 (LangGraph's suite does).
    fixed = iter(uuid.UUID(f"00000000-0000-4000-8000-{i:012}") for i in range(10))
    monkeypatch.setattr(uuid, "uuid4", lambda: next(fixed))
    merged = add_messages([HumanMessage("a")], [AIMessage("b")])
    assert [m.id for m in merged] == ["00000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-000000000001"]
