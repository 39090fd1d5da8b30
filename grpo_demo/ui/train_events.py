"""The Train tab's handlers: presets, Start and its refusals, the live run view for every
watcher, Stop (only its owner or the teacher key), the reward builder, the step browser."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import gradio as gr
import pandas as pd
from gradio.components.plot import PlotData
from gradio.processing_utils import encode_plot_to_base64

from ..app import forms
from ..app.state import AppState
from ..app.train_fields import (
    NUMBER_RUN_FIELDS,
    PRESET_FIELDS,
    TRAIN_FIELDS,
    preset_form,
    run_form,
)
from ..learning_signal import verdict
from ..lora_slots import BASE
from ..pace import clock
from ..presets import PRESETS
from ..reward_spec import format_spec, parse_spec, task_from_spec
from ..settings import ConfigError
from ..tasks import TASKS
from ..training.probes import DEFAULT_PROBES
from . import train_views, views
from .wiring import REFUSED, log_refusal, refusing, session, takes

if TYPE_CHECKING:
    from ..training import TrainingRun

VIEW = (
    "progress",
    "warning",
    "before_now",
    "reward_chart",
    "signal_headline",
    "signal",
    "signal_chart",
    "step_table",
    "probes",
)
"""What the Train tab's run view shows: the outputs of Start and of the watchers' timer."""
SCORE_PROMPTS = 2  # groups "Score the base first" samples (the form's answers and length each)


def view(**parts) -> tuple:
    """The run view's outputs by name; a part not given is left as it is (``gr.skip``)."""
    if unknown := set(parts) - set(VIEW):
        raise KeyError(f"not in the run view: {', '.join(sorted(unknown))}")
    return tuple(parts.get(name, gr.skip()) for name in VIEW)


def drawn(figure) -> PlotData:
    """A chart encoded once for every page that watches: handed a figure, ``gr.Plot`` encodes
    it again for each page it is sent to (thirty pages: a third of the app's CPU samples in
    ``savefig``, BENCHMARKS.md); handed this, it sends it as it is."""
    import matplotlib.pyplot as plt

    data = PlotData(type="matplotlib", plot=encode_plot_to_base64(figure, "webp"))  # gr.Plot's own
    plt.close(figure)
    return data


def view_key(run: TrainingRun | None) -> tuple:
    """What a training view shows, in brief: it changes exactly when the view would."""
    if run is None:
        return (None, None, 0, False)
    return (run.name, run.started_at, len(run.history), run.ended is not None)


