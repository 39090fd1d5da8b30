"""Train tab: start a LoRA GRPO run, watch reward/KL and every completion live, stop it."""

from __future__ import annotations

import gradio as gr

from ..config import SETTINGS
from ..presets import PRESETS
from ..tasks import TASKS
from .handlers import Demo, empty_curve
from .views import step_table

DEFAULT_PRESET = "classroom-four-letter"


def _curve(title: str, elem_id: str) -> gr.LinePlot:
    return gr.LinePlot(
        empty_curve(), x="step", y="value", color="series", title=title, elem_id=elem_id
    )


def _number(name: str, value, label: str, **kwargs) -> gr.Number:
    """A number field with the setting's own range and step (Gradio checks API calls too)."""
    spec = SETTINGS[name]
    precision = 0 if spec.kind is int else None
    return gr.Number(value=value, precision=precision, label=label, **spec.widget(), **kwargs)


def build(demo: Demo) -> dict[str, gr.components.Component]:
    task0, lr0, gens0, steps0, len0, remark0 = demo.preset_values(DEFAULT_PRESET)
    with gr.Row():
        preset = gr.Dropdown(list(PRESETS), value=DEFAULT_PRESET, label="Preset")
        task = gr.Dropdown(
            [(f"{t.label} [{k}]", k) for k, t in TASKS.items()], value=task0, label="Task"
        )
        name = gr.Textbox(
            value="my-adapter", label="Adapter name", max_length=48, elem_id="adapter-name"
        )
    remark = gr.Markdown(remark0)
    gr.Markdown(demo.caps_note(), elem_id="space-caps")  # empty unless on a Space
    with gr.Row():
        learning_rate = _number("learning_rate", lr0, "learning_rate")
        num_generations = _number("num_generations", gens0, "num_generations (group size)")
        max_steps = _number("max_steps", steps0, "max_steps", elem_id="max-steps")
        max_completion_length = _number(
            "max_completion_length", len0, "max_completion_length (tokens)", elem_id="max-len"
        )
    with gr.Row():
        start = gr.Button("Start", variant="primary", elem_id="start-btn")
        stop = gr.Button("Stop", variant="stop", elem_id="stop-btn")
    stop_note = gr.Markdown()
    progress = gr.Markdown(elem_id="train-progress")
    warning = gr.Markdown(elem_id="collapse-warning")
    with gr.Row():
        rewards = _curve("Reward (batch mean)", "reward-plot")
        kl = _curve("KL to the base (logged when beta > 0) and entropy", "kl-plot")
    table = gr.Dataframe(
        step_table(None),  # the real headers, not Gradio's "1 2 3" placeholder
        label="Latest step: every completion, its rewards and advantage",
        wrap=True,
        elem_id="step-table",
    )

    preset.change(
        demo.preset_values,
        preset,
        [task, learning_rate, num_generations, max_steps, max_completion_length, remark],
        api_visibility="private",
    )
    view = [progress, rewards, kl, table, warning]
    run = start.click(
        demo.train,
        [task, preset, name, learning_rate, num_generations, max_steps, max_completion_length],
        view,
        api_name="train",
        concurrency_limit=None,  # a second Start must get "busy" at once, not wait in a queue
    )
    stop.click(demo.stop, None, stop_note, api_name="stop", concurrency_limit=None)
    timer = gr.Timer(2.0)
    timer.tick(
        demo.training_view,
        None,
        view,
        api_visibility="private",
        concurrency_limit=None,
        show_progress="hidden",
    )
    return {"run": run}
