"""Charts over a run's steps, one way: the Train tab's figures and the report's PNGs draw
their panels here (matplotlib's Agg ``Figure``; no pyplot, no Gradio)."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def panels(size: tuple[float, float], rows: int, cols: int, steps: list[int], font: dict):
    """A Figure and its panels, flattened: whole steps from 1 with room around the points (one
    point gets no 0.95..1.05 axis), labels in ``font``'s sizes (points), a light grid."""
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_xlim(0.5, max(steps, default=1) + 0.5)
        if not steps:
            ax.set_xticks([1])  # no step yet: not ten fractional ticks between 0.5 and 1.5
        ax.set_xlabel("step", fontsize=font["label"])
        ax.tick_params(labelsize=font["ticks"])
        ax.grid(alpha=0.3)
    return fig, axes
