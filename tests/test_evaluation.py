"""Evaluation statistics and diversity on known completions (no model needed)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from grpo_demo.evaluation import save, summarize
from grpo_demo.metrics import diversity, longest_run, looks_collapsed
from grpo_demo.rewards import score_all


def table(adapter: str, texts: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"adapter": adapter, "prompt": "p", "text": t, **s}
            for t, s in zip(texts, score_all(texts), strict=True)
        ]
    )


def test_median_mean_std_match_numpy_on_a_known_set():
    texts = ["a b", "a b c d", "one two three four five six", "x"]  # word_count 2, 4, 6, 1
    result = summarize(table("base", texts))
    row = result.summary.set_index(["adapter", "reward"]).loc[("base", "word_count")]
    assert row["median"] == 3.0
    assert row["mean"] == 3.25
    assert row["std"] == pytest.approx(1.920286436967152)  # np.std([2, 4, 6, 1])


def test_table1_has_the_reports_layout():
    result = summarize(pd.concat([table("base", ["a b c"] * 3), table("tuned", ["a b c d e"] * 3)]))
    t1 = result.table1()
    assert list(t1.index) == ["base", "tuned"]
    assert list(t1.columns)[:3] == ["four_letter median", "four_letter mean", "four_letter std"]
    assert t1.loc["tuned", "word_count mean"] == 5.0
    assert t1.loc["base", "word_count std"] == 0.0


def test_collapse_is_flagged_for_the_reports_hack_only():
    hack = ["Tomorrow I'm gonna learn for exam last last last last last last"] * 5
    normal = ["we went to the park", "my cat sleeps on the sofa", "rain fell all day long"]
    result = summarize(pd.concat([table("collapsed", hack), table("base", normal)]))
    assert result.diversity["collapsed"]["collapsed"] is True
    assert result.diversity["base"]["collapsed"] is False
    assert result.diversity["collapsed"]["max_run"] == 6


def test_diversity_numbers():
    d = diversity(["a b a b", "a b"])
    assert d["distinct_1"] == round(2 / 6, 3)
    assert d["distinct_2"] == round(2 / 4, 3)  # (a,b) (b,a) (a,b) | (a,b)
    assert longest_run([]) == 0
    assert diversity([])["distinct_1"] == 0.0
    assert not looks_collapsed(diversity(["one two three"]))


def test_save_writes_json_csv_and_png(tmp_path):
    result = summarize(pd.concat([table("base", ["a b c", "d e"]), table("x", ["last last"])]))
    paths = save(result, tmp_path / "out")
    payload = json.loads(paths["json"].read_text())
    assert {r["adapter"] for r in payload["table1"]} == {"base", "x"}
    assert pd.read_csv(paths["completions"]).shape[0] == 3
    assert paths["histogram"].read_bytes()[:4] == b"\x89PNG"


def hand_made(base: list[str], adapter: list[str], prompts: list[str] | None = None):
    prompts = prompts or [f"p{i}" for i in range(len(base))]
    rows = [("base", p, t) for p, t in zip(prompts, base, strict=True)]
    rows += [("tuned", p, t) for p, t in zip(prompts, adapter, strict=True)]
    frame = pd.DataFrame(rows, columns=["adapter", "prompt", "text"])
    return frame.join(pd.DataFrame(score_all(frame["text"].tolist())))


def test_win_rate_counts_rows_where_the_adapter_beats_the_base_on_its_task():
    from grpo_demo.evaluation import win_rates
    from grpo_demo.tasks import TASKS

    # four-letter reward: "word" words score 0, longer ones below; two wins, one tie, a loss
    base = [" extraordinary", " word word", " elephant", " word"]
    tuned = [" word word", " word word", " kite kite", " extraordinary"]
    wins = win_rates(hand_made(base, tuned), {"tuned": TASKS["four-letter"]})
    row = wins.iloc[0].to_dict()
    assert (row["wins"], row["ties"], row["losses"], row["n"]) == (2, 1, 1, 4)
    assert row["win rate"] == 0.5
    assert row["95% low"] < 0.5 < row["95% high"]
    # the same rows scored by word count: the long-answer task sees other winners
    long = win_rates(hand_made(base, tuned), {"tuned": TASKS["long-answer"]}).iloc[0]
    assert (long["wins"], long["ties"], long["losses"]) == (2, 2, 0)


def test_wilson_interval_is_the_textbook_one_and_stays_inside_0_1():
    from grpo_demo.evaluation import wilson

    low, high = wilson(50, 100)
    assert (round(low, 4), round(high, 4)) == (0.4038, 0.5962)
    assert wilson(0, 20)[0] == 0.0 and 0 < wilson(0, 20)[1] < 0.2
    assert wilson(20, 20)[1] == 1.0


def test_win_rate_refuses_rows_that_are_not_paired():
    from grpo_demo.evaluation import win_rates
    from grpo_demo.generation import GenerationError
    from grpo_demo.tasks import TASKS

    frame = hand_made([" a", " b"], [" c", " d"])
    frame.loc[frame["adapter"] == "tuned", "prompt"] = ["x", "y"]
    with pytest.raises(GenerationError, match="same rows"):
        win_rates(frame, {"tuned": TASKS["four-letter"]})
    with pytest.raises(GenerationError, match="needs the base"):
        win_rates(frame[frame["adapter"] == "tuned"], {"tuned": TASKS["four-letter"]})
