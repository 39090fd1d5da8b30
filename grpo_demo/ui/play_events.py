"""The Playground's handlers: sample from one model or all of them, offer the CSV."""

from __future__ import annotations

import time

import gradio as gr
import pandas as pd

from ..app import forms
from ..app.state import AppState
from ..generation import compare as run_compare
from ..generation import generate as run_generate
from . import views
from .wiring import REFUSED, fields, refuse


class PlaygroundEvents:
    """Generate and Compare (their fields by name: the API's parameter names)."""

    state: AppState

    def _busy_note(self) -> str:
        run = self.state.running
        return f" (served between phases of the training run `{run.name}`)" if run else ""

    def queue_note(self, **_fields) -> str:
        """Shown at once when a request is sent: is it queued behind training, for how long?"""
        run = self.state.running
        if run is None:
            return "Working ..."
        left = run.phase_left()
        wait = "" if left is None else f" The model is free in about {left:.0f} s; then it samples."
        return (
            f"⏳ Waiting for the training run `{run.name}` (step {len(run.history) + 1}, "
            f"{run.phase or 'starting'} phase): requests are served between the phases of a "
            f"step.{wait}"
        )

    def generate(self, prompt, adapter, num_samples, max_new_tokens, temperature, seed):
        """Sample completions from one adapter (or the base) and score each with every reward.

        Returns the highlighted text, the completions table, every reward's score, a status
        line and the rows behind them (for this session's CSV).
        """
        named = fields(locals())
        note = self._busy_note()
        start = time.perf_counter()
        try:
            asked = forms.generate(self.state, **named)
            done = run_generate(self.state.resident, asked.prompt, asked.adapter, asked.params)
            tasks = self.state.tasks()
        except REFUSED as exc:
            raise refuse(exc) from None
        status = (
            f"{len(done)} completions from `{asked.adapter}` in "
            f"{time.perf_counter() - start:.1f} s{note}"
        )
        return (
            views.highlight(done),
            views.completions_table(done, tasks),
            views.scores_table(done),
            status,
            views.records(done, asked.params, tasks),
        )

    def compare(
        self,
        prompt,
        num_samples,
        max_new_tokens,
        temperature,
        seed,
        progress=gr.Progress(),  # noqa: B008 (Gradio idiom)
    ):
        """The same prompt and seed through the base and every adapter: one column per model."""
        try:
            asked = forms.compare(**fields(locals()))
            names = self.state.adapter_names()
            progress(0, desc=f"sampling {names[0]}")

            def on_batch(done: int, total: int) -> None:
                shown = sampling_now(names, done, total)
                progress(done / total, desc=f"sampled {done}/{total} batches; next: {shown}")

            resident = self.state.resident
            by_adapter = run_compare(resident, asked.prompt, asked.params, names, on_batch)
            tasks = self.state.tasks()
        except REFUSED as exc:
            raise refuse(exc) from None
        flat = [c for cs in by_adapter.values() for c in cs]
        return (
            views.compare_grid(by_adapter, tasks),
            views.compare_summary(by_adapter, tasks),
            views.scores_table(flat),
            f"{len(flat)} completions: {len(by_adapter)} models × {asked.params.num_samples}, "
            f"seed {asked.params.seed}",
            views.records(flat, asked.params, tasks),
        )

    def remember(self, rows: list[dict], samples: list[dict]):
        """Add the latest completions to this session's samples (a gr.State) and offer a CSV
        (in the bounded results folder: old files go)."""
        rows = [*samples, *rows]
        path = self.state.results.new_file("samples", ".csv")
        pd.DataFrame(rows).to_csv(path, index=False)
        label = f"Download this session's {len(rows)} samples (CSV)"
        return rows, gr.update(value=str(path), label=label, visible=True)


def sampling_now(models: list[str], done: int, total: int) -> str:
    """The model whose batches come next (``sample`` goes model by model, in order)."""
    return models[min(done * len(models) // total, len(models) - 1)]
