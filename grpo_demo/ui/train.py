"""Train tab: start a LoRA GRPO run, watch reward/KL and every completion live, stop it."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from ..config import SETTINGS
from ..presets import grouped
from ..tasks import TASKS
from ..training import PROBE_EVERY
from .handlers import Demo
from .views import (
    SCORE_BASE_FIXED,
    SCORE_BASE_WIDTHS,
    STEP_FIXED,
    STEP_WIDTHS,
    builder_rows,
)

DEFAULT_PRESET = "classroom-four-letter"


def _number(name: str, value, label: str, **kwargs) -> gr.Number:
    """A number field with the setting's own range and step (Gradio checks API calls too)."""
    spec = SETTINGS[name]
    return gr.Number(value=value, label=label, **spec.widget(), **kwargs)


def build(demo: Demo) -> dict[str, gr.components.Component]:
    task0, lr0, gens0, steps0, len0, remark0 = demo.preset_values(DEFAULT_PRESET, timed=False)
    with gr.Row():
        preset = gr.Dropdown(
            grouped(),
            value=DEFAULT_PRESET,
            label="Preset (classroom first)",
            allow_custom_value=True,  # checked by the validator, whose message names the field
            elem_id="preset",
        )
        task = gr.Dropdown(
            [(t.label, k) for k, t in TASKS.items()],
            value=task0,
            label="Task: what is rewarded",
            allow_custom_value=True,  # as above: Gradio's refusal would be a bare HTTP 400
            elem_id="task",
            scale=2,
        )
    remark = gr.Markdown(remark0, elem_id="preset-remark")
    gr.Markdown(demo.caps_note(), elem_id="space-caps")  # empty unless on a Space
    with gr.Row():
        learning_rate = _number("learning_rate", lr0, "learning_rate")
        num_generations = _number("num_generations", gens0, "num_generations (group size)")
        max_steps = _number("max_steps", steps0, "max_steps", elem_id="max-steps")
        max_completion_length = _number(
            "max_completion_length", len0, "max_completion_length (tokens)", elem_id="max-len"
        )
    with gr.Accordion("Build your own reward (no code) and test it on the base", open=False):
        gr.Markdown(
            "Give a term a weight (0 = unused) and, where it has them, parameters such as "
            "`n=3`. Only the terms listed and numbers are accepted: nothing typed is run."
        )
        builder = gr.Dataframe(
            builder_rows(TASKS.get(task0)),
            interactive=True,
            static_columns=[0, 3],
            wrap=True,
            column_widths=["20%", "10%", "20%", "50%"],
            label="Reward terms",
            elem_id="reward-builder",
        )
        reward = gr.Textbox(
            "",
            label="Custom reward (empty: the task above); filled in by the table, editable",
            placeholder="e.g. 1*n_letter[n=3] + 4*distinct_words",
            elem_id="reward-spec",
        )
        with gr.Row():
            score = gr.Button("Score the base first", elem_id="score-base-btn")
        score_verdict = gr.Markdown(elem_id="score-verdict")
        score_table = gr.Dataframe(
            pd.DataFrame(columns=SCORE_BASE_FIXED),
            label="The base model's groups: every term, the total and GRPO's advantage",
            wrap=True,
            column_widths=SCORE_BASE_WIDTHS,
            elem_id="score-table",
        )
    with (
        gr.Accordion("Probe prompts: watch fixed prompts change during the run", open=False),
        gr.Row(),
    ):
        probes = gr.Textbox(
            "",
            lines=3,
            max_lines=5,
            label="Up to 5 prompts, one per line (re-sampled with one fixed seed)",
            placeholder="Tomorrow I'm gonna learn for exam",
            elem_id="probes",
            scale=3,
        )
        probe_every = gr.Number(
            value=5, label="every K steps", elem_id="probe-every", **PROBE_EVERY.widget()
        )
    with gr.Row(equal_height=True):
        name = gr.Textbox(
            value="my-adapter",
            label="Save as adapter (a-z, 0-9, - or _)",
            elem_id="adapter-name",
            scale=2,
        )
        start = gr.Button("Start", variant="primary", elem_id="start-btn")
        stop = gr.Button("Stop", variant="stop", elem_id="stop-btn")
    stop_note = gr.Markdown()
    progress = gr.Markdown(elem_id="train-progress")
    warning = gr.Markdown(elem_id="collapse-warning")
    rewards = gr.Plot(label="Reward per step", show_label=False, elem_id="reward-plot")
    signals = gr.Plot(label="Entropy and KL per step", show_label=False, elem_id="kl-plot")
    signal = gr.Markdown(elem_id="learning-signal")
    probe_answers = gr.Dataframe(
        pd.DataFrame(columns=["prompt", "base"]),
        label="Probe prompts: the base model's answer, then the adapter's at the first and "
        "latest probed steps",
        wrap=True,
        elem_id="probe-table",
    )
    table = gr.Dataframe(
        pd.DataFrame(columns=STEP_FIXED),  # the real headers, not Gradio's "1 2 3" placeholder
        label="Latest step: every completion, its task reward and GRPO advantage",
        wrap=True,
        column_widths=STEP_WIDTHS,
        elem_id="step-table",
    )

    with gr.Accordion("Browse every step of a run (during it or after)", open=False):
        with gr.Row():
            browsed = gr.Dropdown(
                [],
                label="Run or adapter",
                allow_custom_value=True,
                elem_id="browse-run",
                scale=2,
            )
            browse_step = gr.Number(value=1, label="Step", elem_id="browse-step")
            show = gr.Button("Show step", elem_id="browse-btn")
        browse_note = gr.Markdown(elem_id="browse-note")
        browse_table = gr.Dataframe(
            pd.DataFrame(columns=STEP_FIXED),
            label="That step: every completion, its task reward and GRPO advantage",
            wrap=True,
            column_widths=STEP_WIDTHS,
            elem_id="browse-table",
        )
    browsed.focus(demo.trained_choices, None, browsed, api_visibility="private")
    show.click(
        demo.browse,
        [browsed, browse_step],
        [browse_note, browse_table],
        api_name="browse",
        concurrency_limit=None,
    )

    fill = {
        "fn": demo.preset_values,
        "inputs": preset,
        "outputs": [task, learning_rate, num_generations, max_steps, max_completion_length, remark],
        "api_visibility": "private",
        "show_progress": "hidden",
    }
    preset.change(**fill)
    task.change(
        demo.reward_rows, task, [builder, reward], api_visibility="private", show_progress="hidden"
    )
    builder.input(demo.compose_reward, builder, reward, api_visibility="private")
    score.click(
        demo.score_base,
        [task, reward, num_generations, max_completion_length],
        [score_verdict, score_table],
        api_name="score_base",
        concurrency_id="model",
        concurrency_limit=1,
        show_progress_on=[score_verdict],
    )
    view = [progress, rewards, signals, table, warning, signal, probe_answers]
    run = start.click(
        demo.train,
        [
            task,
            preset,
            name,
            learning_rate,
            num_generations,
            max_steps,
            max_completion_length,
            reward,
            probes,
            probe_every,
        ],
        view,
        api_name="train",
        concurrency_limit=None,  # a second Start must get "busy" at once, not wait in a queue
        validator=demo.check_train,  # each refusal under its field; the charts stay
        show_progress_on=[progress],
    )
    stop.click(demo.stop, None, stop_note, api_name="stop", concurrency_limit=None)
    seen = gr.State(None)  # what this page last drew: charts are sent only when they change
    timer = gr.Timer(2.0)
    timer.tick(
        demo.training_view,
        seen,
        [*view, seen],
        api_visibility="private",
        concurrency_limit=None,
        show_progress="hidden",
    )
    return {"run": run, "fill": fill}
