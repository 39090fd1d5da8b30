"""The quality bars (grpo_demo.quality) on hand-made completions tables: no model needed.

Each table is built like an evaluation's: one row per completion, every reward computed by
``score_all``, then ``summarize``. The texts are made so the bar metric lands just above or
just below a threshold, so a bar that drifted by a hair would fail here.
"""

from __future__ import annotations

import pandas as pd
import pytest

from grpo_demo.evaluation import summarize
from grpo_demo.metrics import MAX_RUN, loops
from grpo_demo.quality import (
    BARS,
    Gain,
    Scores,
    apostrophe_drops,
    count_drops,
    drops_apostrophe,
    judge,
    numbers,
    scores,
    verdicts,
)
from grpo_demo.rewards import score_all


def table(**models: list[str]) -> pd.DataFrame:
    """A completions table as ``grpo_demo.evaluation.evaluate`` builds it."""
    return pd.DataFrame(
        [
            {"adapter": adapter, "prompt": "p", "text": text, **rewards}
            for adapter, texts in models.items()
            for text, rewards in zip(texts, score_all(texts), strict=True)
        ]
    )


def word(i: int, length: int) -> str:
    """The ``i``-th word of ``length`` letters: "aaaa", "aaab", ... (distinct for distinct i)."""
    letters = ""
    for _ in range(length):
        i, r = divmod(i, 26)
        letters = chr(ord("a") + r) + letters
    return letters


def words(n: int, length: int, start: int = 0) -> list[str]:
    """``n`` distinct words of ``length`` letters: no repeats, no runs, no "dont"/"cant"."""
    assert start + n < 26 ** (length - 1)  # first letter stays "a"
    return [word(i, length) for i in range(start, start + n)]


def distance_text(n: int, far: int, at: int, start: int = 0) -> str:
    """``n`` words: ``far`` are five letters (four-letter distance 1), one is ``at`` letters
    long, the rest four letters. Its four-letter reward is -(far + |4 - at|) / n."""
    chosen = words(far, 5, start) + words(1, at, start + far)
    chosen += words(n - far - 1, 4, start + far + 1)
    return " ".join(chosen)


@pytest.fixture
def base() -> list[str]:
    """Ten completions of ten six-letter words: four-letter reward exactly -2.0 each."""
    return [" ".join(words(10, 6, 10 * i)) for i in range(10)]


def gain_check(result) -> tuple[bool, str]:
    return judge(result, "four-letter", "tuned")[0]


def test_four_letter_gain_bar_at_threshold_above_and_below(base):
    # 100 words, 99 at distance 1: the last at distance 0 (reward -0.99), 1 (-1.0) or 2 (-1.01)
    for at, passes, gain in ((4, True, "+1.0100"), (5, True, "+1.0000"), (6, False, "+0.9900")):
        tuned = [distance_text(100, 99, at, 1000 * i) for i in range(5)]
        result = summarize(table(base=base, tuned=tuned))
        ok, text = gain_check(result)
        assert ok is passes, (at, text)
        assert text.endswith(f"(gain {gain})")
        assert text.startswith("mean four_letter ") and ">= base -2.000 + 1.0" in text


def test_long_answer_gain_is_a_ratio(base):
    short = [" ".join(words(100, 5, 1000 * i)) for i in range(4)]
    for n, passes in ((136, True), (134, False)):
        long = [" ".join(words(n, 5, 1000 * i)) for i in range(4)]
        result = summarize(table(base=short, tuned=long))
        ok, text = judge(result, "long-answer", "tuned")[0]
        assert ok is passes
        assert text == f"mean word_count_real {n:.2f} >= 1.35 x base 100.00 ({n / 100:.2f}x)"


