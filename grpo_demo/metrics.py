"""Pure text metrics: distinct-n, the longest run of one word, and the one definition of
"collapsed" (a loop, a collapsed set, a collapsed run) with its thresholds.

Reward goes up; these say whether the writing stayed writing. They take plain strings (no
model, no pandas), so training events, evaluation, the quality bars and benchmarks share them.
"""

from __future__ import annotations

import itertools

from .rewards import distinct_ratio, real_words

MAX_RUN = 3  # the most times one word may follow itself and still be writing ("so so so")
LOOP_RUN = MAX_RUN + 1  # one word this many times in a row is a loop ("last last last last")
COLLAPSE_DISTINCT = 0.5  # mean share of distinct words per completion below this ...
COLLAPSE_DROP = 0.5  # ... or a run's distinct words fallen below this share of its first step's


def longest_run(words: list[str]) -> int:
    """Longest run of the same word (case-insensitive) in a row.

    >>> longest_run("we went last last last week".split())
    3
    """
    return max((len(list(run)) for _, run in itertools.groupby(map(str.lower, words))), default=0)


def loops(text: str) -> bool:
    """Repeats one word ``LOOP_RUN`` or more times in a row (punctuation stripped, any case).

    >>> loops("girl girl Girl girl, go"), loops("so so so good")
    (True, False)
    """
    return longest_run(real_words(text.lower())) >= LOOP_RUN


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
    """The report's failure mode, in a set of completions: most of them repeat one word
    (their mean distinct share under ``COLLAPSE_DISTINCT``, or the median one loops).

    >>> looks_collapsed(diversity(["exam last last last last last"] * 3))
    True
    >>> looks_collapsed(diversity(["we went to the park", "it rained all day"]))
    False
    """
    return div["mean_distinct"] < COLLAPSE_DISTINCT or div["median_run"] >= LOOP_RUN


def first_collapse(steps: list[tuple[bool, float]]) -> int | None:
    """The index of the first step that looks collapsed, from (flag, distinct-1) per step:
    the flag, or distinct-1 below ``COLLAPSE_DROP`` of the first step's.

    >>> first_collapse([(False, 0.8), (False, 0.5), (False, 0.3)]), first_collapse([])
    (2, None)
    """
    for i, (flag, distinct_1) in enumerate(steps):
        if flag or distinct_1 < COLLAPSE_DROP * steps[0][1]:
            return i
    return None
