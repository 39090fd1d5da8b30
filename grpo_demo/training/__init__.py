"""Training: a GRPO run on the compute thread (``run``) or in a GPU worker (``in_worker``),
what it reports (``events``), and the one module that drives TRL (``trl_backend``)."""

from .events import (
    BusyError,
    Event,
    RunEnded,
    StepCompletion,
    StepEvent,
    TrainingError,
    collapse_step,
    step_from_record,
    step_record,
)
from .in_worker import RunJob, RunNews, WorkerRun, run_type
from .probes import DEFAULT_PROBES, PROBE_EVERY, PROBE_SAMPLES, check_probes
from .run import TrainingManager, TrainingRun, is_main_process, train
from .trl_backend import grpo_args

__all__ = [
    "DEFAULT_PROBES",
    "PROBE_EVERY",
    "PROBE_SAMPLES",
    "BusyError",
    "Event",
    "RunEnded",
    "RunJob",
    "RunNews",
    "StepCompletion",
    "StepEvent",
    "TrainingError",
    "TrainingManager",
    "TrainingRun",
    "WorkerRun",
    "check_probes",
    "collapse_step",
    "grpo_args",
    "is_main_process",
    "run_type",
    "step_from_record",
    "step_record",
    "train",
]
