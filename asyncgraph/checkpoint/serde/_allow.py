"""Which classes the checkpoint serializer may rebuild from stored bytes.

Stored data names classes by module and qualified name, and whoever can write a row of the
checkpoint database or of a cache file controls those names. Rebuilding a class from a name
therefore follows three rules:

- The name must be on the allowlist: the built-in trusted set (langchain-core messages,
  ``Document``, ``TextAccessor`` and agent actions, asyncgraph's own value types and
  errors, ``OrderedDict``/``Counter``), the classes a user registered with
  :func:`allow`, or a package a user registered by name. A class defined inside a
  function counts only when registered as a class (a graph registers the classes its
  state declares); the last one registered under a name is the one rebuilt.
- A registered class is found by its name in the registry; nothing is imported. A class
  allowed by package (or by a ``(module, qualname)`` pair) is imported and looked up by
  walking class ``__dict__``\\ s only, never through modules, functions or descriptors,
  and it must report exactly the stored ``__module__`` and ``__qualname__``. So
  ``("asyncgraph.pregel.main", "asyncio.subprocess.subprocess.Popen")`` is refused twice:
  it is not on the list, and the walk would pass through modules.
- A class outside the list is never imported or called. By default (as LangGraph's
  serializer does with a class outside its allowlist) the value is read back as the data
  stored for it (a model's or dataclass's fields as a dict, an enum's value, a named
  tuple's items as a list, a builtin subclass's base value) and a warning is logged once
  per class. A strict serializer raises ``LookupError`` naming it (``ValueError`` out of
  ``loads``) instead.

Storing an instance of a class that is not allowed logs a warning once per class (it will
not read back as itself); a strict serializer refuses it at write time, so a missing entry
shows up on the first ``put``, not after a restart.

The warnings go to the ``asyncgraph.checkpoint.serde`` logger. The classes already warned
about are kept in ``_warned_unregistered_types`` (stored while not allowed) and
``_warned_blocked_types`` (read while not allowed), LangGraph's names for its sets,
importable from ``asyncgraph.checkpoint.serde.jsonplus``; clearing them re-arms the
warnings. Each holds at most ``_MAX_WARNED_TYPES`` names.
"""

from __future__ import annotations

import importlib
import logging
import re
import sys
import threading
from collections.abc import Iterable
from typing import Any, Literal

__all__ = ["Allowlist", "allow", "default_allowlist"]

Name = tuple[str, str]

# Modules whose own classes are trusted: asyncgraph's value types and errors. Only classes
# *defined* in these modules count (not what they import).
_OWN_MODULES = ("asyncgraph.types", "asyncgraph.errors")

# Other trusted classes, by name: plain data that users keep in state. Names a given
# langchain-core version lacks are skipped.
_TRUSTED_NAMES: frozenset[Name] = frozenset(
    {
        ("langchain_core.documents.base", "Document"),
        # what ``message.text`` returns: a str subclass
        ("langchain_core.messages.base", "TextAccessor"),
        # the state of agent-executor style graphs
        ("langchain_core.agents", "AgentAction"),
        ("langchain_core.agents", "AgentActionMessageLog"),
        ("langchain_core.agents", "AgentFinish"),
        ("langchain_core.agents", "AgentStep"),
        ("collections", "OrderedDict"),
        ("collections", "Counter"),
    }
)

logger = logging.getLogger("asyncgraph.checkpoint.serde")

# Classes already warned about, by (module, qualname). Bounded: a program that makes
# classes at run time cannot grow them (or the log) without limit.
_MAX_WARNED_TYPES = 1000
_warned_unregistered_types: set[tuple[str, str]] = set()
_warned_blocked_types: set[tuple[str, str]] = set()
_warned_unreconstructable_types: set[tuple[str, str]] = set()


