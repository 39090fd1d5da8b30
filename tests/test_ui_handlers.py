"""The app's handlers called directly (valid and invalid input) on a tiny GPT-2."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import gradio as gr
import pytest

from grpo_demo.app import forms
from grpo_demo.app.forms import errors_of
from grpo_demo.generation import Completion
from grpo_demo.presets import from_preset
from grpo_demo.ui import build_app
from grpo_demo.ui.handlers import Demo
from grpo_demo.ui.train_views import reward_figure, signal_figure
from grpo_demo.ui.views import (
    COMPLETION_COLUMNS,
    HIGHLIGHT_COLORS,
    LABELS,
    SCORE_COLUMNS,
    highlight,
    phrase_label,
)
from tests.conftest import compare_by_name, generate_by_name, served

ROOT = Path(__file__).resolve().parent.parent
TRAIN = dict(
    task="four-letter",
    preset="classroom-four-letter",
    learning_rate=1e-3,
    num_generations=4,
    max_steps=2,
    max_completion_length=8,
)


@pytest.fixture
def demo(tiny_resident):
    return Demo(tiny_resident)


def test_generate_returns_highlight_tables_status_and_csv_rows(demo):
    pieces, table, scores, status, rows = served(
        generate_by_name(demo, "Fill that sentence", "base", 3, 8, 1, 0)
    )
    assert len(table) == 3 and list(table.columns) == COMPLETION_COLUMNS
    assert table["task reward"].isna().all()  # the base was trained on nothing
    assert len(scores) == 3 and list(scores.columns) == SCORE_COLUMNS
    labels = {label for _, label in pieces if label}
    assert labels <= set(HIGHLIGHT_COLORS) and "prompt" in labels  # the prompt is shown
    assert [t for t, _ in pieces].count("#1 base: ") == 1 and "3 completions" in status
    assert [r["sample"] for r in rows] == [1, 2, 3]
    assert {r["prompt"] for r in rows} == {"Fill that sentence"}
    assert {(r["seed"], r["temperature"], r["max_new_tokens"]) for r in rows} == {(0, 1, 8)}


def test_an_events_validator_puts_each_forms_message_under_its_field(demo):
    fields = dict(prompt=0, adapter=1, num_samples=2, max_new_tokens=3, temperature=4, seed=5)
    validate = demo.validator("generate", fields)  # the keys stand for the components
    checks = validate(
        prompt="", adapter="base", num_samples=0, max_new_tokens=8, temperature=1.0, seed=0
    )
    assert [c["is_valid"] for c in checks] == [False, True, False, True, True, True]
    assert checks[0]["message"].startswith("Prompt: ") and "num_samples" in checks[2]["message"]


def counted(demo, form: str) -> list:
    """Each run of the named form's check, from here on (its calls, in a list)."""
    checked = demo._forms[form]
    calls, check = [], checked.form

    def counting(**values):
        calls.append(values)
        return check(**values)

    checked.form = counting
    return calls


def test_a_click_is_checked_once_and_its_handler_takes_the_typed_request(demo):
    """Generate: its validator checks, the handler takes that request. Start: its marks check,
    the validator and the handler take it. A changed form or an API call without a validator
    is checked by the handler itself (once)."""
    values = dict(
        prompt="Fill that sentence", adapter="base", num_samples=1, max_new_tokens=4,
        temperature=1.0, seed=0,
    )  # fmt: skip
    calls = counted(demo, "generate")
    checks = demo.validator("generate", {k: i for i, k in enumerate(values)})(**values)
    assert all(c["is_valid"] for c in checks)
    assert len(served(demo.generate(**values))[1]) == 1 and len(calls) == 1
    assert len(served(demo.generate(**{**values, "seed": 1}))[1]) == 1 and len(calls) == 2

    form = {**TRAIN, "name": "checked-once", "max_steps": 1}
    calls = counted(demo, "train")
    assert demo.start_check(**form) == ("", {}, True)
    checks = demo.validator("train", {k: i for i, k in enumerate(form)})(**form)
    assert all(c["is_valid"] for c in checks)
    assert "finished" in list(demo.train(**form))[-1][0]
    assert len(calls) == 1


