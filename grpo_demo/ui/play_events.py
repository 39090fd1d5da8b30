"""The Playground's handlers: sample from one model or all of them, offer the CSV."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import gradio as gr
import pandas as pd

from ..app import forms
from ..app.forms import GpuRefused
from ..app.state import AppState
from . import views
from .wiring import PROGRESS, REFUSED, refuse, refusing, session, takes

if TYPE_CHECKING:
    from ..generation import Pending

SAMPLED = ("num_samples", "max_new_tokens", "temperature", "seed")
"""The sampling settings Generate and Compare take (``SamplingParams``' fields, by name)."""
WAIT_UPDATE_SECONDS = 1.0
"""How often a waiting request looks where it stands (its page hears only a change)."""


def refused_gpu(exc: Exception) -> tuple:
    """Generate's or Compare's outputs for ZeroGPU's refusal (a visitor's quota, no GPU
    free): said in the status line under the buttons, every other output kept."""
    said = f"⛔ The GPU was not available for this request. {exc}"
    return gr.skip(), gr.skip(), gr.skip(), said, gr.skip()


def shared(pending: Pending) -> str:
    """Whether the request's batch held other pages' requests (one forward pass for all)."""
    others = pending.ticket.batch_requests - 1
    return f"; one batch with {others} other request{'s' * (others > 1)}" if others > 0 else ""


class PlaygroundEvents:
    """Generate and Compare (their fields by name: the API's parameter names)."""

    state: AppState

    def queue_note(self, **_fields) -> str:
        """Shown at once when a request is sent: is it queued behind training, for how long?"""
        run = self.state.blocking
        if run is None:
            return "Working ..."
        left = run.phases.left()
        wait = "" if left is None else f" The model is free in about {left:.0f} s; then it samples."
        return (
            f"⏳ Waiting for the training run `{run.name}` (step {len(run.history) + 1}, "
            f"{run.phases.now or 'starting'} phase): requests are served between the phases of a "
            f"step.{wait}"
        )

    @takes("prompt", "adapter", *SAMPLED)
    async def generate(self, request: gr.Request = None, progress=PROGRESS, **values):
        """Sample completions from one adapter (or the base) and score each with every reward:
        the highlighted text, the tables, a status line and the rows for this session's CSV."""

        def ask() -> tuple[forms.SampleRequest, Pending]:
            asked = self.asked("generate", request, **values)
            page = session(request)
            return asked, self.state.sample([asked.prompt], [asked.adapter], asked.params, page)

        start = time.perf_counter()
        try:
            asked, done, pending = await self._served(ask, progress)
        except GpuRefused as exc:  # under the buttons, where the answer's status goes
            return refused_gpu(exc)
        tasks, run = self.state.tasks(), self.state.blocking
        between = f" (served between phases of the training run `{run.name}`)" if run else ""
        return (
            views.highlight(done),
            views.completions_table(done, tasks),
            views.scores_table(done),
            f"{len(done)} completions from `{asked.adapter}` in "
            f"{time.perf_counter() - start:.1f} s{between}{shared(pending)}",
            views.records(done, asked.params, tasks),
        )

    @takes("prompt", *SAMPLED)
    async def compare(self, request: gr.Request = None, progress=PROGRESS, **values):
        """The same prompt and seed through the base and every adapter: one column per model
        (one request, so every model's rows share a batch)."""

        def ask() -> tuple[forms.SampleRequest, Pending]:
            asked = self.asked("compare", request, **values)
            names = self.state.adapter_names()
            return asked, self.state.sample([asked.prompt], names, asked.params, session(request))

        try:
            asked, flat, pending = await self._served(ask, progress)
        except GpuRefused as exc:
            return refused_gpu(exc)
        by_adapter: dict[str, list] = {}
        for c in flat:
            by_adapter.setdefault(c.adapter, []).append(c)
        tasks = self.state.tasks()
        return (
            views.compare_grid(by_adapter, tasks),
            views.compare_summary(by_adapter, tasks),
            views.scores_table(flat),
            f"{len(flat)} completions: {len(by_adapter)} models × "
            f"{asked.params.num_samples}, seed {asked.params.seed}{shared(pending)}",
            views.records(flat, asked.params, tasks),
        )

    async def _served(self, ask: Callable[[], tuple[forms.SampleRequest, Pending]], progress):
        """``ask`` (the form, then the queued request) off the event loop, then its completions
        and ``Pending``. While it waits, its place as the event's progress, sent only when the
        line changes (no output is rebuilt); a page that goes away frees its place."""
        with refusing():
            asked, pending = await anyio.to_thread.run_sync(ask)
        future, shown = asyncio.wrap_future(pending.ticket.future), None
        try:
            while not future.done():
                line = self.state.standing(pending)
                if line != shown:
                    progress(0.0, desc=line)  # a number: Gradio then shows the text
                    shown = line
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(future), WAIT_UPDATE_SECONDS)
        except asyncio.CancelledError:
            self.state.resident.batcher.cancel(pending.ticket)
            raise
        try:
            return asked, await anyio.to_thread.run_sync(pending.completions), pending
        except GpuRefused:  # said in the status line (the caller), not as a toast
            raise
        except REFUSED as exc:
            raise refuse(exc) from None

    def remember(self, rows: list[dict], samples: list[dict]):
        """Add the latest completions to this session's samples (a gr.State) and offer a CSV
        (in the bounded results folder: old files go)."""
        rows = [*samples, *rows]
        path = self.state.results.new_file("samples", ".csv")
        pd.DataFrame(rows).to_csv(path, index=False)
        label = f"Download this session's {len(rows)} samples (CSV)"
        return rows, gr.update(value=str(path), label=label, visible=True)
