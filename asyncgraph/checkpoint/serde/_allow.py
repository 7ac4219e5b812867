"""Which classes the checkpoint serializer may rebuild from stored bytes.

Stored data names classes by module and qualified name. Rebuilding one means importing
its module and calling into the class, so a database row could otherwise make the
process import and run anything. The serializer only rebuilds classes from this
allowlist, and refuses at write time to store an instance of a class it would later
refuse to read, so a missing entry shows up on the first ``put``, not after a restart.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable

__all__ = ["Allowlist", "allow", "default_allowlist"]

# Packages whose classes are trusted without registration: the ones the engine and the
# message types live in. A prefix ends at a package boundary ("asyncgraph." does not
# match "asyncgraph_evil").
_TRUSTED_PACKAGES = ("langchain_core", "asyncgraph")

# Standard-library classes that are plain containers.
_TRUSTED_CLASSES = frozenset(
    {
        ("collections", "OrderedDict"),
        ("collections", "Counter"),
    }
)


class Allowlist:
    """A set of classes (and whole packages) the serializer may store and rebuild.

    Thread-safe: registration may happen while other threads serialize.
    """

    def __init__(self, items: Iterable[type | str] = (), *, inherit: Allowlist | None = None):
        self._lock = threading.Lock()
        self._classes: set[tuple[str, str]] = set()
        self._packages: set[str] = set()
        self._inherit = inherit
        self.add(*items)

    def add(self, *items: type | str) -> None:
        """Allow classes (pass the class) or every class of a package (pass its name).

        ``allow(MyState)`` allows one class; ``allow("myapp.models")`` allows every class
        defined in ``myapp.models`` and its submodules.
        """
        with self._lock:
            for item in items:
                if isinstance(item, type):
                    self._classes.add((item.__module__, item.__qualname__))
                elif isinstance(item, str) and item:
                    self._packages.add(item.rstrip("."))
                else:
                    raise TypeError(f"allow() takes classes or package names, not {item!r}")

    def allows(self, module: str, qualname: str) -> bool:
        if "<locals>" in qualname:
            return False  # a class defined inside a function cannot be imported back
        if (module, qualname) in _TRUSTED_CLASSES or (module, qualname) in self._classes:
            return True
        if _under(module, _TRUSTED_PACKAGES) or _under(module, self._packages):
            return True
        return self._inherit is not None and self._inherit.allows(module, qualname)

    def resolve(self, module: str, qualname: str) -> type:
        """Import and return the class, or raise ``LookupError`` if it is not allowed."""
        if not self.allows(module, qualname):
            raise LookupError(
                f"class {module}.{qualname} is not in the checkpoint serializer's allowlist; "
                f"call asyncgraph.checkpoint.serde.allow({qualname}) (or "
                f"allow({module!r}) for the whole module) before reading this checkpoint"
            )
        obj: object = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        if not isinstance(obj, type):
            raise LookupError(f"{module}.{qualname} is not a class")
        return obj

    def not_allowed_message(self, cls: type) -> str:
        if "<locals>" in cls.__qualname__:
            return (
                f"{cls.__module__}.{cls.__qualname__} is defined inside a function, so it "
                "cannot be imported back when the checkpoint is read; define it at module "
                "level"
            )
        return (
            f"{cls.__module__}.{cls.__qualname__} is not in the checkpoint serializer's "
            f"allowlist; call asyncgraph.checkpoint.serde.allow({cls.__qualname__}) once at "
            f"import time (or allow({cls.__module__!r}) for the whole module)"
        )


def _under(module: str, packages: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


_DEFAULT = Allowlist()


def default_allowlist() -> Allowlist:
    """The process-wide allowlist every default serializer consults."""
    return _DEFAULT


def allow(*items: type | str) -> None:
    """Let every default checkpoint serializer store and rebuild these classes.

    Pass classes (``allow(MyState, Priority)``) or package names (``allow("myapp")``).
    Pydantic models, dataclasses, enums, named tuples and exceptions of your own need
    this; ``langchain_core`` and ``asyncgraph`` classes are allowed already.
    """
    _DEFAULT.add(*items)