def warn_once(seen: set[tuple[str, str]], name: tuple[str, str], message: str, *args: object) -> None:
    """Log ``message % args`` as a warning unless ``name`` is in ``seen`` (or ``seen`` is
    full); then remember ``name``."""
    if name in seen or len(seen) >= _MAX_WARNED_TYPES:
        return
    seen.add(name)
    logger.warning(message, *args)


_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\Z")

_trusted_lock = threading.Lock()
_trusted: dict[Name, type] = {}


def trusted_classes() -> dict[Name, type]:
    """The built-in trusted set: ``{(module, qualname): class}``, built on first use."""
    if not _trusted:
        with _trusted_lock:
            if not _trusted:
                _trusted.update(_build_trusted())
    return _trusted


def _build_trusted() -> dict[Name, type]:
    # Imported on first use: langchain_core is heavy at import time, and asyncgraph.types
    # imports the checkpoint package that imports this module.
    import langchain_core.messages as messages

    found: dict[Name, type] = {}
    for name in messages.__all__:
        cls = getattr(messages, name, None)
        if isinstance(cls, type) and issubclass(cls, messages.BaseMessage):
            found[(cls.__module__, cls.__qualname__)] = cls
    for module_name in _OWN_MODULES:
        module = importlib.import_module(module_name)
        for obj in vars(module).values():
            if isinstance(obj, type) and obj.__module__ == module_name:
                found[(module_name, obj.__qualname__)] = obj
    for module_name, qualname in _TRUSTED_NAMES:
        try:
            found[(module_name, qualname)] = import_class(module_name, qualname)
        except LookupError:
            continue
    return found


class Allowlist:
    """A set of classes the serializer may store and rebuild, on top of the trusted set.

    Args:
        items: classes (``MyModel``), ``(module, qualname)`` pairs, or package names
            (``"myapp.models"``: every class defined in it and its submodules).
        inherit: another allowlist whose entries also count (the process-wide one by
            default for serializers that take extra entries).
        trust_defaults: include the built-in trusted set (messages, ``Document``,
            asyncgraph's own types). Only for special-purpose serializers.

    Thread-safe: registration may happen while other threads serialize.
    """

    def __init__(
        self,
        items: Iterable[type | str | tuple[str, ...]] = (),
        *,
        inherit: Allowlist | None = None,
        trust_defaults: bool = True,
    ) -> None:
        self._lock = threading.Lock()
        self._classes: dict[Name, type] = {}
        self._names: set[Name] = set()
        # Replaced, never mutated, so readers on other threads iterate a stable tuple.
        self._packages: tuple[str, ...] = ()
        self._inherit = inherit
        self._trust_defaults = trust_defaults
        self.add(*items)

    def add(self, *items: type | str | tuple[str, ...]) -> None:
        """Allow classes (pass the class), ``(module, qualname)`` pairs, or packages.

        ``allow(MyState)`` allows one class; ``allow("myapp.models")`` allows every class
        defined in ``myapp.models`` and its submodules.
        """
        with self._lock:
            for item in items:
                if isinstance(item, type):
                    self._classes[(item.__module__, item.__qualname__)] = item
                elif isinstance(item, str) and _DOTTED.match(item.rstrip(".")):
                    self._packages = (*self._packages, item.rstrip("."))
                elif isinstance(item, tuple) and _is_name_pair(item):
                    self._names.add((item[0], item[1]))
                else:
                    raise TypeError(
                        "allow() takes classes, (module, qualname) pairs or package names, "
                        f"not {item!r}"
                    )

    def allows(self, module: str, qualname: str) -> bool:
        """Whether instances of the class named so may be stored and read back."""
        return self._find((module, qualname)) is not None

    def resolve(self, module: Any, qualname: Any) -> type:
        """The class stored as ``module.qualname``, or ``LookupError`` if it is not allowed.

        A registered or trusted class is returned without importing anything; a class
        allowed by package or by name is imported and checked (see the module docstring).
        """
        if type(module) is not str or type(qualname) is not str:
            raise LookupError(f"malformed class reference {module!r}, {qualname!r}")
        found = self._find((module, qualname))
        if found is None:
            raise LookupError(
                f"class {module}.{qualname} is not in the checkpoint serializer's allowlist; "
                f"if you stored it, call asyncgraph.checkpoint.serde.allow({qualname}) (or "
                f"allow({module!r}) for the whole module) before reading this checkpoint"
            )
        if isinstance(found, type):
            return found
        return import_class(module, qualname)

    def _find(self, name: Name) -> type | Literal[True] | None:
        """The registered class, True (allowed by name or package: import it), or None."""
        module, qualname = name
        found = self._classes.get(name)
        if found is not None:
            return found
        if "<locals>" in qualname:
            # A class defined inside a function cannot be imported: only one registered
            # as a class object (a graph registers the classes its state declares when
            # it is built) is found again, by name.
            return self._inherit._find(name) if self._inherit is not None else None
        if name in self._names or _under(module, self._packages):
            return True
        if self._inherit is not None:
            inherited = self._inherit._find(name)
            if inherited is not None:
                return inherited
        if self._trust_defaults:
            return trusted_classes().get(name)
        return None

    def not_allowed_message(self, cls: type) -> str:
        if "<locals>" in cls.__qualname__:
            return (
                f"{cls.__module__}.{cls.__qualname__} is defined inside a function, so it "
                "cannot be imported back when the checkpoint is read; define it at module "
                f"level, or register it with asyncgraph.checkpoint.serde.allow({cls.__qualname__.rsplit('.', 1)[-1]}) "
                "in every process that reads the checkpoint"
            )
        return (
            f"{cls.__module__}.{cls.__qualname__} is not in the checkpoint serializer's "
            f"allowlist; call asyncgraph.checkpoint.serde.allow({cls.__qualname__}) once at "
            f"import time (or allow({cls.__module__!r}) for the whole module)"
        )


