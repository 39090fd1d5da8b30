"""Package results -> what the widgets show (pure functions: tables, highlights, curves)."""

from __future__ import annotations

import time

import pandas as pd

from ..generation import Completion
from ..rewards import REWARDS, four_letter_breakdown
from ..training import StepEvent, TrainingRun

HIGHLIGHT_COLORS = {
    "4 letters": "#16a34a",
    "off by 1": "#facc15",
    "off by 2+": "#f97316",
    "empty phrase (-4)": "#dc2626",
}
"""gr.HighlightedText legend: how far each phrase is from four letters (the report's reward)."""


def phrase_label(word: str, contribution: float) -> str:
    if word == "":
        return "empty phrase (-4)"
    if contribution == 0:
        return "4 letters"
    return "off by 1" if contribution == -1 else "off by 2+"


def highlight(completions: list[Completion], header: bool = False) -> list[tuple[str, str | None]]:
    """All completions as (text, label) pieces: each phrase of ``split(" ")`` coloured."""
    pieces: list[tuple[str, str | None]] = []
    current = None
    for i, c in enumerate(completions, 1):
        if header and c.adapter != current:
            current = c.adapter
            pieces.append((f"\n[{c.adapter}]\n", None))
        pieces.append((f"#{i} ", None))
        for j, part in enumerate(four_letter_breakdown(c.text)):
            if j:
                pieces.append((" ", None))
            shown = part.word if part.word else "␣"
            pieces.append((shown, phrase_label(part.word, part.contribution)))
        pieces.append(("\n\n", None))
    return pieces


def completions_table(completions: list[Completion]) -> pd.DataFrame:
    """One row per completion: adapter, text, word count and every reward."""
    return pd.DataFrame(
        [
            {
                "adapter": c.adapter,
                "#": i,
                "words": c.word_count,
                **{k: round(v, 3) for k, v in c.rewards.items()},
                "completion": c.text,
            }
            for i, c in enumerate(completions, 1)
        ],
        columns=["adapter", "#", "words", *REWARDS, "completion"],
    )


def reward_legend() -> str:
    """Every reward column's name and what it measures (the first line of its docstring)."""
    first = {name: (fn.__doc__ or "").strip().splitlines()[0] for name, fn in REWARDS.items()}
    escaped = {name: line.replace("|", "\\|") for name, line in first.items()}  # table cells
    rows = [f"| `{name}` | {line} |" for name, line in escaped.items()]
    return "\n".join(["| reward | what it measures |", "|---|---|", *rows])


SUMMARY_COLUMNS = ["adapter", "mean words", *REWARDS]


def compare_summary(by_adapter: dict[str, list[Completion]]) -> pd.DataFrame:
    """Mean of every reward per adapter: the side-by-side numbers."""
    rows = []
    for adapter, cs in by_adapter.items():
        means = {k: round(sum(c.rewards[k] for c in cs) / len(cs), 3) for k in REWARDS}
        words = round(sum(c.word_count for c in cs) / len(cs), 1)
        rows.append({"adapter": adapter, "mean words": words, **means})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


CURVE_COLUMNS = ["step", "value", "series"]


def reward_curve(history: list[StepEvent]) -> pd.DataFrame:
    """Long-format rows for gr.LinePlot: the total reward and each reward function's mean."""
    rows = []
    for e in history:
        rows.append({"step": e.step, "value": e.reward, "series": "reward (weighted sum)"})
        for name, value in e.reward_means.items():
            rows.append({"step": e.step, "value": value, "series": name})
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def kl_curve(history: list[StepEvent]) -> pd.DataFrame:
    rows = []
    for e in history:
        for key in ("kl", "entropy"):
            if key in e.metrics:
                rows.append({"step": e.step, "value": e.metrics[key], "series": key})
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def step_table(event: StepEvent | None) -> pd.DataFrame:
    """The latest step's completions with their rewards and GRPO advantage."""
    if event is None:
        return pd.DataFrame(columns=["prompt", "reward", "advantage", "completion"])
    return pd.DataFrame(
        [
            {
                "prompt": c.prompt,
                "reward": round(c.reward, 3),
                "advantage": round(c.advantage, 3),
                **{k: round(v, 3) for k, v in c.rewards.items()},
                "completion": c.completion,
            }
            for c in event.completions
        ]
    )


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s"


def progress_text(run: TrainingRun | None) -> str:
    if run is None:
        return "No training run yet. Pick a task and a preset, then **Start**."
    done, total = len(run.history), run.config.max_steps
    last = run.history[-1].elapsed if run.history else 0.0
    per_step = last / done if done else 0.0
    elapsed = run.ended.elapsed if run.ended else max(time.time() - run.started_at, last)
    if run.ended is None:
        state = "stopping after this step" if run.stopping else "running"
        left = max(per_step * (total - done) - (elapsed - last), 0.0)
        eta = f" · ETA {_clock(left)}" if done else " · first step under way"
    elif run.ended.error:
        state, eta = f"failed: {run.ended.error}", ""
    else:
        saved = f" · saved as adapter `{run.ended.adapter.name}`" if run.ended.adapter else ""
        state, eta = ("stopped" if run.ended.stopped else "finished") + saved, ""
    reward = f" · reward {run.history[-1].reward:.3f}" if run.history else ""
    speed = f" · {per_step:.1f} s/step" if done else ""
    return (
        f"**`{run.name}`** ({run.config.task}) — step {done}/{total} · {state} · "
        f"elapsed {_clock(elapsed)}{eta}{speed}{reward}"
    )


def collapse_warning(history: list[StepEvent]) -> str:
    """Warn when completions repeat themselves (the report's config_4 failure)."""
    if not history:
        return ""
    last, first = history[-1], history[0]
    if last.collapsed or last.distinct_1 < 0.5 * first.distinct_1:
        return (
            f"⚠️ **Collapse warning** at step {last.step}: distinct words fell to "
            f"{last.distinct_1:.2f} (from {first.distinct_1:.2f}). The model may be hacking the "
            "reward by repeating one word, like the report's config_4 ('last last last')."
        )
    return ""
