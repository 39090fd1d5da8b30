"""What the app keeps between requests, for every user: one resident model (loaded in the
background while the page is served), one trainer, this machine's pace, the teacher key. No
Gradio here: the handlers in ``ui/`` and the tests use it alike."""

from __future__ import annotations

import hmac
import sys
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from ..adapters import BASE, ResidentModel
from ..config import ConfigError, RunConfig
from ..data import train_prompts
from ..evaluation import EVAL_TOKENS, EvalResult, evaluate, save
from ..generation import Pending, SamplingParams, submit
from ..gpu_calls import where
from ..learning_signal import Group, score_base
from ..models import ModelSpec, device_name, resolve_spec
from ..pace import MEASURED, step_seconds
from ..presets import from_preset
from ..row_batches import Busy
from ..space import RunCaps, run_caps
from ..steps import StepEvent, step_from_record
from ..store import default_checkpoints, discover_adapters, load_steps
from ..tasks import Task
from ..training import TrainingManager, TrainingRun, run_type
from .results import ResultsDir

__all__ = ["AppState", "Busy", "NotReady"]
BEHIND = " The training run `{}` lets requests in between the phases of a step."


class NotReady(RuntimeError):
    """The base model is still loading, or failed to load: the message says which."""


class AppState:
    """The app's shared state. Pass a loaded ``ResidentModel``, or a model spec to load it in
    a background thread (imports alone take ~6 s on 2 cores); users of ``resident`` wait."""

    LOAD_TIMEOUT = 600.0

    def __init__(
        self,
        resident: ResidentModel | None = None,
        *,
        model: str | None = None,
        checkpoints: Path | None = None,
        teacher_key: str | None = None,
        results: ResultsDir | None = None,
    ):
        self.results = results or ResultsDir()
        self._teacher_key = teacher_key or None  # never stored anywhere but in this object
        self._ready = threading.Event()
        self.error: str | None = None
        self._resident = resident
        self._manager: TrainingManager | None = None
        self._manager_guard = threading.Lock()  # two first requests build one manager
        self._paces: dict[int, float] = {}  # steps measured in this app: tokens -> seconds
        self.spec: ModelSpec
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
            self.error = f"{type(exc).__name__}: {exc}"
            print(f"error: the base model could not be loaded: {self.error}", file=sys.stderr)
        finally:
            self._ready.set()

    # -- the model and the trainer ------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._ready.is_set() and self._resident is not None

    def wait_loaded(self) -> bool:
        """Wait for the load to end (TRL's defaults are read only after its imports)."""
        return self._ready.wait(self.LOAD_TIMEOUT)

    @property
    def resident(self) -> ResidentModel:
        """The loaded model (waits while it loads)."""
        if not self.wait_loaded():
            raise NotReady("the base model is still loading; try again in a moment")
        if self._resident is None:
            raise NotReady(f"the base model could not be loaded: {self.error}")
        return self._resident

    @cached_property
    def device(self) -> str:
        """Where the model computes, as the header names it (read once)."""
        return device_name()

    @property
    def manager(self) -> TrainingManager:
        with self._manager_guard:
            if self._manager is None:
                self._manager = TrainingManager(self.resident, run_type())
            return self._manager

    @property
    def current(self) -> TrainingRun | None:
        """The latest run (going or ended), without waiting for the model."""
        return self._manager.current if self._manager else None

    def going(self, name: str | None) -> TrainingRun | None:
        """The current run if it is ``name``: read from memory, not from its adapter."""
        return run if (run := self.current) is not None and run.name == name else None

    @property
    def running(self) -> TrainingRun | None:
        return run if (run := self.current) is not None and run.running else None

    @property
    def blocking(self) -> TrainingRun | None:
        """The running run whose phases requests wait for (none when it trains in a GPU
        worker: this process's model stays free for them)."""
        return run if (run := self.running) is not None and run.holds_model else None

    # -- sampling for a page -------------------------------------------------------------------
    def sample(
        self, prompts: list[str], adapters: list[str], params: SamplingParams, page: str | None
    ) -> Pending:
        """Queue a page's request (one at a time per page; ``Busy`` past the class's cap)."""
        return submit(self.resident, prompts, adapters, params, owner=page)

    def standing(self, pending: Pending) -> str:
        """Where a waiting request stands, in words: its place and the seconds to its answer,
        from the measured batch pace (and the training run's phases, which come first)."""
        run, batcher = self.blocking, self.resident.batcher
        phases = list(run.phases.seconds.values()) if run else []
        gap = sum(phases) / len(phases) if phases else 0.0  # a phase runs before each batch
        place, seconds = batcher.standing(pending.ticket, gap)
        if place is None:
            return f"⏳ Sampling now, in a batch shared with other pages: about {rough(seconds)}."
        if run is not None:
            seconds += run.phases.left() or 0.0
        behind = BEHIND.format(run.name) if run else ""
        return (
            f"⏳ Place {place} of {batcher.waiting()} in line: your answer in about "
            f"{rough(seconds)}.{behind}"
        )

    # -- measuring models -----------------------------------------------------------------------
    def evaluate(
        self, adapters: list[str], num_samples: int, on_progress: Callable[[int, int], None]
    ) -> tuple[EvalResult, dict[str, Path]]:
        """The report's Table 1 protocol on the held-out prompts, and its files, saved in a
        fresh folder of the results (what Evaluate offers for download)."""
        result = evaluate(self.resident, adapters, num_samples, on_progress=on_progress)
        return result, save(result, self.results.new_folder("eval"))

    def evaluation_seconds(self, adapters: list[str], num_samples: int) -> float:
        """About how long ``evaluate`` samples, from the batcher's measured pace (and a
        training phase under way, which finishes first)."""
        batcher, run = self.resident.batcher, self.blocking
        full, rest = divmod(num_samples * len(adapters), batcher.max_rows)
        seconds = full * batcher.pace.seconds(batcher.max_rows, EVAL_TOKENS)
        seconds += batcher.pace.seconds(rest, EVAL_TOKENS) if rest else 0.0
        return seconds + ((run.phases.left() or 0.0) if run else 0.0)

    def score_base(
        self, task: Task, prompts: int, num_generations: int, max_new_tokens: int
    ) -> list[Group]:
        """Score the base first: one group sampled from the base for each of the first
        ``prompts`` training prompts, scored with ``task`` as a run's first step would be."""
        firsts = train_prompts()[:prompts]
        return score_base(self.resident, task, firsts, num_generations, max_new_tokens)

    # -- adapters -------------------------------------------------------------------------------
    def adapter_names(self) -> list[str]:
        """Every adapter; before the model is loaded, the valid ones on disk."""
        if self.loaded:
            return self._resident.names()
        return [BASE, *sorted(discover_adapters(self.checkpoints, self.spec.name)[0])]

    def tasks(self) -> dict[str, Task | None]:
        """Each adapter's training task (what its "task reward" column scores)."""
        infos = self.resident.adapters
        return {n: infos[n].task_spec if n in infos else None for n in self.adapter_names()}

    def steps_of(self, run_name: str) -> tuple[list[StepEvent], Task | None, int]:
        """A run's steps, its task and its length: from memory while it is the app's current
        run, else from the adapter's ``steps.jsonl``; refuses a run that kept none."""
        if (run := self.going(run_name)) is not None:
            history, task, total = run.history, run.config.task_spec, run.config.max_steps
        else:
            info = self.resident.get(run_name or "")
            if info is None:
                raise ConfigError("the base model was not trained: pick an adapter")
            steps = load_steps(info.path)
            history = [step_from_record(s) for s in steps]
            task, total = info.task_spec, len(steps)
        if not history:
            raise ConfigError(f"{run_name!r} has no saved steps (trained before steps were kept)")
        return history, task, total

    # -- who may do what ------------------------------------------------------------------------
    @property
    def has_teacher_key(self) -> bool:
        return self._teacher_key is not None

    def is_teacher(self, key: str | None) -> bool:
        return self._teacher_key is not None and hmac.compare_digest(
            (key or "").encode(), self._teacher_key.encode()
        )

    def may_stop(self, run: TrainingRun, session: str | None, key: str | None) -> bool:
        """Only the page (or API client) that started a run, or the teacher key, stops it."""
        return run.owner_session == session or self.is_teacher(key)

    def caps(self) -> RunCaps | None:
        """Run-size caps on a Hugging Face Space (by its hardware), none on a local app."""
        return run_caps()

    # -- time -----------------------------------------------------------------------------------
    def pace(self, tokens: int) -> tuple[float, str]:
        """Seconds a step of ``tokens`` completion tokens takes here, and the figure's source:
        this app's own runs of that size, else what runs here left in the cache."""
        if tokens in self._paces:
            return self._paces[tokens], MEASURED
        return step_seconds(self.spec.name, tokens, gpu=where() == "zerogpu")

    def seconds_per_step(self, config: RunConfig) -> float:
        """This machine's measured pace for a step of this run's size (the hint and the ETA)."""
        return self.pace(config.tokens_per_step())[0]

    def preset_time(self, preset: str) -> tuple[int, float, float, str]:
        """(tokens a step, seconds a step, minutes for the run, the figure's source)."""
        config = from_preset(preset)
        tokens = config.tokens_per_step()
        per_step, source = self.pace(tokens)
        return tokens, per_step, per_step * config.max_steps / 60, source

    def seconds_left(self, run: TrainingRun) -> float | None:
        """Seconds until ``run`` ends: its own pace, or this machine's before its first step
        (looked up only then: every page asks at every tick, and the lookup may read a file)."""
        before_first = run.ended is None and not run.history
        return run.seconds_left(self.seconds_per_step(run.config) if before_first else None)

    def learn_speed(self, run: TrainingRun) -> None:
        """This run's pace so far: the time hint for its size follows it (a finished run
        keeps it in the cache folder itself, for the next start)."""
        if run.history and not (run.ended and run.ended.error):
            tokens = run.config.tokens_per_step()
            self._paces[tokens] = run.history[-1].elapsed / len(run.history)


def rough(seconds: float) -> str:
    """A wait as a page shows it: to the second under 10 s, to 5 s under a minute, then to
    10 s (the line changes, and is sent, only when this does).

    >>> rough(3.4), rough(42), rough(95), rough(121)
    ('3 s', '40 s', '1 min 40 s', '2 min')
    """
    if seconds < 10:
        return f"{seconds:.0f} s"
    step = 5 if seconds < 60 else 10
    whole = int(round(seconds / step) * step)
    if whole < 60:
        return f"{whole} s"
    return f"{whole // 60} min" + (f" {whole % 60} s" if whole % 60 else "")
