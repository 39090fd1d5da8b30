"""Train tab: start a LoRA GRPO run, watch the writing change (before vs now) and the reward
climb, stop it (only the page that started it, or the teacher key)."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from ..app.train_fields import FIELD
from ..config import SETTINGS
from ..presets import grouped
from ..tasks import TASKS
from ..training import DEFAULT_PROBES, PROBE_EVERY
from .handlers import Demo
from .train_events import VIEW
from .train_views import PROBE_COLUMNS, PROBE_WIDTHS, STEP_FIXED, STEP_WIDTHS, before_now
from .views import SCORE_BASE_FIXED, SCORE_BASE_WIDTHS, builder_rows
from .wiring import inputs, refusals_under_fields

DEFAULT_PRESET = "classroom-four-letter"
SCROLL_TO_ANSWER = """() => setTimeout(() => {
  const wrong = document.querySelector('.refused'), box = document.getElementById('start-refusals');
  const at = wrong || (box?.innerText.trim() ? box : document.getElementById('train-progress'));
  at?.scrollIntoView({block: wrong ? 'center' : 'start', behavior: 'smooth'});
}, 150)"""
"""After Start: to the first wrong field, else to a refusal under Start, else to the run."""


def _number(name: str, value, **kwargs) -> gr.Number:
    """A number field: plain words, TRL's name and the range under it (checked on Start)."""
    spec = SETTINGS[name]
    widget = spec.widget()
    widget["info"] = f"TRL: {name} · {spec.allowed_text()}"
    return gr.Number(value=value, label=FIELD[name].label, **widget, **kwargs)


def _choice(name: str, value, label: str, **kwargs) -> gr.Dropdown:
    """A pick of one of a setting's choices, or TRL's default ("": the field left out)."""
    spec = SETTINGS[name]
    choices = [("TRL's default", ""), *((c, c) for c in spec.widget()["choices"])]
    info = f"TRL: {name} · {spec.help} (the glossary says what each does)"
    # custom values reach the validator, whose message names the field and its choices
    return gr.Dropdown(
        choices, value=value or "", label=label, info=info, allow_custom_value=True, **kwargs
    )