class TrainEvents:
    state: AppState
    _figures: tuple = (None, None, None)  # (run, step) -> the two charts, drawn once a step
    _drawing: threading.Lock  # made by Demo
    _forms: dict[str, forms.CheckedOnce]  # made by Demo

    # -- the form -----------------------------------------------------------------------------
    def preset_values(self, preset: str, timed: bool = True):
        """Fill the task and editable hyper-parameters from a preset; show its hint and time.
        The time needs TRL's defaults, so it waits for the model load (which imports TRL):
        the page's first render passes ``timed=False``, and a load event fills it in."""
        if preset not in PRESETS:
            raise gr.Error(f"unknown preset {preset!r}", print_exception=False)
        p = PRESETS[preset]
        if timed or any(f not in p.values for f in NUMBER_RUN_FIELDS):
            self.state.wait_loaded()  # TRL's defaults: never import it mid-load
        origin = "the report" if p.from_report else "this demo"
        remark = f"**{preset}** (from {origin}): {p.remark} "
        if timed:  # from the same measured pace as the ETA
            tokens, per_step, minutes, source = self.state.preset_time(preset)
            remark += (
                f"*Up to {tokens} completion tokens a step: ≈ {per_step:.0f} s a step, ≈ "
                f"{minutes:.0f} min for the whole run ({source}).*"
            )
        values = preset_form(preset)
        return (*(values[f] for f in PRESET_FIELDS), remark)

    def form_now(self, preset: str):
        """A page opened mid-run shows the running run's settings, else the preset's."""
        run = self.state.running
        if run is None:
            return (gr.skip(), gr.skip(), *self.preset_values(preset), gr.skip(), gr.skip())
        chosen = run.preset if run.preset in PRESETS else preset
        values, probes = run_form(run.config), "\n".join(run.probes)
        form = (values[f] for f in PRESET_FIELDS)
        return chosen, run.name, *form, self.preset_values(chosen)[-1], probes, run.probe_every

    def start_check(self, request: gr.Request = None, **values) -> tuple[str, dict[str, str], bool]:
        """Start's refusals, seen where the eye is: (the box under Start, each wrong field's
        message for under that field, whether the run may start). Another run going is said
        in the box alone, in plain words: no field is at fault."""
        try:
            self._forms["train"].check(session(request), values)  # kept for Start's handler
            return "", {}, True
        except forms.FormError as exc:
            wrong = exc.errors
        except REFUSED as exc:
            return f"⏳ {exc}", {}, False
        named = ", ".join(f"**{f.refusal}**" for f in TRAIN_FIELDS if f.name in wrong)
        box = (
            f"⛔ **Start refused**: nothing was started. Fix {named}: each field's message "
            "is under it, outlined in red."
        )
        return box, {f.name: wrong[f.name] for f in TRAIN_FIELDS if f.name in wrong}, False

    # -- the reward builder ---------------------------------------------------------------------
    def reward_rows(self, task):
        """The builder's rows for a task (its terms weighted, the rest at 0) and a cleared spec."""
        return views.builder_rows(TASKS.get(task)), "", ""

    def compose_reward(self, table: pd.DataFrame):
        """The builder's rows -> spec text, or a message under the table naming the cell (the
        spec typed before stays as it was; nothing is executed)."""
        try:
            spec = views.spec_from_rows(table)
            return (format_spec(parse_spec(spec)) if spec else ""), ""
        except (ConfigError, ValueError) as exc:
            return gr.skip(), f"⚠️ **Reward builder:** {exc}"

    def follow_spec(self, spec: str):
        """A typed spec -> the builder's rows follow it; the Task field says it is replaced."""
        if not (spec or "").strip():
            return gr.skip(), "", gr.update(info=None)
        try:
            task = task_from_spec(spec)
        except ConfigError as exc:
            return gr.skip(), f"⚠️ **Custom reward:** {exc}", gr.skip()
        replaced = "not used: the custom reward below replaces it"
        return views.builder_rows(task), "", gr.update(info=replaced)

    def score_base(self, task, reward, num_generations, max_completion_length):
        """Sample one group per prompt from the base, score it with this reward, and show the
        advantages GRPO would give: can this reward move the model?"""
        try:
            asked = forms.score(
                task=task,
                reward=reward,
                num_generations=num_generations,
                max_completion_length=max_completion_length,
                prompts=SCORE_PROMPTS,
            )
            groups = self.state.score_base(
                asked.task, asked.prompts, asked.num_generations, asked.max_new_tokens
            )
        except REFUSED as exc:  # said where the answer would be, not in a fading toast
            log_refusal(exc)
            said = "; ".join(exc.errors.values()) if isinstance(exc, forms.FormError) else exc
            return f"⛔ **Not scored:** {said}", views.groups_table([])
        return verdict(groups), views.groups_table(groups)

    # -- the run --------------------------------------------------------------------------------
    @takes(*((f.name, f.default) for f in TRAIN_FIELDS))  # app/train_fields.py: the API's
    def train(self, request: gr.Request = None, **values) -> Iterator[tuple]:
        """Start a GRPO run in the background and stream its progress until it ends.

        ``reward``: a spec built from registered terms (empty: the task's own rewards).
        ``probes``: up to five prompts, one per line, answered with a fixed seed by the base
        and, every ``probe_every`` steps (and at steps 1 and last), by the model in training:
        the before-vs-now view. ``loss_type``, ``scale_rewards``, ``importance_sampling_level``:
        TRL's (empty: the preset's, else TRL's default). The page (or API client) that starts
        the run owns it: only it, or the teacher key, can stop it.
        """
        with refusing():
            asked = self.asked("train", request, **values)
            run = self.state.manager.start(
                asked.config,
                asked.name,
                preset=asked.preset,
                owner=f"a page opened at {time.strftime('%H:%M')}",
                owner_session=session(request),
                probes=asked.probes,
                probe_every=asked.probe_every,
            )
        seen = -1
        while True:
            run.wait(max(seen, 0), timeout=1.0)
            # read once, before the view: a run that ends after this read is shown ended by
            # the next turn, so the stream's last output is always the ended run
            ended = run.ended is not None
            if len(run.history) != seen or ended:
                seen = len(run.history)
                self.state.learn_speed(run)
                yield self._view(run, run.probes, mine=True)
            else:  # a ticking clock; also lets a closed tab's cancel land within a second
                yield view(progress=self._progress(run, True))
            if ended:
                return

    def training_tick(self, seen=None, shown=None, request: gr.Request = None):
        """Polled by every page's timer: the progress line (a skip when unchanged), which run
        and step the page should show (``seen``: when it changes, ``training_view`` redraws),
        and the line shown."""
        run = self.state.current
        progress = self._progress(run, run is not None and run.owner_session == session(request))
        return (gr.skip() if progress == shown else progress), view_key(run), progress

    def training_view(self, probes: str = "", request: gr.Request = None):
        """The current run's whole view, for a page whose run or step changed."""
        run = self.state.current
        mine = run is not None and run.owner_session == session(request)
        prompts = [p for p in (probes or "").splitlines() if p.strip()] or DEFAULT_PROBES
        return self._view(run, prompts, mine)

    def _progress(self, run: TrainingRun | None, mine: bool) -> str:
        left = self.state.seconds_left(run) if run else None
        return train_views.progress_text(run, mine, left, self.state.has_teacher_key)

    def _view(self, run: TrainingRun | None, prompts: list[str], mine: bool) -> tuple:
        history = run.history if run else []
        task = run.config.task_spec if run else None
        beta = run.config.resolved().get("beta") if run else None
        key = view_key(run)
        with self._drawing:  # each step's charts drawn once, for every page (pages tick
            if self._figures[0] != key:  # at once after a step: one draws, the rest wait)
                self._figures = (
                    key,
                    drawn(train_views.reward_figure(history, task)),
                    drawn(train_views.signal_figure(history, beta)),
                )
        return view(
            progress=self._progress(run, mine),
            warning=train_views.collapse_warning(history),
            before_now=train_views.before_now(run, task, prompts),
            reward_chart=self._figures[1],
            signal_headline=train_views.signal_headline(history),
            signal=train_views.signal_view(history, beta),
            signal_chart=self._figures[2],
            step_table=train_views.step_table(history[-1] if history else None, task),
            probes=train_views.probe_table(run),
        )

    def stop(self, teacher_key: str = "", request: gr.Request = None):
        """Stop the run after its current step (the adapter is saved): only the page that
        started it, or the teacher key, may; anyone else is told who runs it."""
        run = self.state.running
        if run is None:
            return "No training run is going."
        if not self.state.may_stop(run, session(request), teacher_key):
            left = self.state.seconds_left(run)
            wait = f" It has about {clock(left)} left." if left is not None else ""
            key = " or the teacher key" if self.state.has_teacher_key else ""
            return (
                f"⛔ Stop refused: the run `{run.name}` was started by {run.owner}; only that "
                f"page{key} can stop it.{wait}"
            )
        self.state.manager.stop()
        return "Stop requested: the run ends after the current step and saves its adapter."

    # -- the step browser -----------------------------------------------------------------------
    def trained_choices(self):
        """The adapters (with the run under way first): what the step browser can open."""
        run = self.state.current
        names = [n for n in self.state.adapter_names() if n != BASE]
        if run is not None and run.name not in names:
            names.insert(0, run.name)
        return gr.update(choices=names)

    def browse(self, run_name, step, request: gr.Request = None):
        """Any step of a run, during it or after: its completions, rewards and advantages."""
        with refusing():
            asked = self.asked("browse", request, run_name=run_name, step=step)
        event = asked.history[asked.step - 1]
        tied = event.metrics.get("frac_tied_groups")
        ties = f", tied groups {tied:.0%}" if tied is not None else ""
        note = f"**{run_name}**, step {event.step} of {asked.total}: reward {event.reward:.3f}, "
        note += f"distinct-2 {event.distinct_2:.2f}{ties}"
        return note, train_views.step_table(event, asked.task)
