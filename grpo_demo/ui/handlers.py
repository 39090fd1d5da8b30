"""Event handlers: validate widget values, call the package, shape results for the widgets.

``Demo`` is the one explicit object the app passes around: the resident model and the single
trainer live here, not in module globals. Handler parameter names are the public API names
(``gradio_client`` keywords), so they are part of the contract documented in README.
"""

from __future__ import annotations

import hmac
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
from ..data import train_prompts
from ..evaluation import EVAL_SIZE, TABLE_REWARDS, check_num_samples
from ..evaluation import evaluate as run_evaluation
from ..evaluation import save as save_evaluation
from ..generation import GenerationError, SamplingParams, check_prompts
from ..generation import compare as run_compare
from ..generation import generate as run_generate
from ..learning_signal import score_base, verdict
from ..models import device_name, resolve_spec
from ..pace import MEASURED, remember_step, step_seconds
from ..presets import (
    PRESETS,
    completion_tokens,
    from_preset,
    preset_field,
    tokens_per_step,
)
from ..reward_spec import format_spec, parse_spec, task_from_spec, task_of
from ..settings import Setting, settings_of
from ..space import RunCaps, run_caps
from ..store import (
    AdapterError,
    check_new_name,
    default_checkpoints,
    discover_adapters,
    load_steps,
)
from ..tasks import TASKS, Task
from ..training import (
    PROBE_EVERY,
    TrainingError,
    TrainingManager,
    TrainingRun,
    check_probes,
    step_from_record,
)
from . import train_views, views

USER_ERRORS = (ConfigError, GenerationError, AdapterError, TrainingError, ValueError)
DEFAULT_PROBES = ["Tomorrow I'm gonna learn for exam", "Once upon a time a little fox"]
"""The before-vs-now prompts a Train tab starts with (the report's first; editable)."""
BROWSE_STEP = Setting(int, 1, 10_000, "a step of the run", name="step")
SHOWN = ("learning_rate", "num_generations", "max_steps", "max_completion_length")
"""The run settings the Train tab shows (the preset fills the rest)."""
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
"""What the Train tab's run view shows, in the order the handlers return it."""
START_FIELDS = (
    "Task",
    "Preset",
    "Save as",
    "How fast it learns (learning_rate)",
    "Answers per question (num_generations)",
    "Training steps (max_steps)",
    "Answer length (max_completion_length)",
    "Custom reward",
    "Before-vs-now prompts",
    "Answer them every K steps (probe_every)",
    "Teacher key",
)
"""Start's fields as the page labels them, in the order of its inputs."""
NUMBER_ROW = range(3, 7)  # learning_rate .. max_completion_length: one row of number fields


def _user_error(exc: Exception) -> gr.Error:
    """The user's mistake as a message; one line in the server log, not a traceback."""
    print(f"refused: {type(exc).__name__}: {exc}", file=sys.stderr)
    return gr.Error(str(exc), title=type(exc).__name__, print_exception=False)


def _unprefixed(message: str) -> str:
    """A field's message without the field name it carries for the API ("Reward: ...")."""
    head, sep, rest = message.partition(": ")
    return rest if sep and head in ("Reward", "Task", "Before-vs-now prompts") else message


def _session(request: gr.Request | None) -> str | None:
    """The browser tab (or API client) behind a request: Gradio's per-connection hash."""
    return getattr(request, "session_hash", None) if request is not None else None


