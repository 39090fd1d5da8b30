"""One GRPO run as a job on the compute thread: events, a stop flag, one run at a time, a save.

The loss, sampling and advantages are TRL's own (driven by ``trl_backend``). Here the run is
handed to the compute thread and waited for in a watcher thread (a caller never blocks), one
``StepEvent`` per optimizer step is published with the step's completions, a stop flag is
honoured at the end of the current step, and the trained weights and a record of the run go to
the adapter store.
"""

from __future__ import annotations

import contextvars
import gc
import os
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from .. import lora_slots, store
from ..adapters import ResidentModel
from ..config import RunConfig
from ..data import train_prompts
from ..memory import give_back
from ..models import device_name
from ..pace import remember_step
from ..reward_spec import reward_func
from ..row_batches import Row
from ..steps import StepCompletion, StepEvent, step_event, step_record
from . import trl_backend, trl_hooks
from .events import BusyError, Event, RunEnded, TrainingError
from .probes import PROBE_SAMPLES, probe, probe_rows, typical


def is_main_process() -> bool:
    """Rank 0, or not distributed (``accelerate launch`` / torchrun set RANK)."""
    return int(os.environ.get("RANK", "0")) == 0


@dataclass
class Phases:
    """Where a run's step is (``now``: "rollouts" | "between" | "update" | None, outside a
    step) and how long each phase last took: what a request waiting for the model is told."""

    now: str | None = None
    started: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)  # the last of each phase

    def enter(self, phase: str | None) -> None:
        """Called by the trainer as a step moves on; remembers how long each phase took."""
        at = time.perf_counter()
        if self.now is not None:
            self.seconds[self.now] = at - self.started
        self.now, self.started = phase, at

    def left(self) -> float | None:
        """About how many seconds until the model is free again (None: not in a step)."""
        if self.now in (None, "between"):
            return None if self.now is None else 0.0
        typical = self.seconds.get(self.now)
        if typical is None:
            return None
        return max(typical - (time.perf_counter() - self.started), 0.0)


