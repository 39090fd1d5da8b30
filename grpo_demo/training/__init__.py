"""Training: a GRPO run on the compute thread (``run``) or in a GPU worker (``in_worker``),
what it reports (``events``), and the one module that drives TRL (``trl_backend``)."""

from .events import BusyError, RunEnded, TrainingError
from .in_worker import RunJob, WorkerRun, run_type
from .probes import DEFAULT_PROBES, PROBE_EVERY, PROBE_SAMPLES, check_probes
from .run import TrainingManager, TrainingRun, is_main_process
from .trl_backend import grpo_args

__all__ = [
    "DEFAULT_PROBES",
    "PROBE_EVERY",
    "PROBE_SAMPLES",
    "BusyError",
    "RunEnded",
    "RunJob",
    "TrainingError",
    "TrainingManager",
    "TrainingRun",
    "WorkerRun",
    "check_probes",
    "grpo_args",
    "is_main_process",
    "run_type",
]