def build(demo: Demo) -> dict[str, gr.components.Component]:
    task0, lr0, gens0, steps0, len0, loss0, scale0, level0, remark0 = demo.preset_values(
        DEFAULT_PRESET, timed=False
    )
    with gr.Row(equal_height=True, elem_id="train-top"):
        preset = gr.Dropdown(
            grouped(),
            value=DEFAULT_PRESET,
            label="Preset (classroom first)",
            allow_custom_value=True,  # checked by the validator, whose message names the field
            elem_id="preset",
            scale=3,
        )
        name = gr.Textbox(
            value="my-adapter",
            label="Save as (a-z, 0-9, - or _)",
            elem_id="adapter-name",
            scale=2,
        )
        start = gr.Button("Start", variant="primary", elem_id="start-btn", scale=1)
        stop = gr.Button("Stop", variant="stop", elem_id="stop-btn", scale=1)
    refusals = gr.Markdown(elem_id="start-refusals")
    remark = gr.Markdown(remark0, elem_id="preset-remark")
    gr.Markdown(demo.caps_note(), elem_id="space-caps")  # empty unless on a Space
    teacher_key = gr.Textbox(
        "",
        type="password",
        label="Teacher key (this app was started with one: it is needed to Start, and stops "
        "any run)",
        visible=demo.has_teacher_key,
        elem_id="teacher-key",
    )
    with gr.Row(visible=False, elem_id="stop-confirm") as confirm:
        gr.Markdown("**Stop the run after the current step?** Its adapter is still saved.")
        yes = gr.Button("Yes, stop it", variant="stop", elem_id="stop-yes", scale=0)
        no = gr.Button("Keep running", elem_id="stop-no", scale=0)
    stop_note = gr.Markdown(elem_id="stop-note")
    progress = gr.Markdown(demo.progress_now(), elem_id="train-progress")
    warning = gr.Markdown(elem_id="collapse-warning")
    with gr.Row(elem_id="run-view", equal_height=False):
        with gr.Column(scale=3, min_width=300):
            now = gr.HTML(before_now(None, TASKS.get(task0), DEFAULT_PROBES), elem_id="before-now")
        with gr.Column(scale=2, min_width=260):
            rewards = gr.Plot(label="Reward per step", show_label=False, elem_id="reward-plot")
    headline = gr.Markdown(elem_id="signal-headline")
    with gr.Accordion("The learning signal in numbers, entropy and KL", open=False):
        signal = gr.Markdown(elem_id="learning-signal")
        signals = gr.Plot(label="Entropy and KL per step", show_label=False, elem_id="kl-plot")
    with gr.Accordion("Settings: what is rewarded, how fast it learns, answer length", open=True):
        task = gr.Dropdown(
            [(t.label, k) for k, t in TASKS.items()],
            value=task0,
            label="Task: what is rewarded",
            allow_custom_value=True,  # as above: Gradio's refusal would be a bare HTTP 400
            elem_id="task",
        )
        with gr.Row():
            learning_rate = _number("learning_rate", lr0, elem_id="lr")
            num_generations = _number("num_generations", gens0, elem_id="gens")
            max_steps = _number("max_steps", steps0, elem_id="max-steps")
            max_completion_length = _number("max_completion_length", len0, elem_id="max-len")
        with gr.Row():
            loss_type = _choice("loss_type", loss0, "How the loss is averaged", elem_id="loss")
            scale_rewards = _choice(
                "scale_rewards", scale0, "How rewards are scaled", elem_id="scale-rewards"
            )
            importance_sampling_level = _choice(
                "importance_sampling_level", level0, "Ratio per token or answer", elem_id="is-level"
            )
        with gr.Row():
            probes = gr.Textbox(
                "\n".join(DEFAULT_PROBES),
                lines=2,
                max_lines=5,
                label="Before-vs-now prompts: up to 5, one per line (answered with one fixed "
                "seed, by the base and by the model being trained)",
                elem_id="probes",
                scale=3,
            )
            probe_every = gr.Number(
                value=1,
                label="Answer them every K steps",
                elem_id="probe-every",
                **PROBE_EVERY.widget(),
            )
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
        table = gr.Dataframe(
            pd.DataFrame(columns=STEP_FIXED),  # the real headers, not Gradio's "1 2 3"
            wrap=True,
            column_widths=STEP_WIDTHS,
            show_label=False,
            elem_id="step-table",
        )
    with gr.Accordion("Before-vs-now history: every answer to the fixed prompts", open=False):
        probe_answers = gr.Dataframe(
            pd.DataFrame(columns=PROBE_COLUMNS),
            wrap=True,
            column_widths=PROBE_WIDTHS,
            show_label=False,
            elem_id="probe-table",
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
            column_widths=["20%", "12%", "20%", "48%"],
            max_height=900,  # every row in view: no scroll inside the table
            label="Reward terms",
            elem_id="reward-builder",
        )
        builder_note = gr.Markdown(elem_id="builder-note")
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
    with gr.Accordion("Hand out a run: one HTML report to download", open=False):
        with gr.Row():
            reported = gr.Dropdown(
                [], label="Run (saved)", allow_custom_value=True, elem_id="report-run", scale=3
            )
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

    form = [
        task,
        learning_rate,
        num_generations,
        max_steps,
        max_completion_length,
        loss_type,
        scale_rewards,
        importance_sampling_level,
        remark,
    ]
    fill = {
        "fn": demo.preset_values,
        "inputs": preset,
        "outputs": form,
        "api_visibility": "private",
        # not "hidden" (nor "full"): Gradio 6.31 then never shows a validator's message under
        # these fields again (found with the browser test; "minimal" keeps them)
        "show_progress": "minimal",
    }
    preset.input(**fill)  # a user's pick; restoring a running run's form must not refill it
    task.change(
        demo.reward_rows,
        task,
        [builder, reward, builder_note],
        api_visibility="private",
        show_progress="minimal",
    )
    builder.input(
        demo.compose_reward,
        builder,
        [reward, builder_note],
        api_visibility="private",
        show_progress="minimal",  # see ``fill``
    )
    reward.blur(
        demo.follow_spec,
        reward,
        [builder, builder_note, task],
        api_visibility="private",
        show_progress="minimal",
    )
    score.click(
        demo.score_base,
        inputs_kwargs=inputs(
            demo.score_base,
            {
                "task": task,
                "reward": reward,
                "num_generations": num_generations,
                "max_completion_length": max_completion_length,
            },
        ),
        outputs=[score_verdict, score_table],
        api_name="score_base",
        concurrency_limit=None,  # a job on the compute thread, as every use of the model
        show_progress_on=[score_verdict],
    )
    parts = {
        "progress": progress,
        "warning": warning,
        "before_now": now,
        "reward_chart": rewards,
        "signal_headline": headline,
        "signal": signal,
        "signal_chart": signals,
        "step_table": table,
        "probes": probe_answers,
    }
    view = [parts[k] for k in VIEW]
    fields = inputs(
        demo.train,
        {
            "task": task,
            "preset": preset,
            "name": name,
            "learning_rate": learning_rate,
            "num_generations": num_generations,
            "max_steps": max_steps,
            "max_completion_length": max_completion_length,
            "reward": reward,
            "probes": probes,
            "probe_every": probe_every,
            "teacher_key": teacher_key,
            "loss_type": loss_type,
            "scale_rewards": scale_rewards,
            "importance_sampling_level": importance_sampling_level,
        },
    )
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
        api_visibility="private",
        concurrency_limit=None,
        show_progress="hidden",
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
    timer.tick(
        demo.training_tick,
        [seen, shown],
        [progress, seen, shown],
        api_visibility="private",
        concurrency_limit=None,
        show_progress="hidden",
    )
    seen.change(
        demo.training_view,
        probes,
        view,
        api_visibility="private",
        concurrency_limit=None,
        show_progress="hidden",
    )
    restore = {
        "fn": demo.form_now,
        "inputs": preset,
        "outputs": [preset, name, *form, probes, probe_every],
        "api_visibility": "private",
        "show_progress": "minimal",  # see ``fill``
    }
    # a clicked answer goes to the token view (each table's own rows)
    pickable = [(table, table), (probe_answers, probe_answers), (browse_table, browse_table)]
    return {"run": run, "restore": restore, "pickable": pickable}
