"""langgraph.json loading and the ``asyncgraph dev`` command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from asyncgraph.__main__ import main
from asyncgraph.server import ConfigError, create_app, load_config

APP = Path(__file__).parent / "app" / "langgraph.json"


def _write(tmp_path: Path, config: object, files: dict[str, str] | None = None) -> Path:
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text)
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps(config) if not isinstance(config, str) else config)
    return path


def test_env_and_dependencies_are_applied(monkeypatch):
    monkeypatch.delenv("ASYNCGRAPH_TEST_ENV", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    cfg = load_config(APP)
    assert sorted(cfg.graphs) == ["agent", "chatty", "factory", "hitl", "parent", "remember", "slow", "steps"]
    cfg.apply_environment()
    assert os.environ["ASYNCGRAPH_TEST_ENV"] == "from-langgraph-json"
    assert str(APP.parent.resolve()) in sys.path


@pytest.mark.parametrize(
    ("config", "files", "message"),
    [
        ("{oops", {}, "not valid JSON"),
        ({"graphs": {}}, {}, "'graphs' must map"),
        ({"graphs": {"g": "./g.py"}}, {}, "graph 'g': './g.py' must look like"),
        ({"graphs": {"g": "./missing.py:graph"}}, {}, "graph 'g': file .*missing.py.* does not exist"),
        ({"graphs": {"g": "./g.py:nothere"}}, {"g.py": "x = 1\n"}, "graph 'g': .*has no variable 'nothere'"),
        ({"graphs": {"g": "./g.py:x"}}, {"g.py": "raise RuntimeError('broken module')\n"}, "graph 'g': importing .*broken module"),
        ({"graphs": {"g": "./g.py:x"}}, {"g.py": "x = 1\n"}, "graph 'g': './g.py:x' is int, not a compiled graph"),
        ({"graphs": {"g": "./g.py:x"}, "env": 3}, {"g.py": "x = 1\n"}, "'env' must be"),
        ({"graphs": {"g": "./g.py:x"}, "env": ".env.missing"}, {}, "env file .* does not exist"),
        ({"graphs": {"g": "./g.py:x"}, "checkpointer": {"ttl": {"strategy": "archive"}}}, {"g.py": "x = 1\n"},
         "checkpointer.ttl.strategy 'archive' is not supported"),
        ({"graphs": {"g": "./g.py:x"}, "checkpointer": {"ttl": {"default_ttl": "1d"}}}, {"g.py": "x = 1\n"},
         "checkpointer.ttl.default_ttl must be a positive number of minutes, got '1d'"),
    ],
)
def test_bad_config_names_the_graph_and_path(tmp_path, config, files, message):
    path = _write(tmp_path, config, files)
    with pytest.raises(ConfigError, match=message):
        app = create_app(path)
        # Graph objects are checked when first built: a non-graph fails there.
        import asyncio

        asyncio.run(app.state.services.graphs.get("g"))


def test_env_file(tmp_path, monkeypatch):
    monkeypatch.delenv("AG_FROM_FILE", raising=False)
    path = _write(tmp_path, {"graphs": {"g": "./g.py:x"}, "env": ".env"}, {".env": "export AG_FROM_FILE='yes'\n# c\n"})
    load_config(path).apply_environment()
    assert os.environ["AG_FROM_FILE"] == "yes"
    monkeypatch.delenv("AG_FROM_FILE")


def test_cli_dev_reports_config_errors(tmp_path, capsys):
    assert main(["dev", "--config", str(tmp_path / "none.json")]) == 2
    assert "no such config file" in capsys.readouterr().err


def test_cli_help_lists_dev_and_run(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "asyncgraph dev" in out and "run SCRIPT.py" in out


GRAPH_V = """
from typing_extensions import TypedDict
from asyncgraph.graph import START, StateGraph


class S(TypedDict):
    v: int


def node(state: S) -> dict:
    return {{"v": {value}}}


_b = StateGraph(S)
_b.add_node("node", node)
_b.add_edge(START, "node")
graph = _b.compile()
"""


def test_dev_reloads_the_graphs_when_their_code_changes(tmp_path):
    """`asyncgraph dev` (reload is the default) serves the new code after a graph file
    changes, keeping its threads (SQLite); `--no-reload` keeps serving the code it started with."""
    import signal
    import socket
    import subprocess
    import time

    import httpx

    (tmp_path / "g.py").write_text(GRAPH_V.format(value=1))
    path = _write(tmp_path, {"graphs": {"g": "./g.py:graph"}})

    def start(*extra: str) -> tuple[subprocess.Popen[bytes], str]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.Popen(
            [sys.executable, "-m", "asyncgraph", "dev", "--config", str(path), "--port", str(port),
             "--data-dir", str(tmp_path / "data"), *extra],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
        )
        return proc, f"http://127.0.0.1:{port}"

    def value(url: str, deadline: float) -> int | None:
        while time.monotonic() < deadline:
            try:
                r = httpx.post(f"{url}/runs/wait", json={"assistant_id": "g", "input": {"v": 0}}, timeout=5)
                if r.status_code == 200:
                    return int(r.json()["v"])
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        return None

    def stop(proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    proc, url = start()
    try:
        assert value(url, time.monotonic() + 60) == 1
        tid = httpx.post(f"{url}/threads", json={}, timeout=5).json()["thread_id"]
        (tmp_path / "g.py").write_text(GRAPH_V.format(value=2))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and value(url, deadline) != 2:
            time.sleep(0.2)
        assert value(url, time.monotonic() + 10) == 2
        assert httpx.get(f"{url}/threads/{tid}", timeout=5).status_code == 200
    finally:
        stop(proc)

    proc, url = start("--no-reload")
    try:
        assert value(url, time.monotonic() + 60) == 2
        (tmp_path / "g.py").write_text(GRAPH_V.format(value=3))
        time.sleep(2.0)  # (the reloader polls every 0.25 s)
        assert value(url, time.monotonic() + 10) == 2
    finally:
        stop(proc)


def test_worker_runs_on_uvloop_when_it_is_installed(monkeypatch):
    """``asyncgraph worker`` picks its event loop as uvicorn's ``loop="auto"`` does for
    ``serve`` and ``dev``: uvloop's when the package is importable, asyncio's otherwise."""
    import types

    from asyncgraph.server._serve import event_loop_factory

    monkeypatch.setitem(sys.modules, "uvloop", None)  # (not installed)
    assert event_loop_factory() is None
    fake = types.ModuleType("uvloop")
    fake.new_event_loop = lambda: "a uvloop loop"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uvloop", fake)
    assert event_loop_factory()() == "a uvloop loop"