def import_class(module: str, qualname: str) -> type:
    """Import ``module`` and find ``qualname`` in it by walking class ``__dict__``\\ s only.

    ``LookupError`` unless every step is a class and the result's ``__module__`` and
    ``__qualname__`` are exactly the ones asked for.
    """
    if not (_DOTTED.match(module) and _DOTTED.match(qualname)):
        raise LookupError(f"malformed class reference {module!r}, {qualname!r}")
    mod = sys.modules.get(module)
    if mod is None:
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            raise LookupError(f"cannot import {module} to read class {qualname}: {exc}") from None
    namespace: dict[str, Any] = vars(mod)
    obj: Any = None
    for part in qualname.split("."):
        obj = namespace.get(part)
        if not isinstance(obj, type):
            raise LookupError(f"{module}.{qualname} is not a class defined in {module}")
        namespace = dict(vars(obj))
    assert isinstance(obj, type)
    if obj.__module__ != module or obj.__qualname__ != qualname:
        raise LookupError(
            f"{module}.{qualname} is not a class defined in {module} (found "
            f"{obj.__module__}.{obj.__qualname__})"
        )
    return obj


def _is_name_pair(item: object) -> bool:
    return (
        isinstance(item, tuple)
        and len(item) == 2
        and all(isinstance(part, str) and _DOTTED.match(part) for part in item)
    )


def _under(module: str, packages: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


_DEFAULT = Allowlist()


def default_allowlist() -> Allowlist:
    """The process-wide allowlist every default serializer consults."""
    return _DEFAULT


def allow(*items: type | str | tuple[str, ...]) -> None:
    """Let every default checkpoint serializer store and rebuild these classes.

    Pass classes (``allow(MyState, Priority)``), ``(module, qualname)`` pairs, or package
    names (``allow("myapp")``). Pydantic models, dataclasses, enums, named tuples,
    exceptions and builtin subclasses of your own need this; langchain-core messages and
    ``Document`` and asyncgraph's own types are trusted already.
    """
    _DEFAULT.add(*items)