@pytest.mark.parametrize(
    "args",
    [
        ("", "base", 2, 8, 1.0, 0),
        ("ok", "missing-adapter", 2, 8, 1.0, 0),
        ("ok", "base", 0, 8, 1.0, 0),
        ("ok", "base", 2.5, 8, 1.0, 0),
        ("ok", "base", 2, 8, -0.5, 0),
        ("ok", "base", 2, "many", 1.0, 0),
        ("ok", "base", 2, 8, 1.0, -1),
    ],
)
def test_bad_generate_input_is_a_clear_gradio_error(demo, args):
    with pytest.raises(gr.Error):
        served(generate_by_name(demo, *args))


def test_a_timer_tick_sends_nothing_when_nothing_changed(demo):
    line, seen, shown = demo.training_tick()  # no run: the same progress line every tick
    assert line == shown and "No training run" in line
    assert demo.training_tick(seen, shown) == (gr.skip(), seen, shown)  # nothing sent


def test_generate_says_when_its_batch_was_shared_with_other_pages(demo):
    release, started = threading.Event(), threading.Event()
    compute = demo.state.resident.compute
    compute.submit(lambda: (started.set(), release.wait(60)))  # the model is busy
    assert started.wait(30)
    outs = []

    def page(n: int) -> None:
        outs.append(served(generate_by_name(demo, f"Hi {n}", "base", 1, 4, 1.0, n)))

    pages = [threading.Thread(target=page, args=(n,)) for n in range(3)]
    for t in pages:
        t.start()
    while demo.state.resident.batcher.waiting() < 3:
        time.sleep(0.01)
    release.set()
    for t in pages:
        t.join(60)
    statuses = sorted(out[3] for out in outs)
    assert all("one batch with 2 other requests" in s for s in statuses), statuses


def test_highlight_marks_the_reports_empty_phrase():
    pieces = highlight([Completion("p", " Tall  trees")])
    assert ("␣", "extra space (-4)") in pieces and ("Tall", "4 characters") in pieces
    assert pieces.count(("␣", "extra space (-4)")) == 1  # the double space, not the leading one
    assert ("p", "prompt") in pieces
    assert ("trees", "off by 1") in pieces
    assert phrase_label("elephant", -4.0) == "off by 2+"


def test_train_streams_views_then_hot_swaps_the_adapter(demo):
    views = list(demo.train(name="ui-run", **TRAIN))
    progress, warning, now, rewards, headline, signal, signals, table, probes = views[-1]
    assert len(probes) == 0  # no probe prompts given
    assert "No before-vs-now prompts" in now  # none were given: it says where to add them
    assert "Learning signal at step 2" in headline  # one line; the table is folded behind it
    assert "tied groups" in signal and "KL" in signal  # the learning signal
    assert "finished" in progress and "`ui-run`" in progress
    assert rewards.type == signals.type == "matplotlib"  # encoded once, sent to every page
    run = demo.state.current
    total, terms, *_ = reward_figure(run.history, run.config.task_spec).axes
    assert list(total.lines[0].get_xdata()) == [1, 2]  # one point per step, integer steps
    assert "1×4-letter" in total.get_title()  # how the total is made
    assert [t.get_text() for t in terms.get_legend().get_texts()] == ["4-letter"]
    entropy, kl = signal_figure(run.history, run.config.resolved()["beta"]).axes[:2]
    assert len(entropy.lines[0].get_xdata()) == 2 and entropy.get_ylim()[0] == 0
    assert len(kl.lines[0].get_xdata()) == 2  # the classroom preset's light KL brake, per step
    assert len(table) == 32 and "advantage" in table.columns  # 8 prompts x 4 generations
    assert warning == "" and "ui-run" in demo.state.adapter_names()
    rows = served(generate_by_name(demo, "Fill that sentence", "ui-run", 2, 8, 1.0, 0))[1]
    assert set(rows["model"]) == {"ui-run"} and rows["task reward"].notna().all()
    play, chosen, header, known = demo.refresh_choices(["base"], "ui-run", ["base"])
    assert "ui-run" in play["choices"] and play["value"] == "ui-run" and "ui-run" in header
    assert chosen["value"] == ["base", "ui-run"]  # preselected in Evaluate
    assert demo.refresh_choices(known, "ui-run", ["base"])[:3] == (gr.skip(),) * 3
    grid, summary, *_ = served(compare_by_name(demo, "Fill that sentence", 2, 8, 1.0, 0))
    assert list(summary["model"]) == ["base", "ui-run"]  # its task is the 4-letter column
    assert list(summary.columns) == ["model", "trained on", "4-letter", "real words"]
    assert grid.count('class="cmp-col"') == 2


