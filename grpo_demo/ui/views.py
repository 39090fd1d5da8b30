"""Package results -> what the widgets show (pure functions: tables, highlights, charts, HTML).

Everything here is sized for a projector at 1024×768: short column labels (the legend gives
each one's registry name and meaning), completion text in its own wide, wrapping column, and
no table that puts ten numbers and a paragraph on one row.
"""

from __future__ import annotations

import html
import time

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..generation import Completion, SamplingParams
from ..learning_signal import Group, signal_lines
from ..metrics import COLLAPSE_DISTINCT, COLLAPSE_RUN
from ..reward_spec import TERMS, parse_term
from ..reward_spec import task_score as reward_task_score
from ..rewards import REWARDS, four_letter_breakdown
from ..tasks import Task
from ..training import StepEvent, TrainingRun, collapse_step

LABELS = {
    "four_letter": "4-letter",
    "word_count": "word count",
    "word_count_real": "real words",
    "four_letter_words": "4-letter words",
    "distinct_words": "distinct share",
    "no_repeats": "no repeats",
    "four_letter_diverse": "4-letter diverse",
    "word_count_diverse": "count diverse",
    "no_long_runs": "no runs",
    "varied_words": "varied words",
}
"""Column labels short enough for a projector (no word longer than 8 letters)."""
assert set(LABELS) == set(REWARDS), "every registered reward needs a short label"

TASK_REWARD = "task reward"
HIGHLIGHT_COLORS = {
    "prompt": "#e5e7eb",
    "4 letters": "#16a34a",
    "off by 1": "#facc15",
    "off by 2+": "#f97316",
    "extra space (-4)": "#fca5a5",
}
"""gr.HighlightedText legend: how far each phrase is from four letters (the report's reward)."""


def phrase_label(word: str, contribution: float) -> str:
    if word == "":
        return "extra space (-4)"
    if contribution == 0:
        return "4 letters"
    return "off by 1" if contribution == -1 else "off by 2+"


def highlight(completions: list[Completion]) -> list[tuple[str, str | None]]:
    """Each completion after its prompt, every phrase of ``split(" ")`` coloured.

    A leading, trailing or doubled space is an empty phrase, worth -4 in the report's reward:
    it is shown as "␣" so the penalty is visible, not hidden.
    """
    pieces: list[tuple[str, str | None]] = []
    for i, c in enumerate(completions, 1):
        pieces += [(f"#{i} {c.adapter}: ", None), (c.prompt, "prompt"), (" → ", None)]
        for j, part in enumerate(four_letter_breakdown(c.text)):
            if j:
                pieces.append((" ", None))
            pieces.append((part.word or "␣", phrase_label(part.word, part.contribution)))
        pieces.append(("\n\n", None))
    return pieces


def task_score(c: Completion, tasks: dict[str, Task | None]) -> float | None:
    """The completion's reward under its adapter's own training task (None for the base)."""
    task = tasks.get(c.adapter)
    return round(reward_task_score(task, c.text, c.rewards), 3) if task else None


COMPLETION_COLUMNS = ["#", "model", "completion", "4-letter", "word count", TASK_REWARD]
COMPLETION_WIDTHS = ["5%", "13%", "52%", "10%", "10%", "10%"]


def completions_table(
    completions: list[Completion], tasks: dict[str, Task | None] | None = None
) -> pd.DataFrame:
    """What students read: each completion with the report's two rewards and its task's."""
    tasks = tasks or {}
    return pd.DataFrame(
        [
            [
                i,
                c.adapter,
                c.text,
                round(c.rewards["four_letter"], 3),
                round(c.rewards["word_count"], 3),
                task_score(c, tasks),
            ]
            for i, c in enumerate(completions, 1)
        ],
        columns=COMPLETION_COLUMNS,
    )


SCORE_COLUMNS = ["#", "model", *LABELS.values()]
SCORE_WIDTHS = ["4%", "12%", *["8.4%"] * len(LABELS)]


def scores_table(completions: list[Completion]) -> pd.DataFrame:
    """Every registered reward for each completion, by short label (the legend maps them)."""
    return pd.DataFrame(
        [
            [i, c.adapter, *(round(c.rewards[k], 3) for k in LABELS)]
            for i, c in enumerate(completions, 1)
        ],
        columns=SCORE_COLUMNS,
    )


def records(
    completions: list[Completion], params: SamplingParams, tasks: dict[str, Task | None]
) -> list[dict]:
    """One CSV row per completion: enough to reproduce it (prompt, model, sampling, seed)."""
    return [
        {
            "prompt": c.prompt,
            "model": c.adapter,
            "sample": i,
            "seed": params.seed,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_new_tokens": params.max_new_tokens,
            "completion": c.text,
            "real_words": c.word_count,
            TASK_REWARD.replace(" ", "_"): task_score(c, tasks),
            **c.rewards,
        }
        for i, c in enumerate(completions, 1)
    ]


