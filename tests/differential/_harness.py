"""Run one graph definition on LangGraph (the oracle) and on asyncgraph; compare.

A test writes ``build(m)`` once, using only ``m.graph``, ``m.types`` and ``m.config``
(the two packages' modules of those names), and returns a compiled graph. The harness
builds it on both packages and compares what a user sees:

* the final state (``ainvoke``);
* the ``values`` chunks, in order;
* the ``updates`` chunks, step by step. Within one step, tasks may finish in any order
  (and each engine streams them as they finish), so each step's updates are compared
  as a multiset. Steps are delimited by running ``stream_mode=["updates", "values"]``:
  a step's ``values`` chunk follows its updates.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
from collections.abc import Callable
from typing import Any

PACKAGES = ("langgraph", "asyncgraph")


def modules(pkg: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        name=pkg,
        graph=importlib.import_module(f"{pkg}.graph"),
        types=importlib.import_module(f"{pkg}.types"),
        config=importlib.import_module(f"{pkg}.config"),
    )


@dataclasses.dataclass
class Observed:
    final: Any
    values: list[Any]
    steps: list[list[str]]  # per step: sorted reprs of the update chunks
    custom: list[Any]


def _comparable(x: Any) -> Any:
    """Plain data for comparing and sorting; messages by type, content and id."""
    from langchain_core.messages import BaseMessage

    if isinstance(x, BaseMessage):
        return (
            type(x).__name__,
            x.content,
            x.id,
            getattr(x, "tool_calls", None) or None,
        )
    if type(x).__name__ == "Overwrite":  # LangGraph's carries an extra marker field
        return ("Overwrite", _comparable(x.value))
    if isinstance(x, dict):
        return {k: _comparable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_comparable(v) for v in x)
    return x


async def observe(
    graph: Any, inp: Any, config: dict[str, Any] | None = None
) -> Observed:
    final = await graph.ainvoke(inp, config)
    values: list[Any] = []
    steps: list[list[str]] = []
    custom: list[Any] = []
    current: list[str] = []
    async for mode, chunk in graph.astream(
        inp, config, stream_mode=["updates", "values", "custom"]
    ):
        if mode == "updates":
            current.append(repr(_comparable(chunk)))
        elif mode == "values":
            values.append(_comparable(chunk))
            steps.append(sorted(current))
            current = []
        else:
            custom.append(_comparable(chunk))
    if current:
        steps.append(sorted(current))
    return Observed(_comparable(final), values, steps, custom)


async def run_both(
    build: Callable[[types.SimpleNamespace], Any],
    inp: Callable[[types.SimpleNamespace], Any] | Any,
    config: dict[str, Any] | None = None,
) -> tuple[Observed, Observed]:
    """Build and run on both packages; returns (langgraph, asyncgraph) observations."""
    out = []
    for pkg in PACKAGES:
        m = modules(pkg)
        graph = build(m)
        value = inp(m) if callable(inp) else inp
        out.append(await observe(graph, value, config))
    return out[0], out[1]


async def assert_same(
    build: Callable[[types.SimpleNamespace], Any],
    inp: Callable[[types.SimpleNamespace], Any] | Any,
    config: dict[str, Any] | None = None,
    *,
    values: bool = True,
) -> Observed:
    """Assert both packages produce the same final state, values and updates.

    With ``values=False`` the values stream is not compared and, since it is what
    delimits steps, the updates are compared as one multiset (for graphs where
    LangGraph's values stream is known to differ, e.g. it shows private keys).
    """
    oracle, ours = await run_both(build, inp, config)
    assert ours.final == oracle.final, "final state differs"
    if values:
        assert ours.values == oracle.values, "values stream differs"
        assert ours.steps == oracle.steps, "updates stream differs"
    else:
        flat = sorted(u for step in ours.steps for u in step)
        assert flat == sorted(u for step in oracle.steps for u in step), (
            "updates differ"
        )
    assert ours.custom == oracle.custom, "custom stream differs"
    return ours


async def raised_by_both(
    build: Callable[[types.SimpleNamespace], Any],
    inp: Any,
    config: dict[str, Any] | None = None,
) -> tuple[BaseException, BaseException]:
    """Run on both; each must raise. Returns (langgraph's, asyncgraph's) exception."""
    out: list[BaseException] = []
    for pkg in PACKAGES:
        graph = build(modules(pkg))
        try:
            await graph.ainvoke(inp, config)
        except Exception as exc:  # noqa: BLE001  (the exception is what is compared)
            out.append(exc)
        else:
            raise AssertionError(f"{pkg} did not raise")
    return out[0], out[1]
