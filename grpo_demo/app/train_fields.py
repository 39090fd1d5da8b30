"""The Train form's fields, declared once.

A field's ``name`` is the one its value travels under everywhere: the widget's key, the API's
parameter, ``RunConfig``'s field and GRPOConfig's where it is one. Its ``words`` are what the
page calls it; a setting's own name goes beside them where the class should learn it (TRL's
``learning_rate``). The widgets (label, id, kind), Start's handler signature (the API), the
form's reading (``forms.train``), the refusals, a preset's outputs and a running run's form
all come from here. Follow ``learning_rate``: its widget (``ui/train.py``) -> Start's keyword
-> ``forms.train`` -> ``RunConfig.learning_rate`` -> ``training/trl_backend.grpo_args``
(``GRPOConfig(**config.resolved())``).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import RunConfig
from ..presets import PRESETS, preset_field

REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class TrainField:
    name: str
    words: str  # how a refusal names it ("How fast it learns (learning_rate)")
    default: Any = REQUIRED
    setting: bool = False  # its name is shown beside its words (TRL's, or the run's)
    label: str = ""  # the widget's label, where it says more than the words
    widget: str = "text"  # "number": a setting's number field; "choice": TRL's choices
    elem_id: str = ""  # the widget's id on the page (the browser tests find it by it)
    preset: bool = False  # a preset fills it (and a page opened mid-run shows the run's)

    def __post_init__(self) -> None:
        if not self.label:  # a plain field: its words are its label
            object.__setattr__(self, "label", self.words)

    @property
    def refusal(self) -> str:
        """How a refusal names the field."""
        return f"{self.words} ({self.name})" if self.setting else self.words


def _number(name: str, words: str, elem_id: str, label: str = "") -> TrainField:
    return TrainField(name, words, REQUIRED, True, label, "number", elem_id, preset=True)


def _choice(name: str, words: str, elem_id: str) -> TrainField:
    return TrainField(name, words, None, True, "", "choice", elem_id, preset=True)


TRAIN_FIELDS = (
    TrainField("task", "Task", label="Task: what is rewarded", elem_id="task", preset=True),
    TrainField("preset", "Preset", label="Preset (classroom first)", elem_id="preset"),
    TrainField("name", "Save as", label="Save as (a-z, 0-9, - or _)", elem_id="adapter-name"),
    _number("learning_rate", "How fast it learns", "lr"),
    _number("num_generations", "Answers per question", "gens"),
    _number("max_steps", "Training steps", "max-steps"),
    _number("max_completion_length", "Answer length", "max-len", "Answer length (tokens)"),
    TrainField(
        "reward",
        "Custom reward",
        "",
        label="Custom reward (empty: the task above); filled in by the table, editable",
        elem_id="reward-spec",
    ),
    TrainField(
        "probes",
        "Before-vs-now prompts",
        "",
        label="Before-vs-now prompts: up to 5, one per line (answered with one fixed seed, by "
        "the base and by the model being trained)",
        elem_id="probes",
    ),
    TrainField("probe_every", "Answer them every K steps", 1, True, elem_id="probe-every"),
    TrainField(
        "teacher_key",
        "Teacher key",
        "",
        label="Teacher key (this app was started with one: it is needed to Start, and stops "
        "any run)",
        elem_id="teacher-key",
    ),
    _choice("loss_type", "How the loss is averaged", "loss"),
    _choice("scale_rewards", "How rewards are scaled", "scale-rewards"),
    _choice("importance_sampling_level", "Ratio per token or answer", "is-level"),
)
"""In the API's order: the fields a request must name first, then those with a default."""
FIELD = {f.name: f for f in TRAIN_FIELDS}
PRESET_FIELDS = tuple(f.name for f in TRAIN_FIELDS if f.preset)
"""What a preset fills, in the form's order (a preset pick's outputs)."""
NUMBER_RUN_FIELDS = tuple(f.name for f in TRAIN_FIELDS if f.widget == "number")
LOSS_RUN_FIELDS = tuple(f.name for f in TRAIN_FIELDS if f.widget == "choice")


def preset_form(preset: str) -> dict[str, Any]:
    """The values a preset puts in the form ("" for a choice: TRL's default)."""
    p = PRESETS[preset]
    return (
        {"task": p.task}
        | {f: preset_field(preset, f) for f in NUMBER_RUN_FIELDS}
        | {f: p.values.get(f) or "" for f in LOSS_RUN_FIELDS}
    )


def run_form(config: RunConfig) -> dict[str, Any]:
    """The values a run was started with, as the form shows them."""
    resolved = config.resolved()
    return (
        {"task": config.task}
        | {f: resolved[f] for f in NUMBER_RUN_FIELDS}
        | {f: getattr(config, f) or "" for f in LOSS_RUN_FIELDS}
    )


def complete(values: Mapping[str, Any]) -> dict[str, Any]:
    """Every field's value by name, defaults filled in; an unknown or missing field is a
    ``TypeError``, as a call with a wrong keyword is."""
    unknown = sorted(set(values) - set(FIELD))
    missing = [f.name for f in TRAIN_FIELDS if f.default is REQUIRED and f.name not in values]
    if unknown or missing:
        raise TypeError(f"Train form: unknown field(s) {unknown}, missing field(s) {missing}")
    return {f.name: values.get(f.name, f.default) for f in TRAIN_FIELDS}
