"""Run configuration: GRPOConfig's own field names, plus LoRA and task; presets are data.

A field left at ``None`` means "TRL's default", so the report's configs can be written down
exactly as the report states them (it only lists what it changed). ``resolved()`` fills the
defaults in from ``GRPOConfig`` itself, so what the app shows is what TRL will use.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from .rewards import REWARDS


class ConfigError(ValueError):
    """A run setting a user can fix; the message says which one and why."""


@dataclass(frozen=True)
class Task:
    """What a run optimises: TRL reward functions by registry name, and their weights."""

    label: str
    reward_funcs: tuple[str, ...]
    reward_weights: tuple[float, ...] | None = None
    description: str = ""

    @property
    def weights(self) -> dict[str, float]:
        """Each reward's weight (TRL's default of 1.0 where none is given)."""
        weights = self.reward_weights or (1.0,) * len(self.reward_funcs)
        return dict(zip(self.reward_funcs, weights, strict=True))


TASKS: dict[str, Task] = {
    "four-letter": Task(
        "Four-letter words (report)",
        ("four_letter",),
        description="The report's reward: -mean |4 - len(phrase)| over text.split(' ').",
    ),
    "four-letter-diverse": Task(
        "Four-letter words, no repetition",
        ("four_letter", "distinct_words"),
        (1.0, 4.0),
        "The report's reward, plus 4 x the distinct-word share: repeating one word "
        "('last last last') no longer pays.",
    ),
    "four-letter-strict": Task(
        "Four-letter words, no repetition, no runs",
        ("four_letter", "distinct_words", "no_long_runs"),
        (1.0, 4.0, 2.0),
        "As four-letter-diverse, and every word that extends a run of one word past two costs "
        "2 ('girl girl girl girl' costs 4).",
    ),
    "long-answer": Task(
        "Long answers (report)",
        ("word_count",),
        description="The report's alternative reward: len(text.split(' ')).",
    ),
    "long-answer-diverse": Task(
        "Long answers, no repetition",
        ("word_count_diverse",),
        description="Words split on any whitespace (so runs of spaces earn nothing), scaled "
        "down once fewer than half of them are distinct.",
    ),
    "long-answer-varied": Task(
        "Long answers, every word pair once",
        ("varied_words",),
        description="Words split on any whitespace; a word earns only when it forms a word "
        "pair not used before in the answer, a stutter ('help help') costs one, and the total "
        "shrinks once fewer than 60% of the words are distinct.",
    ),
}


@dataclass(frozen=True)
class RunConfig:
    """One GRPO + LoRA run. Optional GRPO fields left ``None`` take TRL's default."""

    task: str = "four-letter"
    max_steps: int = 20
    seed: int = 42
    learning_rate: float | None = None
    num_generations: int | None = None
    per_device_train_batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    max_completion_length: int | None = None
    epsilon: float | None = None
    beta: float | None = None
    temperature: float | None = None
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_target_modules: tuple[str, ...] | None = None  # None: the base model's default
    bf16: bool | None = None  # None: on where the GPU supports it, off on CPU (5x slower there)
    use_vllm: bool = False  # TRL's vLLM generation (colocated); needs vLLM and a CUDA GPU
    merged_rollouts: bool = True  # sample with LoRA folded into the base (same model, faster)

    GRPO_FIELDS = (
        "max_steps",
        "seed",
        "learning_rate",
        "num_generations",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "max_completion_length",
        "epsilon",
        "beta",
        "temperature",
    )

    INT_FIELDS = (
        "max_steps",
        "seed",
        "num_generations",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "max_completion_length",
        "lora_r",
        "lora_alpha",
    )

    FLAGS = ("bf16", "use_vllm", "merged_rollouts")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in self.FLAGS:
                if value is not None and not isinstance(value, bool):
                    raise ConfigError(f"{f.name} must be true or false (got {value!r})")
                continue
            if f.name in ("task", "lora_target_modules") or value is None:
                continue
            object.__setattr__(self, f.name, _number(f.name, value, f.name in self.INT_FIELDS))
        validate(self)

    @property
    def task_spec(self) -> Task:
        return TASKS[self.task]

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with some fields changed (validated again); unknown names are an error."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def resolved(self) -> dict[str, Any]:
        """Every GRPO field with TRL's default filled in where this config says ``None``."""
        defaults = grpo_defaults()
        return {
            name: defaults[name] if getattr(self, name) is None else getattr(self, name)
            for name in self.GRPO_FIELDS
        }

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["lora_target_modules"] = list(self.lora_target_modules or []) or None
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        data = dict(data)
        if data.get("lora_target_modules") is not None:
            data["lora_target_modules"] = tuple(data["lora_target_modules"])
        return cls(**data)


def _number(name: str, value: Any, whole: bool) -> int | float:
    """A finite number (a whole one where asked): API callers can send anything."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number (got {value!r})")
    if whole:
        if value != int(value):
            raise ConfigError(f"{name} must be a whole number (got {value!r})")
        return int(value)
    return float(value)


@cache
def grpo_defaults() -> dict[str, Any]:
    """GRPOConfig's field defaults (read from TRL, so they never drift from the library)."""
    from trl import GRPOConfig

    return {
        f.name: f.default
        for f in dataclasses.fields(GRPOConfig)
        if f.default is not dataclasses.MISSING
    }