def reward_legend() -> str:
    """Every column label with its registry name and what it measures."""
    first = {name: (fn.__doc__ or "").strip().splitlines()[0] for name, fn in REWARDS.items()}
    rows = [
        f"| {LABELS[name]} | `{name}` | {line.replace('|', chr(92) + '|')} |"
        for name, line in first.items()
    ]
    task_row = (
        f"| {TASK_REWARD} | — | the weighted sum the model was trained on (its task is in the "
        "header); empty for the base model |"
    )
    return "\n".join(["| column | reward | what it measures |", "|---|---|---|", task_row, *rows])


def _task_line(task: Task | None) -> str:
    return f"trained on: {task.formula(LABELS)}" if task else "no adapter: the model as shipped"


def compare_grid(by_adapter: dict[str, list[Completion]], tasks: dict[str, Task | None]) -> str:
    """One column per model, same prompt and seed; each card scored by its own task.

    The best card of each column (by that model's own task reward; the base has none) is
    outlined, so a long-answer column is not judged by four-letter words.
    """
    cols = []
    for adapter, cs in by_adapter.items():
        scores = [task_score(c, tasks) for c in cs]
        best = max(range(len(cs)), key=lambda i: scores[i]) if tasks.get(adapter) else -1
        cards = []
        for i, (c, score) in enumerate(zip(cs, scores, strict=True)):
            own = f"{TASK_REWARD} <b>{score:+.2f}</b> · " if score is not None else ""
            style = "border:2px solid #16a34a" if i == best else "border:1px solid #d1d5db"
            cards.append(
                f'<div class="cmp-card" style="{style};border-radius:6px;padding:6px;'
                f'margin:6px 0;overflow-wrap:anywhere">'
                f'<div style="font-size:0.8em;color:#4b5563">#{i + 1} · {own}4-letter '
                f"{c.rewards['four_letter']:+.2f} · word count {c.rewards['word_count']:.0f}"
                f"</div><div>{html.escape(c.text)}</div></div>"
            )
        cols.append(
            f'<div class="cmp-col" style="min-width:0"><div style="font-weight:700">'
            f"{html.escape(adapter)}</div><div style='font-size:0.8em;color:#4b5563'>"
            f"{html.escape(_task_line(tasks.get(adapter)))}</div>{''.join(cards)}</div>"
        )
    prompt = next((cs[0].prompt for cs in by_adapter.values() if cs), "")
    return (
        f'<div id="compare-prompt"><b>Prompt:</b> {html.escape(prompt)}</div>'
        # side by side; past four models (on a projector) the columns continue on a new row
        '<div id="compare-cols" style="display:grid;gap:10px;'
        f'grid-template-columns:repeat(auto-fill,minmax(210px,1fr))">{"".join(cols)}</div>'
    )


SUMMARY_COLUMNS = ["model", "trained on", TASK_REWARD, "4-letter", "word count", "real words"]


def compare_summary(
    by_adapter: dict[str, list[Completion]], tasks: dict[str, Task | None]
) -> pd.DataFrame:
    """Means per model: its own task's reward and the report's two rewards."""
    rows = []
    for adapter, cs in by_adapter.items():
        task = tasks.get(adapter)
        own = [s for c in cs if (s := task_score(c, tasks)) is not None]

        def mean(values: list[float], digits: int = 3) -> float:
            return round(sum(values) / len(values), digits)

        rows.append(
            [
                adapter,
                task.label if task else "—",
                mean(own) if own else None,
                mean([c.rewards["four_letter"] for c in cs]),
                mean([c.rewards["word_count"] for c in cs], 1),
                mean([c.word_count for c in cs], 1),
            ]
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


# -- training charts ----------------------------------------------------------------------------
def _axes(fig: Figure, n: int):
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    return axes


def reward_figure(history: list[StepEvent], task: Task | None) -> Figure:
    """Left: the weighted total GRPO maximises; right: each term, unweighted.

    Markers make the first step visible (one point draws no line).
    """
    fig = Figure(figsize=(8, 2.8), layout="constrained")
    total, terms = _axes(fig, 2)
    steps = [e.step for e in history]
    total.plot(steps, [e.reward for e in history], "o-", color="#4f46e5")
    formula = f"= {task.formula(LABELS)}" if task else ""
    total.set_title(f"total reward {formula}", fontsize=9)
    names = list(task.weights) if task else sorted({k for e in history for k in e.reward_means})
    for name in names:
        values = [e.reward_means.get(name, float("nan")) for e in history]
        terms.plot(steps, values, "o-", label=LABELS.get(name, name), markersize=4)
    terms.set_title("each term, unweighted (batch mean)", fontsize=9)
    if names and history:
        terms.legend(fontsize=8, loc="best")
    if not history:
        for ax in (total, terms):
            ax.text(0.5, 0.5, "no step yet", ha="center", va="center", transform=ax.transAxes)
    return fig


def signal_figure(history: list[StepEvent], beta: float | None) -> Figure:
    """Entropy and KL on their own axes, each from 0: a drift of 0.05 does not look like a crash."""
    fig = Figure(figsize=(8, 2.2), layout="constrained")
    entropy, kl = _axes(fig, 2)
    steps = [e.step for e in history]
    for ax, key, title in (
        (entropy, "entropy", "entropy (nats): falls as answers narrow"),
        (kl, "kl", "KL to the base: how far it has drifted"),
    ):
        values = [e.metrics[key] for e in history if key in e.metrics]
        ax.set_title(title, fontsize=9)
        if values:
            ax.plot(steps[-len(values) :], values, "o-", color="#0891b2")
            ax.set_ylim(0, max(values) * 1.15 or 1.0)
        else:
            why = "not computed: beta = 0" if key == "kl" and not beta else "no step yet"
            ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes)
    return fig


