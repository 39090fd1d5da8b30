"""The Gradio app: one builder per tab, wired to ``Demo``'s handlers (which act through the
app layer, never on the engine or torch directly)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import gradio as gr

from ..app.serving import check_model, server_name
from ..loss_types import glossary_markdown
from ..models import ModelUnavailable
from . import about, changes, evaluate, playground, server, train
from .handlers import Demo
from .train_views import REWARD_FIGSIZE, SIGNAL_FIGSIZE

TITLE = "Language Kindergarten — GRPO + LoRA"
INTRO = """
Teach a small language model to write differently by **rewarding** it, as a student lab report
(*Językowe Przedszkole*) did with TRL's GRPO: prefer four-letter words, or long answers — and
catch it cheating ("last last last"). **Try first:** *Compare* in the Playground. **Then:**
*Start* in Train, and watch the writing change.
"""
GLOSSARY = """
* **GRPO** (Group Relative Policy Optimization): ask the model the same question several
  times, score every answer, and nudge the model towards the answers that beat the others.
* **Reward**: a score computed from the text (e.g. how close its words are to four letters).
* **Advantage**: how much better an answer scored than the other answers to its question.
* **LoRA / adapter**: a small set of extra weights trained on top of the unchanged base model;
  the app switches between adapters without reloading anything.
* **KL (beta)**: a penalty for drifting away from how the base model writes.
* **Reward hacking**: the model finds a way to score high that is not what was meant
  ("last last last" has perfect four-letter words).
"""


ADAPTER_POLL_SECONDS = 5.0
TEACHER_KEY_ENV = "GRPO_DEMO_TEACHER_KEY"
CSS = """
.gradio-container {{ --text-xxs: 16px; --text-xs: 16px; --text-sm: 18px; --text-md: 18px;
  --text-lg: 20px; --text-xl: 24px; --block-label-text-size: 18px; --block-info-text-size: 18px;
  --block-title-text-size: 18px; --section-header-text-size: 18px; --input-text-size: 18px;
  --checkbox-label-text-size: 18px; --button-large-text-size: 20px;
  --button-small-text-size: 18px; --button-medium-text-size: 18px; }}
.gradio-container .prose, .gradio-container textarea, .gradio-container input,
.gradio-container .token, .gradio-container button, .gradio-container label,
.gradio-container .label-wrap span {{ font-size: 18px; }}
.gradio-container table, .gradio-container table * {{ font-size: 16px; font-family: var(--font);
  font-variant-numeric: tabular-nums; }}
#before-now {{ max-height: min(660px, calc(100vh - 100px)); overflow-y: auto; }}
#before-now .bn-big {{ font-size: 26px; margin: 2px 0 4px; }}
#before-now .bn-counted {{ font-size: 18px; color: #4b5563; margin-left: 8px; }}
#before-now .bn-legend {{ font-size: 18px; margin-bottom: 4px; }}
#before-now .bn-prompt {{ font-weight: 700; margin-top: 6px; }}
#before-now .bn-row {{ display: grid; grid-template-columns: 1fr 1fr; gap: 8px; }}
#before-now .bn-card {{ border: 1px solid #d1d5db; border-radius: 6px; padding: 4px 6px;
  min-width: 0; overflow-wrap: anywhere; font-size: 18px; line-height: 1.45; }}
