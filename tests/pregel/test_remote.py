"""RemoteGraph against a tiny fake LangGraph Server (127.0.0.1, a thread of this test),
side by side with LangGraph's RemoteGraph talking to the same server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip("langgraph_sdk")

from langgraph.pregel.remote import RemoteGraph as LGRemoteGraph  # noqa: E402

from asyncgraph.pregel.remote import RemoteException, RemoteGraph  # noqa: E402
from asyncgraph.types import Command, GraphOutput, StateSnapshot  # noqa: E402

CP = {"thread_id": "t1", "checkpoint_ns": "", "checkpoint_id": "c2", "checkpoint_map": {}}
STATE = {
    "values": {"xs": ["x"]},
    "next": ["ask"],
    "tasks": [{"id": "k1", "name": "ask", "error": None, "state": None, "checkpoint": None, "result": None,
               "interrupts": [{"value": "name?", "id": "i1"}]}],
    "metadata": {"step": 1, "source": "loop"},
    "created_at": "2026-01-01T00:00:00Z",
    "checkpoint": CP,
    "parent_checkpoint": {**CP, "checkpoint_id": "c1"},
    "interrupts": [],
}


def _events(body: dict[str, Any]) -> list[tuple[str, Any]]:
    """The fake graph: appends "x" (or the resume value); pauses when asked; fails when asked."""
    inp = body.get("input") or {}
    resume = (body.get("command") or {}).get("resume")
    out: list[tuple[str, Any]] = [("metadata", {"run_id": "r1"}), ("values", {"xs": []})]
    if inp.get("fail"):
        return [*out, ("error", {"error": "ValueError", "message": "boom"})]
    if inp.get("ask"):
        intr = [{"value": "name?", "id": "i1"}]
        return [*out, ("updates", {"__interrupt__": intr}), ("values", {"xs": [], "__interrupt__": intr})]
    got = resume if resume is not None else "x"
    if body.get("stream_subgraphs"):
        out.append(("values|sub:1", {"ys": [got]}))
    return [*out, ("updates", {"n": {"xs": [got]}}), ("values", {"xs": [got]})]


class _Server(BaseHTTPRequestHandler):
    requests: list[tuple[str, str, Any]] = []

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _json(self, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        n = int(self.headers.get("content-length") or 0)
        return json.loads(self.rfile.read(n) or b"null")

    def do_GET(self) -> None:
        self.requests.append(("GET", self.path, None))
        if self.path.startswith("/threads/t1/state"):
            self._json(STATE)
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        body = self._body()
        self.requests.append(("POST", self.path, body))
        if self.path.endswith("/runs/stream"):
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            for event, data in _events(body):
                self.wfile.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()
            self.close_connection = True
        elif self.path == "/threads/t1/state/checkpoint":
            self._json(STATE)
        elif self.path == "/threads/t1/state":
            self._json({"checkpoint": {**CP, "checkpoint_id": "c3"}})
        elif self.path == "/threads/t1/history":
            self._json([STATE, {**STATE, "checkpoint": {**CP, "checkpoint_id": "c1"}, "parent_checkpoint": None}])
        else:
            self.send_error(404)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _both(url: str) -> list[Any]:
    return [LGRemoteGraph("agent", url=url, api_key="k"), RemoteGraph("agent", url=url, api_key="k")]


def _same(results: list[Any]) -> Any:
    assert results[1] == results[0]
    return results[1]


CFG = {"configurable": {"thread_id": "t1"}}


def test_invoke_and_stream_shapes_match_langgraph(url: str) -> None:
    assert _same([g.invoke({"xs": []}, CFG) for g in _both(url)]) == {"xs": ["x"]}
    assert _same([list(g.stream({"xs": []}, CFG)) for g in _both(url)]) == [{"n": {"xs": ["x"]}}]
    _same([list(g.stream({"xs": []}, CFG, stream_mode=["values", "updates"])) for g in _both(url)])
    got = _same([list(g.stream({"xs": []}, CFG, stream_mode="values", subgraphs=True)) for g in _both(url)])
    assert (("sub:1",), {"ys": ["x"]}) in got
    _same([list(g.stream({"xs": []}, CFG, stream_mode="values", version="v2")) for g in _both(url)])
    outs = [g.invoke({"xs": []}, CFG, version="v2") for g in _both(url)]
    assert isinstance(outs[1], GraphOutput)
    assert _same([(o.value, o.interrupts) for o in outs]) == ({"xs": ["x"]}, ())


def test_request_carries_thread_input_command_and_config(url: str) -> None:
    from langgraph.types import Command as LGCommand

    _Server.requests.clear()
    for g, command in zip(_both(url), (LGCommand(resume="ada"), Command(resume="ada"))):
        g.invoke(command, {"configurable": {"thread_id": "t1", "user": "u"}, "tags": ["a"],
                                         "metadata": {"k": 1, "obj": object()}})
    (_, p1, b1), (_, p2, b2) = _Server.requests
    assert p1 == p2 == "/threads/t1/runs/stream"
    assert b2["command"] == b1["command"]
    assert b2["command"]["resume"] == "ada" and "input" not in b2
    assert b2["config"] == b1["config"] == {"tags": ["a"], "metadata": {"k": 1}, "configurable": {"user": "u"}}
    assert b2["if_not_exists"] == "create" and "updates" in b2["stream_mode"]


def test_interrupt_and_error(url: str) -> None:
    got = _same([g.invoke({"ask": True}, CFG) for g in _both(url)])
    assert got["__interrupt__"][0]["value"] == "name?"
    for g in _both(url):
        with pytest.raises(Exception, match="boom") as err:
            g.invoke({"fail": True}, CFG)
    assert isinstance(err.value, RemoteException)


def test_state_history_and_update(url: str) -> None:
    snaps = [g.get_state(CFG) for g in _both(url)]
    assert isinstance(snaps[1], StateSnapshot)
    for field in ("values", "next", "config", "metadata", "created_at", "parent_config"):
        assert getattr(snaps[1], field) == getattr(snaps[0], field)
    assert snaps[1].interrupts[0].value == "name?" and snaps[1].tasks[0].name == "ask"
    at = {"configurable": {"thread_id": "t1", "checkpoint_id": "c1"}}
    assert _same([g.get_state(at).values for g in _both(url)]) == {"xs": ["x"]}
    hist = _same([[s.config["configurable"]["checkpoint_id"] for s in g.get_state_history(CFG)] for g in _both(url)])
    assert hist == ["c2", "c1"]
    cfg = _same([g.update_state(CFG, {"xs": ["y"]}, as_node="n") for g in _both(url)])
    assert cfg["configurable"]["checkpoint_id"] == "c3"


async def test_async_methods(url: str) -> None:
    g = RemoteGraph("agent", url=url)
    assert await g.ainvoke({"xs": []}, CFG) == {"xs": ["x"]}
    assert [c async for c in g.astream({"xs": []}, CFG, stream_mode="values")] == [{"xs": []}, {"xs": ["x"]}]
    assert (await g.aget_state(CFG)).values == {"xs": ["x"]}
    assert (await g.aupdate_state(CFG, {"xs": ["y"]}))["configurable"]["checkpoint_id"] == "c3"


def test_missing_client_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="provide `url` or `sync_client`"):
        RemoteGraph("agent").invoke({})
