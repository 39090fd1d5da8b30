"""The page's two recurring widgets, built one way: a results table and a model/run pick."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd


def table(elem_id: str, columns: list[str], label: str | None = None, widths=None, **kw):
    """A results table showing its real headers before its first rows (not Gradio's "1 2 3");
    with ``widths``, its text wrapped in them; without a label, none shown."""
    return gr.Dataframe(
        pd.DataFrame(columns=columns),
        label=label,
        show_label=None if label else False,
        wrap=widths is not None,
        column_widths=widths,
        elem_id=elem_id,
        **kw,
    )


def pick(elem_id: str, choices: list, value: Any, label: str, **kw) -> gr.Dropdown:
    """A dropdown that takes a name typed or trained since the page loaded: the handler's
    check names the field (Gradio's own refusal would be a bare HTTP 400)."""
    return gr.Dropdown(
        choices, value=value, label=label, allow_custom_value=True, elem_id=elem_id, **kw
    )
