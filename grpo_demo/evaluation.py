"""The report's Table 1 protocol: N samples per model, reward median/mean/std, plus diversity.

As the report did (1000 answers from the base and the tuned model), for the base and any
adapters on the held-out eval prompts, plus what the report learned the hard way: diversity
(distinct-1/2, longest run of one repeated word) and a collapse flag, so "reward went up" cannot
hide "last last last ...". std is the population std (numpy's default), as ``np.std`` gives.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .adapters import BASE, ResidentModel
from .data import eval_prompts
from .generation import GenerationError, SamplingParams, sample
from .metrics import diversity, looks_collapsed
from .reward_spec import task_score
from .rewards import REWARDS
from .row_batches import MAX_ROWS
from .settings import ConfigError, setting, settings_of
from .tasks import Task

if TYPE_CHECKING:
    import pandas as pd

TABLE_REWARDS = ("four_letter", "word_count")  # the report's two rewards, shown first


def reward_stats(values: pd.Series) -> dict[str, float]:
    return {
        "median": float(values.median()),
        "mean": float(values.mean()),
        "std": float(values.std(ddof=0)),
    }


@dataclass
class EvalResult:
    completions: pd.DataFrame  # one row per completion: adapter, prompt, text, every reward
    summary: pd.DataFrame  # one row per (adapter, reward): median, mean, std
    diversity: dict[str, dict[str, float]]  # per adapter, plus "collapsed"
    wins: pd.DataFrame | None = None  # win_rates against the base, where it was evaluated

    def table1(self, rewards: tuple[str, ...] = TABLE_REWARDS) -> pd.DataFrame:
        """The report's Table 1 layout: rows = models, columns = reward x statistic."""
        sub = self.summary[self.summary["reward"].isin(rewards)]
        wide = sub.pivot(index="adapter", columns="reward", values=["median", "mean", "std"])
        wide = wide.reindex(sub["adapter"].unique())  # keep the order the models were given
        wide.columns = [f"{reward} {stat}" for stat, reward in wide.columns]
        ordered = [f"{r} {s}" for r in rewards for s in ("median", "mean", "std")]
        return wide[[c for c in ordered if c in wide.columns]].round(3)

    def diversity_table(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame.from_dict(self.diversity, orient="index").rename_axis("adapter")


def wilson(wins: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of a share ``wins / n`` (sound near 0 and 1, too).

    >>> [round(x, 3) for x in wilson(8, 10)]
    [0.49, 0.943]
    """
    if n == 0:
        return (0.0, 1.0)
    p = wins / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


WIN_COLUMNS = [
    "adapter", "task", "wins", "ties", "losses", "n", "win rate", "95% low", "95% high"
]  # fmt: skip


def win_rates(completions: pd.DataFrame, tasks: dict[str, Task]) -> pd.DataFrame:
    """Per adapter: the share of held-out rows where its task reward beats the base's on the
    same prompt and seed (row ``i`` of each model is the same prompt, the same RNG stream),
    ties counted apart, with the win share's 95 % interval. ``tasks``: each adapter's task."""
    import pandas as pd

    groups = {str(a): g.reset_index(drop=True) for a, g in completions.groupby("adapter")}
    if BASE not in groups:
        raise GenerationError("the win rate needs the base model in the evaluation")
    rows = []  # in WIN_COLUMNS' order
    for adapter, task in tasks.items():
        if adapter == BASE or adapter not in groups:
            continue
        mine, base = groups[adapter], groups[BASE]
        if len(mine) != len(base) or not (mine["prompt"] == base["prompt"]).all():
            raise GenerationError(f"{adapter} and the base were not sampled on the same rows")

        def scores(group: pd.DataFrame, task: Task = task) -> list[float]:
            return [task_score(task, r["text"], r.to_dict()) for _, r in group.iterrows()]

        pairs = list(zip(scores(mine), scores(base), strict=True))
        wins = sum(a > b for a, b in pairs)
        ties = sum(a == b for a, b in pairs)
        n = len(pairs)
        rows.append(
            (adapter, task.label, wins, ties, n - wins - ties, n, wins / n, *wilson(wins, n))
        )
    return pd.DataFrame(rows, columns=WIN_COLUMNS)


def summarize(completions: pd.DataFrame) -> EvalResult:
    """Statistics from a completions table (columns: adapter, text, and one per reward)."""
    import pandas as pd

    rows, div = [], {}
    for adapter, group in completions.groupby("adapter", sort=False):
        for name in REWARDS:
            if name in group:
                rows.append({"adapter": adapter, "reward": name, **reward_stats(group[name])})
        d = diversity(group["text"].tolist())
        div[str(adapter)] = {**d, "collapsed": looks_collapsed(d), "n": len(group)}
    return EvalResult(completions, pd.DataFrame(rows), div)


@dataclass(frozen=True)
class EvalSize:
    """How many completions an evaluation samples per model (the report's N = 1000)."""

    # ~0.5 s each on 2 cores: the app's 1000 already holds the model for minutes
    num_samples: int = setting(int, 1000, 1, 10_000, "completions per model", app_maximum=1000)


EVAL_SIZE = settings_of(EvalSize)["num_samples"]
EVAL_TOKENS = 48  # new tokens per held-out answer (the report's evaluation length)


def check_num_samples(n: int, app: bool = False) -> int:
    """The evaluation size every entry point allows (the app's cap is lower)."""
    try:
        return EVAL_SIZE.parse(n, app=app)
    except ConfigError as exc:
        raise GenerationError(str(exc)) from None


def evaluate(
    resident: ResidentModel,
    adapters: list[str],
    num_samples: int = 1000,
    prompts: list[str] | None = None,
    max_new_tokens: int = EVAL_TOKENS,
    temperature: float = 1.0,
    seed: int = 0,
    batch_size: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """``num_samples`` completions per adapter, cycling over the held-out prompts.

    ``batch_size`` by device: the batcher's bound on a CPU (shared with other pages' requests;
    larger gains nothing on 2 cores), 500 on a GPU (1000 x 48 tokens: 33.7 s at 50 vs 3.4 s at
    500 on an H100, measured by an earlier session).
    """
    import pandas as pd

    if not adapters:
        raise ValueError("choose at least one model to evaluate (base or an adapter)")
    check_num_samples(num_samples)
    prompts = prompts or eval_prompts()
    rows = [prompts[i % len(prompts)] for i in range(num_samples)]
    params = SamplingParams(1, max_new_tokens, temperature, 1.0, seed)
    if batch_size is None:
        batch_size = 500 if resident.device.type == "cuda" else MAX_ROWS
    done = sample(resident, rows, adapters, params, batch_size=batch_size, on_batch=on_progress)
    table = pd.DataFrame(
        [{"adapter": c.adapter, "prompt": c.prompt, "text": c.text, **c.rewards} for c in done]
    )
    result = summarize(table)
    if BASE in adapters and len(set(adapters)) > 1:
        tasks = {a: resident.get(a).task_spec for a in adapters if a != BASE}
        result.wins = win_rates(table, {a: t for a, t in tasks.items() if t is not None})
    return result


def save(result: EvalResult, out_dir: Path) -> dict[str, Path]:
    """results.json, completions.csv, summary.csv, histograms.png (and win_rates.csv where
    the base was evaluated) under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "results.json",
        "completions": out_dir / "completions.csv",
        "summary": out_dir / "summary.csv",
        "histogram": out_dir / "histograms.png",
    }
    result.completions.to_csv(paths["completions"], index=False)
    result.summary.to_csv(paths["summary"], index=False)
    payload = {
        "table1": result.table1().reset_index().to_dict(orient="records"),
        "summary": result.summary.to_dict(orient="records"),
        "diversity": result.diversity,
        "win_rates": [] if result.wins is None else result.wins.to_dict(orient="records"),
    }
    if result.wins is not None:
        paths["wins"] = out_dir / "win_rates.csv"
        result.wins.to_csv(paths["wins"], index=False)
    paths["json"].write_text(json.dumps(payload, indent=2))
    histogram(result).savefig(paths["histogram"], dpi=100, bbox_inches="tight")
    return paths


def histogram(result: EvalResult, rewards: tuple[str, ...] = TABLE_REWARDS):
    """One panel per reward, one translucent histogram per adapter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rewards), figsize=(5 * len(rewards), 3.5), squeeze=False)
    for ax, name in zip(axes[0], rewards, strict=True):
        for adapter, group in result.completions.groupby("adapter", sort=False):
            ax.hist(group[name], bins=30, alpha=0.5, label=str(adapter))
        ax.set_title(name)
        ax.set_xlabel("reward")
        ax.legend()
    axes[0][0].set_ylabel("completions")
    fig.tight_layout()
    plt.close(fig)
    return fig