def test_second_start_is_refused_and_stop_works(demo):
    first = demo.train(name="long-run", **{**TRAIN, "max_steps": 30})
    next(first)  # started
    with pytest.raises(gr.Error, match=r"is going .*one run at a time"):
        next(demo.train(name="other", **TRAIN))
    # no field is at fault: the page says whose run is going and for how long, in the box
    assert errors_of(forms.train, demo.state, **{**TRAIN, "name": "other"}) == {}
    box, wrong, ok = demo.start_check(**{**TRAIN, "name": "other"})
    assert not ok and wrong == {} and "the run 'long-run' is going (step" in box
    assert "press Start again when it ends" in box and "fix" not in box.lower()
    _, seen, shown = demo.training_tick()
    assert demo.training_tick(seen, shown)[1] == seen  # the same step: the view is not redrawn
    assert "Stop requested" in demo.stop()
    last = list(first)[-1]
    assert "stopped" in last[0]
    assert demo.stop() == "No training run is going."
    assert not (demo.state.resident.adapter_dir / "other").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Bad Name"}, "adapter name"),
        ({"learning_rate": -1}, "learning_rate"),
        ({"num_generations": 1}, "num_generations"),
        ({"max_steps": 0}, "max_steps"),
        ({"task": "poetry"}, "unknown task"),
        ({"preset": "nope"}, "unknown preset"),
    ],
)
def test_bad_training_input_is_refused(demo, change, message):
    with pytest.raises(gr.Error, match=message):
        next(demo.train(**{**TRAIN, "name": "x", **change}))
    wrong = errors_of(forms.train, demo.state, **{**TRAIN, "name": "x", **change})
    assert len(wrong) == 1 and message in next(iter(wrong.values()))


def test_with_generations_keeps_whole_groups():
    cfg = from_preset("classroom-four-letter").with_generations(6)  # batch 32 -> 5 x 6
    assert cfg.num_generations == 6 and cfg.per_device_train_batch_size == 30
    assert (
        from_preset("classroom-four-letter").with_generations(4).per_device_train_batch_size == 32
    )


def test_preset_values_show_the_reports_remark(demo):
    task, lr, gens, steps, length, loss, scale, level, remark = demo.preset_values("config_4")
    assert (task, lr, gens, length) == ("four-letter", 1e-3, 16, 256)
    assert (loss, scale, level) == ("", "", "")  # TRL's defaults: the fields left out
    assert demo.preset_values("classroom-four-letter-dr-grpo")[5] == "dr_grpo"
    assert "last last last" in remark and "the report" in remark
    assert "8192 completion tokens a step" in remark and " min for the whole run" in remark


def test_evaluate_small_n(demo, tmp_path):
    table1, div, wins, verdict, hist, files = demo.evaluate(["base"], 4)
    assert "need the base and at least one adapter" in wins.iloc[0, 0]  # only the base
    assert list(table1.columns) == ["model", "reward", "median", "mean", "std"]
    assert table1[["model", "reward"]].values.tolist() == [
        ["base", "4-letter"],
        ["base", "word count"],
    ]
    assert div["model"].tolist() == ["base"] and div["collapsed"].tolist() == ["no"]
    assert Path(hist).is_file() and len(files) == 4 and "4 per model" in verdict
    with pytest.raises(gr.Error):
        demo.evaluate([], 4)
    with pytest.raises(gr.Error):
        demo.evaluate(["base"], 5000)
    wrong = errors_of(forms.evaluate, demo.state, adapters=["base", "nope"], num_samples=5000)
    assert set(wrong) == {"adapters", "num_samples"}


