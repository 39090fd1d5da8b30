"""Evaluate tab: the report's Table 1 (N samples per model), diversity, histograms, download."""

from __future__ import annotations

import gradio as gr

from ..evaluation import EVAL_SIZE
from .handlers import Demo
from .views import DIVERSITY_COLUMNS, DIVERSITY_NOTE, TABLE1_COLUMNS, WIN_SHOWN
from .widgets import pick, table
from .wiring import inputs


def build(demo: Demo) -> dict[str, gr.components.Component]:
    gr.Markdown(
        "N completions per model on held-out prompts (never trained on), scored with every "
        "reward: median / mean / std as in the report's Table 1, plus diversity and a collapse "
        "flag. About 0.5 s per completion per model on a 2-core CPU: try N = 50 in class."
    )
    with gr.Row():
        # a Dropdown, not a CheckboxGroup: adapters trained after page load (or by an API
        # client in another session) must be accepted; the handler validates the names
        names = demo.state.adapter_names()
        label = "Models (a newly trained adapter is added here)"
        adapters = pick("eval-models", names, names, label, multiselect=True, scale=3)
        num_samples = gr.Number(
            value=50, label="N per model", elem_id="eval-n", scale=1, **EVAL_SIZE.widget()
        )
    go = gr.Button("Evaluate", variant="primary", elem_id="evaluate-btn")
    verdict = gr.Markdown(
        "Press **Evaluate**: a progress bar here moves after every batch, with the time left.",
        elem_id="eval-status",  # never 0 px tall: the progress bar shows over it
    )
    table1 = table("table1", TABLE1_COLUMNS, "Table 1: each reward's median / mean / std per model")
    diversity = table(
        "diversity", [*DIVERSITY_COLUMNS, "collapsed"], "Diversity: is it still writing?"
    )
    label = (
        "Win rate against the base: held-out prompts where the adapter's own task reward beats "
        "the base's (same prompt, same seed), with its 95 % interval"
    )
    wins = table("win-rates", WIN_SHOWN, label)
    with gr.Accordion("What the diversity columns mean", open=False):
        gr.Markdown(DIVERSITY_NOTE)
    hist = gr.Image(label="Reward histograms", type="filepath")
    files = gr.File(label="Download results (JSON, CSV, PNG)", file_count="multiple")
    fields = inputs(demo.evaluate, {"adapters": adapters, "num_samples": num_samples})
    go.click(
        demo.evaluate,
        inputs_kwargs=fields,
        outputs=[table1, diversity, wins, verdict, hist, files],
        api_name="evaluate",
        concurrency_limit=None,  # a job on the compute thread, as every use of the model
        validator=demo.validator("evaluate", fields),
        show_progress_on=[verdict],  # one progress bar, not one per output
    )
    return {"adapters": adapters}
