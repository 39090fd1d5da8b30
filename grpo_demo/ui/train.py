"""Train tab: start a LoRA GRPO run, watch the writing change (before vs now) and the reward
climb, stop it (only the page that started it, or the teacher key)."""

from __future__ import annotations

import gradio as gr

from ..app.train_fields import FIELD, PRESET_FIELDS, TRAIN_FIELDS, TrainField
from ..config import SETTINGS
from ..presets import PRESETS
from ..tasks import TASKS
from ..training.probes import DEFAULT_PROBES, PROBE_EVERY
from .handlers import Demo
from .train_events import VIEW
from .train_views import (
    BROWSE_LABEL,
    PROBE_COLUMNS,
    PROBE_WIDTHS,
    STEP_FIXED,
    STEP_WIDTHS,
    before_now,
    progress_text,
)
from .views import SCORE_BASE_FIXED, SCORE_BASE_LABEL, SCORE_BASE_WIDTHS, builder_rows
from .widgets import pick, table
from .wiring import inputs, refusals_under_fields

DEFAULT_PRESET = "classroom-four-letter"
QUIET = {"api_visibility": "private", "show_progress": "minimal"}
"""A form helper's event: no API endpoint, a light progress mark. Not "hidden" (nor "full"):
Gradio 6.31 then never shows a validator's message under these fields again (found with the
browser test; "minimal" keeps them)."""
WATCH = {"api_visibility": "private", "concurrency_limit": None, "show_progress": "hidden"}
"""Every page's own events (its timer, its Start check): no endpoint, no limit, no spinner."""
SCROLL_TO_ANSWER = """() => setTimeout(() => {
  const wrong = document.querySelector('.refused'), box = document.getElementById('start-refusals');
  const at = wrong || (box?.innerText.trim() ? box : document.getElementById('train-progress'));
  at?.scrollIntoView({block: wrong ? 'center' : 'start', behavior: 'smooth'});
}, 150)"""
"""After Start: to the first wrong field, else to a refusal under Start, else to the run."""


GROUPS = {"classroom": "Classroom", "report": "The report's", "gpu": "GPU-sized"}
"""The preset list's groups, in the order a teacher needs them: quick runs first."""


def _group(name: str) -> str:
    if name.startswith("gpu-"):
        return "gpu"
    return "report" if PRESETS[name].from_report else "classroom"


def preset_choices() -> list[tuple[str, str]]:
    """(label, name): classroom presets first, then the report's, then GPU-sized."""
    ordered = sorted(PRESETS, key=lambda n: list(GROUPS).index(_group(n)))
    return [(f"{GROUPS[_group(n)]} · {n}", n) for n in ordered]


def _setting(field: TrainField, value) -> gr.Number | gr.Dropdown:
    """A run setting's widget: plain words, TRL's name and its range or choices under it
    (checked on Start); a choice may be TRL's default ("": the field left out)."""
    spec, name = SETTINGS[field.name], field.name
    if field.widget == "number":
        widget = spec.widget() | {"info": f"TRL: {name} · {spec.allowed_text()}"}
        return gr.Number(value=value, label=field.label, elem_id=field.elem_id, **widget)
    choices = [("TRL's default", ""), *((c, c) for c in spec.widget()["choices"])]
    info = f"TRL: {name} · {spec.help} (the glossary says what each does)"
    return pick(field.elem_id, choices, value or "", field.label, info=info)


def _pick(name: str, choices: list, value, **kwargs) -> gr.Dropdown:
    """A Train field picked from a list: its label and id from the declaration."""
    return pick(FIELD[name].elem_id, choices, value, FIELD[name].label, **kwargs)


def _text(name: str, value="", widget=gr.Textbox, **kwargs) -> gr.Textbox | gr.Number:
    """A typed field: its label and id from the declaration."""
    return widget(value, label=FIELD[name].label, elem_id=FIELD[name].elem_id, **kwargs)


