"""The quality bars: when an adapter is good enough to ship.

Reward going up is not enough (the report's "last last last ..." went up too). An adapter
ships when, on N held-out completions, its task's reward beats the base by the task's gain rule
*and* the writing did not collapse: distinct-2 keeps 0.6 of the base's, and no completion
repeats one word more than three times in a row. The bars are data (``BARS``) checked on a
few plain numbers (``Scores``), so a fresh evaluation and an attempt recorded in a table are
judged by the same code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from . import measures
from .metrics import MAX_RUN, loops
from .rewards import real_words

if TYPE_CHECKING:
    from .evaluation import EvalResult

# Contractions without their apostrophe are four letters by the report's split(" "): a hack.
APOSTROPHE_DROPS = frozenset({"dont", "cant", "wont", "im"})
DISTINCT2_SHARE = 0.6  # distinct-2 must keep this share of the base's


def drops_apostrophe(text: str) -> bool:
    """Writes "dont", "cant", "wont" or "im" as a word (punctuation stripped, any case).

    >>> drops_apostrophe("Dont go, Im late."), drops_apostrophe("I don't know, Tim")
    (True, False)
    """
    return bool(APOSTROPHE_DROPS & set(real_words(text.lower())))


def mean_words(texts: Iterable[str]) -> float:
    """``measures.mean_words`` to one decimal: a shrinking answer is the other way to a better
    four-letter mean.

    >>> mean_words(["one two three", "four"])
    2.0
    """
    return round(measures.mean_words(list(texts)), 1)


class Check(NamedTuple):
    """One bar's verdict and the sentence the report prints for it."""

    ok: bool
    text: str


@dataclass(frozen=True)
class Gain:
    """Gain rule "base + amount" for a reward on a fixed scale (four-letter is a mean
    distance), or, ``times``, "amount x base" for a count (only a relative change means
    something there).

    >>> Gain(1.0).passes(-2.0, -1.0), Gain(1.0).describe("four_letter", -2.0, -1.0001)
    (True, 'mean four_letter -1.000 >= base -2.000 + 1.0 (gain +0.9999)')
    >>> rule = Gain(1.35, times=True)
    >>> rule.passes(100.0, 134.0), rule.describe("words", 100.0, 136.0)
    (False, 'mean words 136.00 >= 1.35 x base 100.00 (1.36x)')
    """

    amount: float
    times: bool = False

    def change(self, base: float, tuned: float) -> float:
        return tuned / base if self.times else tuned - base

    def passes(self, base: float, tuned: float) -> bool:
        return tuned >= (self.amount * base if self.times else base + self.amount)

    def show(self, change: float) -> str:
        return f"{change:.2f}x" if self.times else f"{change:+.4f}"

    def describe(self, metric: str, base: float, tuned: float) -> str:
        change = self.show(self.change(base, tuned))
        if self.times:
            return f"mean {metric} {tuned:.2f} >= {self.amount} x base {base:.2f} ({change})"
        return f"mean {metric} {tuned:.3f} >= base {base:.3f} + {self.amount} (gain {change})"


@dataclass(frozen=True)
class Bars:
    """One task's bars: the adapter that ships for it, how it is evaluated, what it must reach."""

    adapter: str  # the shipped adapter (evaluated under results/eval/<adapter>-<tokens>)
    tokens: int  # new tokens per evaluated completion
    metric: str  # the reward the gain bar is about
    gain: Gain
    distinct2_share: float = DISTINCT2_SHARE


BARS: dict[str, Bars] = {  # evaluated task -> its bars
    "four-letter": Bars("four-letter", 48, "four_letter", Gain(1.0)),
    "long-answer": Bars("long-answer", 128, "word_count_real", Gain(1.35, times=True)),
}


@dataclass(frozen=True)
class Scores:
    """What the bars look at for one model: the bar metric's mean and the signs of collapse."""

    mean: float
    distinct_2: float
    max_run: int
    over3: int  # completions with a run of one word longer than the bar allows (3)


