"""What training changed, for the "What changed" tab: one answer token by token under two
models, where an adapter's update is largest, and a saved run's report to hand out. The
fields arrive as widgets or API clients send them (empty: ``None`` or "")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..adapter_map import update_norms
from ..lora_slots import BASE
from ..report import write_report
from ..token_change import TextChange, token_changes
from .forms import FormError
from .state import AppState

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd


def token_change(state: AppState, prompt, completion, before, after) -> TextChange:
    """How ``after`` changed each token of ``completion`` (after ``prompt``) against
    ``before`` (empty: the base): one forward pass of the resident model, no sampling."""
    resident = state.resident
    return token_changes(resident, prompt or "", completion or "", before or BASE, after or "")


def update_map(state: AppState, adapter) -> pd.DataFrame:
    """The size of ``adapter``'s LoRA update per layer (rows) and module (columns)."""
    info = state.resident.get(adapter or "")
    if info is None:
        raise FormError({"adapter": "the base has no update: pick an adapter"})
    return update_norms(info.path, state.resident.spec.hub_id)


def report(state: AppState, run_name) -> Path:
    """A saved run's report: one self-contained HTML file in the results folder."""
    info = state.resident.get(run_name or "")
    if info is None:
        raise FormError({"run_name": "the base was not trained: pick a run"})
    out = state.results.new_file(f"report-{info.name}", ".html")
    return write_report(state.resident.adapter_dir, info.name, out)