def test_generation_during_training_is_served(demo):
    run = demo.train(name="bg", **{**TRAIN, "max_steps": 3})
    next(run)
    results = []
    t = threading.Thread(
        target=lambda: results.append(served(generate_by_name(demo, "Hi", "base", 1, 8, 1, 0)))
    )
    t.start()
    t.join(timeout=120)
    assert results and "between phases" in results[0][3]
    assert "finished" in list(run)[-1][0]


def test_a_request_during_the_rollouts_runs_before_that_steps_update(demo, monkeypatch):
    """The request arrives while a step samples and scores (the lock is held): it is served
    when the rollouts end, before the update of the same step - one phase, not one step."""
    from grpo_demo.reward_spec import TERMS, TermInfo

    resident = demo.state.resident
    in_rollouts = threading.Event()
    original = TERMS["four_letter"].func

    def waits_for_a_request(completions, **kwargs):  # runs inside the rollouts phase
        if not resident.compute.is_current:
            return original(completions, **kwargs)  # the Playground's own scoring
        in_rollouts.set()
        deadline = time.monotonic() + 60
        while not resident.compute.waiting() and time.monotonic() < deadline:
            time.sleep(0.01)  # until the request below is queued on the model
        return original(completions, **kwargs)

    monkeypatch.setitem(TERMS, "four_letter", TermInfo(waits_for_a_request))
    from grpo_demo import adapters

    seen = []
    sample_rows = adapters.generate_rows

    def watched(*args, **kwargs):
        run = demo.state.manager.current
        seen.append((run.phases.now, len(run.history)))
        return sample_rows(*args, **kwargs)

    monkeypatch.setattr(adapters, "generate_rows", watched)
    views = demo.train(name="phases", **{**TRAIN, "max_steps": 1})
    next(views)
    assert in_rollouts.wait(60)
    note = demo.queue_note()
    assert "Waiting for the training run `phases`" in note and "rollouts phase" in note
    served(generate_by_name(demo, "Hi", "base", 1, 8, 1, 0))
    assert seen[0] == ("between", 0)  # after step 1's rollouts, before its update
    assert "finished" in list(views)[-1][0]
    assert set(demo.state.manager.current.phases.seconds) >= {"rollouts", "between", "update"}


def test_app_builds_with_the_documented_api_names(demo):
    app = build_app(demo)
    names = {d.api_name for d in app.fns.values() if d.api_name}
    assert {"generate", "compare", "train", "stop", "evaluate"} <= names


def test_ui_modules_do_not_import_torch():
    code = "import sys, grpo_demo.ui; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_the_page_is_built_while_the_model_loads_in_the_background(tiny_gpt2, tmp_path):
    demo = Demo(model=str(tiny_gpt2), checkpoints=tmp_path)
    build_app(demo)  # needs no model: adapter names come from disk
    assert demo.state.adapter_names() == ["base"]
    assert demo.state.resident is not None  # waits for the model
    _, _, header, _ = demo.refresh_choices(None, "base", [])
    assert "device" in header and "loading" not in header
    assert len(served(generate_by_name(demo, "Hi", "base", 1, 8, 1.0, 0))[1]) == 1


def test_a_model_that_fails_to_load_is_reported_by_handlers(tmp_path):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "gpt2"}')  # no weights
    demo = Demo(model=str(broken), checkpoints=tmp_path)
    with pytest.raises(gr.Error, match="could not be loaded"):
        served(generate_by_name(demo, "Hi", "base", 1, 8, 1.0, 0))
    assert "failed to load" in demo.header()


def test_session_samples_accumulate_in_state_and_download(demo):
    import pandas as pd

    first = served(generate_by_name(demo, "Fill that sentence", "base", 2, 8, 1.0, 0))[-1]
    samples, button = demo.remember(first, [])
    second = served(compare_by_name(demo, "Fill that sentence", 1, 8, 0.5, 7))[-1]
    samples, button = demo.remember(second, samples)
    assert len(samples) == 3  # 2 generated + 1 compared (base only: no adapters yet)
    saved = pd.read_csv(button["value"])
    assert len(saved) == 3 and "four_letter" in saved.columns
    assert saved[["prompt", "temperature", "seed"]].values.tolist()[-1] == [
        "Fill that sentence",
        0.5,
        7,
    ]
    assert "3 samples" in button["label"]


