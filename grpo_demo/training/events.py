"""What a run tells whoever watches it: one ``StepEvent`` per optimizer step (``steps``), then
``RunEnded``; and the errors a run raises for the user."""

from __future__ import annotations

from dataclasses import dataclass

from ..steps import StepEvent
from ..store import AdapterInfo


class TrainingError(RuntimeError):
    """A run could not start or finish; the message is meant for the user."""


class BusyError(TrainingError):
    """Another run holds the (single) trainer."""


@dataclass
class RunEnded:
    name: str
    adapter: AdapterInfo | None
    stopped: bool
    steps: int
    elapsed: float
    error: str | None = None


Event = StepEvent | RunEnded
