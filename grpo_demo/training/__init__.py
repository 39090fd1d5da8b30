"""Training: a GRPO run in a worker (``run``), what it reports (``events``), and the one
module that drives TRL and PEFT (``trl_backend``)."""

from .events import (
    BusyError,
    Event,
    RunEnded,
    StepCompletion,
    StepEvent,
    TrainingError,
    collapse_step,
)
from .run import (
    PROBE_EVERY,
    TrainingManager,
    TrainingRun,
    check_probes,
    is_main_process,
    step_from_record,
    train,
)
from .trl_backend import grpo_args, merged_lora

__all__ = [
    "PROBE_EVERY",
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
    "merged_lora",
    "step_from_record",
    "train",
]
