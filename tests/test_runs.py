"""Runs side by side: curves and settings read from two real saved runs (and the one going)."""

from __future__ import annotations

import json

import pytest

from grpo_demo.app import runs
from grpo_demo.app.state import AppState
from grpo_demo.config import ConfigError
from grpo_demo.training import TrainingRun
from tests.test_tiny_pipeline import PROMPTS, tiny_config


@pytest.fixture
def two_runs(tiny_resident):
    for name, lr in (("slow", 1e-4), ("fast", 5e-2)):
        cfg = tiny_config(max_steps=2, learning_rate=lr)
        end = TrainingRun(tiny_resident, cfg, name, prompts=PROMPTS).start().join(timeout=300)
        assert end.error is None
    return AppState(tiny_resident)


def test_the_overlay_reads_each_saved_runs_steps(two_runs):
    table = runs.curves(two_runs, ["slow", "fast"])
    assert set(table["run"]) == {"slow", "fast"}
    for name in ("slow", "fast"):
        saved = two_runs.resident.adapters[name].path / "steps.jsonl"
        steps = [json.loads(line) for line in saved.read_text().splitlines()]
        mine = table[(table["run"] == name) & (table["series"] == runs.REWARD)]
        assert list(mine["step"]) == [s["step"] for s in steps]
        assert list(mine["value"]) == pytest.approx([s["metrics"]["reward"] for s in steps])
        term = table[(table["run"] == name) & (table["series"] == "four_letter")]
        expected = [s["metrics"]["rewards/four_letter"] for s in steps]
        assert list(term["value"]) == pytest.approx(expected)
    assert {"distinct-1", "distinct-2"} <= set(table["series"])


def test_the_settings_table_puts_the_difference_first(two_runs):
    table = runs.settings(two_runs, ["slow", "fast"])
    first = table.iloc[0]
    assert first["setting"] == "learning_rate" and first["differs"]
    assert (first["slow"], first["fast"]) == ("0.0001", "0.05")
    same = table[table["setting"] == "max_completion_length"].iloc[0]
    assert not same["differs"] and same["slow"] == same["fast"] == "8"
    assert table["differs"].sum() <= 3  # lr, and the facts that always differ (date, pace)


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["slow"], "pick two or more runs to compare \\(got 1\\)"),
        (["slow", "slow"], "got 1"),
        (["slow", "nope"], "unknown run\\(s\\): nope; saved runs: fast, slow"),
        ([], "got 0"),
    ],
)
def test_one_run_or_an_unknown_one_is_refused_by_name(two_runs, names, message):
    with pytest.raises(ConfigError, match=message):
        runs.curves(two_runs, names)
