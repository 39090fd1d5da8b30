"""Evaluate tab: the report's Table 1 (N samples per model), diversity, histograms, download."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from ..evaluation import EVAL_SIZE, TABLE_REWARDS
from .handlers import Demo


def build(demo: Demo) -> dict[str, gr.components.Component]:
    gr.Markdown(
        "N completions per model on held-out prompts (never trained on), scored with every "
        "reward: median / mean / std as in the report's Table 1, plus diversity and a collapse "
        "flag. About 0.5 s per completion per model on a 2-core CPU: try N = 50 in class."
    )
    with gr.Row():
        # a Dropdown, not a CheckboxGroup: adapters trained after page load (or by an API
        # client in another session) must be accepted; the handler validates the names
        adapters = gr.Dropdown(
            demo.adapter_names(),
            value=demo.adapter_names(),
            multiselect=True,
            allow_custom_value=True,
            label="Models",
            elem_id="eval-models",
        )
        num_samples = gr.Slider(value=50, label="N per model", **EVAL_SIZE.widget())
    go = gr.Button("Evaluate", variant="primary", elem_id="evaluate-btn")
    verdict = gr.Markdown()
    stats = [f"{r} {s}" for r in TABLE_REWARDS for s in ("median", "mean", "std")]
    table1 = gr.Dataframe(
        pd.DataFrame(columns=["adapter", *stats]), label="Table 1: reward median / mean / std"
    )
    diversity = gr.Dataframe(
        pd.DataFrame(columns=["adapter", "distinct_1", "distinct_2", "mean_distinct", "max_run"]),
        label="Diversity: distinct-1/2, longest repeated-word run",
    )
    hist = gr.Image(label="Reward histograms", type="filepath")
    files = gr.File(label="Download results (JSON, CSV, PNG)", file_count="multiple")
    go.click(
        demo.evaluate,
        [adapters, num_samples],
        [table1, diversity, verdict, hist, files],
        api_name="evaluate",
        concurrency_id="model",
        concurrency_limit=1,
    )
    return {"adapters": adapters}
