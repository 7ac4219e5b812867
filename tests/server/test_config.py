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
