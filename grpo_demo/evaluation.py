"""The report's Table 1 protocol: N samples per model, reward median/mean/std, plus diversity.

The report generated 1000 answers from the base and the tuned model and compared reward
statistics. We do the same for the base and any adapters on the held-out eval prompts, and add
what the report learned the hard way: diversity (distinct-1/2, longest run of one repeated
word) and a collapse flag, so "reward went up" cannot hide "last last last ...".
std is the population std (numpy's default), as a student's ``np.std`` would give.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .rewards import REWARDS, distinct_ratio, real_words

if TYPE_CHECKING:
    import pandas as pd

    from .adapters import ResidentModel

TABLE_REWARDS = ("four_letter", "word_count")  # the report's two rewards, shown first
MAX_EVAL_SAMPLES = 10_000  # per model, from the CLI (the app allows 1000)
COLLAPSE_DISTINCT = 0.5  # mean share of distinct words per completion below this ...
COLLAPSE_RUN = 4  # ... or a typical completion repeating one word this many times in a row


def longest_run(words: list[str]) -> int:
    """Longest run of the same word (case-insensitive) in a row.

    >>> longest_run("we went last last last week".split())
    3
    """
    best = run = 0
    prev = None
    for w in (w.lower() for w in words):
        run = run + 1 if w == prev else 1
        best, prev = max(best, run), w
    return best


def diversity(texts: list[str]) -> dict[str, float]:
    """Distinct-n over the whole set, and per-completion distinct share and longest run.

    >>> d = diversity(["last last last last", "a new day"])
    >>> d["distinct_1"], d["max_run"], d["mean_distinct"]
    (0.571, 4, 0.625)
    """
    words = [real_words(t.lower()) for t in texts]
    unigrams = [w for ws in words for w in ws]
    bigrams = [b for ws in words for b in itertools.pairwise(ws)]
    runs = sorted(longest_run(ws) for ws in words) or [0]
    per = [distinct_ratio(ws) for ws in words if ws] or [0.0]
    return {
        "distinct_1": round(len(set(unigrams)) / len(unigrams), 3) if unigrams else 0.0,
        "distinct_2": round(len(set(bigrams)) / len(bigrams), 3) if bigrams else 0.0,
        "mean_distinct": round(sum(per) / len(per), 3),
        "max_run": runs[-1],
        "median_run": runs[len(runs) // 2],
    }


def looks_collapsed(div: dict[str, float]) -> bool:
    """The report's failure mode: most completions repeat one word.

    >>> looks_collapsed(diversity(["exam last last last last last"] * 3))
    True
    >>> looks_collapsed(diversity(["we went to the park", "it rained all day"]))
    False
    """
    return div["mean_distinct"] < COLLAPSE_DISTINCT or div["median_run"] >= COLLAPSE_RUN


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


def check_num_samples(n: int, limit: int = MAX_EVAL_SAMPLES) -> int:
    """The evaluation size every entry point allows (the app passes its own, lower limit)."""
    from .generation import GenerationError

    if not 1 <= n <= limit:
        raise GenerationError(f"num_samples must be 1..{limit} (got {n})")
    return n


def evaluate(
    resident: ResidentModel,
    adapters: list[str],
    num_samples: int = 1000,
    prompts: list[str] | None = None,
    max_new_tokens: int = 48,
    temperature: float = 1.0,
    seed: int = 0,
    batch_size: int = 50,
    on_progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """``num_samples`` completions per adapter, cycling over the held-out prompts."""
    import pandas as pd

    from .data import eval_prompts
    from .generation import SamplingParams, sample

    if not adapters:
        raise ValueError("choose at least one model to evaluate (base or an adapter)")
    check_num_samples(num_samples)
    prompts = prompts or eval_prompts()
    rows = [prompts[i % len(prompts)] for i in range(num_samples)]
    params = SamplingParams(1, max_new_tokens, temperature, 1.0, seed)
    done = sample(resident, rows, adapters, params, batch_size=batch_size, on_batch=on_progress)
    table = pd.DataFrame(
        [{"adapter": c.adapter, "prompt": c.prompt, "text": c.text, **c.rewards} for c in done]
    )
    return summarize(table)


def save(result: EvalResult, out_dir: Path) -> dict[str, Path]:
    """results.json, completions.csv, summary.csv and histograms.png under ``out_dir``."""
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
    }
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
