"""Forms: values typed in a widget, sent by an API client or given as CLI flags -> typed
requests, or one error per named field.

Each rule is written once, here, and run once per click (``CheckedOnce``: the validator's
typed request, each message under its field, is the one its handler uses; nothing starts on a
refused form) and by the CLI. Values arrive by name (the handlers' parameter names, which are
the API's), so a new field cannot shift another. Nothing a user types is executed: numbers
go through their ``Setting``, rewards through the spec parser.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from ..adapters import BASE
from ..config import SETTINGS, ConfigError, RunConfig
from ..evaluation import EVAL_SIZE
from ..generation import SamplingParams, check_prompts
from ..gpu_calls import GpuRefused, WorkerFailed
from ..pace import clock
from ..presets import PRESETS, from_preset
from ..reward_spec import parse_spec, task_of
from ..settings import Setting, settings_of
from ..space import RunCaps
from ..store import check_adapter_name, check_new_name
from ..tasks import TASKS, Task
from ..training import PROBE_EVERY, BusyError, TrainingError, check_probes
from .state import AppState
from .train_fields import LOSS_RUN_FIELDS, NUMBER_RUN_FIELDS, complete

T = TypeVar("T")
USER_ERRORS = (ValueError, TrainingError, GpuRefused, WorkerFailed)
"""Said to the user in plain words (ConfigError, GenerationError, AdapterError, ... are
ValueErrors; ZeroGPU's quota and no-GPU refusals are ``GpuRefused``)."""
LABELS = {
    "prompt": "Prompt",
    "adapter": "Adapter",
    "task": "Task",
    "reward": "Reward",
    "probes": "Before-vs-now prompts",
}
"""Fields whose messages do not name them: the API's and the field's message get the label."""
SAMPLING = settings_of(SamplingParams)
BROWSE_STEP = Setting(int, 1, 10_000, "a step of the run", name="step")
SCORE_PROMPTS = Setting(int, 1, 16, "groups: one per training prompt", name="prompts")
SCORE_TOKENS = dataclasses.replace(SETTINGS["max_completion_length"], name="max_new_tokens")
"""The CLI's ``score --max-new-tokens``: the run's answer length, under the CLI's name."""
SCORE_APP_TOKENS = 64
"""The app's "Score the base first" samples at most this many tokens: two groups in seconds
(a longer answer length is scored on its first 64 tokens)."""


class FormError(ConfigError):
    """A refused form: one message per field name (nothing ran)."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(self.labelled().values()))

    def labelled(self) -> dict[str, str]:
        """Each message naming its field ("Reward: ..."), as the API and the field show it."""
        return {k: f"{LABELS[k]}: {v}" if k in LABELS else v for k, v in self.errors.items()}


class Fields:
    """Collects each field's first error while a form is read; ``done`` raises them all."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def take(self, name: str, rule: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        try:
            return rule(*args, **kwargs)
        except USER_ERRORS as exc:
            self.errors.setdefault(name, str(exc))
            return None

    def parse(self, spec: Setting, value: Any, *, name: str | None = None, app: bool = True):
        return self.take(name or spec.name, spec.parse, value, app=app)

    def ok(self, *names: str) -> bool:
        return not any(n in self.errors for n in names)

    def done(self) -> None:
        if self.errors:
            raise FormError(self.errors)


def errors_of(form: Callable[..., Any], *args: Any, **values: Any) -> dict[str, str]:
    """A form's labelled errors by field name (empty: no field is wrong): what validators
    show. A refusal of the whole click (another run going) is the handler's to say."""
    try:
        form(*args, **values)
    except FormError as exc:
        return exc.labelled()
    except USER_ERRORS:
        return {}
    return {}


class CheckedOnce:
    """A form checked once per click. A click's first check (Gradio's validator, or Start's
    marks) keeps the typed request; the handler of the same click (same page, same values)
    takes it instead of checking again. An API call without a validator is checked by
    ``take``. What changes between the check and the handler (another run starting) is the
    engine's to refuse (``TrainingManager.start``)."""

    PAGES = 256  # pages remembered (the oldest forgotten first)
    PER_PAGE = 4  # requests kept per page (a client may send a few at once)

    def __init__(self, form: Callable[..., T]):
        self.form = form
        self._kept: OrderedDict[str | None, list[tuple[dict, T]]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, page: str | None, values: dict[str, Any]) -> T:
        """The form's typed request (``FormError`` when a field is wrong), kept for ``take``."""
        asked = self.form(**values)
        with self._lock:
            kept = self._kept.setdefault(page, [])
            kept.append((values, asked))
            del kept[: -self.PER_PAGE]
            self._kept.move_to_end(page)
            while len(self._kept) > self.PAGES:
                self._kept.popitem(last=False)
        return asked

    def errors(self, page: str | None, values: dict[str, Any]) -> dict[str, str]:
        """A validator's answer: the labelled errors by field (none: kept for the handler)."""
        with self._lock:
            if any(v == values for v, _ in self._kept.get(page, ())):
                return {}  # this click was checked already (Start's marks)
        return errors_of(self.check, page, values)

    def take(self, page: str | None, values: dict[str, Any]) -> T:
        """The request this click's check kept (the newest of equal ones: an older one may be
        a check whose handler never ran), else the form checked now."""
        with self._lock:
            kept = self._kept.get(page, [])
            for i in reversed(range(len(kept))):
                if kept[i][0] == values:
                    return kept.pop(i)[1]
        return self.form(**values)


# -- the Playground -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SampleRequest:
    prompt: str
    params: SamplingParams
    adapter: str = BASE


def compare(*, prompt, num_samples, max_new_tokens, temperature, seed) -> SampleRequest:
    """One prompt through every model: the prompt and the sampling settings, within the app's
    caps (one request holds the shared model)."""
    fields = Fields()
    text = fields.take("prompt", check_prompts, [prompt or ""])
    values = dict(
        num_samples=num_samples, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed
    )
    typed = {k: fields.parse(SAMPLING[k], v) for k, v in values.items()}
    fields.done()
    return SampleRequest(text[0], SamplingParams(**typed))


def generate(state: AppState, *, adapter, **sampled) -> SampleRequest:
    """One prompt through one model: Compare's fields and a known adapter (or the base)."""
    fields = Fields()
    fields.take("adapter", state.resident.get, adapter or BASE)
    try:
        request = compare(**sampled)
    except FormError as exc:
        fields.errors = {**exc.errors, **fields.errors}
    fields.done()
    return dataclasses.replace(request, adapter=adapter or BASE)


# -- the Train tab and the CLI's train ------------------------------------------------------------
def run_config(
    fields: Fields,
    *,
    task: str | None,
    preset: str,
    reward: str | None,
    values: Mapping[str, Any],
    app: bool,
    caps: RunCaps | None = None,
) -> RunConfig | None:
    """A validated run from a preset, a task or custom reward, and typed settings.

    In the app, ``num_generations`` is typed alone, so the batch follows it (whole groups);
    the CLI also takes the batch and refuses a mismatch. A cross-field refusal (batch vs group,
    a Space's caps) is kept under ``num_generations``.
    """
    if task is not None and task not in TASKS:
        fields.errors["task"] = f"unknown task {task!r}; choose: {', '.join(TASKS)}"
    if preset not in PRESETS:
        fields.errors["preset"] = f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}"
    custom = (reward or "").strip() or None
    if custom:
        fields.take("reward", parse_spec, custom)
    typed = {k: fields.parse(SETTINGS[k], v, app=app) for k, v in values.items()}
    if not fields.ok("task", "preset", "reward", *typed):
        return None
    gens = typed.pop("num_generations", None) if app else None

    def build() -> RunConfig:
        config = from_preset(preset, task=task, reward=custom, **typed)
        config = config.with_generations(gens) if gens is not None else config
        if caps is not None:
            caps.check(config.resolved())
        return config

    return fields.take("num_generations", build)


