"""What training changed -> what the "What changed" tab shows (pure functions: HTML, charts,
tables), sized for a projector at 1024×768."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

import pandas as pd
from matplotlib.figure import Figure

from ..app.runs import REWARD
from .train_views import CHART_FONT

if TYPE_CHECKING:
    from ..token_change import TextChange

CAP = 2.0  # |Δ log p| at which a token's tint is full: beyond it the colour says no more
LEGEND = (
    '<div class="tc-legend"><span class="tc-up">green</span>: {after} made this token more '
    'likely than {before} did · <span class="tc-down">red</span>: less likely · white: '
    "unchanged. Hover (or read the table) for p before → after.</div>"
)
BIGGEST_COLUMNS = ["token", "p before", "p after", "Δ log p"]
PANELS = (REWARD, "distinct-1", "distinct-2", "entropy")
"""The overlay's panels first; each reward term of the runs follows."""


def tint(delta: float) -> str:
    """Green for a token made likelier, red for less likely, white for no change."""
    rgb = "34, 197, 94" if delta >= 0 else "239, 68, 68"
    return f"rgba({rgb}, {0.75 * min(abs(delta) / CAP, 1.0):.2f})"


def token_html(change: TextChange) -> str:
    """The prompt in grey, then every completion token tinted by its change (title: p before
    → after). All text escaped: a completion is shown, never run."""
    spans = "".join(
        f'<span class="tc-tok" style="background:{tint(t.delta)}" title="p {t.p_before:.3f} → '
        f'{t.p_after:.3f} (Δ log p {t.delta:+.2f})">{html.escape(t.text).replace(chr(10), "↵<br>")}'
        "</span>"
        for t in change.tokens
    )
    legend = LEGEND.format(before=html.escape(change.before), after=html.escape(change.after))
    per_token = math.exp(change.total / len(change.tokens))
    return (
        f"{legend}<div class='tc-text'><span class='tc-prompt'>{html.escape(change.prompt)}"
        f"</span>{spans}</div><div class='tc-total'>The whole answer: Σ Δ log p = "
        f"<b>{change.total:+.2f}</b> over {len(change.tokens)} tokens — each token on average "
        f"<b>{per_token:.2f}×</b> as likely under {html.escape(change.after)} as under "
        f"{html.escape(change.before)} (scored in {change.seconds * 1000:.0f} ms).</div>"
    )


def biggest_table(change: TextChange) -> pd.DataFrame:
    """The eight tokens that moved most, either way."""
    rows = [
        [repr(t.text), float(f"{t.p_before:.3g}"), float(f"{t.p_after:.3g}"), round(t.delta, 2)]
        for t in change.biggest(8)
    ]
    return pd.DataFrame(rows, columns=BIGGEST_COLUMNS)


def overlay_figure(curves: pd.DataFrame) -> Figure:
    """One panel per series (``PANELS`` first, then each reward term), one line per run."""
    present = list(dict.fromkeys(curves["series"]))
    series = [s for s in PANELS if s in present] + [s for s in present if s not in PANELS]
    cols, rows = 2, math.ceil(len(series) / 2)
    fig = Figure(figsize=(9.4, 2.5 * rows + 0.4), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).flatten()
    runs = list(dict.fromkeys(curves["run"]))
    for ax, name in zip(axes, series, strict=False):
        part = curves[curves["series"] == name]
        for i, run in enumerate(runs):
            line = part[part["run"] == run]
            if not line.empty:
                ax.plot(line["step"], line["value"], label=run, color=f"C{i}", lw=2)
        ax.set_title(name, fontsize=CHART_FONT["title"])
        ax.tick_params(labelsize=CHART_FONT["ticks"])
        ax.grid(alpha=0.3)
    for ax in axes[len(series) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=CHART_FONT["legend"])
    for ax in axes[-cols:]:
        ax.set_xlabel("step", fontsize=CHART_FONT["label"])
    return fig


def settings_view(table: pd.DataFrame):
    """The settings table with the rows that differ highlighted (a pandas Styler)."""
    differs = table["differs"].to_list()
    style = "background-color: #fef08a; font-weight: 700"
    shown = table.drop(columns=["differs"])
    return shown.style.apply(lambda row: [style if differs[row.name] else ""] * len(row), axis=1)
