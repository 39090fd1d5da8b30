"""Evaluation statistics and diversity on known completions (no model needed)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from grpo_demo.evaluation import diversity, longest_run, looks_collapsed, save, summarize
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
