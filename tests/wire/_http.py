"""The HTTP half of the fake provider servers, shared by both providers.

:class:`WireServer` listens on ``127.0.0.1`` at an ephemeral port, serves each connection
on its own thread (so sync clients, async clients and concurrent requests all work while
the test's event loop keeps running), records every request, consumes the script and
hands the chosen answer to the provider subclass, which renders it as JSON or as a
server-sent event stream.

Streams are written with ``Transfer-Encoding: chunked``, one HTTP chunk per event, flushed
as it is written: a client sees each token when the server sends it. Connections close
after each response unless ``keep_alive=True`` (then they survive streamed responses too,
as with the real APIs).

Stopping is complete: the accept loop ends, the listening socket closes, every open
connection (idle keep-alive ones included) is shut down, and every thread is joined.
"""

from __future__ import annotations

import json
import secrets
import socket
import string
import threading
import traceback
from collections import deque
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

from .script import ErrorResponse, RecordedRequest, Reply, Responder, ScriptItem, as_reply

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = ["ProviderError", "SSEWriter", "WireServer", "random_id"]

_ALPHABET = string.ascii_letters + string.digits
_JOIN_TIMEOUT = 5.0
# The client went away: a test that stops reading a stream early, or a closed pool.
_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


def random_id(prefix: str, length: int = 24) -> str:
    """An id shaped like the providers' (``msg_01...``, ``call_...``)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


class ProviderError(Exception):
    """Raised by request validation; answered as the provider's error response.

    Attributes:
        status: HTTP status.
        type: Provider error type.
        message: The message, worded like the provider's.
        extra: Provider-specific fields of the error object (OpenAI ``param``, ``code``).
    """

    def __init__(self, status: int, type: str, message: str, **extra: Any) -> None:
        super().__init__(f"{status} {type}: {message}")
        self.status = status
        self.type = type
        self.message = message
        self.extra = extra


class _Stopping(Exception):
    """The server is stopping: abandon the response being written."""


class SSEWriter:
    """Writes one server-sent event per HTTP chunk, pausing before deltas on request."""

    def __init__(self, handler: BaseHTTPRequestHandler, server: WireServer) -> None:
        self._handler = handler
        self._server = server

    def event(self, data: Mapping[str, Any] | str, *, name: str | None = None) -> None:
        """Send one event. ``data`` is JSON-encoded unless it is already a string."""
        payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        frame = (f"event: {name}\n" if name else "") + f"data: {payload}\n\n"
        self._chunk(frame.encode())

    def pause(self) -> None:
        """Wait ``token_delay`` seconds (called before each token delta).

        Raises:
            _Stopping: the server began stopping during the wait.
        """
        delay = self._server.token_delay
        if delay > 0 and self._server._stopping.wait(delay):
            raise _Stopping

    def close(self) -> None:
        self._chunk(b"")

    def _chunk(self, data: bytes) -> None:
        if self._server._stopping.is_set():
            raise _Stopping
        wfile = self._handler.wfile
        wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        wfile.flush()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, like the real APIs
    server: _HTTPServer

    def do_POST(self) -> None:
        self.server.wire._handle(self)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are recorded on the server; stderr stays clean


class _HTTPServer(HTTPServer):
    """Thread per connection, with every connection and thread tracked so that
    :meth:`close_connections` can end them all (``ThreadingMixIn`` forgets daemon
    threads and never closes idle keep-alive sockets)."""

    def __init__(self, wire: WireServer) -> None:
        self.wire = wire
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"{type(self.wire).__name__}-conn",
            daemon=True,
        )
        with self._lock:
            self._connections[request] = thread
        thread.start()

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except (*_DISCONNECTS, _Stopping):
            pass
        except Exception:
            self.wire._problem(f"connection handler crashed:\n{traceback.format_exc()}")
        finally:
            self.shutdown_request(request)
            with self._lock:
                self._connections.pop(request, None)

    def close_connections(self) -> list[threading.Thread]:
        """Shut down every open connection; return the threads that outlived the join."""
        with self._lock:
            connections = list(self._connections.items())
        for sock, _ in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by its thread
        for _, thread in connections:
            thread.join(_JOIN_TIMEOUT)
        return [thread for _, thread in connections if thread.is_alive()]


class WireServer:
    """Base of the fake provider servers; see the subclasses for the wire formats.

    Args:
        script: Items answered in order, one per model request (see ``script.py``).
        responder: Chooses each answer from the request instead of the script; takes
            precedence over it. See :func:`script.routed`.
        token_delay: Seconds to wait before each streamed delta.
        json_fragments: How many fragments streamed tool arguments are cut into.
        validate: Reject malformed requests the way the real API does (400 with the
            provider's error body). Turn off only to test a client's error handling.
        keep_alive: Keep connections open between requests, as the real APIs do. Off by
            default: LangChain caches one HTTP client per base URL for the whole process,
            and each test's server has a new port, so pooled connections would outlive
            the test's event loop and surface later as unclosed-socket warnings.

    The server is a context manager (``with AnthropicServer() as server:``) and can be
    started and stopped explicitly. Requests that find nothing scripted, and crashes of
    the server itself, are collected in :attr:`problems`; :meth:`stop` raises
    ``AssertionError`` if there are any, so a test cannot pass on a server that misbehaved.
    """

    base_path: ClassVar[str] = ""  # what the client's base_url adds to the root url
    request_id_header: ClassVar[str]

    def __init__(
        self,
        script: Iterable[ScriptItem] = (),
        *,
        responder: Responder | None = None,
        token_delay: float = 0.0,
        json_fragments: int = 3,
        validate: bool = True,
        keep_alive: bool = False,
    ) -> None:
        self.responder = responder
        self.token_delay = token_delay
        self.json_fragments = json_fragments
        self.validate = validate
        self.keep_alive = keep_alive
        self._script: deque[ScriptItem] = deque(script)
        self._requests: list[RecordedRequest] = []
        self._problems: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Self:
        """Bind to ``127.0.0.1:0`` and serve on a background thread."""
        if self._httpd is not None:
            raise RuntimeError("server already started")
        self._stopping.clear()
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}-accept",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, *, check: bool = True) -> None:
        """Stop serving, close every socket and join every thread. Idempotent.

        Raises:
            AssertionError: ``check`` is true and :attr:`problems` is not empty.
        """
        httpd, thread = self._httpd, self._thread
        if httpd is not None and thread is not None:
            self._stopping.set()
            httpd.shutdown()
            thread.join(_JOIN_TIMEOUT)
            httpd.server_close()
            stuck = httpd.close_connections()
            if stuck or thread.is_alive():
                self._problem(f"threads still running after stop: {stuck or [thread]}")
            self._httpd = self._thread = None
        if check:
            self.check()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # An exception already on its way out says more than our problem list would.
        self.stop(check=exc is None)

    def check(self) -> None:
        """Raise ``AssertionError`` listing :attr:`problems`, if any."""
        if self._problems:
            raise AssertionError(f"{type(self).__name__} problems:\n" + "\n".join(self._problems))

    # -- what tests use --------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, the server root."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        """What to pass as the client's ``base_url``."""
        return self.url + self.base_path

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, rejected ones included (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def problems(self) -> list[str]:
        """Unscripted requests and server crashes (a copy)."""
        with self._lock:
            return list(self._problems)

    @property
    def remaining(self) -> int:
        """Script items not consumed yet."""
        with self._lock:
            return len(self._script)

    def push(self, *items: ScriptItem) -> None:
        """Append items to the script."""
        for item in items:
            as_reply(item)  # fail here, in the test, not later on the server thread
        with self._lock:
            self._script.extend(items)

    def chat_model(self, model: str | None = None, **kwargs: Any) -> BaseChatModel:
        """The provider's LangChain chat model pointed at this server, with
        ``max_retries=0`` so a scripted error surfaces at once; ``kwargs`` override any
        setting. ``model`` defaults to ``claude-test`` / ``gpt-4o-mini``."""
        raise NotImplementedError

    # -- provider hooks --------------------------------------------------------------

    def _route(self, method: str, path: str) -> bool:
        """Whether ``method path`` is the model endpoint this server serves."""
        raise NotImplementedError

    def _validate(self, request: RecordedRequest) -> None:
        """Raise :class:`ProviderError` for a request the real API would reject."""
        raise NotImplementedError

    def _error_body(self, error: ProviderError, request_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def _default_error(self, status: int) -> tuple[str, str]:
        """(type, message) the provider uses for a bare status."""
        raise NotImplementedError

    def _render(self, handler: BaseHTTPRequestHandler, request: RecordedRequest, reply: Reply) -> None:
        """Write the whole response for a successful reply."""
        raise NotImplementedError

    def _render_stream_error(
        self, sse: SSEWriter, request: RecordedRequest, error: ErrorResponse, provider_error: ProviderError
    ) -> None:
        """Write a 200 stream that fails part way."""
        raise NotImplementedError

    def _response_headers(self, request: RecordedRequest) -> dict[str, str]:
        headers = {self.request_id_header: request.request_id}
        if not self.keep_alive:
            headers["Connection"] = "close"  # http.server then closes after the response
        return headers

    # -- the request path ------------------------------------------------------------

    def _problem(self, text: str) -> None:
        with self._lock:
            self._problems.append(text)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        raw = _read_body(handler)
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            request = RecordedRequest(
                index=len(self._requests),
                method=handler.command,
                path=handler.path,
                headers={k.lower(): v for k, v in handler.headers.items()},
                body=body,
                request_id=random_id("req_", 24),
            )
            self._requests.append(request)
        try:
            self._answer(handler, request, raw)
        except ProviderError as err:
            self.send_error(handler, request, err)
        except (*_DISCONNECTS, _Stopping):
            raise
        except Exception:
            self._problem(f"server failed on request #{request.index}:\n{traceback.format_exc()}")
            if request.status is None:  # nothing sent yet: the client can still be told
                self.send_error(handler, request, ProviderError(500, *self._default_error(500)))
            else:
                raise _Stopping from None  # a half-written response: drop the connection

    def _answer(self, handler: BaseHTTPRequestHandler, request: RecordedRequest, raw: bytes) -> None:
        if not self._route(request.method, request.path.split("?", 1)[0]):
            raise ProviderError(404, *self._default_error(404))
        if self.validate:
            if raw and request.body is None:
                raise ProviderError(400, self._default_error(400)[0], "There was an error parsing the body")
            self._validate(request)
        item = self.responder(request) if self.responder is not None else self._next_item()
        if item is None:
            message = f"nothing scripted for request #{request.index} ({request.method} {request.path})"
            self._problem(message)
            raise ProviderError(500, self._default_error(500)[0], message)
        answer = as_reply(item)
        if isinstance(answer, Reply):
            self._render(handler, request, answer)
            return
        error = ProviderError(
            answer.status,
            answer.type or self._default_error(answer.status)[0],
            answer.message or self._default_error(answer.status)[1],
        )
        if answer.mid_stream and request.stream:
            request.error = error.message
            sse = self.start_stream(handler, request)
            self._render_stream_error(sse, request, answer, error)
            sse.close()
            return
        self.send_error(handler, request, error, answer.headers)

    def _next_item(self) -> ScriptItem | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    # -- response writers used by the subclasses ---------------------------------------

    def send_json(
        self,
        handler: BaseHTTPRequestHandler,
        request: RecordedRequest,
        status: int,
        payload: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        data = json.dumps(payload).encode()
        request.status = status
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in {**self._response_headers(request), **(headers or {})}.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
        handler.wfile.flush()

    def send_error(
        self,
        handler: BaseHTTPRequestHandler,
        request: RecordedRequest,
        error: ProviderError,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        request.error = error.message
        self.send_json(handler, request, error.status, self._error_body(error, request.request_id), headers)

    def start_stream(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> SSEWriter:
        request.status = 200
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        for name, value in self._response_headers(request).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.flush()
        return SSEWriter(handler, self)


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        parts: list[bytes] = []
        while True:
            size = int(handler.rfile.readline().split(b";", 1)[0], 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""