LIMITS = {
    "max_steps": 10_000,
    "num_generations": 64,
    "per_device_train_batch_size": 512,
    "gradient_accumulation_steps": 64,
    "max_completion_length": 4096,
    "lora_r": 256,
}
"""Upper bounds a run may ask for (README, "Limits and safety"): beyond them it is a typo."""


def validate(cfg: RunConfig) -> None:
    """Reject settings TRL would fail on later (or that make no sense) with a plain message."""
    if cfg.task not in TASKS:
        raise ConfigError(f"unknown task {cfg.task!r}; choose one of: {', '.join(TASKS)}")
    for name in cfg.task_spec.reward_funcs:
        if name not in REWARDS:  # a programming error in TASKS, but say it clearly
            raise ConfigError(f"task {cfg.task!r} uses unknown reward {name!r}")
    r = cfg.resolved()
    checks = [
        (r["learning_rate"] > 0, f"learning_rate must be > 0 (got {r['learning_rate']})"),
        (r["learning_rate"] <= 1, f"learning_rate must be <= 1 (got {r['learning_rate']})"),
        (r["num_generations"] >= 2, "num_generations must be >= 2: GRPO compares a group"),
        (
            r["num_generations"] <= LIMITS["num_generations"],
            f"num_generations must be <= {LIMITS['num_generations']}",
        ),
        (
            1 <= r["max_steps"] <= LIMITS["max_steps"],
            f"max_steps must be 1..{LIMITS['max_steps']} (got {r['max_steps']})",
        ),
        (
            1 <= r["per_device_train_batch_size"] <= LIMITS["per_device_train_batch_size"],
            f"per_device_train_batch_size must be 1..{LIMITS['per_device_train_batch_size']}",
        ),
        (
            1 <= r["gradient_accumulation_steps"] <= LIMITS["gradient_accumulation_steps"],
            f"gradient_accumulation_steps must be 1..{LIMITS['gradient_accumulation_steps']}",
        ),
        (
            1 <= r["max_completion_length"] <= LIMITS["max_completion_length"],
            f"max_completion_length must be 1..{LIMITS['max_completion_length']} "
            f"(got {r['max_completion_length']})",
        ),
        (r["epsilon"] > 0, f"epsilon must be > 0 (got {r['epsilon']})"),
        (r["beta"] >= 0, f"beta must be >= 0 (got {r['beta']})"),
        (r["temperature"] > 0, f"temperature must be > 0 (got {r['temperature']})"),
        (
            1 <= cfg.lora_r <= LIMITS["lora_r"],
            f"lora_r must be 1..{LIMITS['lora_r']} (got {cfg.lora_r})",
        ),
        (cfg.lora_alpha > 0, f"lora_alpha must be > 0 (got {cfg.lora_alpha})"),
        (0 <= cfg.lora_dropout < 1, f"lora_dropout must be in [0, 1) (got {cfg.lora_dropout})"),
        (r["seed"] >= 0, f"seed must be >= 0 (got {r['seed']})"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    if cfg.use_vllm and importlib.util.find_spec("vllm") is None:
        raise ConfigError(
            "use_vllm needs vLLM, which is not installed here: `pip install vllm` on a CUDA "
            "machine (TRL then generates with it), or leave use_vllm off"
        )
    batch = r["per_device_train_batch_size"] * r["gradient_accumulation_steps"]
    if batch % r["num_generations"]:
        raise ConfigError(
            f"per_device_train_batch_size x gradient_accumulation_steps ({batch}) must be "
            f"divisible by num_generations ({r['num_generations']}): each prompt needs a "
            "whole group of completions"
        )


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

PRESETS: dict[str, Preset] = {
    "default": Preset("four-letter", {}, "TRL's GRPOConfig defaults (lr 1e-6: barely moves)."),
    "config_1": Preset("four-letter", {"max_completion_length": 512}, "Longer completions."),
    "config_2": Preset(
        "four-letter",
        {"max_completion_length": 512, "epsilon": 0.5, "learning_rate": 1e-5},
        "Wider clip range and a larger learning rate.",
    ),
    "config_3": Preset(
        "four-letter",
        _CONFIG_3,
        "The report's best: words closer to four letters, meaning kept.",
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
        {
            "max_steps": 20,
            "learning_rate": 1e-3,
            "num_generations": 8,
            "per_device_train_batch_size": 32,
            "max_completion_length": 32,
            "beta": 0.0,
        },
        "Sized for a 2-core CPU: 4 prompts x 8 completions a step, 32 tokens, "
        "LoRA-sized learning rate; a visible shift in about ten minutes.",
        from_report=False,
    ),
    "classroom-long-answer": Preset(
        "long-answer-varied",
        {
            "max_steps": 15,
            "learning_rate": 1e-3,
            "num_generations": 8,
            "per_device_train_batch_size": 32,
            "max_completion_length": 64,
            "beta": 0.0,
        },
        "Sized for a 2-core CPU: 4 prompts x 8 completions, 64 tokens; longer answers "
        "where looping a phrase or stuttering does not pay.",
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


_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
RESERVED_NAMES = frozenset({"base", "default", "ref"})


def check_adapter_name(name: str) -> str:
    """Adapter names become folder names and PEFT adapter keys: keep them plain."""
    if not _NAME.match(name or ""):
        raise ConfigError(
            f"adapter name {name!r} must be 1-48 chars of a-z, 0-9, '-' or '_', "
            "starting with a letter or digit"
        )
    if name in RESERVED_NAMES:
        raise ConfigError(f"adapter name {name!r} is reserved; pick another")
    return name
