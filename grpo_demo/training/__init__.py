"""Training: a GRPO run in a worker (``run``), what it reports (``events``), and the one
module that drives TRL and PEFT (``trl_backend``)."""

from .events import BusyError, Event, RunEnded, StepCompletion, StepEvent, TrainingError
from .run import TrainingManager, TrainingRun, is_main_process, step_from_record, train
from .trl_backend import grpo_args, merged_lora

__all__ = [
    "BusyError",
    "Event",
    "RunEnded",
    "StepCompletion",
    "StepEvent",
    "TrainingError",
    "TrainingManager",
    "TrainingRun",
    "grpo_args",
    "is_main_process",
    "merged_lora",
    "step_from_record",
    "train",
]
