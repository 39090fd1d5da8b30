"""One optimizer step, the one model of it: a live ``StepEvent``, a line of ``steps.jsonl``
and back, or a step of an older ``run.json``'s history (completions not kept).

Steps use the package's own metric names (``reward``, ``rewards/<func>``, ``kl``, ...); the
TRL backend maps TRL's logged keys to them, so viewers never depend on TRL's naming.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .metrics import diversity, first_collapse, looks_collapsed


@dataclass
class StepCompletion:
    prompt: str
    completion: str
    rewards: dict[str, float]  # each reward function's score
    reward: float  # their weighted sum: what the group's advantage is computed from
    advantage: float


@dataclass
class StepEvent:
    """What happened in one optimizer step: metrics + that step's samples."""

    step: int
    elapsed: float
    metrics: dict[str, float]  # package names: reward, reward_std, rewards/<func>, kl, ...
    completions: list[StepCompletion]
    distinct_1: float
    collapsed: bool
    distinct_2: float  # share of distinct word pairs: falls when answers loop (NaN: unknown)
    probes: list[str] | None = None  # the probe prompts' answers at this step (every K steps)
    probe_means: list[float] | None = None  # each probe prompt's mean task reward (5 answers)
    logged: dict[str, float] = field(default_factory=dict)  # TRL's record, as logged

    @property
    def reward(self) -> float:
        return self.metrics.get("reward", float("nan"))

    @property
    def reward_means(self) -> dict[str, float]:
        """Each reward function's batch mean, by function name."""
        return {k.split("/", 1)[1]: v for k, v in self.metrics.items() if k.startswith("rewards/")}

    @property
    def all_metrics(self) -> dict[str, float]:
        """Its metrics with distinct_1 and distinct_2 (those recorded) among them."""
        div = {"distinct_1": self.distinct_1, "distinct_2": self.distinct_2}
        return self.metrics | {k: v for k, v in div.items() if v == v}


def step_event(
    step: int,
    elapsed: float,
    metrics: dict[str, float],
    rows: list[StepCompletion],
    **extra,
) -> StepEvent:
    """A StepEvent with its diversity and collapse flag measured on the step's completions
    (a live step and one read back from ``steps.jsonl`` are judged alike)."""
    div = diversity([r.completion for r in rows])
    d1, d2 = div["distinct_1"], div["distinct_2"]
    return StepEvent(step, elapsed, metrics, rows, d1, looks_collapsed(div), d2, **extra)


def collapse_step(history: list[StepEvent]) -> int | None:
    """The step at which a run first looked collapsed (``metrics.first_collapse``: the Train
    tab's banner, the report and ``bench.hack`` use this one rule)."""
    i = first_collapse([(e.collapsed, e.distinct_1) for e in history])
    return None if i is None else history[i].step


def step_record(event: StepEvent) -> dict[str, Any]:
    """One line of ``steps.jsonl``: a step's completions with every reward and advantage."""
    return {
        "step": event.step,
        "metrics": event.metrics,
        "completions": [dataclasses.asdict(c) for c in event.completions],
        "probes": event.probes,
        "probe_means": event.probe_means,
    }


def step_from_record(data: dict[str, Any]) -> StepEvent:
    """A saved step back as a StepEvent (what the step browser and the report show)."""
    rows = [StepCompletion(**c) for c in data["completions"]]
    probes = {k: data.get(k) for k in ("probes", "probe_means")}
    return step_event(data["step"], 0.0, data["metrics"], rows, **probes)


def step_from_history(h: dict[str, Any]) -> StepEvent:
    """A step of ``run.json``'s history (runs saved before ``steps.jsonl``): its logged
    metrics, no completions, and the collapse flag and distinct-n it recorded."""
    metrics = {k.removesuffix("/mean"): v for k, v in h.items() if not k.endswith("/std")}
    d1, d2 = (h.get(k, float("nan")) for k in ("distinct_1", "distinct_2"))
    return StepEvent(
        h["step"], h.get("elapsed", 0.0), metrics, [], d1, bool(h.get("collapsed")), d2
    )
