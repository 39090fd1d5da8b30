"""What changed tab: one answer token by token under two models, where an adapter's update
is largest, and runs side by side."""

from __future__ import annotations

import gradio as gr

from ..lora_slots import BASE
from .change_views import BIGGEST_COLUMNS
from .handlers import Demo
from .widgets import pick, table
from .wiring import inputs

EXAMPLE = ("Once upon a time a little fox", " went into the dark wood to find some food.")
"""Filled in at first, so the tab shows something at once; any answer clicked replaces it."""
OVERLAY_EXAMPLE = ("four-letter", "hacked")  # same reward; 5x the learning rate collapses


def build(demo: Demo) -> dict[str, gr.components.Component]:
    names = demo.state.adapter_names()
    adapters = [n for n in names if n != BASE]
    with gr.Accordion("Token by token: what an adapter changed in one answer", open=True):
        gr.Markdown(
            "The same text scored by two models (one forward pass, no sampling): each token is "
            "tinted by how much likelier the *after* model made it. **Click any answer** in the "
            "Playground's tables, the step table or the before-vs-now history to bring it here."
        )
        with gr.Row():
            before = pick("tc-before", names, BASE, "Before")
            after = pick("tc-after", names, adapters[0] if adapters else BASE, "After")
            prompt = gr.Textbox(EXAMPLE[0], label="Prompt", elem_id="tc-prompt", scale=2)
        completion = gr.Textbox(
            EXAMPLE[1], label="Answer to score", lines=2, max_lines=6, elem_id="tc-completion"
        )
        go = gr.Button("Show what changed", variant="primary", elem_id="tc-btn")
        view = gr.HTML(elem_id="tc-view")
        biggest = table("tc-table", BIGGEST_COLUMNS, "The tokens that moved most")
    with gr.Accordion("Where the adapter acts: its update per layer and module", open=False):
        with gr.Row():
            first = adapters[0] if adapters else None
            mapped = pick("map-adapter", adapters, first, "Adapter", scale=3)
            show_map = gr.Button("Show its update", elem_id="map-btn", scale=1)
        map_line = gr.Markdown(elem_id="map-line")
        heat = gr.Plot(show_label=False, elem_id="map-plot")
    with gr.Accordion("Runs side by side: curves and settings", open=False):
        with gr.Row():
            label = "Runs (two or more: the one going and any saved adapter)"
            example = [n for n in OVERLAY_EXAMPLE if n in adapters]
            chosen = pick("overlay-runs", adapters, example, label, multiselect=True, scale=3)
            show_overlay = gr.Button("Overlay", elem_id="overlay-btn", scale=1)
        overlay = gr.Plot(show_label=False, elem_id="overlay-plot")
        label = "Their settings (the ones that differ first, highlighted)"
        settings = table("overlay-settings", ["setting", "differs"], label)

    def names_now():
        return gr.update(choices=demo.state.adapter_names())

    for dropdown in (before, after, mapped):
        dropdown.focus(names_now, None, dropdown, api_visibility="private")
    chosen.focus(demo.run_choices, None, chosen, api_visibility="private")
    scored = {"prompt": prompt, "completion": completion, "before": before, "after": after}
    score = {
        "fn": demo.token_change,
        "inputs_kwargs": inputs(demo.token_change, scored),
        "outputs": [view, biggest],
        "concurrency_limit": None,  # a job on the compute thread, as every use of the model
    }
    go.click(**score, api_name="token_change")
    show_map.click(
        demo.adapter_map,
        inputs_kwargs=inputs(demo.adapter_map, {"adapter": mapped}),
        outputs=[heat, map_line],
        api_name="adapter_map",
    )
    show_overlay.click(
        demo.overlay_runs,
        inputs_kwargs=inputs(demo.overlay_runs, {"runs": chosen}),
        outputs=[overlay, settings],
        api_name="overlay_runs",
    )
    return {
        "picked": [prompt, completion, before, after],
        "score": {**score, "api_visibility": "private"},
    }
