"""The handlers that show what training changed and hand a run out: the token view, where an
adapter acts, runs side by side, the command line of the Train form and the run report."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from ..adapter_map import heat_map, summary_line
from ..app import forms, what_changed
from ..app import runs as side_by_side
from ..app.command import train_command
from ..app.state import AppState
from ..lora_slots import BASE
from . import change_views
from .wiring import refusing


class ChangeEvents:
    state: AppState

    def token_change(self, prompt, completion, before, after):
        """Each token of ``completion`` (after ``prompt``) coloured by how much ``after``
        changed its log-probability against ``before``: one forward pass, no sampling."""
        with refusing():
            change = what_changed.token_change(self.state, prompt, completion, before, after)
        return change_views.token_html(change), change_views.biggest_table(change)

    def adapter_map(self, adapter):
        """The size of ``adapter``'s weight update per layer and module, as a heat map."""
        with refusing():
            table = what_changed.update_map(self.state, adapter)
        return heat_map(table, f"{adapter}: where its LoRA update is largest"), summary_line(table)

    def overlay_runs(self, runs):
        """Two or more runs' curves on one set of charts, and their settings side by side
        (the ones that differ highlighted, first)."""
        with refusing():
            curves = side_by_side.curves(self.state, runs)
            table = side_by_side.settings(self.state, runs)
        return change_views.overlay_figure(curves), change_views.settings_view(table)

    def run_choices(self):
        """The runs that can be compared or reported: the one going, then the saved ones."""
        return gr.update(choices=side_by_side.run_choices(self.state))

    def run_report(self, run_name):
        """One self-contained HTML file for a saved run, to download and hand out."""
        with refusing():
            return str(what_changed.report(self.state, run_name))

    def train_command(self, **form) -> str:
        """The CLI command that runs the Train form as filled (or what to fix first):
        Start's fields by name, the teacher key aside."""
        try:
            asked = forms.command(self.state, **form)
        except forms.FormError as exc:
            return "# fix the form first: " + "; ".join(exc.labelled().values())
        exists = asked.name in self.state.resident.adapters
        return train_command(asked, overwrite=exists)

    def pick(self, table, evt: gr.SelectData):
        """A completion clicked in a table (its rows: records or a DataFrame) -> the token
        view's prompt, text and models (base before; the row's adapter, or the run's once
        it is saved, or the first adapter, after), and the tab that shows it."""
        rows = table.to_dict("records") if isinstance(table, pd.DataFrame) else list(table or [])
        i = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        if not isinstance(i, int) or not 0 <= i < len(rows):
            return (gr.skip(),) * 5
        row = rows[i]
        names = [n for n in self.state.adapter_names() if n != BASE]
        ran = run.name if (run := self.state.current) is not None and run.name in names else None
        model = row.get("model")
        after = model if model in names else ran or (names[0] if names else BASE)
        text = str(row.get("completion") or row.get("text") or "")
        return row.get("prompt", ""), text, BASE, after, gr.Tabs(selected="changes")
