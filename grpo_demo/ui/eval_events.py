"""The Evaluate tab's handler: the report's Table 1 protocol, diversity, the files."""

from __future__ import annotations

import time

import gradio as gr

from ..app.state import AppState, rough
from ..evaluation import TABLE_REWARDS
from . import views
from .wiring import PROGRESS, refusing


class EvaluateEvents:
    state: AppState

    def evaluate(self, adapters, num_samples, request: gr.Request = None, progress=PROGRESS):
        """The report's Table 1 protocol on held-out prompts, plus diversity and plots."""
        with refusing():
            asked = self.asked("evaluate", request, adapters=adapters, num_samples=num_samples)
        models, n = asked.adapters, asked.num_samples
        total_completions = n * len(models)
        guess = rough(self.state.evaluation_seconds(models, n))
        first = f"sampling {models[0]}, about {guess} left (this machine's measured pace)"
        progress(0, desc=f"0/{total_completions} completions; {first}")
        started = time.perf_counter()

        def on_progress(done: int, total: int) -> None:
            # the bar moves per batch (shared with other pages' requests), names the model
            # (``sample`` goes model by model) and estimates the rest from the batches so far
            spent = time.perf_counter() - started
            left = f", about {rough(spent * (total - done) / done)} left" if done else ""
            now = models[min(done * len(models) // total, len(models) - 1)]
            nxt = "done" if done == total else f"sampling {now}"
            count = f"{done * total_completions // total}/{total_completions} completions"
            progress(done / total, desc=f"{count}; {nxt}{left}")

        with refusing():
            result, paths = self.state.evaluate(models, n, on_progress)
        collapsed = [a for a, d in result.diversity.items() if d["collapsed"]]
        verdict = (
            f"⚠️ collapsed (one word repeated): {', '.join(collapsed)} ({n} per model)."
            if collapsed
            else f"No collapse: completions stay varied ({n} per model)."
        )
        return (
            views.table1_long(result.summary, TABLE_REWARDS),
            views.diversity_view(result.diversity_table()),
            views.win_view(result.wins),
            verdict,
            str(paths["histogram"]),
            [str(p) for p in paths.values()],
        )
