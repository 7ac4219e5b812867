"""``langgraph.json``: which graphs the server serves, and how to load them.

The format is LangGraph's: ``graphs`` maps a graph id to ``"./path.py:variable"`` (or
``"package.module:variable"``), where the variable is a compiled graph, a builder with
``.compile()``, or a factory taking a ``RunnableConfig`` (sync or async) that returns
either. ``dependencies`` lists directories put on ``sys.path``; ``env`` is a mapping or the
path of a ``.env`` file. Errors name the graph id and the path at fault.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["TTL_STRATEGIES", "ConfigError", "GraphSpec", "ServerConfig", "ThreadTTL", "load_config", "load_variable"]


class ConfigError(ValueError):
    """``langgraph.json`` (or a graph it names) cannot be loaded; the message says where."""


@dataclass(frozen=True)
class GraphSpec:
    """One entry of ``graphs``: ``graph_id -> "./path.py:variable"``."""

    graph_id: str
    location: str
    base_dir: Path

    def load_object(self) -> Any:
        """Import the module and return the named variable (not yet compiled)."""
        return load_variable(f"graph {self.graph_id!r}", self.location, self.base_dir, f"graph_{self.graph_id}")


def load_variable(label: str, location: str, base_dir: Path, module_tag: str) -> Any:
    """The variable ``location`` names (``"./file.py:name"`` or ``"package.module:name"``).

    ``label`` says in errors what the entry is (``graph 'agent'``, ``auth``); a file is
    imported as the module ``_asyncgraph_server_<module_tag>_<hash of its path>``.
    """
    module_ref, sep, attr = location.rpartition(":")
    if not sep or not module_ref or not attr:
        raise ConfigError(f"{label}: {location!r} must look like './file.py:variable'")
    if module_ref.endswith(".py") or "/" in module_ref:
        path = (base_dir / module_ref).resolve()
        if not path.is_file():
            raise ConfigError(f"{label}: file {str(path)!r} does not exist")
        name = f"_asyncgraph_server_{module_tag}_{abs(hash(str(path)))}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"{label}: cannot import {str(path)!r}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            raise ConfigError(f"{label}: importing {str(path)!r} failed: {exc!r}") from exc
    else:
        try:
            module = importlib.import_module(module_ref)
        except Exception as exc:
            raise ConfigError(f"{label}: importing module {module_ref!r} failed: {exc!r}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{label}: {module_ref!r} has no variable {attr!r}") from None


TTL_STRATEGIES = ("delete", "keep_latest")
"""What a thread's expiry does: delete it, or keep it with its latest checkpoint only."""


@dataclass(frozen=True)
class ThreadTTL:
    """``checkpointer.ttl``: a thread idle for ``default_minutes`` (or for the ``ttl`` it
    was given) is swept by a sweep every ``sweep_minutes``: deleted with its runs and
    checkpoints (``strategy`` ``"delete"``), or left with its latest checkpoint only
    (``"keep_latest"``; a thread's own ``ttl`` carries its own strategy)."""

    default_minutes: float | None = None
    sweep_minutes: float = 5
    strategy: str = "delete"


