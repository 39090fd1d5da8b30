"""Event handlers: validate widget values, call the package, shape results for the widgets.

``Demo`` is the one explicit object the app passes around: the resident model and the single
trainer live here, not in module globals. Handler parameter names are the public API names
(``gradio_client`` keywords), so they are part of the contract documented in README.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pandas as pd

from ..adapters import BASE, ResidentModel
from ..config import SETTINGS, ConfigError
from ..evaluation import check_num_samples
from ..evaluation import evaluate as run_evaluation
from ..evaluation import save as save_evaluation
from ..generation import GenerationError, SamplingParams
from ..generation import compare as run_compare
from ..generation import generate as run_generate
from ..models import device_name, resolve_spec
from ..presets import PRESETS, from_preset, preset_field
from ..settings import settings_of
from ..space import RunCaps, run_caps
from ..store import AdapterError, default_checkpoints, discover_adapters
from ..tasks import TASKS
from ..training import TrainingError, TrainingManager, TrainingRun
from . import views

USER_ERRORS = (ConfigError, GenerationError, AdapterError, TrainingError, ValueError)


def _user_error(exc: Exception) -> gr.Error:
    return gr.Error(str(exc), title=type(exc).__name__)


class Demo:
    """The app's state shared by all users: one resident model, one trainer.

    Pass a loaded ``ResidentModel``, or a model spec to load it in a background thread: the
    page is served while the model loads (imports alone take ~6 s on 2 cores), and handlers
    wait for it.
    """

    LOAD_TIMEOUT = 600.0

    def __init__(
        self,
        resident: ResidentModel | None = None,
        *,
        model: str | None = None,
        checkpoints: Path | None = None,
    ):
        self.results_dir = Path(tempfile.mkdtemp(prefix="grpo-eval-"))
        self._ready = threading.Event()
        self._error: str | None = None
        self._resident = resident
        self._manager: TrainingManager | None = None
        if resident is not None:
            self.spec, self.checkpoints = resident.spec, resident.checkpoints
            self._ready.set()
        else:
            self.spec, self.checkpoints = resolve_spec(model), checkpoints or default_checkpoints()
            threading.Thread(target=self._load, args=(model,), daemon=True).start()

    def _load(self, model: str | None) -> None:
        try:
            self._resident = ResidentModel.load(model, self.checkpoints)
        except Exception as exc:  # shown in the header, by every handler, and on stderr
            self._error = f"{type(exc).__name__}: {exc}"
            print(f"error: the base model could not be loaded: {self._error}", file=sys.stderr)
        finally:
            self._ready.set()

    @property
    def loaded(self) -> bool:
        return self._ready.is_set() and self._resident is not None

    @property
    def resident(self) -> ResidentModel:
        """The loaded model (waits while it loads)."""
        if not self._ready.wait(self.LOAD_TIMEOUT):
            raise gr.Error("the base model is still loading; try again in a moment")
        if self._resident is None:
            raise gr.Error(f"the base model could not be loaded: {self._error}")
        return self._resident

    @property
    def manager(self) -> TrainingManager:
        if self._manager is None:
            self._manager = TrainingManager(self.resident)
        return self._manager

    # -- header / choices -----------------------------------------------------------------
    def header(self) -> str:
        spec = self.spec
        if not self.loaded:
            state = f"failed to load: {self._error}" if self._error else "loading ..."
            return f"**Base model:** `{spec.name}` — {spec.why} · **{state}**"
        resident = self._resident
        adapters = ", ".join(
            f"`{n}`" + (f" (task {resident.adapters[n].task})" if n in resident.adapters else "")
            for n in resident.names()
        )
        problems = "".join(f"\n> skipped: {p}" for p in resident.problems)
        return (
            f"**Base model:** `{spec.name}` — {spec.why} · **device:** {device_name()} · "
            f"**adapters:** {adapters}{problems}"
        )

    def run_caps(self) -> RunCaps | None:
        """Run-size caps on a Hugging Face Space (by its hardware), none on a local app."""
        return run_caps()

    def caps_note(self) -> str:
        caps = self.run_caps()
        return caps.note() if caps else ""

    def adapter_names(self) -> list[str]:
        """Every adapter; before the model is loaded, the valid ones on disk."""
        if self.loaded:
            return self._resident.names()
        return [BASE, *sorted(discover_adapters(self.checkpoints, self.spec.name)[0])]

    def refresh_choices(self, current: str | None = None):
        """Dropdown updates listing every adapter (new ones appear without reload)."""
        self.resident.refresh()
        names = self.adapter_names()
        keep = current if current in names else BASE
        return gr.update(choices=names, value=keep), gr.update(choices=names), self.header()

    # -- playground -------------------------------------------------------------------------
    def _params(self, num_samples, max_new_tokens, temperature, seed) -> SamplingParams:
        """Widget values -> SamplingParams, within the app's own caps (one shared model)."""
        specs = settings_of(SamplingParams)
        values = dict(
            num_samples=num_samples,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            seed=seed,
        )
        return SamplingParams(**{k: specs[k].parse(v, app=True) for k, v in values.items()})

    def _busy_note(self) -> str:
        run = self.manager.current
        if run is not None and run.running:
            return f" (served between phases of the training run `{run.name}`)"
        return ""

    def queue_note(self) -> str:
        """Shown at once when a request is sent: is it queued behind training, for how long?"""
        run = self._manager.current if self._manager else None
        if run is None or not run.running:
            return "Working ..."
        left = run.phase_left()
        wait = "" if left is None else f", about {left:.0f} s"
        phase = run.phase or "starting"
        return (
            f"⏳ Queued behind the training run `{run.name}` (step {len(run.history) + 1}, "
            f"{phase} phase{wait}): requests are served between the phases of a step."
        )

    def generate(self, prompt, adapter, num_samples, max_new_tokens, temperature, seed):
        """Sample completions from one adapter (or the base) and score each with every reward."""
        note = self._busy_note()
        start = time.perf_counter()
        try:
            params = self._params(num_samples, max_new_tokens, temperature, seed)
            completions = run_generate(self.resident, prompt or "", adapter or BASE, params)
        except USER_ERRORS as exc:
            raise _user_error(exc) from None
        status = (
            f"{len(completions)} completions from `{adapter}` in "
            f"{time.perf_counter() - start:.1f} s{note}"
        )
        return views.highlight(completions), views.completions_table(completions), status

    def compare(self, prompt, num_samples, max_new_tokens, temperature, seed):
        """The same prompt and seed through the base and every adapter."""
        try:
            params = self._params(num_samples, max_new_tokens, temperature, seed)
            by_adapter = run_compare(self.resident, prompt or "", params)
        except USER_ERRORS as exc:
            raise _user_error(exc) from None
        flat = [c for cs in by_adapter.values() for c in cs]
        return (
            views.highlight(flat, header=True),
            views.completions_table(flat),
            views.compare_summary(by_adapter),
        )

    def remember(self, table: pd.DataFrame, samples: list[dict]):
        """Add the latest completions to this session's samples (a gr.State) and offer a CSV."""
        rows = [*samples, *table.to_dict(orient="records")]
        path = self.results_dir / f"samples-{uuid.uuid4().hex[:12]}.csv"
        pd.DataFrame(rows).to_csv(path, index=False)
        label = f"Download this session's {len(rows)} samples (CSV)"
        return rows, gr.update(value=str(path), label=label, visible=True)

    # -- training ---------------------------------------------------------------------------
    def preset_values(self, preset: str):
        """Fill the task and editable hyper-parameters from a preset; show its remark."""
        if preset not in PRESETS:
            raise gr.Error(f"unknown preset {preset!r}")
        p = PRESETS[preset]
        shown = ("learning_rate", "num_generations", "max_steps", "max_completion_length")
        if any(f not in p.values for f in shown) and not self._ready.is_set():
            self._ready.wait(self.LOAD_TIMEOUT)  # TRL's defaults: never import it mid-load
        origin = "the report" if p.from_report else "this demo"
        remark = f"**{preset}** (from {origin}): {p.remark}"
        return (p.task, *(preset_field(preset, f) for f in shown), remark)

    def _view(self, run: TrainingRun | None):
        history = run.history if run else []
        return (
            views.progress_text(run),
            views.reward_curve(history),
            views.kl_curve(history),
            views.step_table(history[-1] if history else None),
            views.collapse_warning(history),
        )

    def train(
        self,
        task,
        preset,
        name,
        learning_rate,
        num_generations,
        max_steps,
        max_completion_length,
        request: gr.Request | None = None,
    ) -> Iterator[tuple]:
        """Start a GRPO run in the background and stream its progress until it ends."""
        if task not in TASKS:
            raise gr.Error(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
        manager = self.manager  # waits for the model (and its imports) before building configs
        try:
            typed = {
                "learning_rate": learning_rate,
                "max_steps": max_steps,
                "max_completion_length": max_completion_length,
                "num_generations": num_generations,
            }
            typed = {k: SETTINGS[k].parse(v, app=True) for k, v in typed.items()}
            gens = typed.pop("num_generations")
            config = from_preset(preset, task=task, **typed).with_generations(gens)
            caps = self.run_caps()
            if caps is not None:
                caps.check(config.resolved())
            who = f"session {request.session_hash[:6]}" if request and request.session_hash else ""
            run = manager.start(
                config,
                (name or "").strip(),
                preset=preset,
                owner=f"{who} at {time.strftime('%H:%M')}",
            )
        except USER_ERRORS as exc:
            raise _user_error(exc) from None
        seen = -1
        while True:
            run.wait(max(seen, 0), timeout=1.0)
            if len(run.history) != seen or run.ended is not None:
                seen = len(run.history)
                yield self._view(run)
            else:  # a ticking clock; also lets a closed tab's cancel land within a second
                yield (views.progress_text(run), *[gr.skip()] * 4)
            if run.ended is not None:
                return

    def training_view(self):
        """The current run for anyone watching (polled by a timer)."""
        return self._view(self.manager.current)

    def stop(self):
        """Ask the running trainer to stop after its current step (the adapter is saved)."""
        if self.manager.stop():
            return "Stop requested: the run ends after the current step and saves its adapter."
        return "No training run is going."

    # -- evaluation -------------------------------------------------------------------------
    def evaluate(self, adapters, num_samples, progress=gr.Progress()):  # noqa: B008 (Gradio idiom)
        """The report's Table 1 protocol on held-out prompts, plus diversity and plots."""
        adapters = [adapters] if isinstance(adapters, str) else list(adapters or [])
        try:
            n = check_num_samples(num_samples, app=True)
        except USER_ERRORS as exc:
            raise _user_error(exc) from None
        progress(0, desc="sampling")
        try:
            result = run_evaluation(
                self.resident,
                adapters,
                n,
                on_progress=lambda done, total: progress(done / total, desc="sampling"),
            )
        except USER_ERRORS as exc:
            raise _user_error(exc) from None
        out = Path(tempfile.mkdtemp(prefix="eval-", dir=self.results_dir))
        paths = save_evaluation(result, out)
        collapsed = [a for a, d in result.diversity.items() if d["collapsed"]]
        verdict = (
            f"⚠️ collapsed (one word repeated): {', '.join(collapsed)}"
            if collapsed
            else "No collapse: completions stay varied."
        )
        return (
            result.table1().reset_index(),
            result.diversity_table().reset_index(),
            verdict,
            str(paths["histogram"]),
            [str(p) for p in paths.values()],
        )


def empty_curve() -> pd.DataFrame:
    return pd.DataFrame(columns=views.CURVE_COLUMNS)