@dataclass(frozen=True)
class TrainRequest:
    config: RunConfig
    name: str
    preset: str
    probes: list[str]
    probe_every: int


def probe_fields(fields: Fields, prompts: list[str], every: Any, *, app: bool = True):
    """The before-vs-now prompts (up to five) and how often they are answered."""
    return fields.take("probes", check_probes, prompts), fields.parse(PROBE_EVERY, every, app=app)


def train(state: AppState, **values: Any) -> TrainRequest:
    """Start's form: every field checked before anything starts, each refusal under its field.
    Another run going is no field's fault: ``BusyError`` says whose run it is and for how long
    (a validator lets it through to the handler, which refuses the click as a whole)."""
    if (run := state.running) is not None:
        left = state.seconds_left(run)
        wait = f", about {clock(left)} left" if left is not None else ""
        who = "the teacher" if state.has_teacher_key else run.owner
        raise BusyError(
            f"Start refused: the run {run.name!r} is going (step {len(run.history)} of "
            f"{run.config.max_steps}{wait}, started by {who}); one run at a time on this "
            "machine: press Start again when it ends."
        )
    values = complete(values)
    teacher = not state.has_teacher_key or state.is_teacher(values["teacher_key"])
    return _run_form(state, values, partial(check_new_name, state.resident.adapter_dir), teacher)