def signal_view(history: list[StepEvent], beta: float | None) -> str:
    """The latest step's learning signal, each number with what it means."""
    if not history:
        return ""
    last = history[-1]
    rows = signal_lines(last.metrics, beta)
    rows.append(
        (
            "distinct-2",
            f"{last.distinct_2:.3f} (step 1: {history[0].distinct_2:.3f})",
            "share of different word pairs in this step's answers, which no reward here pays "
            "for: when it falls while the reward climbs, the model is gaming the reward",
        )
    )
    lines = [f"**Learning signal at step {history[-1].step}**", "", "| | value | what it means |"]
    lines += ["|---|---|---|", *(f"| {k} | {v} | {note} |" for k, v, note in rows)]
    return "\n".join(lines)


def probe_table(run: TrainingRun | None) -> pd.DataFrame:
    """Each probe prompt: the base model's answer, the first probed step's, the latest's."""
    if run is None or not run.probes:
        return pd.DataFrame(columns=["prompt", "base"])
    probed = [e for e in run.history if e.probes]
    shown = probed[:1] + probed[-1:] if len(probed) > 1 else probed
    data = {"prompt": run.probes, "base": run.base_probes or [""] * len(run.probes)}
    for e in shown:
        data[f"step {e.step}"] = e.probes
    return pd.DataFrame(data)


BUILDER_COLUMNS = ["term", "weight", "parameters", "what it pays"]


def builder_rows(task: Task | None) -> pd.DataFrame:
    """Every registered term, weighted as ``task`` weighs it (0: not used)."""
    weights = task.weights if task else {}
    rows = []
    for name, info in TERMS.items():
        used = next((label for label in weights if label.split("[")[0] == name), None)
        params = dict(parse_term(used)[0].params) if used else info.defaults
        rows.append(
            [
                name,
                weights.get(used, 0.0) if used else 0.0,
                ", ".join(f"{k}={v:g}" for k, v in params.items()),
                info.doc,
            ]
        )
    return pd.DataFrame(rows, columns=BUILDER_COLUMNS)


def spec_from_rows(table: pd.DataFrame) -> str:
    """The builder's rows with a non-zero weight as spec text (parsed again before use)."""
    parts = []
    for term, weight, params, *_ in table.itertuples(index=False):
        try:
            w = float(weight)
        except (TypeError, ValueError):
            raise ValueError(f"{term}: weight {weight!r} is not a number") from None
        if w:
            inner = str(params or "").strip()
            parts.append(f"{w:g}*{term}" + (f"[{inner}]" if inner else ""))
    return " + ".join(parts)


SCORE_BASE_FIXED = ["group", "completion", "total", "advantage"]
SCORE_BASE_WIDTHS = ["9%", "40%", "9%", "10%", "9%", "9%", "9%"]  # up to three terms at 1024 px


def groups_table(groups: list[Group]) -> pd.DataFrame:
    """Each base completion with every term, the weighted total and GRPO's advantage."""
    labels = list(groups[0].terms) if groups else []
    columns = [*SCORE_BASE_FIXED, *(LABELS.get(x, x) for x in labels)]
    rows = []
    for i, g in enumerate(groups, 1):
        mark = f"{i} (tied)" if g.tied else str(i)
        for j, text in enumerate(g.completions):
            rows.append(
                [
                    mark,
                    text,
                    round(g.totals[j], 3),
                    g.advantages[j],
                    *(round(g.terms[x][j], 3) for x in labels),
                ]
            )
    return pd.DataFrame(rows, columns=columns)


