"""What ZeroGPU does to a ``spaces.GPU`` function, done on a CPU: the harness that tests it.

A call forks a worker process (or reuses an idle one), pickles the arguments across, runs the
function there on a thread of its own (the main process's threads do not exist in a fork) and
pickles back the result, or each yield as it comes; nothing it changes in the worker's memory
reaches the caller. A caller that stops reading a stream (a page gone) sets the worker's stop
event, and the worker closes the generator at its next yield, as ``spaces`` does. Written after
``spaces/zero/wrappers.py`` (``spaces`` 0.51); no GPU here."""

from __future__ import annotations

import inspect
import multiprocessing
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

_CTX = multiprocessing.get_context("fork")
_in_worker = False  # set in a forked worker: a GPU function called there runs directly
PARENT_POLL_SECONDS = 1.0


class WorkerFailed(RuntimeError):
    """The GPU function raised in its worker (the message says what), or the worker died."""


class _Worker:
    def __init__(self, fn: Callable[..., Any]):
        self.conn, child = _CTX.Pipe()
        self.stop = _CTX.Event()
        self.process = _CTX.Process(target=_serve, args=(fn, child, self.stop), daemon=True)
        self.process.start()
        child.close()  # the worker's end lives in the worker: its exit reads as EOF here

    def recv(self) -> tuple:
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            self.process.join(5)
            code = self.process.exitcode
            raise WorkerFailed(f"the GPU worker process ended (exit code {code})") from None


def _serve(fn: Callable[..., Any], conn: Any, stop: Any) -> None:
    """The worker's loop: one call at a time, each on a fresh thread, until the pipe closes,
    ``close`` says so, or the process that forked it is gone."""
    global _in_worker
    _in_worker = True
    parent = os.getppid()
    threading.Thread(target=_end_with, args=(parent,), daemon=True).start()
    while True:
        try:
            call = conn.recv()
        except (EOFError, OSError):
            return
        if call is None:  # close(): a pipe's end may live on in other forks, so say it
            return
        args, kwargs = call
        stop.clear()
        thread = threading.Thread(target=_run_one, args=(fn, args, kwargs, conn, stop))
        thread.start()
        thread.join()


def _end_with(parent: int) -> None:
    """A killed parent runs no exit handler, and other forks may hold this pipe's other end:
    a worker looks for its parent and ends when it is gone (it would hold a model's memory)."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(0)


def _run_one(fn: Callable[..., Any], args: tuple, kwargs: dict, conn: Any, stop: Any) -> None:
    try:
        if inspect.isgeneratorfunction(fn):
            stream = fn(*args, **kwargs)
            for value in stream:
                if stop.is_set():  # the caller stopped reading
                    stream.close()
                    break
                conn.send(("yield", value))  # pickled whole before anything is written
            conn.send(("end", None))
        else:
            conn.send(("ok", fn(*args, **kwargs)))
    except BaseException as exc:  # every failure is the caller's to hear
        conn.send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))


class ForkWorker:
    """``fn`` called as ``spaces.GPU`` calls it. ``duration(*args)``: the seconds a call would
    ask ZeroGPU for, kept in ``requested`` (ZeroGPU computes it in the main process, before the
    worker gets the call)."""

    def __init__(self, fn: Callable[..., Any], duration: Callable[..., int] | None = None):
        self.fn, self.duration = fn, duration
        self.requested: list[int] = []
        self._idle: list[_Worker] = []
        self._guard = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if _in_worker:  # a GPU function calling another inside the worker: just call it
            return self.fn(*args, **kwargs)
        if self.duration is not None:
            self.requested.append(self.duration(*args, **kwargs))
        if inspect.isgeneratorfunction(self.fn):
            return self._stream(args, kwargs)
        worker = self._send(args, kwargs)
        reply = worker.recv()
        self._give_back(worker)
        return _value(reply)

    def _send(self, args: tuple, kwargs: dict) -> _Worker:
        """An idle living worker (else a new fork) with the call's arguments pickled to it."""
        with self._guard:
            while self._idle and not self._idle[-1].process.is_alive():
                self._idle.pop()
            worker = self._idle.pop() if self._idle else None
        if worker is None:
            worker = _Worker(self.fn)
            name = getattr(self.fn, "__name__", "a GPU function")
            print(f"gpu worker: process {worker.process.pid} forked for {name}", file=sys.stderr)
        try:
            worker.conn.send((args, kwargs))
        except Exception as exc:  # PicklingError, or TypeError/AttributeError from pickle
            self._give_back(worker)
            raise WorkerFailed(f"the arguments cannot cross to the GPU worker: {exc}") from None
        return worker

    def _stream(self, args: tuple, kwargs: dict) -> Iterator[Any]:
        worker, ended = self._send(args, kwargs), False
        try:
            while True:
                reply = worker.recv()
                if reply[0] == "yield":
                    yield reply[1]
                    continue
                ended = True
                _value(reply)  # raises for an error
                return
        finally:
            if ended:
                self._give_back(worker)
            else:  # the reader went away: the worker stops at its next yield, then is idle
                worker.stop.set()
                threading.Thread(target=self._drain, args=(worker,), daemon=True).start()

    def _drain(self, worker: _Worker) -> None:
        try:
            while worker.recv()[0] == "yield":
                pass
        except WorkerFailed:
            return
        self._give_back(worker)

    def _give_back(self, worker: _Worker) -> None:
        if worker.process.is_alive():
            with self._guard:
                self._idle.append(worker)

    def close(self) -> None:
        """End the idle workers (a worker in a call ends with its process's parent)."""
        with self._guard:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.conn.send(None)
            worker.process.join(10)
            worker.conn.close()


def _value(reply: tuple) -> Any:
    if reply[0] == "error":
        raise WorkerFailed(reply[1])
    return reply[1]
