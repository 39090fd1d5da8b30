"""The Gradio app: one builder per tab; handlers call the package (never torch directly)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import gradio as gr

from . import about, evaluate, playground, server, train
from .handlers import Demo

TITLE = "Language Kindergarten — GRPO + LoRA"
INTRO = """
Teach a small language model to write differently by **rewarding** it — after the student lab
report *Językowe Przedszkole* ("Language Kindergarten"), which used TRL's GRPO to make GPT-2
prefer four-letter words (or long answers), and caught it cheating with "… last last last".
**Try first:** in the Playground pick `four-letter`, then press *Compare* to see the base and
every adapter answer the same prompt. **Then** open Train and press *Start*: a classroom run
shows its first visible change within a few minutes.
"""
GLOSSARY = """
* **GRPO** (Group Relative Policy Optimization): sample a *group* of answers per prompt, score
  each with a reward, and push the model towards the answers that beat their group.
* **Reward**: a number computed from the text (e.g. how close its words are to four letters).
* **Advantage**: an answer's reward minus its group's mean, divided by the group's spread.
* **LoRA / adapter**: a small set of extra weights trained on top of the frozen base model;
  adapters can be switched per request without reloading anything.
* **KL (beta)**: a penalty for drifting away from the base model's writing.
* **Reward hacking**: the model finds a way to score high that is not what was meant
  ("last last last" has perfect four-letter words).
"""


ADAPTER_POLL_SECONDS = 5.0
CSS = """
#scores-table th, #scores-table .virtual-row, #step-table th, #browse-table th,
#score-table th { font-size: 12px; }
"""
"""Many columns of numbers fit 1024 px in a smaller font (the browser test checks)."""


def build_app(demo: Demo) -> gr.Blocks:
    with gr.Blocks(title=TITLE) as app:
        gr.Markdown(f"# {TITLE}")
        gr.Markdown(INTRO, elem_id="intro")
        with gr.Accordion("Glossary: GRPO, reward, advantage, LoRA, KL", open=False):
            gr.Markdown(GLOSSARY)
        header = gr.Markdown(demo.header(), elem_id="header")
        with gr.Tab("Playground"):
            play = playground.build(demo)
        with gr.Tab("Train"):
            trained = train.build(demo)
        with gr.Tab("Evaluate"):
            ev = evaluate.build(demo)
        with gr.Tab("About"):
            about.build()
        # adapters trained since this page opened (here or in another session) appear in both
        # dropdowns and are preselected in Evaluate within a few seconds, without a reload
        known = gr.State(None)
        lists = [play["adapter"], ev["adapters"]]
        poll = {
            "fn": demo.refresh_choices,
            "inputs": [known, *lists],
            "outputs": [*lists, header, known],
            "api_visibility": "private",
            "show_progress": "hidden",  # no spinner over the dropdowns while the model loads
            "concurrency_limit": None,
        }
        app.load(**poll)  # waits for the model if it is still loading, then fills the header
        gr.Timer(ADAPTER_POLL_SECONDS).tick(**poll)
        trained["run"].then(**poll)
        app.load(**trained["fill"])  # the preset's expected time, once TRL is imported
    return app


def server_name() -> str:
    """A Space's proxy must reach the app (0.0.0.0); locally only this machine can."""
    from ..space import on_space

    return os.environ.get("GRADIO_SERVER_NAME") or ("0.0.0.0" if on_space() else "127.0.0.1")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--model", help="smollm2-135m (default, offline), gpt2, hub id or folder")
    parser.add_argument("--checkpoints", type=Path, help="adapters root (default: checkpoints/)")
    parser.add_argument(
        "--share", action="store_true", help="also open a public gradio.live link (off by default)"
    )
    args = parser.parse_args(argv)
    from ..models import ModelUnavailable, preflight, resolve_spec

    try:
        preflight(resolve_spec(args.model))  # fail before serving a page that cannot work
    except ModelUnavailable as exc:
        raise SystemExit(f"error: {exc}") from None
    app = build_app(Demo(model=args.model, checkpoints=args.checkpoints))
    app.queue(default_concurrency_limit=1).launch(
        server_name=server_name(),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        share=args.share,
        max_file_size="1mb",  # the app takes no uploads; refuse big ones before they land
        app_kwargs=server.app_kwargs(),
        theme=gr.themes.Soft(),
        css=CSS,
    )
