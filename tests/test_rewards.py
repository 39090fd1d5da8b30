"""The report's rewards, exactly, and the improved variants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grpo_demo.rewards import REWARDS, four_letter_breakdown, score_all


# The report's functions, verbatim (Rys. 1 and Rys. 6), as the oracle.
def reward_len(completions, **kwargs):
    if type(completions) == list:  # noqa: E721
        lst = []
        for completion in completions:
            reward = 0
            splitted = completion.split(" ")
            for phrase in splitted:
                reward -= abs(4 - len(phrase))
            lst.append(reward / len(splitted))
        return lst


def alternative_reward(completions, **kwargs):
    if type(completions) == list:  # noqa: E721
        lst = []
        for completion in completions:
            splitted = completion.split(" ")
            lst.append(len(splitted))
        return lst


TABLE = [
    # text, four_letter, word_count
    ("", -4.0, 1),
    ("last last last last", 0.0, 4),
    (" last", -2.0, 2),  # leading space: an empty phrase worth -4
    ("a  b", -10 / 3, 3),  # double space: empty phrase in the middle
    ("word\nword", -5.0, 1),  # newline stays inside the phrase
    ("zażółć gęślą", -1.5, 2),  # unicode letters count as one each
    ("Tomorrow I'm gonna learn for exam", -8 / 6, 6),
    ("wow!", 0.0, 1),  # punctuation counts in the report's reward
]


@pytest.mark.parametrize(("text", "four", "count"), TABLE)
def test_report_reward_table(text, four, count):
    assert REWARDS["four_letter"]([text]) == pytest.approx([four])
    assert REWARDS["word_count"]([text]) == [count]
    assert reward_len([text]) == pytest.approx([four])  # the table agrees with the report
    assert alternative_reward([text]) == [count]


def test_report_sample_reward_from_the_report():
    """Rys. 4's finetuned sample; the report printed -1.6395939086294415 for prompt+answer."""
    text = (
        "Fill that sentence up to 90 minutes. (No one likes to play guitar while they're on "
        "their way.)\n\nYou wanna know how to take your kids, what"
    )
    assert REWARDS["four_letter"]([text]) == reward_len([text])


@given(st.lists(st.text(max_size=80), max_size=5))
def test_exact_parity_with_the_report_on_any_string(texts):
    assert REWARDS["four_letter"](texts) == reward_len(texts)
    assert REWARDS["word_count"](texts) == alternative_reward(texts)


def test_collapse_pays_in_the_report_reward_but_not_in_the_diverse_one():
    hack = "last " * 30
    normal = "we went to the park and it was fun"
    assert REWARDS["four_letter"]([hack.strip()])[0] == 0.0  # the report's maximum
    hacked, honest = REWARDS["four_letter_diverse"]([hack, normal])
    assert hacked < honest


def test_real_word_variant_ignores_punctuation_and_leading_space():
    assert REWARDS["four_letter_words"]([" Tall, tree."]) == [0.0]
    assert REWARDS["four_letter"]([" Tall, tree."]) == [-2.0]


def test_word_count_diverse_does_not_pay_for_repetition():
    prose = "we went to the big park and then we had a picnic by the lake"
    assert REWARDS["word_count_diverse"](["go " * 20, prose]) == [2.0, 15.0]
    assert REWARDS["word_count_diverse"](["and the " * 10]) == [4.0]  # 20 words, 2 distinct


def test_whitespace_runs_pay_in_the_reports_word_count_but_not_in_the_real_one():
    honest, gamed = "one two three four", "one" + " " * 30 + "two\n\n\n three"
    assert REWARDS["word_count"]([honest, gamed]) == [4.0, 32.0]
    assert REWARDS["word_count_real"]([honest, gamed]) == [4.0, 3.0]


def test_no_repeats_charges_each_word_that_repeats_its_neighbour():
    assert REWARDS["no_repeats"](
        ["girl girl girl girl rock", "Last, last! LAST day", "a b a b"]
    ) == [
        -3.0,
        -2.0,
        0.0,
    ]


def test_no_long_runs_leaves_pairs_free_and_charges_runs_past_two():
    texts = ["girl girl girl girl rock", "fine fine day", "Last, last! LAST day", "a b a b"]
    assert REWARDS["no_long_runs"](texts) == [-2.0, 0.0, -1.0, 0.0]


def test_varied_words_pays_prose_and_not_loops_or_stutters():
    prose = "we went to the big park and then we had a picnic by the lake"
    looped = "to help others to help others to help others to help others"
    stutter = "we went to help help help help the park"
    varied = REWARDS["varied_words"]
    assert varied([prose]) == [float(len(prose.split()))]  # every pair new, 12/14 distinct
    assert varied([looped]) == [1.667]  # 4 new pairs x (3 of 12 words distinct / 0.6)
    assert varied([stutter])[0] < varied(["we went to help the park"])[0]
    assert varied(["one" + " " * 30 + "two\n\n three -- ..."]) == [3.0]  # whitespace earns nothing


def test_every_reward_is_pure_and_returns_one_float_per_completion():
    texts = ["a b c", "", "last last", "ünïcödé wörds"]
    for name, fn in REWARDS.items():
        out = fn(texts, prompts=["p"] * 4, completion_ids=[[1]] * 4)
        assert len(out) == len(texts) and all(isinstance(x, float) for x in out), name
        assert fn(texts) == out, name  # deterministic


def test_score_all_scores_every_registered_reward():
    [scores] = score_all(["last word"])
    assert set(scores) == set(REWARDS)


def test_breakdown_means_to_the_report_reward():
    text = " Tomorrow I'm gonna  learn"
    parts = four_letter_breakdown(text)
    assert [p.word for p in parts] == text.split(" ")
    assert sum(p.contribution for p in parts) / len(parts) == REWARDS["four_letter"]([text])[0]
