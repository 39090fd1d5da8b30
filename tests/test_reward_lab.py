"""The GRPO lab: rewards built from registered terms (no code), the base scored before a run,
advantages as TRL computes them, tied groups flagged, and a spec that round-trips run.json."""

from __future__ import annotations

import json
import pickle

import gradio as gr
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grpo_demo.app import forms
from grpo_demo.app.forms import errors_of
from grpo_demo.config import ConfigError, RunConfig
from grpo_demo.learning_signal import group_advantages, score_base, tied, verdict
from grpo_demo.lora_slots import TRAINING_SLOT
from grpo_demo.presets import from_preset
from grpo_demo.reward_spec import format_spec, parse_spec, reward_func, task_from_spec
from grpo_demo.rewards import four_letter
from grpo_demo.store import discover_adapters
from grpo_demo.training import PROBE_SAMPLES, RunEnded, TrainingRun
from grpo_demo.ui.handlers import Demo

SPEC = "1*n_letter[n=3] + 4*distinct_words + 0.5*length_window[low=4,high=8]"


def test_a_spec_round_trips_and_labels_are_what_trl_logs():
    terms = parse_spec(SPEC)
    assert format_spec(terms) == SPEC
    assert [t.__name__ for t, _ in terms] == [
        "n_letter[n=3]",
        "distinct_words",
        "length_window[low=4,high=8]",
    ]
    assert format_spec(parse_spec(" n_letter [ n = 3 ] ")) == "1*n_letter[n=3]"  # defaults
    term = pickle.loads(pickle.dumps(terms[0][0]))  # accelerate's processes get a copy
    assert term(["the cat sat", "elephants"]) == [0.0, -6.0]
    assert reward_func("length_window[low=2,high=3]")(["x"], completion_ids=[[1] * 5]) == [-0.2]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("__import__('os').system('touch /tmp/x')", "is not 'weight\\*name'"),
        ("1*open[file=1]", "unknown reward term 'open'"),
        ("1*n_letter[n=99]", "n_letter: n must be 1..20 \\(got 99\\)"),
        ("1*n_letter[path=3]", "bad parameter 'path=3'"),
        ("1*n_letter[n=os]", "bad parameter"),
        ("2*four_letter + four_letter", "appears twice"),
        ("1e9*four_letter", "weight 1e\\+09 must be within -100..100"),
        ("1*length_window[low=9,high=3]", "low must not exceed high"),
        (" + ".join(["four_letter"] * 9), "at most 8"),
    ],
)
def test_only_registered_terms_and_numbers_get_through(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_spec(spec)
    if spec:  # an empty custom reward means "the task's own"
        with pytest.raises(ConfigError):
            from_preset("classroom-four-letter", reward=spec)


@given(st.lists(st.text(alphabet="ab .", max_size=30), min_size=1, max_size=5))
def test_n_letter_at_four_is_the_reports_reward(texts):
    assert reward_func("n_letter[n=4]")(texts) == four_letter(texts)


def test_advantages_and_tied_groups():
    assert group_advantages([0.0, 0.0, 0.0, 1.0, 2.0, 3.0], 3) == [0, 0, 0, -1.0, 0.0, 1.0]
    assert tied([0.5, 0.5, 0.5]) and not tied([0.5, 0.5, 0.6])


def test_the_advantages_shown_are_the_ones_trl_computed(tiny_resident):
    config = from_preset(
        "classroom-four-letter",
        reward=SPEC,
        max_steps=1,
        num_generations=4,
        per_device_train_batch_size=8,
        max_completion_length=8,
    )
    run = TrainingRun(tiny_resident, config, "lab", prompts=["Fill that sentence", "Once upon"])
    end = run.start().join(timeout=300)
    assert isinstance(end, RunEnded) and end.error is None, end
    [event] = run.history
    assert set(event.reward_means) == {t.label for t, _ in parse_spec(SPEC)}
    totals = [c.reward for c in event.completions]
    logged = [c.advantage for c in event.completions]
    assert group_advantages(totals, 4) == pytest.approx(logged, abs=2e-3)

    # the spec is stored with the adapter and rebuilds the same task
    info = discover_adapters(tiny_resident.checkpoints, tiny_resident.spec.name)[0]["lab"]
    record = json.loads((info.path / "run.json").read_text())
    assert record["config"]["reward"] == SPEC and info.task == "custom"
    assert record["reward_funcs"] == list(config.task_spec.reward_funcs)
    assert record["reward_weights"] == [1.0, 4.0, 0.5]
    again = RunConfig.from_dict(record["config"]).task_spec
    assert again.weights == config.task_spec.weights

    # every step stays browsable after the run: saved with the adapter, read back the same
    demo = Demo(tiny_resident)
    note, table = demo.browse("lab", 1)
    assert "step 1 of 1" in note and len(table) == 8
    assert table["advantage"].tolist() == [round(a, 3) for a in logged]
    with pytest.raises(gr.Error, match=r"step must be 1..1"):
        demo.browse("lab", 2)
    with pytest.raises(gr.Error, match="unknown adapter"):
        demo.browse("nope", 1)


def test_scoring_the_base_flags_a_reward_that_cannot_teach(tiny_resident):
    constant = task_from_spec("1*length_window[low=1,high=4096]")  # 0 for every completion
    groups = score_base(tiny_resident, constant, ["Fill that sentence", "Once upon"], 4, 8)
    assert len(groups) == 2 and all(g.tied for g in groups)
    assert all(a == 0 for g in groups for a in g.advantages)
    assert verdict(groups).startswith("❌ Every group ties")
    varied = score_base(tiny_resident, task_from_spec("1*n_letter[n=3]"), ["Fill that"], 4, 8)
    assert not varied[0].tied and verdict(varied).startswith("✅")
    assert varied[0].advantages == group_advantages(varied[0].totals, 4)


def test_the_train_tab_builds_scores_and_refuses_by_field(tiny_resident):
    demo = Demo(tiny_resident)
    rows = demo.reward_rows("four-letter-diverse")[0]
    used = rows[rows["weight"] != 0]
    assert list(used["term"]) == ["four_letter", "distinct_words"]
    rows.loc[rows["term"] == "n_letter", ["weight", "parameters"]] = [2, "n=5"]
    spec = "1*four_letter + 4*distinct_words + 2*n_letter[n=5]"
    assert demo.compose_reward(rows) == (spec, "")
    assert demo.follow_spec(spec)[0].equals(rows)  # the table follows a typed spec
    rows.loc[rows["term"] == "n_letter", "parameters"] = "n=__import__"
    kept, note = demo.compose_reward(rows)  # the typed spec stays; the message names the cell
    assert kept == gr.skip() and "n_letter: bad parameter" in note
    rows.loc[rows["term"] == "n_letter", ["weight", "parameters"]] = [1e9, "n=5"]
    assert "n_letter: weight 1e+09 must be within -100..100" in demo.compose_reward(rows)[1]
    message, table = demo.score_base("four-letter", "1*n_letter[n=3]", 4, 8)
    assert message[:1] in "✅⚠❌" and len(table) == 8  # 2 prompts x 4
    assert {"group", "completion", "total", "advantage", "n_letter[n=3]"} <= set(table.columns)
    form = dict(
        task="four-letter",
        preset="classroom-four-letter",
        name="x",
        learning_rate=1e-3,
        num_generations=8,
        max_steps=2,
        max_completion_length=8,
    )
    wrong = errors_of(forms.train, demo.state, **form, reward="1*nope")
    assert list(wrong) == ["reward"] and "Reward: unknown reward term 'nope'" in wrong["reward"]
    wrong = errors_of(forms.train, demo.state, **form, probes="a\n" * 6, probe_every=0)
    assert list(wrong) == ["probes", "probe_every"]
    assert "at most 5 probe prompts" in wrong["probes"]
    assert "probe_every must be 1..1000" in wrong["probe_every"]
    box, under, ok = demo.start_check(**{**form, "max_steps": 0, "max_completion_length": 99999})
    assert not ok and "Start refused" in box and "*" not in box.replace("**", "")  # no stray *
    assert "**Training steps (max_steps)**, **Answer length (max_completion_length)**" in box
    assert list(under) == ["max_steps", "max_completion_length"]  # each under its own field
    assert under["max_steps"] == "max_steps must be 1..10000 (got 0)"
    assert demo.start_check(**form) == ("", {}, True)


def test_probe_prompts_are_answered_every_k_steps_next_to_the_base(tiny_resident, monkeypatch):
    from grpo_demo.ui.train_views import PROBE_COLUMNS, before_now, probe_table

    config = from_preset(
        "classroom-four-letter", max_steps=3, per_device_train_batch_size=8, max_completion_length=8
    )
    probes = ["Fill that sentence", "Once upon a time"]
    batches = []  # the batcher's batches of their own (a spy on its submit)
    submit = tiny_resident.batcher.submit
    monkeypatch.setattr(
        tiny_resident.batcher, "submit", lambda rows, *a: batches.append(rows) or submit(rows, *a)
    )
    run = TrainingRun(tiny_resident, config, "probed", probes=probes, probe_every=2)
    end = run.start().join(timeout=300)
    assert isinstance(end, RunEnded) and end.error is None, end
    assert [e.step for e in run.history if e.probes] == [1, 2, 3]  # step 1, every 2nd, the last
    # steps 1 and 2 were answered in their rollout batch, the base by step 1's (a fresh slot
    # answers as the base does); the last step's after its update (the adapter as saved) in a
    # batch of its own
    assert [{r.adapter for r in rows} for rows in batches] == [{TRAINING_SLOT}]
    assert len(batches[0]) == 2 * PROBE_SAMPLES
    assert run.history[0].probes == run.base_probes
    assert run.history[0].probe_means == run.base_probe_means
    assert len(run.base_probes) == 2 and all(len(e.probes) == 2 for e in run.history)
    table = probe_table(run)  # long format: one answer a row, wraps at any number of steps
    assert list(table.columns) == PROBE_COLUMNS and len(table) == 2 * 4
    assert table["model"].tolist()[:4] == ["base", "step 1", "step 2", "step 3"]
    assert table["prompt"].tolist() == [probes[0]] * 4 + [probes[1]] * 4
    assert table["completion"].tolist()[0] == run.base_probes[0].strip()
    view = before_now(run, config.task_spec, [])
    assert "now (step 3)" in view and all(p in view for p in probes)
    assert "4-letter words:" in view and view.count('class="bn-card"') == 4
    assert "letters from 4 a word:" in view and "step by step: " in view  # the report's number
    record = json.loads((tiny_resident.adapter_dir / "probed" / "run.json").read_text())
    assert record["probes"] == {
        "prompts": probes,
        "every": 2,
        "samples": PROBE_SAMPLES,  # each shown answer is the middle of five, beside their mean
        "base": run.base_probes,
        "base_means": run.base_probe_means,
    }
    assert all(len(e.probe_means) == 2 for e in run.history)
    assert f"mean of {PROBE_SAMPLES}:" in view
    steps = (tiny_resident.adapter_dir / "probed" / "steps.jsonl").read_text().splitlines()
    assert [json.loads(s)["probes"] for s in steps] == [e.probes for e in run.history]
    assert [json.loads(s)["probe_means"] for s in steps] == [e.probe_means for e in run.history]


def test_a_batch_that_is_not_whole_groups_gets_the_fix_proposed():
    with pytest.raises(ConfigError, match="Fix: num_generations one of 2, 4, 8, 16, 32"):
        from_preset("classroom-four-letter", num_generations=6, per_device_train_batch_size=32)


def test_a_stopped_run_gets_its_final_probe(tiny_resident):
    config = from_preset(
        "classroom-four-letter",
        max_steps=50,
        per_device_train_batch_size=8,
        max_completion_length=8,
    )
    run = TrainingRun(
        tiny_resident, config, "stopped", probes=["Fill that sentence"], probe_every=100
    )
    run.start()
    assert run.wait(0, timeout=300)  # the first step is done
    run.stop()
    end = run.join(timeout=300)
    assert end.stopped and len(run.history) < 50
    assert run.history[-1].probes is not None  # its last step was probed, not only step 1
