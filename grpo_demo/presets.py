"""Presets: named starting points — the report's configurations verbatim, and classroom sizes.

Presets are data: a task, the GRPOConfig values that differ from TRL's defaults, and a remark
saying why the preset exists. ``from_preset`` turns one into a validated ``RunConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import ConfigError, RunConfig, grpo_defaults


@dataclass(frozen=True)
class Preset:
    """A named starting point: a task, the values that differ from TRL, and why it exists."""

    task: str
    values: dict[str, Any] = field(default_factory=dict)
    remark: str = ""
    from_report: bool = True


_CONFIG_3 = {
    "max_completion_length": 256,
    "epsilon": 0.7,
    "learning_rate": 1e-4,
    "beta": 0.1,
    "gradient_accumulation_steps": 2,
    "num_generations": 16,
}

_CLASSROOM_FOUR_LETTER = {
    "max_steps": 15,
    "learning_rate": 3.5e-3,
    "num_generations": 8,
    "per_device_train_batch_size": 32,
    "max_completion_length": 48,
    "beta": 0.01,
}

PRESETS: dict[str, Preset] = {
    "default": Preset("four-letter", {}, "TRL's GRPOConfig defaults (lr 1e-6: barely moves)."),
    "config_1": Preset("four-letter", {"max_completion_length": 512}, "Longer completions."),
    "config_2": Preset(
        "four-letter",
        {"max_completion_length": 512, "epsilon": 0.5, "learning_rate": 1e-5},
        "Wider clip range and a larger learning rate.",
    ),
    "config_3": Preset(
        "four-letter", _CONFIG_3, "The report's best: words closer to four letters, meaning kept."
    ),
    "config_4": Preset(
        "four-letter",
        {
            **_CONFIG_3,
            "epsilon": 1.0,
            "learning_rate": 1e-3,
            "beta": 0.2,
            "gradient_accumulation_steps": 4,
        },
        "Collapsed: reward stuck at 0 (the maximum) with 'last last last ...' - reward "
        "hacking, blamed on lr 1e-3, epsilon 1 and accumulation 4.",
    ),
    "long_512": Preset(
        "long-answer",
        {**_CONFIG_3, "max_completion_length": 512},
        "config_3 on the word-count reward: reaches the most words 512 tokens allow.",
    ),
    "long_900": Preset(
        "long-answer",
        {**_CONFIG_3, "max_completion_length": 900},
        "config_3 on the word-count reward with a 900-token budget.",
    ),
    "classroom-four-letter": Preset(
        "four-letter-strict",
        _CLASSROOM_FOUR_LETTER,
        "Sized for a 2-core CPU and a lesson: 4 prompts x 8 answers a step, 48 tokens, a "
        "learning rate LoRA can take and a light KL brake (beta 0.01) that keeps the answers "
        "varied. On unseen prompts the four-letter reward rises by +0.5 within 3-6 steps "
        "and +0.6 to +0.9 by step 15, three seeds (results/classroom.md).",
        from_report=False,
    ),
    "classroom-four-letter-grpo": Preset(
        "four-letter-strict",
        {**_CLASSROOM_FOUR_LETTER, "loss_type": "grpo"},
        "classroom-four-letter with one change, loss_type grpo (the original GRPO): each "
        "answer's token losses averaged over its own length, so a short answer's tokens weigh "
        "more. Run it and classroom-four-letter-dr-grpo (same seed, same everything else) "
        "and compare the reward curves and how long the answers get.",
        from_report=False,
    ),
    "classroom-four-letter-dr-grpo": Preset(
        "four-letter-strict",
        {**_CLASSROOM_FOUR_LETTER, "loss_type": "dr_grpo"},
        "classroom-four-letter with one change, loss_type dr_grpo (Dr. GRPO): token losses "
        "summed and divided by one constant (answers x max_completion_length, 48 here), so "
        "length changes no token's weight. Run it and classroom-four-letter-grpo (same "
        "seed, same everything else) and compare the reward curves and how long the answers "
        "get.",
        from_report=False,
    ),
    "classroom-long-answer": Preset(
        "long-answer-varied",
        {**_CLASSROOM_FOUR_LETTER, "learning_rate": 1e-3, "max_completion_length": 64, "beta": 0.0},
        "Sized for a 2-core CPU: 4 prompts x 8 completions, 64 tokens; longer answers "
        "where looping a phrase or stuttering does not pay.",
        from_report=False,
    ),
    "classroom-hack": Preset(
        "four-letter",
        {
            **_CLASSROOM_FOUR_LETTER,
            "max_steps": 25,
            "learning_rate": 5e-3,
            "max_completion_length": 32,
            "beta": 0.0,
        },
        "Reward hacking on purpose: the report's reward alone, nothing charging repetition, "
        "and a learning rate 5x the classroom's. Watch the reward climb while distinct-2 falls "
        "and the collapse banner fires: the report's config_4 'last last last'.",
        from_report=False,
    ),
}

GPU_STEPS = 300
REPORT_PRESETS = ("default", "config_1", "config_2", "config_3", "config_4", "long_512", "long_900")
PRESETS.update(
    {
        f"gpu-{name}": Preset(
            PRESETS[name].task,
            {"max_steps": GPU_STEPS, **PRESETS[name].values},
            f"{PRESETS[name].remark} Full length, {GPU_STEPS} steps, bf16 where the GPU has "
            "it: for a GPU, and the report's model (--model gpt2).",
        )
        for name in REPORT_PRESETS
    }
)
"""The report's configurations at full length for a GPU (see README, "Scaling up")."""


def preset_field(name: str, field_name: str) -> Any:
    """One GRPO field of a preset as a run would use it; TRL is imported only for its defaults."""
    values = PRESETS[name].values
    if field_name in values:
        return values[field_name]
    own = RunConfig.__dataclass_fields__[field_name].default
    return own if own is not None else grpo_defaults()[field_name]


def from_preset(name: str, **overrides: Any) -> RunConfig:
    """Build a validated RunConfig from a preset; ``None`` overrides are ignored."""
    try:
        preset = PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None
    values = {"task": preset.task, **preset.values}
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return RunConfig().replace(**values)
    except TypeError as exc:  # e.g. a string where a number belongs
        raise ConfigError(str(exc)) from None