def build(demo: Demo) -> dict[str, gr.components.Component]:
    *values, remark0 = demo.preset_values(DEFAULT_PRESET, timed=False)
    start_values = dict(zip(PRESET_FIELDS, values, strict=True))
    task0 = start_values["task"]
    field: dict[str, gr.components.Component] = {}  # every Train field's widget, by name
    with gr.Row(equal_height=True, elem_id="train-top"):
        preset = field["preset"] = _pick("preset", preset_choices(), DEFAULT_PRESET, scale=3)
        name = field["name"] = _text("name", "my-adapter", scale=2)
        start = gr.Button("Start", variant="primary", elem_id="start-btn", scale=1)
        stop = gr.Button("Stop", variant="stop", elem_id="stop-btn", scale=1)
    refusals = gr.Markdown(elem_id="start-refusals")
    remark = gr.Markdown(remark0, elem_id="preset-remark")
    gr.Markdown(demo.caps_note(), elem_id="space-caps")  # empty unless on a Space
    teacher_key = field["teacher_key"] = _text(
        "teacher_key", type="password", visible=demo.state.has_teacher_key
    )
    with gr.Row(visible=False, elem_id="stop-confirm") as confirm:
        gr.Markdown("**Stop the run after the current step?** Its adapter is still saved.")
        yes = gr.Button("Yes, stop it", variant="stop", elem_id="stop-yes", scale=0)
        no = gr.Button("Keep running", elem_id="stop-no", scale=0)
    stop_note = gr.Markdown(elem_id="stop-note")
    out: dict[str, gr.components.Component] = {}  # the run view's outputs, by VIEW's names
    progress = out["progress"] = gr.Markdown(
        progress_text(demo.state.current), elem_id="train-progress"
    )
    out["warning"] = gr.Markdown(elem_id="collapse-warning")
    with gr.Row(elem_id="run-view", equal_height=False):
        with gr.Column(scale=3, min_width=300):
            now = before_now(None, TASKS.get(task0), DEFAULT_PROBES)
            out["before_now"] = gr.HTML(now, elem_id="before-now")
        with gr.Column(scale=2, min_width=260):
            out["reward_chart"] = gr.Plot(
                label="Reward per step", show_label=False, elem_id="reward-plot"
            )
    out["signal_headline"] = gr.Markdown(elem_id="signal-headline")
    with gr.Accordion("The learning signal in numbers, entropy and KL", open=False):
        out["signal"] = gr.Markdown(elem_id="learning-signal")
        out["signal_chart"] = gr.Plot(
            label="Entropy and KL per step", show_label=False, elem_id="kl-plot"
        )
    with gr.Accordion("Settings: what is rewarded, how fast it learns, answer length", open=True):
        task = field["task"] = _pick("task", [(t.label, k) for k, t in TASKS.items()], task0)
        for kind in ("number", "choice"):  # a row of each, in the declaration's order
            with gr.Row():
                for f in TRAIN_FIELDS:
                    if f.widget == kind:
                        field[f.name] = _setting(f, start_values[f.name])
        with gr.Row():
            probes = field["probes"] = _text(
                "probes", "\n".join(DEFAULT_PROBES), lines=2, max_lines=5, scale=3
            )
            every = _text("probe_every", 1, gr.Number, **PROBE_EVERY.widget())
            probe_every = field["probe_every"] = every
        command = gr.Code(
            "",
            language="shell",
            label="The same run from the command line (copy it: the button at the top right)",
            interactive=False,
            wrap_lines=True,  # the whole command in view at 1024 px
            show_line_numbers=False,
            elem_id="cli-command",
        )
    with gr.Accordion("Every answer of the latest step, its reward and advantage", open=True):
        step_table = out["step_table"] = table("step-table", STEP_FIXED, widths=STEP_WIDTHS)
    with gr.Accordion("Before-vs-now history: every answer to the fixed prompts", open=False):
        probe_answers = out["probes"] = table("probe-table", PROBE_COLUMNS, widths=PROBE_WIDTHS)
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
            column_widths=["20%", "12%", "20%", "48%"],
            max_height=900,  # every row in view: no scroll inside the table
            label="Reward terms",
            elem_id="reward-builder",
        )
        builder_note = gr.Markdown(elem_id="builder-note")
        reward = field["reward"] = _text(
            "reward", placeholder="e.g. 1*n_letter[n=3] + 4*distinct_words"
        )
        score = gr.Button("Score the base first", elem_id="score-base-btn")
        score_verdict = gr.Markdown(elem_id="score-verdict")
        score_table = table("score-table", SCORE_BASE_FIXED, SCORE_BASE_LABEL, SCORE_BASE_WIDTHS)
    with gr.Accordion("Browse every step of a run (during it or after)", open=False):
        with gr.Row():
            browsed = pick("browse-run", [], None, "Run or adapter", scale=2)
            browse_step = gr.Number(value=1, label="Step", elem_id="browse-step")
            show = gr.Button("Show step", elem_id="browse-btn")
        browse_note = gr.Markdown(elem_id="browse-note")
        browse_table = table("browse-table", STEP_FIXED, BROWSE_LABEL, STEP_WIDTHS)
    with gr.Accordion("Hand out a run: one HTML report to download", open=False):
        with gr.Row():
            reported = pick("report-run", [], None, "Run (saved)", scale=3)
            make = gr.Button("Make the report", elem_id="report-btn", scale=1)
        report_file = gr.File(
            label="Charts, settings, reward formula, probes, answers: opens offline anywhere",
            elem_id="report-file",
        )
    reported.focus(demo.trained_choices, None, reported, api_visibility="private")
    make.click(
        demo.run_report,
        inputs_kwargs=inputs(demo.run_report, {"run_name": reported}),
        outputs=report_file,
        api_name="run_report",
    )
    browsed.focus(demo.trained_choices, None, browsed, api_visibility="private")
    browsing = inputs(demo.browse, {"run_name": browsed, "step": browse_step})
    show.click(
        demo.browse,
        inputs_kwargs=browsing,
        outputs=[browse_note, browse_table],
        api_name="browse",
        concurrency_limit=None,
        validator=demo.validator("browse", browsing),  # a bad step: under the step field
    )

    form = [*(field[n] for n in PRESET_FIELDS), remark]  # what a preset pick fills
    # a user's pick; restoring a running run's form must not refill it
    preset.input(demo.preset_values, preset, form, **QUIET)
    task.change(demo.reward_rows, task, [builder, reward, builder_note], **QUIET)
    builder.input(demo.compose_reward, builder, [reward, builder_note], **QUIET)
    reward.blur(demo.follow_spec, reward, [builder, builder_note, task], **QUIET)
    scoring = {n: field[n] for n in ("task", "reward", "num_generations", "max_completion_length")}
    score.click(
        demo.score_base,
        inputs_kwargs=inputs(demo.score_base, scoring),
        outputs=[score_verdict, score_table],
        api_name="score_base",
        concurrency_limit=None,  # a job on the compute thread, as every use of the model
        show_progress_on=[score_verdict],
    )
    view = [out[k] for k in VIEW]
    fields = inputs(demo.train, field)
    # the command line follows the form as it is filled (the run's own rules only)
    typed = {k: v for k, v in fields.items() if k != "teacher_key"}
    gr.on(
        [c.change for c in typed.values()],
        demo.train_command,
        inputs_kwargs=inputs(demo.train_command, typed),
        outputs=command,
        api_name="train_command",
        show_progress="hidden",
        concurrency_limit=None,
    )
    # one check first: a refusal in the box under Start and under each wrong field (outlined),
    # scrolled to; a clean form changes ``go``, which starts the run (and scrolls to it)
    go = gr.State(None)
    start.click(
        refusals_under_fields(demo.start_check, fields),
        inputs_kwargs=fields,
        outputs=[refusals, *fields.values(), go],
        **WATCH,
    ).then(None, js=SCROLL_TO_ANSWER)
    run = go.change(
        demo.train,
        inputs_kwargs=fields,
        outputs=view,
        api_name="train",
        concurrency_limit=None,  # a second Start must get "busy" at once, not wait in a queue
        validator=demo.validator("train", fields),  # the API's refusals, each field named
        show_progress_on=[progress],
    )
    stop.click(lambda: gr.Row(visible=True), None, confirm, api_visibility="private", queue=False)
    no.click(lambda: gr.Row(visible=False), None, confirm, api_visibility="private", queue=False)
    yes.click(demo.stop, teacher_key, stop_note, api_name="stop", concurrency_limit=None).then(
        lambda: gr.Row(visible=False), None, confirm, api_visibility="private", queue=False
    )
    # every page ticks: the progress line (when it changed) and which run and step to show;
    # a change of that redraws the whole run view, once a step (a tick with the view's nine
    # outputs cost Gradio a component rebuild per output per page, even for a skip)
    seen = gr.State(None)
    shown = gr.State(None)  # the progress line this page shows
    timer = gr.Timer(2.0)
    timer.tick(demo.training_tick, [seen, shown], [progress, seen, shown], **WATCH)
    seen.change(demo.training_view, probes, view, **WATCH)
    restored = [preset, name, *form, probes, probe_every]
    restore = {"fn": demo.form_now, "inputs": preset, "outputs": restored, **QUIET}
    # a clicked answer goes to the token view (each table's own rows)
    pickable = [(t, t) for t in (step_table, probe_answers, browse_table)]
    return {"run": run, "restore": restore, "pickable": pickable}