def scores(result: EvalResult, adapter: str, bars: Bars) -> Scores:
    """One model's ``Scores`` from a summarized evaluation."""
    means = result.summary.set_index(["adapter", "reward"])["mean"]
    div = result.diversity[adapter]
    texts = result.completions.loc[result.completions["adapter"] == adapter, "text"]
    return Scores(
        mean=float(means[(adapter, bars.metric)]),
        distinct_2=div["distinct_2"],
        max_run=int(div["max_run"]),
        over3=sum(map(loops, texts)),
    )


def verdicts(bars: Bars, base: Scores, tuned: Scores) -> list[Check]:
    """The gain bar, then the two no-collapse bars, each against the base.

    >>> base, tuned = Scores(-2.0, 0.6, 16, 2), Scores(-0.9, 0.3, 3, 0)
    >>> [c.ok for c in verdicts(BARS["four-letter"], base, tuned)]
    [True, False, True]
    """
    run = (
        f"longest run of one word {tuned.max_run} <= {MAX_RUN} (completions with a run "
        f"over {MAX_RUN}: {tuned.over3}; base: {base.over3}, longest {base.max_run})"
    )
    return [
        Check(
            bars.gain.passes(base.mean, tuned.mean),
            bars.gain.describe(bars.metric, base.mean, tuned.mean),
        ),
        Check(
            tuned.distinct_2 >= bars.distinct2_share * base.distinct_2,
            f"distinct-2 {tuned.distinct_2:.3f} >= {bars.distinct2_share} x base "
            f"{base.distinct_2:.3f}",
        ),
        Check(tuned.max_run <= MAX_RUN, run),
    ]


def judge(result: EvalResult, task: str, adapter: str | None = None) -> list[Check]:
    """The bars of ``task`` for ``adapter`` (default: the shipped one) against "base"."""
    bars = BARS[task]
    adapter = adapter or bars.adapter
    return verdicts(bars, scores(result, "base", bars), scores(result, adapter, bars))


def numbers(result: EvalResult, adapter: str, bars: Bars) -> dict[str, float | int | bool]:
    """Everything the report prints about one model, to record an attempt once its
    completions are gone: the bar metric's statistics, the gain, diversity, runs, hacks."""
    stats = result.summary.set_index(["adapter", "reward"]).loc[(adapter, bars.metric)]
    div = result.diversity[adapter]
    mine, base = scores(result, adapter, bars), scores(result, "base", bars)
    texts = result.completions.loc[result.completions["adapter"] == adapter, "text"].tolist()
    return {
        "n": int(div["n"]),
        "median": round(float(stats["median"]), 6),
        "mean": round(mine.mean, 6),
        "std": round(float(stats["std"]), 6),
        "gain": round(bars.gain.change(base.mean, mine.mean), 4),
        "distinct_1": div["distinct_1"],
        "distinct_2": mine.distinct_2,
        "mean_distinct": div["mean_distinct"],
        "max_run": mine.max_run,
        "over3": mine.over3,
        "drops": sum(map(drops_apostrophe, texts)),
        "words": mean_words(texts),
        "collapsed": bool(div["collapsed"]),
    }


def apostrophe_drops(counts: Mapping[str, int]) -> str:
    """The report's sentence on the apostrophe hack, from per-model counts.

    >>> apostrophe_drops({"base": 1, "tuned": 8})
    'Completions dropping an apostrophe ("cant", "dont", "im", "wont" as a word): base 1, tuned 8.'
    """
    words = ", ".join(f'"{w}"' for w in sorted(APOSTROPHE_DROPS))
    per_model = ", ".join(f"{a} {n}" for a, n in counts.items())
    return f"Completions dropping an apostrophe ({words} as a word): {per_model}."


def count_drops(result: EvalResult) -> dict[str, int]:
    """Completions per model that drop an apostrophe, in the order the models were given."""
    completions = result.completions
    hits = completions["text"].map(drops_apostrophe)
    return {
        str(a): int(n) for a, n in hits.groupby(completions["adapter"], sort=False).sum().items()
    }
