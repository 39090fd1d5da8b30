"""One thread for all of the model's tensor work: loading, sampling, training.

Why: PyTorch's CPU kernels run on OpenMP, which keeps one pool of helper threads per calling
thread. Once a second thread has run parallel work (a request served by a Gradio worker thread)
the process manages more OpenMP threads than cores and libgomp stops spin-waiting between
parallel regions: with a living thread that had served a request, a training step took 6.04 s
instead of 4.15 s (2 cores, arms interleaved: BENCHMARKS.md). So every caller hands its work to
this thread and waits. A training run is a job on it that runs the jobs queued meanwhile
between a step's phases (``run_waiting``): a request waits one phase, not one step. In a forked
GPU worker the thread does not exist (only the forking thread survives a fork): work runs
inline on the caller, and the jobs the parent had queued stay the parent's.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class ComputeThread:
    """A daemon thread that runs submitted callables one at a time, in order."""

    def __init__(self, name: str = "model"):
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future]] = queue.SimpleQueue()
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            self._run(*self._jobs.get())

    @staticmethod
    def _run(fn: Callable[[], Any], future: Future) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to the caller, who re-raises it
            future.set_exception(exc)

    @property
    def forked(self) -> bool:
        """In a forked worker: the thread (and the parent's queue) are not this process's."""
        return os.getpid() != self._pid

    def waiting(self) -> int:
        """Jobs queued and not started (a request waiting behind a training phase)."""
        return 0 if self.forked else self._jobs.qsize()

    @property
    def is_current(self) -> bool:
        return self.forked or threading.current_thread() is self._thread

    def submit(self, fn: Callable[[], T]) -> Future:
        """Queue ``fn`` and return at once; its future holds the result or the error (in a
        fork: run now, on the caller)."""
        future: Future = Future()
        if self.forked:
            self._run(fn, future)
        else:
            self._jobs.put((fn, future))
        return future

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the compute thread and return its result (inline if already on it)."""
        if self.is_current:
            return fn(*args, **kwargs)
        return self.submit(lambda: fn(*args, **kwargs)).result()

    def run_waiting(self) -> int:
        """On the compute thread, inside a long job: run the jobs queued so far. Returns how
        many ran (jobs queued while they run wait for the next call, so a long job cannot
        be starved)."""
        if self.forked or not self.is_current:
            return 0
        pending = [self._jobs.get_nowait() for _ in range(self._jobs.qsize())]
        for job in pending:
            self._run(*job)
        return len(pending)


_shared: ComputeThread | None = None
_shared_guard = threading.Lock()


def _forget_in_child() -> None:
    """A fork may copy the guard while another thread holds it: a fresh one in the child."""
    global _shared_guard
    _shared_guard = threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)


def shared() -> ComputeThread:
    """The process's compute thread (created on first use). One per process, not per model:
    the OpenMP pools it avoids are per thread, whatever model a thread works on."""
    global _shared
    with _shared_guard:
        if _shared is None:
            _shared = ComputeThread("compute")
        return _shared
