"""A training run -> what the Train tab shows (pure functions: charts, HTML, tables, lines).

Sized for a projector at 1024×768 and a class at the back of the room: the before-vs-now
view wraps its text and leads with one plain number per side, the charts use large labels and
a y-axis that does not blow noise up, and the detail (the learning-signal table, every
completion of a step) sits behind one line that says what matters now.
"""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING

import pandas as pd
from matplotlib.figure import Figure

from ..charts import panels
from ..learning_signal import signal_lines
from ..measures import headline_measures, letters_rewarded
from ..pace import clock
from ..reward_spec import task_score
from ..rewards import report_phrases
from ..steps import collapse_step
from ..training.probes import PROBE_SAMPLES
from .views import HIGHLIGHT_COLORS, LABELS, TASK_REWARD, phrase_label

if TYPE_CHECKING:
    from ..steps import StepEvent
    from ..tasks import Task
    from ..training import TrainingRun

REWARD_FIGSIZE = (4.0, 5.2)
SIGNAL_FIGSIZE = (8.0, 2.4)
CHART_FONT = {"title": 14, "label": 14, "ticks": 14, "legend": 14}
"""Points at 100 dpi: a chart shown near its own width (the reward chart's 400 px in a column
of ~390) draws them at 18-19 px, the projector's least (the browser test measures it)."""


# -- before vs now ---------------------------------------------------------------------------
def coloured_words(text: str, n: int | None) -> str:
    """``text`` as HTML, each phrase of ``split(" ")`` tinted by its distance from ``n`` letters;
    a later empty phrase (a doubled space) as ␣. The leading one (−``n`` in the report's
    formula) costs every answer the same: left out."""
    if n is None:
        return html.escape(text.strip())
    phrases = report_phrases(text)
    phrases = phrases[1:] if phrases[:1] == [""] else phrases
    keys = [phrase_label(p, -abs(n - len(p))) for p in phrases]  # the Playground's colours
    return " ".join(
        f'<mark style="background:{HIGHLIGHT_COLORS[k]}">{html.escape(p) or "␣"}</mark>'
        for p, k in zip(phrases, keys, strict=True)
    )


def _card(text: str | None, task: Task | None, n: int | None, title: str, mean=None) -> str:
    if text is None:
        body, score = "<i>waiting for the first step …</i>", ""
    else:
        body = coloured_words(text, n)
        score = f"{TASK_REWARD} {task_score(task, text, {}):+.2f}" if task else ""
        if mean is not None:
            score += f" · mean of {PROBE_SAMPLES}: {mean:+.2f}"
    return (
        f'<div class="bn-card"><div class="bn-title">{title}</div>'
        f'<div class="bn-score">{score}</div><div class="bn-text">{body}</div></div>'
    )


def _at(values: list | None, i: int):
    return values[i] if values and i < len(values) else None


def before_now(run: TrainingRun | None, task: Task | None, prompts: list[str]) -> str:
    """Each fixed prompt: the base model's answer and the latest probed step's, side by side,
    under one large plain number per side ("4-letter words: 18 % → 41 %"; for a letter task
    also the report's "letters from 4 a word: 2.4 → 1.8", which moves with what the reward
    pays while exact 4-letter words lag) over all answers of step 1 (the base) and of the
    latest step, so two answers' dice do not decide it; beside it, the number at every step."""
    base = run.base_probes if run and run.base_probes else []
    history = run.history if run else []
    now = next((e for e in reversed(history) if e.probes), None)
    shown = run.probes if run and run.probes else prompts
    n = letters_rewarded(task) if task else 4
    measures = headline_measures(task)
    steps = [[c.completion for c in e.completions] for e in history]
    big = " · ".join(  # over all of a step's answers (32 in class), not two of them
        f"<span>{html.escape(m.name)}:</span> <b>{m.of(steps[0]) if steps else '—'}</b> → "
        f"<b>{m.of(steps[-1]) if steps else '—'}</b>"
        for m in measures
    )
    counted = (
        f" in each step's {len(steps[-1])} answers, step 1 → step {history[-1].step}; step "
        f"by step: {' and '.join(m.trend(steps) for m in measures)}"
        if steps
        else ""
    )
    now_title = f"now (step {now.step})" if now else "now"
    rows = [
        f'<div class="bn-prompt">“{html.escape(prompt)}”</div><div class="bn-row">'
        + _card(_at(base, i), task, n, "before (base)", _at(run and run.base_probe_means, i))
        + _card(_at(now and now.probes, i), task, n, now_title, _at(now and now.probe_means, i))
        + "</div>"
        for i, prompt in enumerate(shown)
    ] or ["<p>No before-vs-now prompts: add one or more under Settings, then Start.</p>"]
    marks = (
        f'<mark style="background:{HIGHLIGHT_COLORS[k]}">{k.replace("4 ", f"{n} ")}</mark>'
        for k in ("4 characters", "off by 1", "off by 2+")
    )
    how = " as the report counts: all characters between two spaces (“pie.” is 4)."
    legend = (" ".join(marks) + how if n else "") + (
        f"<br>Each card: the middle of {PROBE_SAMPLES} answers by {TASK_REWARD}, the same "
        "dice at every step."
    )
    return (
        f'<div id="bn-box"><div class="bn-big">{big}'
        f'<span class="bn-counted">{html.escape(counted)}</span>'
        f'</div><div class="bn-legend">{legend}</div>{"".join(rows)}</div>'
    )


