"""``install_as_langgraph()``: make ``import langgraph...`` load asyncgraph.

Libraries built on LangGraph (LangChain's ``create_agent``, supervisors, swarms ...)
import ``langgraph`` inside their own code, so replacing the imports in an application
cannot reach them. After :func:`install_as_langgraph`, every ``langgraph.X`` imported in
the process, by anyone, is asyncgraph's ``asyncgraph.X``: the very same module object
under both names, so classes, ``isinstance`` checks and module-level state agree. The
real ``langgraph`` distribution may stay installed (LangChain depends on it); it is
never loaded, not even as a fallback for a path asyncgraph lacks (that import fails,
naming the missing asyncgraph module).

Three ways to switch, all equivalent:

- ``asyncgraph.install_as_langgraph()`` at the top of the entry point, before anything
  imports ``langgraph``;
- ``ASYNCGRAPH_AS_LANGGRAPH=1`` in the environment (read at interpreter start by the
  ``asyncgraph_as_langgraph.pth`` hook that the package installs);
- ``python -m asyncgraph run app.py`` or ``python -m asyncgraph run -m package.module``.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
import _thread
from types import ModuleType
from typing import Any

__all__ = ["ENV_VAR", "LangGraphAliasError", "install_as_langgraph", "is_installed"]

ENV_VAR = "ASYNCGRAPH_AS_LANGGRAPH"
"""Set to ``1`` to call :func:`install_as_langgraph` when the interpreter starts."""

_ALIAS = "langgraph"
_TARGET = "asyncgraph"
_lock = _thread.allocate_lock()  # _thread, not threading: this may run at interpreter start


class LangGraphAliasError(ImportError):
    """``install_as_langgraph()`` was called after ``langgraph`` had been imported.

    Modules imported before the switch are LangGraph's and would be mixed with
    asyncgraph's afterwards (two ``StateGraph`` classes, two ``Command`` classes ...).
    """


def _target_name(fullname: str) -> str:
    return _TARGET + fullname[len(_ALIAS) :]


def _is_alias(fullname: str) -> bool:
    return fullname == _ALIAS or fullname.startswith(_ALIAS + ".")


class _SameModuleLoader:
    """Hands the import system an already loaded asyncgraph module.

    The import system stamps the new name's spec on the module it gets; that stamp is
    undone so that ``asyncgraph.X.__spec__`` keeps describing ``asyncgraph.X``.
    """

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.spec = module.__spec__

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return self.module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self.spec


class LangGraphAliasFinder:
    """Resolves ``langgraph`` and ``langgraph.*`` to ``asyncgraph`` and ``asyncgraph.*``."""

    def find_spec(
        self,
        fullname: str,
        path: object = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if not _is_alias(fullname):
            return None
        name = _target_name(fullname)
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            missing = exc.name or name
            if not (missing == name or name.startswith(missing + ".")):
                raise  # asyncgraph.X exists but imports something that is not installed
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: install_as_langgraph() maps it to "
                f"{name!r}, which asyncgraph does not provide (module {missing!r} is "
                "missing). The real langgraph is not used as a fallback.",
                name=fullname,
            ) from None
        loader: Any = _SameModuleLoader(module)
        return importlib.machinery.ModuleSpec(
            fullname,
            loader,
            is_package=hasattr(module, "__path__"),
        )

    def __repr__(self) -> str:
        return "<asyncgraph LangGraphAliasFinder>"


def _foreign_langgraph_modules() -> list[str]:
    """Names of ``langgraph`` modules already imported that are not asyncgraph's."""
    found = []
    for name, module in list(sys.modules.items()):
        if not _is_alias(name) or module is None:
            continue
        if getattr(module, "__name__", "") != _target_name(name):
            found.append(name)
    return sorted(found, key=lambda n: (n.count("."), "._" in n, n))


def is_installed() -> bool:
    """Whether :func:`install_as_langgraph` is active in this process."""
    return any(isinstance(f, LangGraphAliasFinder) for f in sys.meta_path)


def install_as_langgraph() -> None:
    """Make every later ``import langgraph...`` in the process load asyncgraph's module.

    ``langgraph.X`` (including the paths of LangGraph's separate distributions:
    ``langgraph.checkpoint.*``, ``langgraph.store.*``, ``langgraph.prebuilt``,
    ``langgraph.cache.*``) becomes the module object ``asyncgraph.X``. Calling it again
    does nothing.

    Raises:
        LangGraphAliasError: some ``langgraph`` module was already imported (its names
            are listed); call this before anything imports ``langgraph``, or switch at
            interpreter start with ``ASYNCGRAPH_AS_LANGGRAPH=1``.

    After it, importing a ``langgraph`` path that asyncgraph does not have raises
    ``ModuleNotFoundError`` naming the missing asyncgraph module; the real LangGraph
    is never loaded.
    """
    with _lock:
        if is_installed():
            return
        foreign = _foreign_langgraph_modules()
        if foreign:
            shown = ", ".join(foreign[:8])
            if len(foreign) > 8:
                shown += f" (+{len(foreign) - 8} more)"
            raise LangGraphAliasError(
                "install_as_langgraph() must run before langgraph is imported, but these "
                f"modules were already imported from the real langgraph: {shown}. Call it "
                "at the top of your entry point, or set "
                f"{ENV_VAR}=1 (or run `python -m asyncgraph run ...`) to switch at start."
            )
        sys.meta_path.insert(0, LangGraphAliasFinder())


def install_from_env() -> None:
    """Called by the ``.pth`` hook at interpreter start when :data:`ENV_VAR` is set.

    A failure is reported on stderr rather than raised: an exception in a ``.pth``
    file would only be printed by ``site`` anyway, with a less useful message.
    """
    try:
        install_as_langgraph()
    except Exception as exc:  # pragma: no cover - printed, not raised, by design
        print(f"asyncgraph: {ENV_VAR} is set but the switch failed: {exc}", file=sys.stderr)


def env_enabled(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether :data:`ENV_VAR` asks for the switch (``1``, ``true``, ``yes``, ``on``)."""
    return environ.get(ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on")