def test_the_first_screen_explains_itself_and_every_reward_has_a_meaning(demo):
    from grpo_demo.rewards import REWARDS
    from grpo_demo.ui import GLOSSARY, INTRO
    from grpo_demo.ui.views import reward_legend

    assert "Try first" in INTRO and "Językowe Przedszkole" in INTRO
    assert all(term in GLOSSARY for term in ("GRPO", "Advantage", "LoRA", "KL"))
    legend = reward_legend().splitlines()
    assert len(legend) == 3 + len(REWARDS)  # header, rule, the task reward, one per reward
    assert all(f"| {LABELS[name]} | `{name}` |" in "\n".join(legend) for name in REWARDS)
    assert all(row.count(" | ") == 2 for row in legend[2:])  # formulas' pipes are escaped
    assert all(len(w) <= 8 for label in LABELS.values() for w in label.split())


def test_only_the_page_that_started_a_run_or_the_teacher_can_stop_it(tiny_resident):
    from types import SimpleNamespace

    demo = Demo(tiny_resident, teacher_key="chalk")
    teacher, student = SimpleNamespace(session_hash="t"), SimpleNamespace(session_hash="s")
    args = {**TRAIN, "max_steps": 30}
    with pytest.raises(gr.Error, match="teacher key"):  # a key reserves Start
        next(demo.train(name="student-run", **args, request=student))
    wrong = errors_of(forms.train, demo.state, **args, name="x", teacher_key="wrong")
    assert "teacher key" in wrong["teacher_key"]
    first = demo.train(name="teacher-run", **args, teacher_key="chalk", request=teacher)
    next(first)
    refused = demo.stop(request=student)
    assert "Stop refused" in refused and "only that page or the teacher key" in refused
    assert demo.state.manager.current.running and not demo.state.manager.current.stopping
    progress = demo.training_view("", request=student)[0]
    assert "only that page (or the teacher key) can stop it" in progress
    assert "started on this page" in demo.training_view("", request=teacher)[0]
    assert "started on this page" in demo.training_tick(request=teacher)[0]
    assert "Stop requested" in demo.stop("chalk", request=student)  # the key stops any run
    assert "stopped" in list(first)[-1][0]


def test_the_owner_stops_without_a_key(demo):
    from types import SimpleNamespace

    page = SimpleNamespace(session_hash="p")
    run = demo.train(name="own-run", **{**TRAIN, "max_steps": 30}, request=page)
    next(run)
    assert "Stop refused" in demo.stop(request=SimpleNamespace(session_hash="q"))
    assert "Stop requested" in demo.stop(request=page)
    assert "stopped" in list(run)[-1][0]


def test_the_time_hint_and_the_eta_share_this_machines_measured_pace(demo, tmp_path):
    from grpo_demo.pace import FALLBACK_SECONDS_PER_TOKEN, MEASURED, remember_step, step_seconds

    path = tmp_path / "pace.json"
    assert step_seconds("m", 1024, path)[0] == FALLBACK_SECONDS_PER_TOKEN * 1024  # none yet
    remember_step("m", 1024, 12.0, path)
    remember_step("other", 1024, 99.0, path)  # another base model keeps its own figure
    assert step_seconds("m", 1024, path) == (12.0, MEASURED)
    assert step_seconds("m", 1536, path) == (18.0, MEASURED)  # a similar size, scaled
    assert step_seconds("m", 256, path)[1] != MEASURED  # too far from any measured size
    path.write_text("{not json")  # a broken file only loses the memory
    assert step_seconds("m", 1024, path)[0] == FALLBACK_SECONDS_PER_TOKEN * 1024
    views = list(demo.train(name="paced", **TRAIN))
    run = demo.state.manager.current
    per_step = run.history[-1].elapsed / len(run.history)
    tokens = 8 * 4 * 8  # the batch of this TRAIN: 8 prompts' groups of 4 answers x 8 tokens
    assert demo.state.pace(tokens) == (pytest.approx(per_step), MEASURED)
    assert demo.state.seconds_per_step(run.config) == pytest.approx(per_step)
    assert f"{per_step:.1f} s/step" in views[-1][0]  # the ETA's pace is the same figure