@dataclass
class ServerConfig:
    """A parsed ``langgraph.json``."""

    graphs: dict[str, GraphSpec]
    base_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def store_options(self) -> dict[str, Any]:
        """``store`` of ``langgraph.json`` as keyword arguments of a store (``index``,
        ``ttl``), with ``index.embed`` resolved: a ``"./file.py:function"`` (an embedding
        function or ``Embeddings`` object) is imported; a ``"provider:model"`` string is left
        to the store (it needs the ``langchain`` package)."""
        section = self.raw.get("store")
        if section is None:
            return {}
        if not isinstance(section, dict):
            raise ConfigError("'store' must be an object with 'index' and/or 'ttl'")
        out: dict[str, Any] = {}
        index = section.get("index")
        if index is not None:
            if not isinstance(index, dict) or not isinstance(index.get("dims"), int) or "embed" not in index:
                raise ConfigError(
                    f"store.index must be an object with 'embed' and an integer 'dims', got {index!r}"
                )
            index = dict(index)
            embed = index["embed"]
            if isinstance(embed, str) and (embed.startswith((".", "/")) or ".py:" in embed):
                index["embed"] = load_variable("store.index.embed", embed, self.base_dir, "store_embed")
            out["index"] = index
        if section.get("ttl") is not None:
            if not isinstance(section["ttl"], dict):
                raise ConfigError(f"store.ttl must be an object, got {section['ttl']!r}")
            out["ttl"] = section["ttl"]
        return out

    def thread_ttl(self) -> ThreadTTL:
        """``checkpointer.ttl`` of ``langgraph.json``: threads' default time to live and how
        often expired threads are swept.

        Raises:
            ConfigError: the section is malformed (checked at start).
        """
        checkpointer = self.raw.get("checkpointer")
        if checkpointer is not None and not isinstance(checkpointer, dict):
            raise ConfigError(f"'checkpointer' must be an object, got {checkpointer!r}")
        section = (checkpointer or {}).get("ttl")
        if section is None:
            return ThreadTTL()
        if not isinstance(section, dict):
            raise ConfigError(f"checkpointer.ttl must be an object, got {section!r}")
        strategy = section.get("strategy", "delete")
        if strategy not in TTL_STRATEGIES:
            raise ConfigError(f"checkpointer.ttl.strategy {strategy!r} is not supported (only 'delete' or 'keep_latest')")
        default, sweep = section.get("default_ttl"), section.get("sweep_interval_minutes", 5)
        for name, value in (("default_ttl", default), ("sweep_interval_minutes", sweep)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise ConfigError(f"checkpointer.ttl.{name} must be a positive number of minutes, got {value!r}")
        return ThreadTTL(default_minutes=default, sweep_minutes=sweep, strategy=strategy)

    def apply_environment(self) -> None:
        """Export ``env`` (without overriding what is set) and put ``dependencies`` on sys.path."""
        for key, value in self.env.items():
            os.environ.setdefault(key, value)
        for dep in reversed(self.dependencies):
            path = str((self.base_dir / dep).resolve())
            if path not in sys.path:
                sys.path.insert(0, path)


def _read_env_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return out


def load_config(path: str | os.PathLike[str]) -> ServerConfig:
    """Parse ``langgraph.json`` at ``path``; raise :class:`ConfigError` on anything wrong."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{str(file)!r}: no such config file")
    try:
        raw = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{str(file)!r}: not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{str(file)!r}: the top level must be an object")
    base = file.resolve().parent
    graphs_raw = raw.get("graphs")
    if not isinstance(graphs_raw, dict) or not graphs_raw:
        raise ConfigError(f"{str(file)!r}: 'graphs' must map graph ids to './file.py:variable'")
    graphs: dict[str, GraphSpec] = {}
    for graph_id, location in graphs_raw.items():
        if isinstance(location, dict):  # {"path": ..., "description": ...}
            location = location.get("path")
        if not isinstance(location, str) or ":" not in location:
            raise ConfigError(
                f"{str(file)!r}: graph {graph_id!r}: {location!r} must look like './file.py:variable'"
            )
        graphs[graph_id] = GraphSpec(graph_id, location, base)
    env_raw = raw.get("env", {})
    if isinstance(env_raw, str):
        env_file = base / env_raw
        if not env_file.is_file():
            raise ConfigError(f"{str(file)!r}: env file {str(env_file)!r} does not exist")
        env = _read_env_file(env_file)
    elif isinstance(env_raw, dict):
        env = {str(k): str(v) for k, v in env_raw.items()}
    else:
        raise ConfigError(f"{str(file)!r}: 'env' must be an object or the path of a .env file")
    deps = raw.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise ConfigError(f"{str(file)!r}: 'dependencies' must be a list of paths")
    return ServerConfig(graphs=graphs, base_dir=base, env=env, dependencies=deps, raw=raw)


async def materialize(spec: GraphSpec, obj: Any, config: dict[str, Any], **compile_kwargs: Any) -> Any:
    """Turn the configured variable into a compiled graph wired to the server's saver/store.

    A compiled graph is copied with the server's checkpointer and store; a builder is compiled
    with them; a factory is called with ``config`` (awaited if async) and its result treated
    the same way.
    """
    if hasattr(obj, "astream") and hasattr(obj, "aget_state"):
        update = {k: v for k, v in compile_kwargs.items() if v is not None}
        return obj.copy(update) if hasattr(obj, "copy") else obj
    if hasattr(obj, "compile") and callable(obj.compile):
        return obj.compile(**compile_kwargs)
    if callable(obj):
        try:
            sig = inspect.signature(obj)
            result = obj(config) if sig.parameters else obj()
        except Exception as exc:
            raise ConfigError(f"graph {spec.graph_id!r}: the factory raised {exc!r}") from exc
        if inspect.isawaitable(result):
            result = await result
        if hasattr(result, "__aenter__"):
            raise ConfigError(
                f"graph {spec.graph_id!r}: context-manager factories are not supported yet"
            )
        if callable(result) and not hasattr(result, "astream") and not hasattr(result, "compile"):
            raise ConfigError(f"graph {spec.graph_id!r}: the factory returned {result!r}, not a graph")
        return await materialize(spec, result, config, **compile_kwargs)
    raise ConfigError(
        f"graph {spec.graph_id!r}: {spec.location!r} is {type(obj).__name__}, "
        "not a compiled graph, a builder or a factory"
    )
