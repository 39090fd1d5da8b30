"""The What-changed tab's handlers and the Train tab's command line and report, on a tiny
GPT-2 with two real saved runs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import gradio as gr
import pandas as pd
import pytest

from grpo_demo import __main__ as cli
from grpo_demo.app import forms
from grpo_demo.app.command import train_command
from grpo_demo.training import TrainingRun
from grpo_demo.ui.handlers import Demo
from tests.test_tiny_pipeline import PROMPTS, tiny_config

FORM = dict(
    task="four-letter",
    preset="classroom-four-letter",
    name="cmd-run",
    learning_rate=0.002,
    num_generations=4,
    max_steps=3,
    max_completion_length=16,
    reward="",
    probes="Fill that sentence\nOnce upon a time",
    probe_every=2,
    loss_type="dr_grpo",
    scale_rewards="",
    importance_sampling_level="",
)


@pytest.fixture
def demo(tiny_resident):
    for name, lr in (("gentle", 1e-4), ("bold", 5e-2)):
        cfg = tiny_config(max_steps=2, learning_rate=lr)
        end = TrainingRun(tiny_resident, cfg, name, prompts=PROMPTS).start().join(timeout=300)
        assert end.error is None
    return Demo(tiny_resident)


def test_the_token_view_tints_every_token_and_escapes_the_text(demo):
    html, biggest = demo.token_change(PROMPTS[0], " <script>x</script> and so", "base", "bold")
    assert "<script" not in html and "&lt;" in html  # tokens escaped one by one
    assert html.count('class="tc-tok"') == len(
        demo.state.resident.tokenizer(" <script>x</script> and so")["input_ids"]
    )
    assert "green" in html and "more likely" in html
    assert "as likely under bold as under base" in html
    assert list(biggest.columns) == ["token", "p before", "p after", "Δ log p"]
    titles = re.findall(r'title="p ([0-9.]+) → ([0-9.]+)', html)
    assert titles and all(0 <= float(a) <= 1 and 0 <= float(b) <= 1 for a, b in titles)
    with pytest.raises(gr.Error, match="two different models"):
        demo.token_change("Hello", " there", "bold", "bold")


def test_a_clicked_answer_goes_to_the_token_view(demo):
    rows = [
        {"prompt": "A", "model": "base", "completion": " one"},
        {"prompt": "B", "model": "gentle", "completion": " two"},
    ]
    prompt, text, before, after, tabs = demo.pick(
        rows, gr.SelectData(None, {"index": [1, 2], "value": ""})
    )
    assert (prompt, text, before, after) == ("B", " two", "base", "gentle")
    assert tabs.selected == "changes"
    table = pd.DataFrame([{"prompt": "C", "completion": " three", "advantage": 0.1}])
    prompt, text, _, after, _ = demo.pick(
        table, gr.SelectData(None, {"index": [0, 0], "value": ""})
    )
    assert (prompt, text) == ("C", " three") and after in {"gentle", "bold"}
    skipped = demo.pick(rows, gr.SelectData(None, {"index": [9, 0], "value": ""}))
    assert all(isinstance(s, dict) and s.get("__type__") == "update" for s in skipped)


def test_runs_side_by_side_and_the_adapter_map(demo):
    figure, settings = demo.overlay_runs(["gentle", "bold"])
    titles = [ax.get_title() for ax in figure.axes if ax.get_visible()]
    assert titles[0] == "task reward" and "four_letter" in titles
    table = settings.data
    assert table.iloc[0]["setting"] == "learning_rate"
    assert "background-color" in settings.to_html()  # the difference is highlighted
    with pytest.raises(gr.Error, match="two or more runs"):
        demo.overlay_runs(["gentle"])
    heat, line = demo.adapter_map("bold")
    assert heat.axes and "Largest updates in" in line
    with pytest.raises(gr.Error, match="the base has no update"):
        demo.adapter_map("base")


def test_the_report_download_is_one_html_file_of_that_run(demo):
    path = Path(demo.run_report("bold"))
    text = path.read_text()
    assert path.suffix == ".html" and "bold" in text and "<img" in text
    assert "http://" not in text.replace("http://www.w3.org", "")
    with pytest.raises(gr.Error, match="unknown adapter 'nope'"):
        demo.run_report("nope")


def test_the_command_line_runs_what_the_form_holds(demo):
    command = demo.train_command(**FORM)
    argv = shlex.split(command)
    assert argv[:4] == ["python", "-m", "grpo_demo", "train"]
    assert "--loss-type" in argv and "--learning-rate" in argv and "--no-bf16" not in argv
    args = cli._parser().parse_args(argv[3:])
    fields = forms.Fields()
    values = {k: getattr(args, k) for k in cli.SETTINGS}
    config = forms.run_config(
        fields, task=args.task, preset=args.preset, reward=args.reward, values=values, app=False
    )
    fields.done()
    asked = forms.command(demo.state, **FORM)
    assert config == asked.config  # the CLI would run exactly the form's run
    assert (args.name, args.probe, args.probe_every) == ("cmd-run", asked.probes, 2)
    assert train_command(asked, overwrite=True).endswith("--overwrite")
    assert "--overwrite" in demo.train_command(**{**FORM, "name": "bold"})  # exists: replace
    wrong = demo.train_command(**{**FORM, "learning_rate": -1})
    assert wrong.startswith("# fix the form first") and "learning_rate" in wrong