PROBE_COLUMNS = ["prompt", "model", "completion", TASK_REWARD]
PROBE_WIDTHS = ["22%", "13%", "52%", "13%"]


def probe_table(run: TrainingRun | None) -> pd.DataFrame:
    """Every probed answer, one row each (prompt, base or step k, the text, its task reward):
    long format, so any number of probed steps fits 1024 px without a sideways scroll."""
    if run is None or not run.probes:
        return pd.DataFrame(columns=PROBE_COLUMNS)
    task = run.config.task_spec
    answers = [("base", run.base_probes or [""] * len(run.probes))]
    answers += [(f"step {e.step}", e.probes) for e in run.history if e.probes]
    rows = [
        [prompt, who, texts[i].strip(), round(task_score(task, texts[i], {}), 3)]
        for i, prompt in enumerate(run.probes)
        for who, texts in answers
    ]
    return pd.DataFrame(rows, columns=PROBE_COLUMNS)


# -- charts ------------------------------------------------------------------------------------
def steady_limits(values: list[float], min_span: float) -> tuple[float, float] | None:
    """y-limits spanning at least ``min_span`` around the data: noise stays small.

    >>> steady_limits([-2.0, -1.9], 1.0)
    (-2.45, -1.45)
    """
    finite = [v for v in values if v == v]
    if not finite:
        return None
    low, high = min(finite), max(finite)
    pad = max(min_span - (high - low), 0.0) / 2
    return round(low - pad, 3), round(high + pad, 3)


def reward_figure(history: list[StepEvent], task: Task | None) -> Figure:
    """Top: the weighted total GRPO maximises; bottom: each term, unweighted (markers: one
    point draws no line)."""
    steps = [e.step for e in history]
    fig, (total, terms) = panels(REWARD_FIGSIZE, 2, 1, steps, CHART_FONT)
    rewards = [e.reward for e in history]
    total.plot(steps, rewards, "o-", color="#4f46e5")
    # at least 1 reward unit, or a fifth of the values' size (word counts run to 40)
    span = max(1.0, 0.2 * max((abs(v) for v in rewards if v == v), default=0.0))
    if limits := steady_limits(rewards, span):
        total.set_ylim(*limits)
    formula = f"= {task.formula(LABELS)}" if task else ""
    total.set_title(f"total reward {formula}", fontsize=CHART_FONT["title"], wrap=True)
    names = list(task.weights) if task else sorted({k for e in history for k in e.reward_means})
    for name in names:
        values = [e.reward_means.get(name, float("nan")) for e in history]
        terms.plot(steps, values, "o-", label=LABELS.get(name, name), markersize=4)
    terms.set_title("each part, unweighted", fontsize=CHART_FONT["title"])
    if names and history:
        terms.legend(fontsize=CHART_FONT["legend"], loc="best")
    if not history:
        for ax in (total, terms):
            ax.text(0.5, 0.5, "no step yet", ha="center", va="center", transform=ax.transAxes)
    return fig


def signal_figure(history: list[StepEvent], beta: float | None) -> Figure:
    """Entropy and KL on their own axes, each from 0: a drift of 0.05 does not look like a crash."""
    steps = [e.step for e in history]
    fig, (entropy, kl) = panels(SIGNAL_FIGSIZE, 1, 2, steps, CHART_FONT)
    for ax, key, title in (
        (entropy, "entropy", "entropy: falls as answers narrow"),
        (kl, "kl", "KL: how far from the base"),
    ):
        values = [e.metrics[key] for e in history if key in e.metrics]
        ax.set_title(title, fontsize=CHART_FONT["title"])
        if values:
            ax.plot(steps[-len(values) :], values, "o-", color="#0891b2")
            ax.set_ylim(0, max(values) * 1.15 or 1.0)
        else:
            why = "not computed: beta = 0" if key == "kl" and not beta else "no step yet"
            ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes)
    return fig