class Demo:
    """The app's state shared by all users: one resident model, one trainer.

    Pass a loaded ``ResidentModel``, or a model spec to load it in a background thread: the
    page is served while the model loads (imports alone take ~6 s on 2 cores), and handlers
    wait for it.
    """

    LOAD_TIMEOUT = 600.0
    SCORE_PROMPTS = 2  # groups sampled by "Score the base first" (8 x 32 tokens: seconds)

    def __init__(
        self,
        resident: ResidentModel | None = None,
        *,
        model: str | None = None,
        checkpoints: Path | None = None,
        teacher_key: str | None = None,
    ):
        self.results_dir = Path(tempfile.mkdtemp(prefix="grpo-eval-"))
        self._teacher_key = teacher_key or None  # never stored anywhere but in this object
        self._ready = threading.Event()
        self._error: str | None = None
        self._resident = resident
        self._manager: TrainingManager | None = None
        self._figures: tuple = (None, None, None)  # (run, step) -> the two training charts
        if resident is not None:
            self.spec, self.checkpoints = resident.spec, resident.checkpoints
            self._ready.set()
        else:
            self.spec, self.checkpoints = resolve_spec(model), checkpoints or default_checkpoints()
        # steps measured in this app (tokens a step -> seconds), before the remembered ones
        self._paces: dict[int, float] = {}
        if resident is None:
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

    def refresh_choices(self, known: list[str] | None, play: str | None, chosen: list[str] | None):
        """Adapters that appeared since this page last looked: listed in both dropdowns and
        preselected in Evaluate. Polled every few seconds by every open page (a run finished
        in another session shows up without a reload); nothing changes when nothing is new.
        """
        if not self.loaded:
            return gr.skip(), gr.skip(), self.header(), known
        self.resident.refresh()
        names = self.adapter_names()
        if known == names:
            return gr.skip(), gr.skip(), gr.skip(), known
        new = [n for n in names if n not in (known or [])]
        keep = play if play in names else BASE
        evaluate = [n for n in (chosen or []) if n in names] + [
            n for n in new if n not in (chosen or [])
        ]
        return (
            gr.update(choices=names, value=keep),
            gr.update(choices=names, value=evaluate),
            self.header(),
            names,
        )

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

    def _tasks(self) -> dict[str, Task | None]:
        """Each adapter's training task (what its "task reward" column scores)."""
        infos = self.resident.adapters
        return {n: infos[n].task_spec if n in infos else None for n in self.adapter_names()}

    def _busy_note(self) -> str:
        run = self.manager.current
        if run is not None and run.running:
            return f" (served between phases of the training run `{run.name}`)"
        return ""

    def queue_note(self, *_fields) -> str:
        """Shown at once when a request is sent: is it queued behind training, for how long?"""
        run = self._manager.current if self._manager else None
        if run is None or not run.running:
            return "Working ..."
        left = run.phase_left()
        wait = "" if left is None else f" The model is free in about {left:.0f} s; then it samples."
        phase = run.phase or "starting"
        return (
            f"⏳ Waiting for the training run `{run.name}` (step {len(run.history) + 1}, "
            f"{phase} phase): requests are served between the phases of a step.{wait}"
        )

    def check_sampling(self, prompt, num_samples, max_new_tokens, temperature, seed) -> list:
        """One ``gr.validate`` per field: the message sits under the field that is wrong."""
        try:
            check_prompts([prompt or ""])
            prompt_ok = gr.validate(True, "")
        except GenerationError as exc:
            prompt_ok = gr.validate(False, f"Prompt: {exc}")
        specs = settings_of(SamplingParams)
        values = {
            "num_samples": num_samples,
            "max_new_tokens": max_new_tokens,
            "temperature": temperature,
            "seed": seed,
        }
        return [prompt_ok, *(field_check(specs[k], v) for k, v in values.items())]

    def check_generate(self, prompt, adapter, num_samples, max_new_tokens, temperature, seed):
        """Validator of Generate: every field checked before the model is asked."""
        checks = self.check_sampling(prompt, num_samples, max_new_tokens, temperature, seed)
        try:
            self.resident.get(adapter or BASE)
            adapter_ok = gr.validate(True, "")
        except AdapterError as exc:
            adapter_ok = gr.validate(False, f"Adapter: {exc}")
        return [checks[0], adapter_ok, *checks[1:]]

    def generate(self, prompt, adapter, num_samples, max_new_tokens, temperature, seed):
        """Sample completions from one adapter (or the base) and score each with every reward.

        Returns the highlighted text, the completions table, every reward's score, a status
        line and the rows behind them (for this session's CSV).
        """
        note = self._busy_note()
        start = time.perf_counter()
        try:
            params = self._params(num_samples, max_new_tokens, temperature, seed)
            completions = run_generate(self.resident, prompt or "", adapter or BASE, params)
        except USER_ERRORS as exc:
            raise _user_error(exc) from None
        tasks = self._tasks()
        status = (
            f"{len(completions)} completions from `{adapter}` in "
            f"{time.perf_counter() - start:.1f} s{note}"
        )
        return (
            views.highlight(completions),
            views.completions_table(completions, tasks),
            views.scores_table(completions),
            status,
            views.records(completions, params, tasks),
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
            params = self._params(num_samples, max_new_tokens, temperature, seed)
            names = self.adapter_names()
            progress(0, desc=f"sampling {names[0]}")

            def on_batch(done: int, total: int) -> None:
                shown = sampling_now(names, done, total)
                progress(done / total, desc=f"sampled {done}/{total} batches; next: {shown}")

            by_adapter = run_compare(self.resident, prompt or "", params, names, on_batch)
        except USER_ERRORS as exc:
            raise _user_error(exc) from None
        flat = [c for cs in by_adapter.values() for c in cs]
        tasks = self._tasks()
        return (
            views.compare_grid(by_adapter, tasks),
            views.compare_summary(by_adapter, tasks),
            views.scores_table(flat),
            f"{len(flat)} completions: {len(by_adapter)} models × {params.num_samples}, seed "
            f"{params.seed}",
            views.records(flat, params, tasks),
        )

    def remember(self, rows: list[dict], samples: list[dict]):
        """Add the latest completions to this session's samples (a gr.State) and offer a CSV."""
        rows = [*samples, *rows]
        path = self.results_dir / f"samples-{uuid.uuid4().hex[:12]}.csv"
        pd.DataFrame(rows).to_csv(path, index=False)
        label = f"Download this session's {len(rows)} samples (CSV)"
        return rows, gr.update(value=str(path), label=label, visible=True)

    # -- training ---------------------------------------------------------------------------
    @property
    def has_teacher_key(self) -> bool:
        return self._teacher_key is not None

    def _is_teacher(self, key: str | None) -> bool:
        return self._teacher_key is not None and hmac.compare_digest(
            (key or "").encode(), self._teacher_key.encode()
        )

    def preset_values(self, preset: str, timed: bool = True):
        """Fill the task and editable hyper-parameters from a preset; show its hint and time.

        The time needs TRL's defaults, so it waits for the model load (which imports TRL):
        the page's first render passes ``timed=False``, and a load event fills it in.
        """
        if preset not in PRESETS:
            raise gr.Error(f"unknown preset {preset!r}", print_exception=False)
        p = PRESETS[preset]
        if (timed or any(f not in p.values for f in SHOWN)) and not self._ready.is_set():
            self._ready.wait(self.LOAD_TIMEOUT)  # TRL's defaults: never import it mid-load
        origin = "the report" if p.from_report else "this demo"
        timing = self.expected_time(preset) if timed else ""
        remark = f"**{preset}** (from {origin}): {p.remark} {timing}"
        return (p.task, *(preset_field(preset, f) for f in SHOWN), remark)

    def pace(self, tokens: int) -> tuple[float, str]:
        """Seconds a step of ``tokens`` completion tokens takes here, and the figure's source:
        this app's own runs of that size, else what runs here left in the cache."""
        if tokens in self._paces:
            return self._paces[tokens], MEASURED
        return step_seconds(self.spec.name, tokens)

    def seconds_per_step(self, values: dict) -> float:
        """This machine's measured pace for a step of these sizes (the hint and the ETA)."""
        return self.pace(tokens_per_step(values))[0]

    def expected_time(self, preset: str) -> str:
        """Up to how long the preset runs here, from the same measured pace as the ETA."""
        tokens = completion_tokens(preset)
        per_step, source = self.pace(tokens)
        minutes = per_step * preset_field(preset, "max_steps") / 60
        return (
            f"*Up to {tokens} completion tokens a step: ≈ {per_step:.0f} s a step, ≈ "
            f"{minutes:.0f} min for the whole run ({source}).*"
        )

    def form_now(self, preset: str, request: gr.Request | None = None):
        """A page opened mid-run shows the running run's settings, else the preset's."""
        run = self._manager.current if self._manager else None
        if run is None or not run.running:
            return (gr.skip(), gr.skip(), *self.preset_values(preset), gr.skip(), gr.skip())
        r = run.config.resolved()
        chosen = run.preset if run.preset in PRESETS else preset
        return (
            chosen,
            run.name,
            run.config.task,
            *(r[f] for f in SHOWN),
            self.preset_values(chosen)[-1],
            "\n".join(run.probes),
            run.probe_every,
        )

    def start_check(self, *fields):
        """Every refusal of Start, each naming its field: in one box under Start that stays
        where the teacher looks, and the number fields' own under their row (the run's own
        validator then refuses the same values, so nothing starts). Empty when Start may go."""
        checks = self.check_train(*fields)
        wrong = {
            i: f"* **{START_FIELDS[i]}**: {_unprefixed(c['message'])}"
            for i, c in enumerate(checks)
            if not c["is_valid"]
        }
        if not wrong:
            return "", ""
        box = "⛔ **Start refused** (nothing was started; fix these and press Start):\n"
        numbers = [line for i, line in wrong.items() if i in NUMBER_ROW]
        under = "⛔ " + "\n".join(numbers) if numbers else ""
        return box + "\n".join(wrong.values()), under

    def progress_now(self) -> str:
        return train_views.progress_text(self._manager.current if self._manager else None)

    def _view(self, run: TrainingRun | None, prompts: list[str], mine: bool = False):
        history = run.history if run else []
        task = run.config.task_spec if run else None
        beta = run.config.resolved().get("beta") if run else None
        key = view_key(run)
        if self._figures[0] != key:  # render each step's charts once, for every watcher
            self._figures = (
                key,
                train_views.reward_figure(history, task),
                train_views.signal_figure(history, beta),
            )
        return (
            self._progress(run, mine),
            train_views.collapse_warning(history),
            train_views.before_now(run, task, prompts),
            self._figures[1],
            train_views.signal_headline(history),
            train_views.signal_view(history, beta),
            self._figures[2],
            train_views.step_table(history[-1] if history else None, task),
            train_views.probe_table(run),
        )

    def _left(self, run: TrainingRun) -> float | None:
        """Seconds until ``run`` ends: its own pace, or this machine's before its first step."""
        return train_views.seconds_left(run, self.seconds_per_step(run.config.resolved()))

    def _progress(self, run: TrainingRun | None, mine: bool) -> str:
        estimate = self.seconds_per_step(run.config.resolved()) if run else None
        return train_views.progress_text(run, mine, estimate, self.has_teacher_key)

    def _learn_speed(self, run: TrainingRun) -> None:
        """This run's pace so far: the time hint for its size follows it, and the next start."""
        if run.history and not (run.ended and run.ended.error):
            tokens = tokens_per_step(run.config.resolved())
            self._paces[tokens] = run.history[-1].elapsed / len(run.history)
            if run.ended is not None:
                remember_step(self.spec.name, tokens, self._paces[tokens])

    def _config(
        self, task, preset, learning_rate, num_generations, max_steps, max_length, reward=""
    ):
        typed = {
            "learning_rate": learning_rate,
            "max_steps": max_steps,
            "max_completion_length": max_length,
            "num_generations": num_generations,
        }
        typed = {k: SETTINGS[k].parse(v, app=True) for k, v in typed.items()}
        gens = typed.pop("num_generations")
        custom = (reward or "").strip() or None
        config = from_preset(preset, task=task, reward=custom, **typed).with_generations(gens)
        caps = self.run_caps()
        if caps is not None:
            caps.check(config.resolved())
        return config

    def _busy_refusal(self) -> str | None:
        run = self.manager.current
        if run is None or not run.running:
            return None
        left = self._left(run)
        wait = f", about {train_views.clock(left)} left" if left is not None else ""
        return (
            f"Start refused: the run {run.name!r} is going (step {len(run.history)}/"
            f"{run.config.max_steps}{wait}, started by {run.owner}); one run at a time."
        )

    def check_train(
        self,
        task,
        preset,
        name,
        learning_rate,
        num_generations,
        max_steps,
        max_completion_length,
        reward="",
        probes="",
        probe_every=1,
        teacher_key="",
    ) -> list:
        """Validator of Start: each message under its field; nothing starts until all pass."""
        ok = gr.validate(True, "")
        task_ok = ok if task in TASKS else gr.validate(False, f"Task: unknown task {task!r}")
        preset_ok = ok if preset in PRESETS else gr.validate(False, f"unknown preset {preset!r}")
        name_ok = ok
        try:
            check_new_name(self.resident.adapter_dir, (name or "").strip())
        except ConfigError as exc:
            name_ok = gr.validate(False, str(exc))
        if busy := self._busy_refusal():
            name_ok = gr.validate(False, busy)
        numbers = {
            "learning_rate": learning_rate,
            "num_generations": num_generations,
            "max_steps": max_steps,
            "max_completion_length": max_completion_length,
        }
        checks = {k: field_check(SETTINGS[k], v) for k, v in numbers.items()}
        reward_ok = ok
        try:
            if (reward or "").strip():
                parse_spec(reward)
        except ConfigError as exc:
            reward_ok = gr.validate(False, f"Reward: {exc}")
        if all(c["is_valid"] for c in (task_ok, preset_ok, reward_ok, *checks.values())):
            try:
                self._config(task, preset, *numbers.values(), reward)
            except USER_ERRORS as exc:  # cross-field: batch size vs group size, Space caps
                checks["num_generations"] = gr.validate(False, str(exc))
        probes_ok = ok
        try:
            check_probes((probes or "").splitlines())
        except (ConfigError, GenerationError) as exc:
            probes_ok = gr.validate(False, f"Before-vs-now prompts: {exc}")
        every_ok = field_check(PROBE_EVERY, probe_every)
        key_ok = ok
        if self.has_teacher_key and not self._is_teacher(teacher_key):
            key_ok = gr.validate(False, "Start needs the teacher key (ask your teacher)")
        return [
            task_ok,
            preset_ok,
            name_ok,
            *checks.values(),
            reward_ok,
            probes_ok,
            every_ok,
            key_ok,
        ]

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
            spec = task_of(task, (reward or "").strip() or None)
            if spec is None:
                raise ConfigError(f"unknown task {task!r}")
            gens = SETTINGS["num_generations"].parse(num_generations, app=True)
            length = min(SETTINGS["max_completion_length"].parse(max_completion_length), 64)
            groups = score_base(
                self.resident, spec, train_prompts()[: self.SCORE_PROMPTS], gens, length
            )
        except USER_ERRORS as exc:  # said where the answer would be, not in a fading toast
            print(f"refused: {type(exc).__name__}: {exc}", file=sys.stderr)
            return f"⛔ **Not scored:** {exc}", views.groups_table([])
        return verdict(groups), views.groups_table(groups)

    def train(
        self,
        task,
        preset,
        name,
        learning_rate,
        num_generations,
        max_steps,
        max_completion_length,
        reward="",
        probes="",
        probe_every=1,
        teacher_key="",
        request: gr.Request = None,
    ) -> Iterator[tuple]:
        """Start a GRPO run in the background and stream its progress until it ends.

        ``reward``: a spec built from registered terms (empty: the task's own rewards).
        ``probes``: up to five prompts, one per line, answered with a fixed seed by the base
        and, every ``probe_every`` steps (and at steps 1 and last), by the model in training:
        the before-vs-now view. The page (or API client) that starts the run owns it: only it,
        or the teacher key, can stop it.
        """
        if task not in TASKS:
            raise _user_error(ConfigError(f"unknown task {task!r}; choose: {', '.join(TASKS)}"))
        if self.has_teacher_key and not self._is_teacher(teacher_key):
            raise _user_error(ConfigError("Start needs the teacher key"))
        manager = self.manager  # waits for the model (and its imports) before building configs
        session = _session(request)
        try:
            config = self._config(
                task,
                preset,
                learning_rate,
                num_generations,
                max_steps,
                max_completion_length,
                reward,
            )
            run = manager.start(
                config,
                (name or "").strip(),
                preset=preset,
                owner=f"a page opened at {time.strftime('%H:%M')}",
                owner_session=session,
                probes=check_probes((probes or "").splitlines()),
                probe_every=PROBE_EVERY.parse(probe_every),
            )
        except USER_ERRORS as exc:
            raise _user_error(exc) from None
        seen = -1
        while True:
            run.wait(max(seen, 0), timeout=1.0)
            if len(run.history) != seen or run.ended is not None:
                seen = len(run.history)
                self._learn_speed(run)
                yield self._view(run, run.probes, mine=True)
            else:  # a ticking clock; also lets a closed tab's cancel land within a second
                yield (self._progress(run, True), *[gr.skip()] * (len(VIEW) - 1))
            if run.ended is not None:
                return

    def training_view(
        self, seen: tuple | None = None, probes: str = "", request: gr.Request = None
    ):
        """The current run for anyone watching (polled by a timer); charts only when changed."""
        run = self.manager.current
        mine = run is not None and run.owner_session == _session(request)
        key = view_key(run)
        if seen is not None and tuple(seen) == key:
            return (self._progress(run, mine), *[gr.skip()] * (len(VIEW) - 1), key)
        prompts = [p for p in (probes or "").splitlines() if p.strip()] or DEFAULT_PROBES
        return (*self._view(run, prompts, mine), key)

    def trained_choices(self):
        """The adapters (with the run under way first): what the step browser can open."""
        run = self._manager.current if self._manager else None
        names = [n for n in self.adapter_names() if n != BASE]
        if run is not None and run.name not in names:
            names.insert(0, run.name)
        return gr.update(choices=names)

    def _steps_of(self, run_name: str) -> tuple[list, Task | None, int]:
        """A run's steps: from memory while it is the app's current one, else from the
        adapter's ``steps.jsonl`` (saved with every adapter trained since steps are kept)."""
        run = self._manager.current if self._manager else None
        if run is not None and run.name == run_name:
            return run.history, run.config.task_spec, run.config.max_steps
        info = self.resident.get(run_name or "")
        if info is None:
            raise ConfigError("the base model was not trained: pick an adapter")
        steps = load_steps(info.path)
        return [step_from_record(s, len(steps)) for s in steps], info.task_spec, len(steps)

    def _saved_steps(self, run_name: str) -> tuple[list, Task | None, int]:
        """``_steps_of``, refusing a run that kept none."""
        history, task, total = self._steps_of(run_name)
        if not history:
            raise ConfigError(f"{run_name!r} has no saved steps (trained before steps were kept)")
        return history, task, total

    @staticmethod
    def _step_number(history: list, run_name: str, step) -> int:
        """The asked step as a number within the run (the step field's own check)."""
        k = BROWSE_STEP.parse(step)
        if k > len(history):
            raise ConfigError(f"step must be 1..{len(history)} for {run_name!r} (got {k})")
        return k

    def check_browse(self, run_name, step) -> list:
        """Validator of Show step: the run under its field, the step under the step field."""
        ok = gr.validate(True, "")
        try:
            history = self._saved_steps(run_name)[0]
        except USER_ERRORS as exc:
            return [gr.validate(False, str(exc)), ok]
        try:
            self._step_number(history, run_name, step)
        except ConfigError as exc:
            return [ok, gr.validate(False, str(exc))]
        return [ok, ok]

    def browse(self, run_name, step):
        """Any step of a run, during it or after: its completions, rewards and advantages."""
        try:
            history, task, total = self._saved_steps(run_name)
            k = self._step_number(history, run_name, step)
        except USER_ERRORS as exc:
            raise _user_error(exc) from None
        event = history[k - 1]
        tied = event.metrics.get("frac_tied_groups")
        note = (
            f"**{run_name}**, step {event.step} of {total}: reward {event.reward:.3f}, "
            f"distinct-2 {event.distinct_2:.2f}"
            + (f", tied groups {tied:.0%}" if tied is not None else "")
        )
        return note, train_views.step_table(event, task)

    def stop(self, teacher_key: str = "", request: gr.Request = None):
        """Stop the run after its current step (the adapter is saved): only the page that
        started it, or the teacher key, may; anyone else is told who runs it."""
        run = self.manager.current
        if run is None or not run.running:
            return "No training run is going."
        if not (run.owner_session == _session(request) or self._is_teacher(teacher_key)):
            left = self._left(run)
            wait = f" It has about {train_views.clock(left)} left." if left is not None else ""
            key = " or the teacher key" if self.has_teacher_key else ""
            return (
                f"⛔ Stop refused: the run `{run.name}` was started by {run.owner}; only that "
                f"page{key} can stop it.{wait}"
            )
        self.manager.stop()
        return "Stop requested: the run ends after the current step and saves its adapter."

    # -- evaluation -------------------------------------------------------------------------
    def check_evaluate(self, adapters, num_samples) -> list:
        """Validator of Evaluate: known models, N in range."""
        adapters = [adapters] if isinstance(adapters, str) else list(adapters or [])
        models_ok = gr.validate(True, "")
        if not adapters:
            models_ok = gr.validate(False, "choose at least one model (base or an adapter)")
        for name in adapters:
            try:
                self.resident.get(name)
            except AdapterError as exc:
                models_ok = gr.validate(False, str(exc))
        return [models_ok, field_check(EVAL_SIZE, num_samples)]

    def evaluate(self, adapters, num_samples, progress=gr.Progress()):  # noqa: B008 (Gradio idiom)
        """The report's Table 1 protocol on held-out prompts, plus diversity and plots."""
        adapters = [adapters] if isinstance(adapters, str) else list(adapters or [])
        try:
            n = check_num_samples(num_samples, app=True)
        except USER_ERRORS as exc:
            raise _user_error(exc) from None
        total_completions = n * len(adapters)
        progress(0, desc=f"0/{total_completions} completions; sampling {(adapters or [''])[0]}")
        started = time.perf_counter()

        def on_progress(done: int, total: int) -> None:
            # batches of 50 on a CPU (16 would move the bar more often but cost 1.47x the time:
            # BENCHMARKS.md); the bar moves per batch, names the model and estimates the rest
            spent = time.perf_counter() - started
            left = f", about {spent * (total - done) / done:.0f} s left" if done else ""
            nxt = "done" if done == total else f"sampling {sampling_now(adapters, done, total)}"
            progress(
                done / total,
                desc=f"{done * total_completions // total}/{total_completions} completions; "
                f"{nxt}{left}",
            )

        try:
            result = run_evaluation(self.resident, adapters, n, on_progress=on_progress)
        except USER_ERRORS as exc:
            raise _user_error(exc) from None
        out = Path(tempfile.mkdtemp(prefix="eval-", dir=self.results_dir))
        paths = save_evaluation(result, out)
        collapsed = [a for a, d in result.diversity.items() if d["collapsed"]]
        verdict = (
            f"⚠️ collapsed (one word repeated): {', '.join(collapsed)} ({n} per model)."
            if collapsed
            else f"No collapse: completions stay varied ({n} per model)."
        )
        return (
            views.table1_long(result.summary, TABLE_REWARDS),
            views.diversity_view(result.diversity_table()),
            verdict,
            str(paths["histogram"]),
            [str(p) for p in paths.values()],
        )


def view_key(run: TrainingRun | None) -> tuple:
    """What a training view shows, in brief: it changes exactly when the view would."""
    if run is None:
        return (None, None, 0, False)
    return (run.name, run.started_at, len(run.history), run.ended is not None)


def sampling_now(models: list[str], done: int, total: int) -> str:
    """The model whose batches come next (``sample`` goes model by model, in order)."""
    return models[min(done * len(models) // total, len(models) - 1)]


def field_check(spec: Setting, value) -> dict:
    """``gr.validate`` for one setting: its own message (names the setting and its range)."""
    try:
        spec.parse(value, app=True)
    except ConfigError as exc:
        return gr.validate(False, str(exc))
    return gr.validate(True, "")
