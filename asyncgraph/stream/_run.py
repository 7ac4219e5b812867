"""``stream_events(version="v3")`` / ``astream_events(version="v3")`` of a compiled graph.

A layer over the engine's ``astream(stream_mode=[...], subgraphs=True, version="v2")``:
the mux's transformers say which modes they read, the run stream pulls parts one by
one, and ``messages`` / ``tools`` events come from :mod:`asyncgraph.stream._handlers`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import RunnableConfig

from asyncgraph.stream._handlers import Carried, MessagesV3Handler, ToolsV3Handler
from asyncgraph.stream._mux import StreamMux, TransformerFactory
from asyncgraph.stream._types import StreamTransformer
from asyncgraph.stream.run_stream import AsyncGraphRunStream, GraphRunStream
from asyncgraph.stream.transformers import (
    LifecycleTransformer,
    MessagesTransformer,
    SubgraphTransformer,
    ValuesTransformer,
)

_OWNED = ("stream_mode", "subgraphs")
_CARRIED = frozenset({"messages", "tools"})  # produced by our handlers, not the engine


def reject_owned_kwargs(kwargs: dict[str, Any]) -> None:
    """v3 decides ``stream_mode`` (from the transformers) and ``subgraphs`` (always on).

    Raises:
        TypeError: the caller passed one of them.
    """
    given = [k for k in _OWNED if k in kwargs]
    if given:
        raise TypeError(
            f"stream_events(version='v3') / astream_events(version='v3') do not accept {', '.join(given)}: "
            "the stream modes come from the registered transformers, and subgraphs are always streamed"
        )


def normalize_factories(specs: Sequence[Callable[[tuple[str, ...]], Any]] | None) -> list[TransformerFactory]:
    """Check transformer specs are scope factories (classes or callables).

    Raises:
        TypeError: a ready-made transformer instance (it could not be cloned for
            subgraphs) or something not callable.
    """
    out: list[TransformerFactory] = []
    for spec in specs or ():
        if isinstance(spec, StreamTransformer):
            raise TypeError(
                "stream_events(version='v3') transformers must be scope-aware callables, got pre-built instance "
                f"{type(spec).__name__}. Pass the transformer class or a factory like "
                "`lambda scope: MyTransformer(scope, ...)`."
            )
        if not callable(spec):
            raise TypeError(f"stream_events(version='v3') transformers must be scope-aware callables, got {type(spec).__name__}.")
        out.append(spec)
    return out


def _build_mux(graph: Any, transformers: Any, is_async: bool) -> StreamMux:
    factories: list[TransformerFactory] = [ValuesTransformer, MessagesTransformer, LifecycleTransformer, SubgraphTransformer]
    factories += normalize_factories(getattr(graph, "stream_transformers", ()))
    factories += normalize_factories(transformers)
    return StreamMux(factories=factories, is_async=is_async)


def _modes(mux: StreamMux) -> set[str]:
    modes: set[str] = set()
    for t in mux._transformers:
        modes.update(getattr(t, "required_stream_modes", ()))
    return modes


def _with_handlers(config: RunnableConfig | None, handlers: list[BaseCallbackHandler]) -> RunnableConfig:
    cfg: dict[str, Any] = dict(config or {})
    if not handlers:
        return cfg  # type: ignore[return-value]
    callbacks = cfg.get("callbacks")
    if callbacks is None:
        callbacks = list(handlers)
    elif isinstance(callbacks, list):
        callbacks = [*callbacks, *handlers]
    else:
        callbacks = callbacks.copy()
        for h in handlers:
            callbacks.add_handler(h, inherit=True)
    cfg["callbacks"] = callbacks
    return cfg  # type: ignore[return-value]


def _prepare(graph: Any, config: RunnableConfig | None, mux: StreamMux) -> tuple[RunnableConfig, list[str], bool]:
    wanted = _modes(mux)
    handlers: list[BaseCallbackHandler] = []
    if "messages" in wanted:
        handlers.append(MessagesV3Handler())
    if "tools" in wanted:
        handlers.append(ToolsV3Handler())
    engine_modes = (wanted - _CARRIED) | ({"custom"} if handlers else set())
    # The engine needs at least one mode; values is always wanted by the built-ins.
    return _with_handlers(config, handlers), sorted(engine_modes or {"values"}), "custom" in wanted


def _relabel(part: dict[str, Any], user_custom: bool) -> dict[str, Any] | None:
    """A carried event as its own method; user custom data only if asked for."""
    if part["type"] != "custom":
        return part
    data = part["data"]
    if isinstance(data, Carried):
        return {"type": data.method, "ns": part["ns"], "data": data.data}
    return part if user_custom else None


class _SyncParts:
    """The engine's v2 parts with carried events relabelled; closing it stops the run."""

    def __init__(self, inner: Iterator[Any], user_custom: bool) -> None:
        self._inner, self._user_custom = inner, user_custom

    def __iter__(self) -> _SyncParts:
        return self

    def __next__(self) -> Any:
        while True:
            out = _relabel(next(self._inner), self._user_custom)
            if out is not None:
                return out

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


class _AsyncParts:
    """Async :class:`_SyncParts` (a plain iterator object, not an async generator, so an
    abandoned run leaves only the engine's own generator to finalize)."""

    def __init__(self, inner: AsyncIterator[Any], user_custom: bool) -> None:
        self._inner, self._user_custom = inner, user_custom

    def __aiter__(self) -> _AsyncParts:
        return self

    async def __anext__(self) -> Any:
        while True:
            out = _relabel(await self._inner.__anext__(), self._user_custom)
            if out is not None:
                return out

    async def aclose(self) -> None:
        aclose = getattr(self._inner, "aclose", None)
        if aclose is not None:
            await aclose()


def stream_events_v3(graph: Any, input: Any, config: RunnableConfig | None, *, transformers: Any = None,
                     **kwargs: Any) -> GraphRunStream:
    """The sync v3 run stream of ``graph`` (nothing runs until it is read)."""
    mux = _build_mux(graph, transformers, is_async=False)
    cfg, modes, user_custom = _prepare(graph, config, mux)
    inner = graph.stream(input, cfg, stream_mode=modes, subgraphs=True, version="v2", **kwargs)
    return GraphRunStream(_SyncParts(inner, user_custom), mux)


async def astream_events_v3(graph: Any, input: Any, config: RunnableConfig | None, *, transformers: Any = None,
                            **kwargs: Any) -> AsyncGraphRunStream:
    """The async v3 run stream of ``graph`` (nothing runs until it is read)."""
    mux = _build_mux(graph, transformers, is_async=True)
    cfg, modes, user_custom = _prepare(graph, config, mux)
    inner = graph.astream(input, cfg, stream_mode=modes, subgraphs=True, version="v2", **kwargs)
    return AsyncGraphRunStream(_AsyncParts(inner, user_custom), mux)
