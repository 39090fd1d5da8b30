"""A training run whose GPU work happens in another process (ZeroGPU, or the fork harness).

The worker gets the run's request as plain data (``RunJob``), trains its own copy of the
resident model (a ``TrainingRun`` as anywhere: adapter folder written, ``pace.json`` kept) and
streams ``RunNews``: each step's event with the base's probe answers, then the end. The main
process's ``WorkerRun`` publishes it as its own history, so every page watches it as any run,
and loads the saved adapter from its folder at the end. Nothing else crosses but a stop, as a
file the worker looks for between steps: the run ends after that step, its adapter saved."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ..adapters import ResidentModel
from ..config import RunConfig
from ..gpu_calls import on_gpu, where
from ..pace import step_seconds
from .events import Event, RunEnded, TrainingError
from .run import TrainingRun

STOP_POLL_SECONDS = 0.5
START_SECONDS = 30.0
"""A run's fixed cost in a GPU worker: the model onto the GPU, TRL's trainer built, the save."""


@dataclass(frozen=True)
class RunJob:
    """What a run in a worker needs besides the model: its request, as plain data."""

    config: RunConfig
    name: str
    model: str  # the base's name (for the time estimate)
    stop_file: str
    preset: str | None
    prompts: list[str] | None
    overwrite: bool
    owner: str
    probes: list[str]
    probe_every: int


CARRIED = ("preset", "prompts", "overwrite", "owner", "probes", "probe_every")
"""The run's request fields a job carries to the worker's ``TrainingRun`` as they are."""


@dataclass(frozen=True)
class RunNews:
    """One event of the worker's run, with what the run learned of itself by then."""

    event: Event
    base_probes: list[str] = field(default_factory=list)
    base_probe_means: list[float] = field(default_factory=list)


def run_in_worker(key: int, job: RunJob) -> Iterator[RunNews]:
    """The entry point for training: the job in, the run's news out as it happens."""
    resident = ResidentModel.living(key, [])
    carried = {f: getattr(job, f) for f in CARRIED}
    run = TrainingRun(resident, job.config, job.name, **carried).start()
    seen = 0
    while True:
        run.wait(seen, STOP_POLL_SECONDS)
        if not run.stopping and os.path.exists(job.stop_file):
            run.stop()
        events: list[Event] = list(run.history[seen:])
        seen += len(events)
        if run.ended is not None and seen == len(run.history):
            events.append(run.ended)
        for event in events:
            yield RunNews(event, run.base_probes, run.base_probe_means)
        if events and isinstance(events[-1], RunEnded):
            return


def run_seconds(key: int, job: RunJob) -> float:
    """The GPU seconds a run asks for: its steps at this machine's measured pace (else the
    GPU figure ``pace`` keeps), plus the start."""
    seconds, _ = step_seconds(job.model, job.config.tokens_per_step(), gpu=True)
    return START_SECONDS + job.config.max_steps * seconds


TRAIN = on_gpu(run_in_worker, run_seconds)


@dataclass
class WorkerRun(TrainingRun):
    """The main process's side of a run in a GPU worker: its history and end come as news."""

    stop_file: str = ""
    holds_model: ClassVar[bool] = False  # requests here never wait for its phases

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.callbacks:
            raise TrainingError("trainer callbacks cannot reach a run in a GPU worker process")
        self.stop_file = str(Path(tempfile.gettempdir()) / f"grpo-demo-stop-{uuid.uuid4().hex}")

    def stop(self) -> None:
        """Ask the worker's run to stop after its current step (a file both processes see)."""
        super().stop()
        if self.running:
            Path(self.stop_file).touch()

    def job(self) -> RunJob:
        carried = {f: getattr(self, f) for f in CARRIED}
        return RunJob(self.config, self.name, self.resident.spec.name, self.stop_file, **carried)

    def _work(self) -> None:
        try:
            ended = self._follow()
        except Exception as exc:  # said where the run is watched, in plain words
            steps, seconds = len(self.history), time.time() - self.started_at
            error = f"{type(exc).__name__}: {exc}"
            ended = RunEnded(self.name, None, self.stopping, steps, seconds, error)
        Path(self.stop_file).unlink(missing_ok=True)  # before the end is heard
        self._publish(ended)

    def _follow(self) -> RunEnded:
        """Publish the worker's steps as they come; load the adapter it saved."""
        for news in TRAIN(self.resident.key, self.job()):
            self.base_probes, self.base_probe_means = news.base_probes, news.base_probe_means
            if isinstance(news.event, RunEnded):
                if news.event.adapter is not None:  # its folder is on disk: load it here too
                    self.resident.add(news.event.adapter)
                return news.event
            self._publish(news.event)
        raise TrainingError("the GPU worker ended without the run's end")


def run_type() -> type[TrainingRun]:
    """``WorkerRun`` where GPU work runs in another process, ``TrainingRun`` elsewhere."""
    return TrainingRun if where() == "here" else WorkerRun