#before-now .bn-title {{ font-size: 18px; color: #4b5563; font-weight: 700; }}
#before-now .bn-score {{ font-size: 18px; color: #4b5563; }}
#before-now mark {{ color: #111827; border-radius: 3px; padding: 0 1px; }}
#eval-status {{ min-height: 3.2em; }}
h1 {{ font-size: 28px !important; margin: 0 !important; }}
#header, #header p {{ font-size: 18px; }}
#compare-cols {{ overflow-x: auto; }}
#compare-cols .cmp-meta {{ font-size: 18px; color: #4b5563; }}
#tc-view .tc-text {{ font-size: 19px; line-height: 1.9; overflow-wrap: anywhere; }}
#tc-view .tc-prompt {{ color: #6b7280; }}
#tc-view .tc-tok {{ border-radius: 3px; padding: 1px 0; color: #111827; }}
#tc-view .tc-legend, #tc-view .tc-total {{ font-size: 18px; margin: 4px 0; }}
#tc-view .tc-up {{ background: rgba(34, 197, 94, 0.6); padding: 0 3px; }}
#tc-view .tc-down {{ background: rgba(239, 68, 68, 0.6); padding: 0 3px; }}
#reward-plot img {{ width: 100%; aspect-ratio: {reward}; }}
#kl-plot img {{ width: 100%; aspect-ratio: {signal}; }}
.refused input, .refused textarea, .refused .wrap {{
  box-shadow: 0 0 0 3px #dc2626 !important; }}
.refused label, .refused label * {{ color: #b91c1c; }}
""".format(reward=" / ".join(map(str, REWARD_FIGSIZE)), signal=" / ".join(map(str, SIGNAL_FIGSIZE)))
"""Projector mode, the default: every text a class reads at 18 px or more, tables at 16 px, a
large plain number in before-vs-now (never taller than the screen under the progress line: long
answers scroll inside it); each chart's image keeps its box while a new one decodes (Gradio
redraws a plot afresh at each update: without it the chart collapsed, blank, for a moment after
every step); a refused field outlined in red with its message under it (the
browser test measures all of it)."""


def build_app(demo: Demo) -> gr.Blocks:
    with gr.Blocks(title=TITLE) as app:
        gr.Markdown(f"# {TITLE}")
        gr.Markdown(INTRO, elem_id="intro")
        with gr.Accordion("Glossary: GRPO, reward, advantage, LoRA, KL, loss types", open=False):
            gr.Markdown(GLOSSARY)
            gr.Markdown(glossary_markdown(), elem_id="loss-glossary")
        header = gr.Markdown(demo.header(), elem_id="header")
        with gr.Tabs(elem_id="main-tabs") as tabs:
            with gr.Tab("Playground", id="playground"):
                play = playground.build(demo)
            with gr.Tab("Train", id="train"):
                trained = train.build(demo)
            with gr.Tab("Evaluate", id="evaluate"):
                ev = evaluate.build(demo)
            with gr.Tab("What changed", id="changes"):
                changed = changes.build(demo)
            with gr.Tab("About", id="about"):
                about.build()
        # any answer clicked in a table opens the token view with it, scored at once
        picked = [*changed["picked"], tabs]
        for table, rows in (*play["pickable"], *trained["pickable"]):
            table.select(
                demo.pick, rows, picked, api_visibility="private", show_progress="hidden"
            ).then(**changed["score"])
        # adapters trained since this page opened (here or in another session) appear in both
        # dropdowns and are preselected in Evaluate within a few seconds, without a reload
        known = gr.State(None)
        lists = [play["adapter"], ev["adapters"]]
        poll = {
            "fn": demo.refresh_choices,
            "inputs": [known, *lists],
            "outputs": [*lists, header, known],
            "api_visibility": "private",
            "show_progress": "minimal",  # "hidden" would keep validator messages off the dropdowns
            "concurrency_limit": None,
        }
        app.load(**poll)  # the header at once ("loading ..." until the model is in: the timer)
        gr.Timer(ADAPTER_POLL_SECONDS).tick(**poll)
        trained["run"].then(**poll)
        app.load(**trained["restore"])  # a running run's settings, or the preset's and its time
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--model", help="smollm2-135m (default, offline), gpt2, hub id or folder")
    parser.add_argument("--checkpoints", type=Path, help="adapters root (default: checkpoints/)")
    parser.add_argument(
        "--share", action="store_true", help="also open a public gradio.live link (off by default)"
    )
    parser.add_argument(
        "--teacher-key",
        default=os.environ.get(TEACHER_KEY_ENV),
        help=f"a key that Start needs and that stops any run (default: ${TEACHER_KEY_ENV}; "
        "never put it in the repository)",
    )
    args = parser.parse_args(argv)
    try:
        check_model(args.model)  # on ZeroGPU `spaces` first; fail before serving a dead page
    except ModelUnavailable as exc:
        raise SystemExit(f"error: {exc}") from None
    demo = Demo(model=args.model, checkpoints=args.checkpoints, teacher_key=args.teacher_key)
    app = build_app(demo)
    server.quiet_bookkeeping()
    app.queue(default_concurrency_limit=1, max_size=server.QUEUE_MAX_SIZE).launch(
        server_name=server_name(),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        share=args.share,
        max_file_size="1mb",  # the app takes no uploads; refuse big ones before they land
        app_kwargs=server.app_kwargs(),
        theme=gr.themes.Soft(),
        css=CSS,
    )