STEP_FIXED = ["prompt", "completion", TASK_REWARD, "advantage"]
STEP_WIDTHS = ["16%", "34%", "10%", "10%", "9%", "9%", "9%"]  # fits up to three terms at 1024 px


def step_table(event: StepEvent | None, task: Task | None = None) -> pd.DataFrame:
    """The latest step's completions with their task reward, GRPO advantage and each term."""
    terms = list(task.weights) if task else []
    columns = [*STEP_FIXED, *(LABELS.get(t, t) for t in terms)]
    if event is None:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame(
        [
            [
                c.prompt,
                c.completion,
                round(c.reward, 3),
                round(c.advantage, 3),
                *(round(c.rewards.get(t, float("nan")), 3) for t in terms),
            ]
            for c in event.completions
        ],
        columns=columns,
    )


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s"


def progress_text(run: TrainingRun | None) -> str:
    if run is None:
        return "No training run yet. Pick a preset (classroom first), then **Start**."
    done, total = len(run.history), run.config.max_steps
    last = run.history[-1].elapsed if run.history else 0.0
    per_step = last / done if done else 0.0
    elapsed = run.ended.elapsed if run.ended else max(time.time() - run.started_at, last)
    if run.ended is None:
        if run.stopping:  # no ETA: the run ends after the step under way
            state, eta = "stopping after this step", ""
        else:
            left = max(per_step * (total - done) - (elapsed - last), 0.0)
            state, eta = "running", f" · ETA {_clock(left)}" if done else " · first step under way"
    elif run.ended.error:
        state, eta = f"failed: {run.ended.error}", ""
    else:
        saved = f" · saved as adapter `{run.ended.adapter.name}`" if run.ended.adapter else ""
        state, eta = ("stopped" if run.ended.stopped else "finished") + saved, ""
    reward = f" · reward {run.history[-1].reward:.3f}" if run.history else ""
    speed = f" · {per_step:.1f} s/step" if done else ""
    return (
        f"**`{run.name}`** ({run.config.task}) — step {done}/{total} · {state} · "
        f"elapsed {_clock(elapsed)}{eta}{speed}{reward}"
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


# -- evaluation -------------------------------------------------------------------------------
DIVERSITY_NOTE = f"""
* **distinct-1 / distinct-2**: share of different words / word pairs across all N completions
  together. It falls for *longer* answers too (more words, same vocabulary), so a tuned model
  may sit lower than the base without repeating itself.
* **mean distinct**: share of different words inside one completion, averaged.
* **longest run**: the most times one word repeats in a row in any completion.
* **collapsed** (the report's "last last last"): mean distinct below {COLLAPSE_DISTINCT}, or
  the typical (median) completion repeating one word {COLLAPSE_RUN} or more times in a row.
"""

TABLE1_COLUMNS = ["model", "reward", "median", "mean", "std"]


def table1_long(summary: pd.DataFrame, rewards: tuple[str, ...]) -> pd.DataFrame:
    """The report's Table 1, one row per (model, reward): five columns fit any screen."""
    sub = summary[summary["reward"].isin(rewards)].copy()
    sub["order"] = sub["reward"].map({r: i for i, r in enumerate(rewards)})
    models = {m: i for i, m in enumerate(dict.fromkeys(sub["adapter"]))}
    sub = sub.sort_values(
        ["adapter", "order"], key=lambda col: col.map(models) if col.name == "adapter" else col
    )
    out = pd.DataFrame(
        {
            "model": sub["adapter"],
            "reward": sub["reward"].map(lambda r: LABELS.get(r, r)),
            **{s: sub[s].round(3) for s in ("median", "mean", "std")},
        }
    )
    return out.reset_index(drop=True)[TABLE1_COLUMNS]


DIVERSITY_COLUMNS = ["model", "distinct-1", "distinct-2", "mean distinct", "longest run"]


def diversity_view(diversity: pd.DataFrame) -> pd.DataFrame:
    """The diversity table with readable headers and the collapse flag spelt out."""
    out = diversity.reset_index()
    shown = pd.DataFrame(
        {
            "model": out["adapter"],
            "distinct-1": out["distinct_1"],
            "distinct-2": out["distinct_2"],
            "mean distinct": out["mean_distinct"],
            "longest run": out["max_run"],
        },
        columns=DIVERSITY_COLUMNS,
    )
    shown["collapsed"] = ["yes ⚠️" if c else "no" for c in out["collapsed"]]
    return shown
