"""The exception tree drawn in ``asyncgraph.errors``' docstring is the real one."""

from __future__ import annotations

import builtins
import re

import asyncgraph.errors as errors


def _drawn() -> dict[str, tuple[str, str | None]]:
    """class name -> (parent as drawn, extra base in parentheses)."""
    doc = errors.__doc__ or ""
    tree = doc[doc.index("The tree::"):].split("\n\n")[1]
    parents: list[str] = []
    out: dict[str, tuple[str, str | None]] = {}
    for line in tree.splitlines():
        m = re.match(r"^[ │]*(?:├── |└── )?(\w+)(?: \((\w+)\))?", line)
        if not m:
            continue
        name, extra = m.group(1), m.group(2)
        depth = m.start(1) // 4 - 1  # the root sits at column 4, each level 4 further
        del parents[depth:]
        if parents:
            out[name] = (parents[-1], extra)
        parents.append(name)
    return out


def test_drawn_tree_matches_the_classes() -> None:
    drawn = _drawn()
    exported = {
        name for name in errors.__all__
        if isinstance(getattr(errors, name), type) and issubclass(getattr(errors, name), BaseException)
    }
    assert set(drawn) == exported
    for name, (parent, extra) in drawn.items():
        cls = getattr(errors, name)
        bases = {b.__name__ for b in cls.__bases__}
        assert parent in bases or (extra in bases and parent == "Exception"), (name, parent, bases)
        if extra is not None:
            assert issubclass(cls, getattr(builtins, extra)), (name, extra)


def test_node_error_is_a_frozen_value_not_an_exception() -> None:
    failure = errors.NodeError(node="fetch", error=KeyError("user_id"))
    assert failure.node == "fetch" and isinstance(failure.error, KeyError)
    assert not isinstance(failure, BaseException)
    try:
        failure.node = "other"  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("NodeError must be immutable")


def test_deprecation_categories_say_since_and_until_when() -> None:
    from asyncgraph.warnings import LangGraphDeprecatedSinceV05, LangGraphDeprecatedSinceV10

    w = LangGraphDeprecatedSinceV10("`x` is deprecated. Use `y`.")
    assert isinstance(w, DeprecationWarning)
    assert str(w) == "`x` is deprecated. Use `y`. Deprecated in LangGraph V1.0 to be removed in V2.0."
    assert LangGraphDeprecatedSinceV05("old").since == (0, 5)
