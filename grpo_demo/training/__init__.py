"""Training: a GRPO run on the compute thread (``run``), what it reports (``events``), and the
one module that drives TRL (``trl_backend``)."""

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
    "StepCompletion",
    "StepEvent",
    "TrainingError",
    "TrainingManager",
    "TrainingRun",
    "check_probes",
    "collapse_step",
    "grpo_args",
    "is_main_process",
    "step_from_record",
    "step_record",
    "train",
]