def command(state: AppState, *, teacher_key="", **values) -> TrainRequest:
    """The Train form as the CLI would run it: the run's own rules only (no busy trainer,
    no teacher key, an existing name allowed: the command line says ``--overwrite``)."""
    return _run_form(state, values, check_adapter_name)


def _run_form(
    state: AppState, values: Mapping[str, Any], check_name: Callable, teacher: bool = True
) -> TrainRequest:
    """The Train form but for the busy trainer; ``teacher``: whether the key (if any) was right."""
    fields = Fields()
    name = (values.get("name") or "").strip()
    fields.take("name", check_name, name)
    typed = {k: values.get(k) for k in NUMBER_RUN_FIELDS}
    typed |= {k: values[k] for k in LOSS_RUN_FIELDS if values.get(k) not in (None, "")}
    task, preset, reward = values["task"], values["preset"], values.get("reward", "")
    config = run_config(
        fields, task=task, preset=preset, reward=reward, values=typed, app=True, caps=state.caps()
    )
    prompts, every = probe_fields(
        fields, (values.get("probes") or "").splitlines(), values.get("probe_every", 1)
    )
    if not teacher:
        fields.errors["teacher_key"] = "Start needs the teacher key (ask your teacher)"
    fields.done()
    return TrainRequest(config, name, preset, prompts, every)


# -- Score the base first (Train tab and the CLI's score) -----------------------------------------
@dataclass(frozen=True)
class ScoreRequest:
    task: Task
    num_generations: int
    max_new_tokens: int
    prompts: int = 2
    seed: int = 0


def score(
    *, task, reward, num_generations, max_completion_length, prompts=2, seed=0, app: bool = True
) -> ScoreRequest:
    """What "Score the base first" samples: the task (or custom reward) and its group."""
    fields = Fields()
    spec = fields.take("reward" if (reward or "").strip() else "task", task_of, task, reward)
    if spec is None and fields.ok("reward", "task"):
        fields.errors["task"] = f"unknown task {task!r}; choose: {', '.join(TASKS)}"
    gens = fields.parse(SETTINGS["num_generations"], num_generations, app=app)
    limit = SETTINGS["max_completion_length"] if app else SCORE_TOKENS
    length = fields.parse(limit, max_completion_length, name="max_completion_length", app=app)
    if app and length is not None:
        length = min(length, SCORE_APP_TOKENS)
    groups = fields.parse(SCORE_PROMPTS, prompts, app=app)
    fixed = fields.parse(SAMPLING["seed"], seed, app=app)
    fields.done()
    return ScoreRequest(spec, gens, length, groups, fixed)


# -- the step browser -----------------------------------------------------------------------------
@dataclass(frozen=True)
class BrowseRequest:
    history: list
    task: Task | None
    total: int
    step: int


def browse(state: AppState, *, run_name, step) -> BrowseRequest:
    """A step of a run (going or saved): the run under its field, the step under its own."""
    fields = Fields()
    found = fields.take("run_name", state.steps_of, run_name)
    k = fields.parse(BROWSE_STEP, step)
    if found is not None and k is not None and k > len(found[0]):
        fields.errors["step"] = f"step must be 1..{len(found[0])} for {run_name!r} (got {k})"
    fields.done()
    return BrowseRequest(*found, k)


# -- Evaluate --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvaluateRequest:
    adapters: list[str]
    num_samples: int


def evaluate(state: AppState, *, adapters, num_samples) -> EvaluateRequest:
    """Known models (at least one) and N within the app's cap."""
    names = [adapters] if isinstance(adapters, str) else list(adapters or [])
    fields = Fields()
    if not names:
        fields.errors["adapters"] = "choose at least one model (base or an adapter)"
    for name in names:
        fields.take("adapters", state.resident.get, name)
    n = fields.parse(EVAL_SIZE, num_samples)
    fields.done()
    return EvaluateRequest(names, n)
