"""The SSE response of run streams: sse-starlette's, with the first event sent at once.

:class:`EventSourceResponse` starts its work (the stream, pings, disconnect and shutdown
watchers) as tasks of a task group, so its first byte waits until the event loop gets to
them: behind every other request and run step already queued. With 100 streams opened at
once that put every stream's first event at the end of the whole burst. A run stream's
first event (``metadata``) is known when the run is created, so :class:`EventStream`
writes it with the headers in the request's own task, then hands over to sse-starlette
for the rest.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

from sse_starlette import EventSourceResponse
from starlette.types import Message, Receive, Scope, Send

__all__ = ["EventStream"]


class EventStream(EventSourceResponse):
    """:class:`EventSourceResponse` whose ``first`` chunk (encoded SSE text) is sent with
    the headers before anything else is scheduled; ``content`` follows it."""

    def __init__(self, content: AsyncIterable[bytes], *, first: bytes = b"", **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._first = first

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._first or scope["type"] != "http" or scope["method"].upper() == "HEAD":
            await super().__call__(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self._first, "more_body": True})

        async def after_start(message: Message) -> None:
            if message["type"] != "http.response.start":  # (sent above)
                await send(message)

        await super().__call__(scope, receive, after_start)
