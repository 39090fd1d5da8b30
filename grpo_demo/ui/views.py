"""Package results -> what the widgets show (pure functions: tables, highlights, charts, HTML).

Everything here is sized for a projector at 1024×768: short column labels (the legend gives
each one's registry name and meaning), completion text in its own wide, wrapping column, and
no table that puts ten numbers and a paragraph on one row.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import pandas as pd

from ..metrics import COLLAPSE_DISTINCT, LOOP_RUN
from ..reward_spec import MAX_WEIGHT, TERMS, parse_term
from ..reward_spec import task_score as reward_task_score
from ..rewards import REWARDS, four_letter_breakdown
from ..tasks import TASKS

if TYPE_CHECKING:
    from ..generation import Completion, SamplingParams
    from ..learning_signal import Group
    from ..tasks import Task

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
    "prompt": "#bfdbfe",
    "4 characters": "#4ade80",
    "off by 1": "#fde047",
    "off by 2+": "#e5e7eb",
    "extra space (-4)": "#f0abfc",
}
"""gr.HighlightedText legend: how far each phrase is from four letters (the report's reward).
Green, yellow, pale grey and magenta stay apart on a projector (yellow and orange did not)."""


def phrase_label(word: str, contribution: float) -> str:
    if word == "":
        return "extra space (-4)"
    if contribution == 0:
        return "4 characters"
    return "off by 1" if contribution == -1 else "off by 2+"


def highlight(completions: list[Completion]) -> list[tuple[str, str | None]]:
    """Each completion after its prompt, every phrase of ``split(" ")`` coloured; an empty
    phrase (a trailing or doubled space, -4 in the report's reward) shown as "␣". The leading
    one almost every answer starts with costs them all alike: left out (the label says so)."""
    pieces: list[tuple[str, str | None]] = []
    for i, c in enumerate(completions, 1):
        pieces += [(f"#{i} {c.adapter}: ", None), (c.prompt, "prompt"), (" → ", None)]
        parts = four_letter_breakdown(c.text)
        if parts and parts[0].word == "" and len(parts) > 1:
            parts = parts[1:]
        for j, part in enumerate(parts):
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


def completions_table(completions: list[Completion], tasks: dict[str, Task | None]) -> pd.DataFrame:
    """What students read: each completion with the report's two rewards and its task's."""
    shown = ("four_letter", "word_count")
    rows = [
        [i, c.adapter, c.text, *(round(c.rewards[k], 3) for k in shown), task_score(c, tasks)]
        for i, c in enumerate(completions, 1)
    ]
    return pd.DataFrame(rows, columns=COMPLETION_COLUMNS)


SCORE_COLUMNS = ["#", "model", *LABELS.values()]
SCORE_WIDTHS = ["48px", "120px", *["100px"] * len(LABELS)]
"""Wider than 1024 px at 16 px: the table scrolls sideways inside its own box (the page does
not), as the compare grid does."""


def scores_table(completions: list[Completion]) -> pd.DataFrame:
    """Every registered reward for each completion, by short label (the legend maps them)."""
    rows = [
        [i, c.adapter, *(round(c.rewards[k], 3) for k in LABELS)]
        for i, c in enumerate(completions, 1)
    ]
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def records(
    completions: list[Completion], params: SamplingParams, tasks: dict[str, Task | None]
) -> list[dict]:
    """One CSV row per completion: enough to reproduce it (prompt, model, sampling, seed)."""
    return [
        {
            "prompt": c.prompt,
            "model": c.adapter,
            "sample": i,
            **{k: getattr(params, k) for k in ("seed", "temperature", "top_p", "max_new_tokens")},
            "completion": c.text,
            "real_words": c.word_count,
            TASK_REWARD.replace(" ", "_"): task_score(c, tasks),
            **c.rewards,
        }
        for i, c in enumerate(completions, 1)
    ]


COLUMNS_NOTE = (
    "**4-letter**: the report's reward: 0 when every piece between two spaces has 4 "
    "characters, less by the characters off on average, so never above 0 (punctuation counts: "
    "“pie.” is 4). **task reward**: the sum that model was trained to raise (its task is in "
    "the header), higher is better: its other parts can make it positive while 4-letter is "
    "negative. Empty for the base."
)
"""Under the completions table: the two reward columns, each in plain words."""


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


def compare_grid(by_adapter: dict[str, list[Completion]], tasks: dict[str, Task | None]) -> str:
    """One column per model, same prompt and seed; each card scored by its own task, and the
    best of a column by it outlined (a long-answer column is not judged by four-letter words)."""
    cols = []
    for adapter, cs in by_adapter.items():
        scores = [task_score(c, tasks) for c in cs]
        task = tasks.get(adapter)
        best = max(range(len(cs)), key=lambda i: scores[i]) if task else -1
        line = f"trained on: {task.formula(LABELS)}" if task else "no adapter: the model as shipped"
        cards = []
        for i, (c, score) in enumerate(zip(cs, scores, strict=True)):
            own = f"{TASK_REWARD} <b>{score:+.2f}</b> · " if score is not None else ""
            style = "border:2px solid #16a34a" if i == best else "border:1px solid #d1d5db"
            cards.append(
                f'<div class="cmp-card" style="{style};border-radius:6px;padding:6px;'
                f'margin:6px 0;overflow-wrap:anywhere">'
                f'<div class="cmp-meta">#{i + 1} · {own}4-letter '
                f"{c.rewards['four_letter']:+.2f} · word count {c.rewards['word_count']:.0f}"
                f"</div><div>{html.escape(c.text)}</div></div>"
            )
        cols.append(
            f'<div class="cmp-col" style="min-width:0"><div style="font-weight:700">'
            f"{html.escape(adapter)}</div><div class='cmp-meta'>"
            f"{html.escape(line)}</div>{''.join(cards)}</div>"
        )
    prompt = next((cs[0].prompt for cs in by_adapter.values() if cs), "")
    return (
        f'<div id="compare-prompt"><b>Prompt:</b> {html.escape(prompt)}</div>'
        # side by side in one row however many models there are: past four at 1024 px the
        # row scrolls sideways inside its own box, the page does not
        '<div id="compare-cols" style="display:grid;gap:10px;overflow-x:auto;'
        f'grid-template-columns:repeat({len(cols)},minmax(210px,1fr))">{"".join(cols)}</div>'
    )


SUMMARY_COLUMNS = ["model", "trained on", "4-letter", "real words"]
# px per column: Gradio sizes columns from their cells, which squeezed "4-letter" below its
# width once six models and three tasks shared 1024 px. One width per column the table can
# have (a task column per trained task; Gradio reads only as many as there are columns):
# past the window the table scrolls sideways inside its own box
SUMMARY_WIDTHS = ["120px", "180px", "96px", "96px", *["150px"] * 16]


def compare_summary(
    by_adapter: dict[str, list[Completion]], tasks: dict[str, Task | None]
) -> pd.DataFrame:
    """Means per model, one scale per column: the report's four-letter reward, real words,
    and every task an adapter was trained on, scored on *every* model (a word count of 38
    never shares a column with a four-letter reward of -1.2, as one "task reward" did)."""
    # the report's own task is the "4-letter" column already
    trained = {t.label: t for t in tasks.values() if t is not None and t != TASKS["four-letter"]}

    def mean(values: list[float], digits: int = 2) -> float:
        return round(sum(values) / len(values), digits) if values else float("nan")

    rows = [
        [
            adapter,
            _short(tasks.get(adapter)),
            mean([c.rewards["four_letter"] for c in cs]),
            mean([c.word_count for c in cs], 1),
            *(
                mean([reward_task_score(t, c.text, c.rewards) for c in cs])
                for t in trained.values()
            ),
        ]
        for adapter, cs in by_adapter.items()
    ]
    # task names with spaces, so a header can wrap at 1024 px
    columns = [*SUMMARY_COLUMNS, *(f"{_short(t).replace('-', ' ')} task" for t in trained.values())]
    return pd.DataFrame(rows, columns=columns)


def _short(task: Task | None) -> str:
    """A task's registry name (short), or its formula for a custom reward; "—" for none."""
    if task is None:
        return "—"
    return next((k for k, t in TASKS.items() if t == task), task.formula(LABELS))


BUILDER_COLUMNS = ["term", "weight", "parameters", "what it pays"]


def builder_rows(task: Task | None) -> pd.DataFrame:
    """Every registered term, weighted as ``task`` weighs it (0: not used)."""
    weights = task.weights if task else {}
    rows = []
    for name, info in TERMS.items():
        used = next((label for label in weights if label.split("[")[0] == name), None)
        params = dict(parse_term(used)[0].params) if used else info.defaults
        shown = ", ".join(f"{k}={v:g}" for k, v in params.items())
        rows.append([name, weights.get(used, 0.0), shown, info.doc.replace("``", "'")])
    return pd.DataFrame(rows, columns=BUILDER_COLUMNS)


def spec_from_rows(table: pd.DataFrame) -> str:
    """The builder's rows with a non-zero weight as spec text (parsed again before use)."""
    parts = []
    for term, weight, params, *_ in table.itertuples(index=False):
        try:
            w = float(weight)
        except (TypeError, ValueError):
            raise ValueError(f"{term}: weight {weight!r} is not a number") from None
        if not -MAX_WEIGHT <= w <= MAX_WEIGHT:
            raise ValueError(
                f"{term}: weight {weight:g} must be within -{MAX_WEIGHT}..{MAX_WEIGHT}"
            )
        if w:
            inner = str(params or "").strip()
            parts.append(f"{w:g}*{term}" + (f"[{inner}]" if inner else ""))
    return " + ".join(parts)


SCORE_BASE_FIXED = ["group", "completion", "total", "advantage"]
SCORE_BASE_LABEL = "The base model's groups: every term, the total and GRPO's advantage"
SCORE_BASE_WIDTHS = ["8%", "36%", "9%", "11.5%", "11.5%", "11.5%", "12.5%"]
"""Up to three terms at 1024 px with 16 px headers (an 8-letter word needs ~10.5 %)."""


def groups_table(groups: list[Group]) -> pd.DataFrame:
    """Each base completion with every term, the weighted total and GRPO's advantage."""
    labels = list(groups[0].terms) if groups else []
    columns = [*SCORE_BASE_FIXED, *(LABELS.get(x, x) for x in labels)]
    rows = [
        [f"{i} (tied)" if g.tied else str(i), text, round(g.totals[j], 3), g.advantages[j]]
        + [round(g.terms[x][j], 3) for x in labels]
        for i, g in enumerate(groups, 1)
        for j, text in enumerate(g.completions)
    ]
    return pd.DataFrame(rows, columns=columns)


# -- evaluation -------------------------------------------------------------------------------
DIVERSITY_NOTE = f"""
* **distinct-1 / distinct-2**: share of different words / word pairs across all N completions
  together. It falls for *longer* answers too (more words, same vocabulary), so a tuned model
  may sit lower than the base without repeating itself.
* **mean distinct**: share of different words inside one completion, averaged.
* **longest run**: the most times one word repeats in a row in any completion.
* **collapsed** (the report's "last last last"): mean distinct below {COLLAPSE_DISTINCT}, or
  the typical (median) completion repeating one word {LOOP_RUN} or more times in a row.
"""

TABLE1_COLUMNS = ["model", "reward", "median", "mean", "std"]


def table1_long(summary: pd.DataFrame, rewards: tuple[str, ...]) -> pd.DataFrame:
    """The report's Table 1, one row per (model, reward): five columns fit any screen."""
    sub = summary[summary["reward"].isin(rewards)]
    rank = {  # the models in their own order, each one's rewards in ``rewards``' order
        "adapter": {m: i for i, m in enumerate(dict.fromkeys(sub["adapter"]))},
        "reward": {r: i for i, r in enumerate(rewards)},
    }
    out = sub.sort_values(["adapter", "reward"], key=lambda col: col.map(rank[col.name]))
    out = out.rename(columns={"adapter": "model"}).round({"median": 3, "mean": 3, "std": 3})
    out["reward"] = out["reward"].map(lambda r: LABELS.get(r, r))
    return out.reset_index(drop=True)[TABLE1_COLUMNS]


DIVERSITY_COLUMNS = ["model", "distinct-1", "distinct-2", "mean distinct", "longest run"]
DIVERSITY_FIELDS = ["adapter", "distinct_1", "distinct_2", "mean_distinct", "max_run"]


def diversity_view(diversity: pd.DataFrame) -> pd.DataFrame:
    """The diversity table with readable headers and the collapse flag spelt out."""
    out = diversity.reset_index()
    shown = out.rename(columns=dict(zip(DIVERSITY_FIELDS, DIVERSITY_COLUMNS, strict=True)))
    return shown[DIVERSITY_COLUMNS].assign(
        collapsed=["yes ⚠️" if c else "no" for c in out["collapsed"]]
    )


WIN_SHOWN = ["adapter", "task", "win rate", "ties", "losses"]


def win_view(wins: pd.DataFrame | None) -> pd.DataFrame:
    """The win rates in words a class reads ("100 % (50 of 50; 95 % interval 93–100 %)");
    a note row where the base was not chosen."""
    if wins is None:
        note = "win rates need the base and at least one adapter among the models"
        return pd.DataFrame([[note]], columns=["note"])
    shown = wins.copy()
    shown["win rate"] = [
        f"{100 * r['win rate']:.0f} % ({r['wins']} of {r['n']}; 95 % interval "
        f"{100 * r['95% low']:.0f}–{100 * r['95% high']:.0f} %)"
        for _, r in wins.iterrows()
    ]
    return shown[WIN_SHOWN]
