"""The Train form's fields, declared once.

A field's ``name`` is the one its value travels under everywhere: the widget's key, the API's
parameter, ``RunConfig``'s field and GRPOConfig's where it is one. Its ``words`` are what the
page calls it; a setting's own name goes beside them where the class should learn it (TRL's
``learning_rate``). Start's handler signature (the API), the form's reading
(``forms.train``), the refusals' labels and the number fields' labels all come from here.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class TrainField:
    name: str
    words: str
    default: Any = REQUIRED
    setting: bool = False  # its name is shown beside its words (TRL's, or the run's)
    unit: str = ""

    @property
    def label(self) -> str:
        """The field's label on the page."""
        return f"{self.words} ({self.unit})" if self.unit else self.words

    @property
    def refusal(self) -> str:
        """How a refusal names the field."""
        return f"{self.words} ({self.name})" if self.setting else self.words


TRAIN_FIELDS = (
    TrainField("task", "Task"),
    TrainField("preset", "Preset"),
    TrainField("name", "Save as"),
    TrainField("learning_rate", "How fast it learns", setting=True),
    TrainField("num_generations", "Answers per question", setting=True),
    TrainField("max_steps", "Training steps", setting=True),
    TrainField("max_completion_length", "Answer length", setting=True, unit="tokens"),
    TrainField("reward", "Custom reward", ""),
    TrainField("probes", "Before-vs-now prompts", ""),
    TrainField("probe_every", "Answer them every K steps", 1, setting=True),
    TrainField("teacher_key", "Teacher key", ""),
    TrainField("loss_type", "How the loss is averaged", None, setting=True),
    TrainField("scale_rewards", "How rewards are scaled", None, setting=True),
    TrainField("importance_sampling_level", "Ratio per token or answer", None, setting=True),
)
"""In the API's order: the fields a request must name first, then those with a default."""
FIELD = {f.name: f for f in TRAIN_FIELDS}


def complete(values: Mapping[str, Any]) -> dict[str, Any]:
    """Every field's value by name, defaults filled in; an unknown or missing field is a
    ``TypeError``, as a call with a wrong keyword is."""
    unknown = sorted(set(values) - set(FIELD))
    missing = [f.name for f in TRAIN_FIELDS if f.default is REQUIRED and f.name not in values]
    if unknown or missing:
        raise TypeError(f"Train form: unknown field(s) {unknown}, missing field(s) {missing}")
    return {f.name: values.get(f.name, f.default) for f in TRAIN_FIELDS}


def with_fields(handler: Any) -> Any:
    """``handler(self, request=None, **values)`` shown with the Train fields as keyword
    parameters (what Gradio's ``inputs_kwargs``, the API page and ``inspect`` read; Gradio
    passes them by keyword, and fills ``request`` in by its position)."""
    own = list(inspect.signature(handler).parameters.values())
    kept = [p for p in own if p.kind is not inspect.Parameter.VAR_KEYWORD]
    fields = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default)
        for f in TRAIN_FIELDS
    ]
    handler.__signature__ = inspect.Signature([*kept, *fields])
    return handler
