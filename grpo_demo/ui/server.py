"""Serving limits: a bound on request bodies (Gradio has one only for file uploads), the
queue's size, and Gradio's own per-event bookkeeping kept small."""

from __future__ import annotations

import os
from typing import Any

QUEUE_MAX_SIZE = 300
"""Events waiting in Gradio's queue at most (thirty pages hold a few each); past it Gradio
answers "queue is full" at once."""
GRADIO_ANALYTICS = {"GRADIO_ANALYTICS_MAX_EVENTS": "300", "GRADIO_ANALYTICS_CACHE_FREQUENCY": "300"}
"""Gradio's queue rebuilds a pandas table of its last 10 000 events after every event (for its
monitoring page): with thirty pages' timers that was a quarter of the app's CPU samples
(py-spy during ``bench.load``) and the training step ran 3x slower. Kept to 300 events,
summarised every 300."""


def quiet_bookkeeping() -> None:
    """Set Gradio's analytics bounds (before ``Blocks.queue`` reads them); a value already
    in the environment wins."""
    for name, value in GRADIO_ANALYTICS.items():
        os.environ.setdefault(name, value)


MAX_REQUEST_BYTES = 2_000_000
"""Largest request body accepted: a 64-sample table fits easily; a flood does not."""


class TooLarge(Exception):
    pass


class RequestSizeLimit:
    """Pure ASGI middleware: 413 for a body over ``MAX_REQUEST_BYTES`` (declared or streamed)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
            return await self._refuse(send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_REQUEST_BYTES:
                raise TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except TooLarge:
            await self._refuse(send)

    async def _refuse(self, send) -> None:
        body = f"request body over {MAX_REQUEST_BYTES} bytes".encode()
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def app_kwargs() -> dict[str, Any]:
    """What ``Blocks.launch(app_kwargs=...)`` needs to install the limit on Gradio's FastAPI."""
    from starlette.middleware import Middleware

    return {"middleware": [Middleware(RequestSizeLimit)]}