@dataclass
class TrainingRun:
    """A run's request and its growing event history (readable by any number of viewers)."""

    resident: ResidentModel
    config: RunConfig
    name: str
    preset: str | None = None
    prompts: list[str] | None = None
    overwrite: bool = False
    owner: str = ""  # who started it, in words ("a page opened at 10:42")
    owner_session: str | None = None  # the browser session (or API client) that may stop it
    callbacks: list[Any] = field(default_factory=list)  # extra transformers TrainerCallbacks
    probes: list[str] = field(default_factory=list)  # fixed prompts re-sampled during the run
    probe_every: int = 5  # ... every this many steps (and at the last step)
    base_probes: list[str] = field(default_factory=list)  # the base model's answers to them
    base_probe_means: list[float] = field(default_factory=list)  # ... their mean task reward
    history: list[StepEvent] = field(default_factory=list)
    ended: RunEnded | None = None
    started_at: float = 0.0
    phases: Phases = field(default_factory=Phases)
    holds_model: ClassVar[bool] = True  # its phases hold this process's model (requests wait)
    _stop: threading.Event = field(default_factory=threading.Event)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        store.check_new_name(self.resident.adapter_dir, self.name, self.overwrite)

    # -- control -------------------------------------------------------------------------
    def start(self) -> TrainingRun:
        self.started_at = time.time()
        work = contextvars.copy_context().run  # the starting page's (ZeroGPU charges its quota)
        self._thread = threading.Thread(
            target=work, args=(self._work,), name=f"grpo-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the trainer to stop after the current step; the adapter is still saved."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def running(self) -> bool:
        return self.ended is None and self._thread is not None

    def join(self, timeout: float | None = None) -> RunEnded | None:
        if self._thread:
            self._thread.join(timeout)
        return self.ended

    def seconds_left(self, first_step_estimate: float | None = None) -> float | None:
        """Seconds until the run ends: its own pace once a step is done, else the estimate
        (seconds per step on this machine) times its steps."""
        done, total = len(self.history), self.config.max_steps
        if not done:
            return first_step_estimate * total if first_step_estimate else None
        last = self.history[-1].elapsed
        elapsed = max(time.time() - self.started_at, last)
        return max(last / done * (total - done) - (elapsed - last), 0.0)

    # -- events --------------------------------------------------------------------------
    def _publish(self, event: Event) -> None:
        with self._changed:
            if isinstance(event, RunEnded):
                self.ended = event
            else:
                self.history.append(event)
            self._changed.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Block until there are more than ``seen`` step events or the run ended."""
        with self._changed:
            return self._changed.wait_for(
                lambda: len(self.history) > seen or self.ended is not None, timeout
            )

    def events(self, poll: float = 1.0) -> Iterator[Event]:
        """Every step event from the first, then the end event; blocks while running."""
        seen = 0
        while True:
            self.wait(seen, poll)
            while seen < len(self.history):
                seen += 1
                yield self.history[seen - 1]
            if self.ended is not None and seen == len(self.history):
                yield self.ended
                return

    # -- the work --------------------------------------------------------------------------
    def _work(self) -> None:
        steps = 0
        try:
            # the run is a job on the compute thread (see compute.py); this thread waits
            adapter = self.resident.compute.call(train, self, on_step=self._publish)
            steps = len(self.history)
            if steps and is_main_process():  # the next start's hint and ETA, watched or not
                per_step = self.history[-1].elapsed / steps
                remember_step(self.resident.spec.name, self.config.tokens_per_step(), per_step)
            self._publish(
                RunEnded(self.name, adapter, self.stopping, steps, time.time() - self.started_at)
            )
        except Exception as exc:  # report, don't swallow: the traceback goes to the log
            traceback.print_exc()
            error, seconds = f"{type(exc).__name__}: {exc}", time.time() - self.started_at
            self._publish(RunEnded(self.name, None, self.stopping, steps, seconds, error))


class TrainingManager:
    """One trainer per resident model: a second start gets ``BusyError``, never a 2nd run."""

    def __init__(self, resident: ResidentModel, run_type: type[TrainingRun] | None = None):
        self.resident = resident
        self.run_type = run_type or TrainingRun  # in_worker.WorkerRun: the GPU is elsewhere
        self.current: TrainingRun | None = None
        # not the model (the compute thread serialises it): "is a run going?" and starting one
        # are one step, so two Start clicks at once make one run and one BusyError (test_compute)
        self._guard = threading.Lock()

    def start(self, config: RunConfig, name: str, **kwargs: Any) -> TrainingRun:
        with self._guard:
            if (run := self.current) is not None and run.running:
                who = f", started by {run.owner}" if run.owner else ""
                raise BusyError(
                    f"a training run is already going: {run.name!r} ({run.config.task}, step "
                    f"{len(run.history)}/{run.config.max_steps}{who}). One run at a time on "
                    "this machine - try again when it ends."
                )
            self.current = self.run_type(self.resident, config, name, **kwargs).start()
            return self.current

    def stop(self) -> bool:
        run = self.current
        if run is None or not run.running:
            return False
        run.stop()
        return True


def train(
    run: TrainingRun, on_step: Callable[[StepEvent], None] | None = None
) -> store.AdapterInfo | None:
    """Run GRPO for ``run``, save the adapter (``None`` on a distributed run's other ranks)."""
    resident, cfg = run.resident, run.config
    prompts = run.prompts or train_prompts()
    if not prompts:
        raise TrainingError("no training prompts")
    start = time.time()
    summary: dict[str, float] = {}

    def on_log(step: int, logs: dict[str, float], samples: trl_backend.Samples) -> None:
        if not trl_backend.is_step_log(logs):  # the final train_runtime/train_loss record
            summary.update({k: v for k, v in logs.items() if isinstance(v, int | float)})
            return
        event = _step_event(step, cfg, time.time() - start, logs, samples)
        if run.probes and not run.base_probes:  # step 1's probes did not ride: adapters off
            run.base_probes, run.base_probe_means = probe(resident, run.probes, cfg, base=True)
        if rode(step):  # sampled with this step's rollouts
            event.probes, event.probe_means = typical(ridden.pop(step), len(run.probes), cfg)
        elif probes_due(step):  # the last step's: after its update, the adapter as saved
            event.probes, event.probe_means = probe(resident, run.probes, cfg)
        if on_step:
            on_step(event)

    def last(step: int) -> bool:
        return step == cfg.max_steps or run.stopping  # a stopped run gets its final answers

    def probes_due(step: int) -> bool:
        return bool(run.probes) and (step % run.probe_every == 0 or last(step) or step == 1)

    ridden: dict[int, list[str]] = {}  # step -> probe answers sampled with its rollouts

    def riders(step: int) -> list[Row]:
        """The probes' rows for a step's rollout batch: the model that writes the step's
        answers answers them too (the last step's are sampled after its update instead)."""
        if not probes_due(step) or step == cfg.max_steps:
            return []
        return probe_rows(run.probes, cfg, lora_slots.TRAINING_SLOT)

    def rode(step: int) -> bool:
        """This step's probes came with its rollouts and stand (a last step's are redone)."""
        return step in ridden and not last(step)

    def on_riders(step: int, texts: list[str]) -> None:
        ridden[step] = texts
        if step == 1 and fresh:  # the slot as PEFT made it answers exactly as the base
            run.base_probes, run.base_probe_means = typical(texts, len(run.probes), cfg)

    def after_step(step: int) -> None:
        """Requests waiting at a step's end: a step whose probes did not ride in its rollouts
        samples them in the probes' batch (``on_log``, right after this), one batch, not two."""
        if not probes_due(step) or rode(step):
            resident.compute.run_waiting()

    saved: store.AdapterInfo | None = None
    with tempfile.TemporaryDirectory(prefix="grpo-run-") as workdir:
        lora = lora_slots.lora_config(
            resident.spec, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_target_modules
        )
        model = resident.training_model(lora)
        # the base's answers come with step 1's rollouts (or, where they cannot ride, after it)
        fresh = lora_slots.is_fresh(model)
        try:
            trainer = trl_backend.make_trainer(
                model,
                cfg,
                list(prompts),
                resident.tokenizer,
                workdir=workdir,
                reward_funcs=[reward_func(n) for n in cfg.task_spec.reward_funcs],
                on_log=on_log,
                stop=run._stop,
                on_phase=run.phases.enter,
                let_requests_in=resident.compute.run_waiting,  # requests queued meanwhile
                after_step=after_step,
                callbacks=run.callbacks,
                riders=riders,
                on_riders=on_riders,
            )
            trainer.train()
            # under `accelerate launch` every rank trains (DDP keeps the weights equal); the
            # main process alone writes the adapter
            if trainer.accelerator.is_main_process:
                saved = store.save_adapter(
                    resident.adapter_dir,
                    run.name,
                    lambda folder: lora_slots.write_trained_weights(resident.model, folder),
                    run_record(run, summary, time.time() - start),
                    overwrite=run.overwrite,
                    steps=[step_record(e) for e in run.history],
                )
        finally:
            resident.end_training(saved)
            trainer = None  # the optimizer, TRL's buffers (and their cycles): gone, then the
            gc.collect()  # heap's free pages go back to the system
            give_back()
    return saved


def _step_event(
    step: int, cfg: RunConfig, elapsed: float, logs: dict, samples: trl_backend.Samples
) -> StepEvent:
    prompts, completions, rewards, advantages = samples
    task = cfg.task_spec
    rows = []
    for i, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        scores = {name: float(vals[i]) for name, vals in rewards.items()}
        rows.append(StepCompletion(p, c, scores, task.score(scores), float(advantages[i])))
    metrics = trl_backend.step_metrics(logs, task.reward_funcs)
    logged = {k: float(v) for k, v in logs.items() if isinstance(v, int | float)}
    return step_event(step, elapsed, metrics, rows, logged=logged)


def run_record(run: TrainingRun, summary: dict, wall_time: float) -> dict[str, Any]:
    """What ``run.json`` holds: the full config, seed, versions, device and every step."""
    resident, cfg = run.resident, run.config
    history = [
        {
            "step": e.step,
            "elapsed": round(e.elapsed, 2),
            "distinct_1": e.distinct_1,
            "distinct_2": e.distinct_2,
            "collapsed": e.collapsed,
            **e.logged,
        }
        for e in run.history
    ]
    rewards = [e.reward for e in run.history]
    return {
        "name": run.name,
        "base": resident.spec.name,
        "base_model": resident.spec.hub_id,
        "preset": run.preset,
        "config": cfg.to_dict(),
        "grpo": cfg.resolved(),
        "reward_funcs": list(cfg.task_spec.reward_funcs),
        "reward_weights": list(cfg.task_spec.weights.values()),
        "seed": cfg.seed,
        "steps": len(history),
        "stopped_early": run.stopping,
        "wall_time_s": round(wall_time, 1),
        "seconds_per_step": round(wall_time / max(len(history), 1), 2),
        "reward_first": rewards[0] if rewards else None,
        "reward_last": rewards[-1] if rewards else None,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": trl_hooks.versions(),
        "device": device_name(),  # a step's seconds mean little without it
        "weights_dtype": lora_slots.WEIGHTS_DTYPE,  # trained in fp32, stored rounded
        "summary": summary,
        "history": history,
        "probes": {
            "prompts": run.probes,
            "every": run.probe_every,
            "samples": PROBE_SAMPLES,
            "base": run.base_probes,
            "base_means": run.base_probe_means,
        },
    }
