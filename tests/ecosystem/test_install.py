"""install_as_langgraph(), the ``.pth`` hook and ``python -m asyncgraph run``.

Each case runs in a fresh interpreter: the alias is process-wide, and this test
process imports the real LangGraph as the oracle.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PTH = ROOT / "asyncgraph_as_langgraph.pth"


def run_python(
    code: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "ASYNCGRAPH_AS_LANGGRAPH"}
    environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), environ.get("PYTHONPATH", "")])
    environ.update(env or {})
    argv = [sys.executable, *args] if args else [sys.executable, "-c", textwrap.dedent(code)]
    return subprocess.run(argv, capture_output=True, text=True, env=environ, cwd=cwd, timeout=120)


def check(code: str, **kwargs: object) -> str:
    proc = run_python(code, **kwargs)  # type: ignore[arg-type]
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_langgraph_paths_are_the_same_module_objects() -> None:
    out = check(
        """
        import asyncgraph
        asyncgraph.install_as_langgraph()
        import langgraph.graph.state, langgraph.types
        from langgraph.graph import StateGraph
        from langgraph.types import Command
        import asyncgraph.graph.state, asyncgraph.types
        assert langgraph.graph.state is asyncgraph.graph.state
        assert StateGraph is asyncgraph.graph.StateGraph
        assert isinstance(Command(goto="x"), asyncgraph.types.Command)
        # the module keeps describing itself under its real name
        assert asyncgraph.graph.state.__spec__.name == "asyncgraph.graph.state"
        print(langgraph.__name__, langgraph.graph.state.__file__.startswith(asyncgraph.__path__[0]))
        """
    )
    assert out.split() == ["asyncgraph", "True"]


def test_the_separate_distributions_paths_are_covered() -> None:
    check(
        """
        import asyncgraph
        asyncgraph.install_as_langgraph()
        import sys
        from langgraph.checkpoint.memory import InMemorySaver
        from langgraph.checkpoint.base import BaseCheckpointSaver
        from langgraph.prebuilt import ToolNode
        from langgraph.cache.memory import InMemoryCache
        import asyncgraph.checkpoint.memory, asyncgraph.prebuilt, asyncgraph.cache.memory
        assert InMemorySaver is asyncgraph.checkpoint.memory.InMemorySaver
        assert ToolNode is asyncgraph.prebuilt.ToolNode
        assert InMemoryCache is asyncgraph.cache.memory.InMemoryCache
        real = [n for n, m in sys.modules.items()
                if n.startswith("langgraph") and not m.__name__.startswith("asyncgraph")]
        assert not real, real
        """
    )


def test_a_graph_built_through_langgraph_names_runs_on_asyncgraph() -> None:
    out = check(
        """
        import asyncgraph
        asyncgraph.install_as_langgraph()
        from typing import Annotated, TypedDict
        import operator
        from langgraph.graph import StateGraph, START
        from langgraph.checkpoint.memory import InMemorySaver

        class S(TypedDict):
            xs: Annotated[list, operator.add]

        g = StateGraph(S)
        g.add_node("a", lambda s: {"xs": ["a"]})
        g.add_edge(START, "a")
        app = g.compile(checkpointer=InMemorySaver())
        print(type(app).__module__.split(".")[0], app.invoke({"xs": []}, {"configurable": {"thread_id": "1"}}))
        """
    )
    assert out.strip() == "asyncgraph {'xs': ['a']}"


def test_missing_path_names_the_asyncgraph_module_and_never_falls_back() -> None:
    out = check(
        """
        import asyncgraph, sys
        asyncgraph.install_as_langgraph()
        try:
            import langgraph.no_such_module
        except ModuleNotFoundError as exc:
            print(exc.name)
            print(exc)
        real = [n for n, m in sys.modules.items()
                if n.startswith("langgraph") and not m.__name__.startswith("asyncgraph")]
        print(real)
        """
    )
    name, message, real = out.strip().splitlines()
    assert name == "langgraph.no_such_module"
    assert "'asyncgraph.no_such_module'" in message
    assert real == "[]"


def test_calling_it_after_langgraph_was_imported_names_the_modules() -> None:
    proc = run_python(
        """
        import langgraph.graph
        import asyncgraph
        asyncgraph.install_as_langgraph()
        """
    )
    assert proc.returncode != 0
    assert "LangGraphAliasError" in proc.stderr
    assert "already imported" in proc.stderr
    assert "real langgraph: langgraph, langgraph.cache," in proc.stderr


def test_a_second_call_does_nothing() -> None:
    out = check(
        """
        import sys, asyncgraph
        asyncgraph.install_as_langgraph()
        import langgraph.graph
        asyncgraph.install_as_langgraph()
        from asyncgraph._install import LangGraphAliasFinder
        print(sum(isinstance(f, LangGraphAliasFinder) for f in sys.meta_path))
        """
    )
    assert out.strip() == "1"


def test_pth_hook_switches_only_when_the_variable_is_set(tmp_path: Path) -> None:
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / PTH.name).write_text(PTH.read_text())
    code = f"""
        import site, sys
        site.addsitedir({str(site_dir)!r})
        import langgraph
        print(langgraph.__name__)
        """
    assert check(code).strip() == "langgraph"
    assert check(code, env={"ASYNCGRAPH_AS_LANGGRAPH": "1"}).strip() == "asyncgraph"
    assert check(code, env={"ASYNCGRAPH_AS_LANGGRAPH": "0"}).strip() == "langgraph"


def test_python_m_asyncgraph_run_script(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        "import sys\nimport langgraph.graph\nprint(langgraph.graph.__name__, sys.argv[1:], __name__)\n"
    )
    proc = run_python("", "-m", "asyncgraph", "run", str(script), "--flag", "x")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "asyncgraph.graph ['--flag', 'x'] __main__"


def test_python_m_asyncgraph_run_module(tmp_path: Path) -> None:
    (tmp_path / "myapp.py").write_text(
        "import sys\nfrom langgraph.types import Send\nprint(Send.__module__, sys.argv[1:])\n"
    )
    proc = run_python("", "-m", "asyncgraph", "run", "-m", "myapp", "a", env={}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "asyncgraph.types ['a']"


def test_python_m_asyncgraph_without_a_command_prints_usage() -> None:
    proc = run_python("", "-m", "asyncgraph", "frobnicate")
    assert proc.returncode == 2
    assert "usage: python -m asyncgraph run" in proc.stderr
