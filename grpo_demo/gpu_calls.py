"""Where the model's work runs: on this process's compute thread, or in a GPU worker process.

On a ZeroGPU Space (``SPACES_ZERO_GPU`` set) a ``spaces.GPU`` function runs in a forked worker
that holds the GPU for the call; arguments and result (each yield) are pickled across and
nothing it changes in memory comes back. So GPU work goes through entry points made at import
that take and return plain data (the model by ``ResidentModel.key``, adapters as folders).
``on_gpu`` wraps each: on ZeroGPU in ``spaces.GPU`` with a per-call duration (capped), an
exception's message carried as data (ZeroGPU passes on only its class name) and its refusals
(quota, no GPU) raised as ``GpuRefused``; with ``GRPO_DEMO_GPU_WORKER=fork`` in
``fork_worker.ForkWorker``, the same contract on a CPU (the tests' harness); elsewhere not at all.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .fork_worker import ForkWorker, WorkerFailed

ZERO_GPU_ENV = "SPACES_ZERO_GPU"
FORK_ENV = "GRPO_DEMO_GPU_WORKER"
MAX_SECONDS = 300
"""The longest GPU call ZeroGPU grants at once (a longer request is refused before it runs)."""
MIN_SECONDS = 10


class GpuRefused(RuntimeError):
    """ZeroGPU would not run the call (a visitor's quota spent, no GPU free, too long)."""


@dataclass(frozen=True)
class Failure:
    """An exception raised in a ZeroGPU worker, carried back as data (type and message)."""

    kind: str
    message: str


def _on(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "t", "true", "fork")


def where() -> str:
    """``"zerogpu"``, ``"fork"`` (the harness) or ``"here"`` (the compute thread)."""
    if _on(ZERO_GPU_ENV):
        return "zerogpu"
    return "fork" if _on(FORK_ENV) else "here"


def prepare() -> None:
    """On ZeroGPU, import ``spaces`` before torch sets CUDA up (it patches torch)."""
    if where() == "zerogpu":
        import spaces  # noqa: F401  (only installed where it is needed: see requirements)


def seconds_for(estimate: float) -> int:
    """A call's requested GPU seconds: the estimate, rounded up, within ZeroGPU's bounds.

    >>> seconds_for(3.2), seconds_for(42.1), seconds_for(1e6)
    (10, 43, 300)
    """
    return max(MIN_SECONDS, min(math.ceil(estimate), MAX_SECONDS))


class GpuEntry:
    """A GPU entry point: ``fn`` run where GPU work runs (``where``, read at each call, so a
    test can switch it). On ZeroGPU it is decorated when made: ``spaces`` looks for its
    functions when the app launches, before the model has loaded."""

    def __init__(self, fn: Callable[..., Any], estimate: Callable[..., float]):
        self.fn, self.estimate = fn, estimate
        self._made: dict[str, Callable[..., Any]] = {}
        functools.update_wrapper(self, fn)
        _ENTRIES.append(self)
        if where() == "zerogpu":
            self.wrapped("zerogpu")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.wrapped(where())(*args, **kwargs)

    def wrapped(self, mode: str) -> Callable[..., Any]:
        if mode not in self._made:
            self._made[mode] = self._wrap(mode)
        return self._made[mode]

    def _wrap(self, mode: str) -> Callable[..., Any]:
        if mode == "here":
            return self.fn

        def duration(*args: Any, **kwargs: Any) -> int:
            return seconds_for(self.estimate(*args, **kwargs))

        if mode == "fork":
            return ForkWorker(self.fn, duration)
        import spaces

        return _plain(spaces.GPU(_carried(self.fn), duration=duration))

    def worker(self) -> ForkWorker | None:
        """The fork harness's worker pool, once a call has used it."""
        made = self._made.get("fork")
        return made if isinstance(made, ForkWorker) else None


_ENTRIES: list[GpuEntry] = []


def on_gpu(fn: Callable[..., Any], estimate: Callable[..., float]) -> GpuEntry:
    """``fn`` as a GPU entry point; ``estimate`` takes ``fn``'s arguments and says how many
    seconds the call needs (what ZeroGPU schedules and charges against a visitor's quota).
    Made once, at import: ``fn``'s arguments and result must be plain data."""
    return GpuEntry(fn, estimate)


def close_workers() -> None:
    """End the fork harness's idle workers: the next call forks afresh (a test's new model)."""
    for entry in _ENTRIES:
        if (pool := entry.worker()) is not None:
            pool.close()
        entry._made.pop("fork", None)


def _carried(fn: Callable[..., Any]) -> Callable[..., Any]:
    """In the worker: an exception becomes a ``Failure`` value (returned, or yielded last)."""
    if inspect.isgeneratorfunction(fn):

        def stream(*args: Any, **kwargs: Any):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:
                yield Failure(type(exc).__name__, str(exc))

        return functools.update_wrapper(stream, fn)

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            return Failure(type(exc).__name__, str(exc))

    return functools.update_wrapper(call, fn)


def _raise_failure(value: Any) -> Any:
    if isinstance(value, Failure):
        raise WorkerFailed(f"{value.kind}: {value.message}")
    return value


def _refused(exc: Exception) -> GpuRefused | None:
    """ZeroGPU's own refusals arrive as ``gradio.Error``s titled "ZeroGPU ..."."""
    title = str(getattr(exc, "title", "") or "")
    if not title.startswith("ZeroGPU"):
        return None
    message = str(getattr(exc, "message", "") or exc)
    return GpuRefused(f"{title.removeprefix('ZeroGPU ').capitalize()}: {message}")


def _plain(gpu_fn: Callable[..., Any]) -> Callable[..., Any]:
    """The main process's side of a ZeroGPU call: failures and refusals in plain words."""
    if inspect.isgeneratorfunction(gpu_fn):

        def stream(*args: Any, **kwargs: Any):
            try:
                for value in gpu_fn(*args, **kwargs):
                    yield _raise_failure(value)
            except Exception as exc:
                raise (_refused(exc) or exc) from None

        return stream

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return _raise_failure(gpu_fn(*args, **kwargs))
        except Exception as exc:
            raise (_refused(exc) or exc) from None

    return call