def test_a_looping_adapter_fails_the_run_bar_and_is_counted(base):
    clean = [distance_text(20, 0, 4, 100 * i) for i in range(9)]
    three = ["so so so " + clean[0]]
    four = ["girl girl Girl girl, " + clean[0]]
    ok_result = summarize(table(base=base, tuned=clean + three))
    bad_result = summarize(table(base=base, tuned=clean + four))
    *_, (ok, _) = judge(ok_result, "four-letter", "tuned")
    *_, (bad, text) = judge(bad_result, "four-letter", "tuned")
    assert ok and not bad
    assert text.startswith("longest run of one word 4 <= 3 (completions with a run over 3: 1;")
    assert scores(bad_result, "tuned", BARS["four-letter"]).over3 == 1
    # the gain bar does not see the loop: that is why the run bar exists
    assert judge(bad_result, "four-letter", "tuned")[0].ok


def test_distinct_2_below_six_tenths_of_the_base_fails(base):
    few = " ".join(words(12, 4))  # the same 11 word pairs in every completion
    fresh = [distance_text(12, 0, 4, 100 * i) for i in range(10)]
    repeated = summarize(table(base=base, tuned=[few] * 10))
    varied = summarize(table(base=base, tuned=fresh))
    base_d2 = repeated.diversity["base"]["distinct_2"]
    assert repeated.diversity["tuned"]["distinct_2"] < 0.6 * base_d2
    assert not judge(repeated, "four-letter", "tuned")[1].ok
    assert judge(varied, "four-letter", "tuned")[1].ok
    assert all(c.ok for c in judge(varied, "four-letter", "tuned"))


def test_distinct_2_threshold_is_inclusive():
    bars = BARS["four-letter"]
    base = Scores(mean=-2.0, distinct_2=0.5, max_run=1, over3=0)
    at = verdicts(bars, base, Scores(mean=-1.0, distinct_2=0.3, max_run=1, over3=0))
    below = verdicts(bars, base, Scores(mean=-1.0, distinct_2=0.299, max_run=1, over3=0))
    assert at[1].ok and not below[1].ok
    assert at[1].text == "distinct-2 0.300 >= 0.6 x base 0.500"


@pytest.mark.parametrize(
    ("text", "drops"),
    [
        ("I dont know", True),
        ("Dont.", True),
        ("you CANT be serious", True),
        ("im here", True),
        ("they wont go", True),
        ("I don't know, I'm here", False),
        ("dontcha imagine Tim", False),
        ("", False),
    ],
)
def test_apostrophe_detector(text, drops):
    assert drops_apostrophe(text) is drops


def test_apostrophe_counts_per_model_in_the_given_order():
    result = summarize(table(tuned=["I dont", "fine", "cant stop"], base=["I don't", "ok"]))
    counts = count_drops(result)
    assert counts == {"tuned": 2, "base": 0}
    assert apostrophe_drops(counts).endswith(": tuned 2, base 0.")


def test_loops_counts_more_than_three_in_a_row_case_and_punctuation_blind():
    assert loops("last Last, last. LAST")
    assert not loops("last last last, then last")


def test_recorded_numbers_judge_like_the_completions_they_came_from(base):
    """An attempt kept as a row of numbers must get the verdicts its completions got."""
    tuned = [distance_text(30, 29, 6, 100 * i) for i in range(8)] + ["dont dont dont dont go"]
    result = summarize(table(base=base, tuned=tuned))
    bars = BARS["four-letter"]
    row = numbers(result, "tuned", bars)
    kept = Scores(row["mean"], row["distinct_2"], row["max_run"], row["over3"])
    base_scores = scores(result, "base", bars)
    assert verdicts(bars, base_scores, kept) == judge(result, "four-letter", "tuned")
    assert row["drops"] == 1 and row["over3"] == 1 and row["max_run"] == 4
    assert row["gain"] == pytest.approx(row["mean"] - base_scores.mean, abs=1e-4)
    assert row["n"] == len(tuned)


def test_gain_rules_are_data():
    assert BARS["four-letter"].gain == Gain(1.0)
    assert BARS["long-answer"].gain == Gain(1.35, times=True)
    assert {b.metric for b in BARS.values()} == {"four_letter", "word_count_real"}
    assert all(b.distinct2_share == 0.6 for b in BARS.values()) and MAX_RUN == 3
