"""The app layer without Gradio: each form's rules (one message per named field), the state's
rules, and the bounded results folder. The handlers and the CLI use these same forms."""

from __future__ import annotations

import os
import time

import pytest

from grpo_demo.app import forms
from grpo_demo.app.forms import FormError, errors_of
from grpo_demo.app.results import ResultsDir
from grpo_demo.app.state import AppState
from grpo_demo.config import SETTINGS

GEN = dict(prompt="ok", adapter="base", num_samples=2, max_new_tokens=8, temperature=1.0, seed=0)
TRAIN = dict(
    task="four-letter",
    preset="classroom-four-letter",
    name="x",
    learning_rate=1e-3,
    num_generations=4,
    max_steps=2,
    max_completion_length=8,
)


@pytest.fixture
def state(tiny_resident):
    return AppState(tiny_resident)


@pytest.mark.parametrize(
    ("field", "change", "message"),
    [
        ("prompt", {"prompt": ""}, "Prompt: "),
        ("prompt", {"prompt": "w" * 2001}, "longer than"),
        ("adapter", {"adapter": "missing-adapter"}, "Adapter: unknown adapter"),
        ("num_samples", {"num_samples": 0}, "num_samples must be 1..16 (got 0)"),
        ("num_samples", {"num_samples": 2.5}, "num_samples must be a whole number"),
        ("max_new_tokens", {"max_new_tokens": 500}, "max_new_tokens must be 1..256 (got 500)"),
        ("temperature", {"temperature": -0.5}, "temperature must be >= 0"),
        ("seed", {"seed": 1.5}, "seed must be a whole number"),
    ],
)
def test_generate_names_the_wrong_field_and_only_that_one(state, field, change, message):
    wrong = errors_of(forms.generate, state, **{**GEN, **change})
    assert list(wrong) == [field] and message in wrong[field]


def test_a_good_generate_form_is_a_typed_request(state):
    asked = forms.generate(state, **{**GEN, "num_samples": "3", "prompt": "Fill  "})
    assert (asked.prompt, asked.adapter, asked.params.num_samples) == ("Fill", "base", 3)


def test_every_wrong_field_of_start_is_named_at_once(state):
    bad = {**TRAIN, "name": "Bad Name", "max_steps": 0, "reward": "1*nope", "probe_every": 0}
    with pytest.raises(FormError) as caught:
        forms.train(state, **bad)
    assert set(caught.value.errors) == {"name", "max_steps", "reward", "probe_every"}
    assert caught.value.labelled()["reward"].startswith("Reward: unknown reward term")
    assert "Reward: " not in caught.value.errors["reward"]  # Start's box labels it itself


def test_the_batch_follows_the_group_in_the_app_but_the_cli_refuses_a_mismatch(state):
    config = forms.train(state, **{**TRAIN, "num_generations": 6}).config
    assert (config.num_generations, config.per_device_train_batch_size) == (6, 30)
    fields = forms.Fields()
    typed = {k: None for k in SETTINGS} | {"num_generations": 6}
    cfg = forms.run_config(
        fields, task=None, preset="classroom-four-letter", reward=None, values=typed, app=False
    )
    assert cfg is None and "divisible by num_generations" in fields.errors["num_generations"]


def test_a_space_caps_a_run_under_its_group_field(state, monkeypatch):
    monkeypatch.setenv("SPACE_ID", "someone/demo")
    wrong = errors_of(forms.train, state, **{**TRAIN, "max_steps": 50})
    assert list(wrong) == ["num_generations"] and "on this Space" in wrong["num_generations"]


def test_score_caps_the_apps_answer_length_and_the_cli_names_its_flag():
    asked = forms.score(task="four-letter", reward="", num_generations=4, max_completion_length=200)
    assert asked.max_new_tokens == forms.SCORE_APP_TOKENS and asked.task.reward_funcs
    wrong = errors_of(
        forms.score,
        task="four-letter",
        reward="",
        num_generations=1,
        max_completion_length=0,
        prompts=17,
        app=False,
    )
    assert set(wrong) == {"num_generations", "max_completion_length", "prompts"}
    assert "max_new_tokens must be 1..4096" in wrong["max_completion_length"]
    assert (
        "unknown task"
        in errors_of(
            forms.score, task="poetry", reward="", num_generations=4, max_completion_length=8
        )["task"]
    )


def test_evaluate_needs_a_known_model_and_n_in_range(state):
    assert forms.evaluate(state, adapters="base", num_samples=3).adapters == ["base"]
    wrong = errors_of(forms.evaluate, state, adapters=[], num_samples=5000)
    assert set(wrong) == {"adapters", "num_samples"}


def test_only_the_owner_or_the_teacher_key_may_stop(tiny_resident):
    state = AppState(tiny_resident, teacher_key="chalk")

    class Run:
        owner_session = "teacher"

    assert state.may_stop(Run, "teacher", "") and state.may_stop(Run, "student", "chalk")
    assert not state.may_stop(Run, "student", "wrong") and not state.may_stop(Run, None, None)
    assert not AppState(tiny_resident).is_teacher("")  # no key set: nobody is "the teacher"


def test_the_results_folder_drops_old_entries_and_keeps_a_bounded_count(tmp_path):
    results = ResultsDir(tmp_path / "results", max_entries=3, max_age_s=3600)
    old = results.new_file("samples", ".csv")
    old.write_text("a")
    past = time.time() - 7200
    os.utime(old, (past, past))
    made = []
    for _ in range(5):
        path = results.new_file("samples", ".csv")
        path.write_text("b")
        made.append(path)
        time.sleep(0.01)  # distinct modification times
    folder = results.new_folder("eval")
    (folder / "results.json").write_text("{}")
    left = set(results.root.iterdir())
    assert not old.exists()  # older than the limit
    assert left == {made[-2], made[-1], folder}  # the newest, within the count
