"""Before the app serves a page: the GPU set up, the model checked, the address to listen on."""

from __future__ import annotations

import os

from ..gpu_calls import prepare
from ..models import preflight, resolve_spec
from ..space import on_space


def check_model(model: str | None) -> None:
    """On ZeroGPU, ``spaces`` first (before torch sets CUDA up); then fail in well under a
    second (``ModelUnavailable``) if ``model`` cannot load here: no page that cannot work."""
    prepare()
    preflight(resolve_spec(model))


def server_name() -> str:
    """A Space's proxy must reach the app (0.0.0.0); locally only this machine can."""
    return os.environ.get("GRADIO_SERVER_NAME") or ("0.0.0.0" if on_space() else "127.0.0.1")