# -- the learning signal -------------------------------------------------------------------------
def signal_headline(history: list[StepEvent]) -> str:
    """The one thing that matters now, in plain words (the table behind it has the rest)."""
    if not history:
        return "**Learning signal:** appears after the first step."
    last, first = history[-1], history[0]
    tied = last.metrics.get("frac_tied_groups")
    if collapse_step(history) is not None:
        say = "⚠️ the answers repeat themselves: the model is gaming the reward"
    elif tied is not None and tied >= 0.5:
        say = f"⚠️ {tied:.0%} of the questions got answers that all score the same: little to learn"
    elif last.distinct_2 < 0.8 * first.distinct_2:
        say = "⚠️ the answers are getting alike: watch for repetition"
    else:
        say = "✅ answers to each question differ in reward, so the model has something to learn"
    return f"**Learning signal at step {last.step}:** {say}."


def signal_view(history: list[StepEvent], beta: float | None) -> str:
    """The latest step's learning signal, each number with what it means."""
    if not history:
        return ""
    last = history[-1]
    pairs = (
        "distinct-2",
        f"{last.distinct_2:.3f} (step 1: {history[0].distinct_2:.3f})",
        "share of different word pairs in this step's answers, which no reward here pays "
        "for: when it falls while the reward climbs, the model is gaming the reward",
    )
    rows = [f"| {k} | {v} | {note} |" for k, v, note in [*signal_lines(last.metrics, beta), pairs]]
    return "\n".join(["| | value | what it means |", "|---|---|---|", *rows])


# -- the latest step ------------------------------------------------------------------------------
STEP_FIXED = ["prompt", "completion", TASK_REWARD, "advantage"]
BROWSE_LABEL = "That step: every completion, its task reward and GRPO advantage"
STEP_WIDTHS = ["14%", "30%", "9%", "11.5%", "11.5%", "11.5%", "12.5%"]
"""Up to three terms at 1024 px with 16 px headers (an 8-letter word needs ~10.5 %)."""


def step_table(event: StepEvent | None, task: Task | None) -> pd.DataFrame:
    """A step's completions with their task reward, GRPO advantage and each term."""
    terms = list(task.weights) if task else []
    columns = [*STEP_FIXED, *(LABELS.get(t, t) for t in terms)]
    if event is None:
        return pd.DataFrame(columns=columns)
    rows = [
        [c.prompt, c.completion, round(c.reward, 3), round(c.advantage, 3)]
        + [round(c.rewards.get(t, float("nan")), 3) for t in terms]
        for c in event.completions
    ]
    return pd.DataFrame(rows, columns=columns)


def progress_text(
    run: TrainingRun | None,
    mine: bool = False,
    left: float | None = None,
    teacher_key: bool = False,
) -> str:
    """Step i/n, state, elapsed, time left (``left``: ``AppState.seconds_left``), pace and
    reward; who runs it and who may stop it."""
    if run is None:
        return "No training run yet. Pick a preset (classroom first), then **Start**."
    done, total = len(run.history), run.config.max_steps
    last = run.history[-1].elapsed if run.history else 0.0
    ended = run.ended  # read once: the run's thread may end it while this line is written
    elapsed = ended.elapsed if ended else max(time.time() - run.started_at, last)
    who = ""
    if ended is None:
        if run.stopping:  # no ETA: the run ends after the step under way
            state, eta = "stopping after this step", ""
        else:
            state = "running"
            eta = f" · about {clock(left)} left" if left is not None else ""
            if not done:
                eta += " · first step under way"
        key = " (or the teacher key)" if teacher_key else ""
        by = f" · started by {run.owner or 'another page'}: only that page{key} can stop it"
        who = " · started on this page" if mine else by
    elif ended.error:
        state, eta = f"failed: {ended.error}", ""
    else:
        saved = f" · saved as adapter `{ended.adapter.name}`" if ended.adapter else ""
        state, eta = ("stopped" if ended.stopped else "finished") + saved, ""
    reward = f" · reward {run.history[-1].reward:.3f}" if run.history else ""
    speed = f" · {last / done:.1f} s/step" if done else ""
    # what the run optimises: its task, or its custom reward (never the preset's task)
    config = run.config
    aim = f"custom reward {config.task_spec.formula(LABELS)}" if config.reward else config.task
    return (
        f"**`{run.name}`** ({aim}) — step {done}/{total} · {state} · "
        f"elapsed {clock(elapsed)}{eta}{speed}{reward}{who}"
    )


def collapse_warning(history: list[StepEvent]) -> str:
    """Warn when completions repeat themselves (the report's config_4 failure)."""
    tripped = collapse_step(history)
    if tripped is None:
        return ""
    first, last = history[0], history[-1]
    return (
        f"⚠️ **Collapse warning** since step {tripped}: distinct words "
        f"{first.distinct_1:.2f} → {last.distinct_1:.2f}, distinct word pairs "
        f"{first.distinct_2:.2f} → {last.distinct_2:.2f}, reward {first.reward:.2f} → "
        f"{last.reward:.2f}. The model is gaming the reward by repeating itself, like the "
        "report's config_4 ('last last last')."
    )
