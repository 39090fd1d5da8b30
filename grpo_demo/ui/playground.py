"""Playground tab: sample from the base or an adapter, see every reward and a word highlight."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from ..adapters import BASE
from ..data import EXAMPLES
from ..generation import MAX_PROMPT_CHARS, SamplingParams
from ..settings import settings_of
from .handlers import Demo
from .views import HIGHLIGHT_COLORS, SUMMARY_COLUMNS, completions_table, reward_legend


def build(demo: Demo) -> dict[str, gr.components.Component]:
    with gr.Row():
        with gr.Column(scale=3):
            prompt = gr.Textbox(
                label="Prompt",
                value=EXAMPLES[0],
                lines=2,
                max_length=MAX_PROMPT_CHARS,
                elem_id="prompt",
            )
            gr.Examples(EXAMPLES, inputs=prompt, label="Examples (the report's first)")
        with gr.Column(scale=2):
            adapter = gr.Dropdown(
                demo.adapter_names(),
                value=BASE,
                label="Adapter (base = no adapter)",
                allow_custom_value=True,  # adapters trained since page load; validated
                elem_id="adapter-choice",
            )
            sampling = settings_of(SamplingParams)  # ranges from the one definition
            num_samples = gr.Slider(value=4, label="Samples", **sampling["num_samples"].widget())
            max_new_tokens = gr.Slider(
                value=40, label="Max new tokens", **sampling["max_new_tokens"].widget()
            )
            temperature = gr.Slider(
                value=1.0, label="Temperature", **sampling["temperature"].widget()
            )
            seed = gr.Number(value=0, precision=0, label="Seed", **sampling["seed"].widget())
    with gr.Row():
        go = gr.Button("Generate", variant="primary", elem_id="generate-btn")
        cmp = gr.Button("Compare base vs every adapter (same seed)", elem_id="compare-btn")
    status = gr.Markdown(elem_id="generate-status")
    with gr.Accordion("What the reward columns mean", open=False):
        gr.Markdown(reward_legend())
    text = gr.HighlightedText(
        label="Completions: each phrase of text.split(' ') coloured by its four-letter score",
        color_map=HIGHLIGHT_COLORS,
        show_legend=True,
        combine_adjacent=False,
        elem_id="highlight",
    )
    summary = gr.Dataframe(
        pd.DataFrame(columns=SUMMARY_COLUMNS), label="Compare: mean rewards per adapter"
    )
    table = gr.Dataframe(
        completions_table([]),  # the real headers, not Gradio's "1 2 3" placeholder
        label="Every completion with all reward scores",
        wrap=True,
        elem_id="completions-table",
    )
    # per-user: this browser session's samples, downloadable; never shared between users
    samples = gr.State([])
    download = gr.DownloadButton("Download this session's samples (CSV)", visible=False)
    sampling = [num_samples, max_new_tokens, temperature, seed]
    go.click(demo.queue_note, None, status, api_visibility="private", concurrency_limit=None).then(
        demo.generate,
        [prompt, adapter, *sampling],
        [text, table, status],
        api_name="generate",
        concurrency_id="model",
        concurrency_limit=1,
    ).success(demo.remember, [table, samples], [samples, download], api_visibility="private")
    cmp.click(demo.queue_note, None, status, api_visibility="private", concurrency_limit=None).then(
        demo.compare,
        [prompt, *sampling],
        [text, table, summary],
        api_name="compare",
        concurrency_id="model",
        concurrency_limit=1,
    ).success(demo.remember, [table, samples], [samples, download], api_visibility="private").then(
        lambda: "", None, status, api_visibility="private", show_progress="hidden"
    )
    return {"adapter": adapter}
