"""Serving limits: a bound on request bodies (Gradio has one only for file uploads)."""

from __future__ import annotations

from typing import Any

MAX_REQUEST_BYTES = 2_000_000
"""Largest request body accepted: a 64-sample table fits easily; a flood does not."""


class TooLarge(Exception):
    pass


class RequestSizeLimit:
    """Pure ASGI middleware: 413 for a body over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: Any, max_bytes: int = MAX_REQUEST_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except TooLarge:
            await self._refuse(send)

    async def _refuse(self, send) -> None:
        body = f"request body over {self.max_bytes} bytes".encode()
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def app_kwargs() -> dict[str, Any]:
    """What ``Blocks.launch(app_kwargs=...)`` needs to install the limit on Gradio's FastAPI."""
    from starlette.middleware import Middleware

    return {"middleware": [Middleware(RequestSizeLimit)]}
