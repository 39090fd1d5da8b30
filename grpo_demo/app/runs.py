"""Runs side by side (the one going, or any saved adapter): every run's curves in one long
table, and their settings. The lesson is a comparison ("a high learning rate hacks the
reward", "Dr. GRPO vs GRPO"): fewer than two runs is refused, the rows that differ marked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import ConfigError
from ..report import read_steps
from .state import AppState

if TYPE_CHECKING:
    import pandas as pd

MAX_RUNS = 6  # more lines than a projector keeps apart
REWARD = "task reward"  # the weighted sum TRL computes advantages from
DIVERSITY = {"distinct_1": "distinct-1", "distinct_2": "distinct-2"}
"""Words and word pairs used once in a step's completions: they fall when a run collapses
(runs saved before steps were kept recorded distinct-1 only)."""
SHOWN = ("preset", "seed", "steps", "seconds_per_step", "created")
"""Facts about a run shown above its settings."""


def check_names(state: AppState, names: list[str] | None) -> list[str]:
    """Two to ``MAX_RUNS`` distinct runs that exist (the message names any that does not)."""
    picked = list(dict.fromkeys(n for n in (names or []) if n))
    if len(picked) < 2:
        raise ConfigError(f"pick two or more runs to compare (got {len(picked)})")
    if len(picked) > MAX_RUNS:
        raise ConfigError(f"at most {MAX_RUNS} runs side by side (got {len(picked)})")
    choices = run_choices(state)
    if unknown := [n for n in picked if n not in choices]:
        raise ConfigError(
            f"unknown run(s): {', '.join(unknown)}; saved runs: {', '.join(choices) or 'none'}"
        )
    return picked


def run_choices(state: AppState) -> list[str]:
    """The run going (if it is not saved yet) and every saved adapter that kept its steps."""
    saved = [n for n, info in sorted(state.resident.adapters.items()) if info.run]
    run = state.current
    return [run.name, *saved] if run is not None and run.name not in saved else saved


def curves(state: AppState, names: list[str]) -> pd.DataFrame:
    """One row per (run, step, series): the task reward, each reward term's batch mean,
    distinct-1/2 of the step's completions, and the policy's entropy where TRL logged it."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for name in check_names(state, names):
        for step, metrics in _metrics(state, name):
            point = {REWARD: metrics.get("reward"), "entropy": metrics.get("entropy")}
            point |= {s: metrics.get(k) for k, s in DIVERSITY.items()}
            terms = {k: v for k, v in metrics.items() if k.startswith("rewards/")}
            point |= {k.removeprefix("rewards/"): v for k, v in terms.items()}
            rows += [
                {"run": name, "step": step, "series": s, "value": float(v)}
                for s, v in point.items()
                if v is not None
            ]
    return pd.DataFrame(rows, columns=["run", "step", "series", "value"])


def _metrics(state: AppState, name: str) -> list[tuple[int, dict[str, Any]]]:
    """(step, metrics) of the run going, from memory; of a saved run, as its report reads
    it (``steps.jsonl``, or ``run.json``'s history for runs saved before steps were kept)."""
    if (run := state.going(name)) is not None:
        return [(e.step, e.all_metrics) for e in run.history]
    info = state.resident.get(name)
    if info is None:
        raise ConfigError("the base model was not trained: pick two runs")
    return [(s.step, s.all_metrics) for s in read_steps(info)]


def record_of(state: AppState, name: str) -> dict[str, Any]:
    """A run's settings, flat: the facts in ``SHOWN``, its RunConfig, then TRL's resolved values."""
    if (run := state.going(name)) is not None:
        config, grpo = run.config.to_dict(), run.config.resolved()
        facts = {"preset": run.preset, "seed": run.config.seed, "steps": len(run.history)}
    else:
        info = state.resident.get(name)
        record = info.run if info is not None else {}
        config, grpo = record.get("config", {}), record.get("grpo", {})
        facts = {k: record.get(k) for k in SHOWN}
    flat = {**facts, **{k: v for k, v in config.items() if k not in facts}}
    flat |= {k: v for k, v in grpo.items() if flat.get(k) is None}
    return flat


def settings(state: AppState, names: list[str]) -> pd.DataFrame:
    """Rows = settings, one column per run, and ``differs`` where the runs disagree."""
    import pandas as pd

    names = check_names(state, names)
    records = {n: record_of(state, n) for n in names}
    keys = list(dict.fromkeys(k for r in records.values() for k in r))
    values = {k: [_shown(records[n].get(k)) for n in names] for k in keys}
    rows = [[k, *v, len(set(v)) > 1] for k, v in values.items()]
    table = pd.DataFrame(rows, columns=["setting", *names, "differs"])
    # the settings that differ first (that is what the overlay explains), then the facts
    order = table["differs"].map({True: 0, False: 2}) - table["setting"].isin(SHOWN) * -1
    return table.iloc[order.argsort(kind="stable")].reset_index(drop=True)


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)
