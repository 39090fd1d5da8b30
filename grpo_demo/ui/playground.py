"""Playground tab: sample from the base or an adapter, or compare them all side by side."""

from __future__ import annotations

import gradio as gr

from ..app.forms import SAMPLING
from ..data import EXAMPLES
from ..lora_slots import BASE
from .handlers import Demo
from .views import (
    COLUMNS_NOTE,
    COMPLETION_COLUMNS,
    COMPLETION_WIDTHS,
    HIGHLIGHT_COLORS,
    SCORE_COLUMNS,
    SCORE_WIDTHS,
    SUMMARY_COLUMNS,
    SUMMARY_WIDTHS,
    reward_legend,
)
from .widgets import pick, table
from .wiring import inputs


def build(demo: Demo) -> dict[str, gr.components.Component]:
    def number(name: str, value, label: str, **kwargs) -> gr.Number:
        """The range from the one definition (``SamplingParams``), as the field's one line of
        help: four of them and both buttons fit the first screen (the glossary says more)."""
        widget = SAMPLING[name].widget() | {"info": SAMPLING[name].allowed_text()}
        return gr.Number(value=value, label=label, **widget, **kwargs)

    # prompt, model, both buttons and the four numbers fit the first screen at 1024x768
    with gr.Row():
        prompt = gr.Textbox(
            label="Prompt",
            value=EXAMPLES[0],
            lines=3,
            max_lines=4,  # a long paste scrolls inside the box; Generate stays in view
            elem_id="prompt",
            scale=3,
        )
        with gr.Column(scale=2):
            adapter = pick(
                "adapter-choice", demo.state.adapter_names(), BASE, "Model: the base, or an adapter"
            )
            with gr.Row():
                go = gr.Button("Generate", variant="primary", elem_id="generate-btn")
                cmp = gr.Button("Compare all", elem_id="compare-btn")
    with gr.Row():  # Compare's fields by name (Generate's but the model)
        sampled = {
            "prompt": prompt,
            "num_samples": number("num_samples", 4, "Samples", elem_id="num-samples"),
            "max_new_tokens": number("max_new_tokens", 40, "Max new tokens", elem_id="max-new"),
            "temperature": number("temperature", 1.0, "Temperature", elem_id="temperature"),
            "seed": number("seed", 0, "Seed", elem_id="seed"),
        }
    gr.Examples(EXAMPLES, inputs=prompt, label="Examples (the report's first)")
    status = gr.Markdown(elem_id="generate-status")
    with gr.Tabs() as results:
        with gr.Tab("Completions", id="completions", elem_id="completions-tab"):
            text = gr.HighlightedText(
                label="Prompt → answer. Colours: how far each piece between two spaces is from "
                "4 characters, as the report's reward counts (“pie.” is 4: punctuation counts)",
                color_map=HIGHLIGHT_COLORS,
                show_legend=True,
                combine_adjacent=False,
                elem_id="highlight",
            )
            label = "Every completion with the report's two rewards and its model's own task"
            completions = table("completions-table", COMPLETION_COLUMNS, label, COMPLETION_WIDTHS)
            gr.Markdown(COLUMNS_NOTE, elem_id="columns-note")
        with gr.Tab("Compare: one column per model", id="compare", elem_id="compare-tab"):
            gr.Markdown(
                "**Compare**: the same prompt and seed through the base and every adapter, one "
                "column each (scroll the row sideways when there are many)."
            )
            grid = gr.HTML("", elem_id="compare-grid")
            summary = table("compare-summary", SUMMARY_COLUMNS, "Means per model", SUMMARY_WIDTHS)
    with gr.Accordion("Every reward's score, and what each column means", open=False):
        gr.Markdown(reward_legend(), elem_id="reward-legend")
        label = "All registered rewards (columns as in the legend above)"
        scores = table("scores-table", SCORE_COLUMNS, label, SCORE_WIDTHS)
    # per-user: this browser session's samples, downloadable; never shared between users
    samples = gr.State([])
    latest = gr.State([])
    download = gr.DownloadButton("Download this session's samples (CSV)", visible=False)
    one = inputs(demo.generate, {**sampled, "adapter": adapter})  # in the API's order
    sampled = inputs(demo.compare, sampled)
    shared = dict(status=status, tabs=results, latest=latest, samples=samples, download=download)
    outputs = [text, completions, scores, status, latest]
    sample_event(demo, go, "generate", one, outputs, tab="completions", busy=status, **shared)
    outputs = [grid, summary, scores, status, latest]
    sample_event(demo, cmp, "compare", sampled, outputs, tab="compare", busy=grid, **shared)
    # a clicked answer goes to the token view: the rows of the latest results, in table order
    return {"adapter": adapter, "pickable": [(completions, latest), (scores, latest)]}


def sample_event(demo, button, api_name: str, fields: dict, outputs: list, **at) -> None:
    """One sampling button (``api_name``: its handler's and its endpoint's name): the
    validator first (a wrong field's message under it, the last good results kept), the
    queue note at once, the results tab, the samples, the session's CSV. No Gradio queue:
    the one compute thread serialises the jobs (and lets them in between training phases)."""
    button.click(
        demo.queue_note,
        inputs_kwargs=fields,
        outputs=at["status"],
        validator=demo.validator(api_name, fields),
        api_visibility="private",
        concurrency_limit=None,
    ).success(
        lambda: gr.Tabs(selected=at["tab"]), None, at["tabs"], api_visibility="private", queue=False
    ).success(
        getattr(demo, api_name),
        inputs_kwargs=fields,
        outputs=outputs,
        api_name=api_name,
        concurrency_limit=None,
        show_progress_on=[at["busy"]],
    ).success(
        demo.remember,
        [at["latest"], at["samples"]],
        [at["samples"], at["download"]],
        api_visibility="private",
    )
