"""Run configuration: GRPOConfig's own field names, plus LoRA and the task.

Each field is declared once with :func:`~grpo_demo.settings.setting` (type, range, help); the
checks, CLI flags, widget ranges and README's limits table come from there. A GRPO field left
at ``None`` means "TRL's default", so the report's configs can be written down exactly as the
report states them (it only lists what it changed); ``resolved()`` fills the defaults in from
``GRPOConfig`` itself, so what the app shows is what TRL will use.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from .loss_types import GLOSSARY, HEADINGS
from .reward_spec import reward_func, task_from_spec
from .settings import ConfigError, check_fields, setting, settings_of
from .tasks import TASKS, Task

CPU_UPDATE_BATCH = 8
"""Completions per forward+backward on a CPU: a classroom step (32 x 48 tokens) peaked at
7.2 GB RSS in one pass, 2.6 GB in four of 8 (BENCHMARKS.md)."""


def _grpo(kind: type, low: Any, high: Any, help: str, **kw: Any) -> Any:
    """A GRPOConfig field, ``None`` by default: TRL's own default, whatever the TRL version."""
    return setting(kind, None, low, high, help, grpo=True, **kw)


def _clip(help: str) -> Any:
    """A clip range of the policy ratio (epsilon, epsilon_high): > 0, TRL's default."""
    return _grpo(float, 0, None, help, open_min=True, step=0.1)


def _choice(name: str) -> Any:
    """A GRPOConfig field of named values, each explained in ``loss_types``."""
    return _grpo(str, None, None, HEADINGS[name], choices=tuple(GLOSSARY[name]))


def completions_per_step(resolved: dict[str, Any]) -> int:
    """Completions per optimizer step of resolved settings: batch x accumulation."""
    return resolved["per_device_train_batch_size"] * resolved["gradient_accumulation_steps"]


@dataclass(frozen=True)
class RunConfig:
    """One GRPO + LoRA run. Optional GRPO fields left ``None`` take TRL's default."""

    task: str = "four-letter"
    reward: str | None = None  # a custom spec (reward_spec.py), e.g. "1*n_letter[n=3]"; it
    # replaces the task's rewards when given
    max_steps: int = setting(
        int,
        20,
        1,
        10_000,
        "optimizer steps; each samples a group of completions per prompt",
        grpo=True,
    )
    seed: int = setting(int, 42, 0, 2**32 - 1, "seed for TRL's sampling and LoRA's init", grpo=True)
    learning_rate: float | None = _grpo(
        float, 0, 1, "how big each update is (LoRA likes ~1e-3)", open_min=True, step=1e-4
    )
    num_generations: int | None = _grpo(
        int, 2, 64, "completions per prompt: the group GRPO compares"
    )
    per_device_train_batch_size: int | None = _grpo(
        int, 1, 512, "completions per device per step (whole groups of num_generations)"
    )
    gradient_accumulation_steps: int | None = _grpo(
        int, 1, 64, "batches summed into one optimizer step"
    )
    max_completion_length: int | None = _grpo(int, 1, 4096, "new tokens per completion")
    epsilon: float | None = _clip("PPO-style clip range of the policy ratio")
    epsilon_high: float | None = _clip(
        "upper clip of the policy ratio (None: epsilon); loss_type cispo's cap on the "
        "importance weight (the ScaleRL paper uses 5)"
    )
    beta: float | None = _grpo(
        float, 0, None, "weight of the KL penalty to the base (0: no reference model)", step=0.01
    )
    temperature: float | None = _grpo(
        float, 0, 5, "sampling temperature of the rollouts", open_min=True, step=0.05
    )
    loss_type: str | None = _choice("loss_type")
    scale_rewards: str | None = _choice("scale_rewards")
    importance_sampling_level: str | None = _choice("importance_sampling_level")
    lora_r: int = setting(int, 16, 1, 256, "LoRA rank")
    lora_alpha: int = setting(int, 32, 1, 4096, "LoRA scale numerator (scale = alpha / r)")
    lora_dropout: float = setting(
        float, 0.0, 0, 1, "dropout on the LoRA input", open_max=True, step=0.05
    )
    lora_target_modules: tuple[str, ...] | None = None  # None: the base model's default
    bf16: bool | None = setting(
        bool,
        None,
        help="bfloat16 autocast for the whole step, master weights fp32 (None: on where the "
        "chip does bf16 natively - a recent GPU, or a CPU with AVX-512 BF16 or AMX)",
    )
    use_vllm: bool = setting(
        bool, False, help="generate rollouts with vLLM, colocated (needs vLLM and a CUDA GPU)"
    )
    merged_rollouts: bool = setting(
        bool, True, help="sample rollouts with the LoRA folded into the base weights (faster)"
    )
    bf16_rollouts: bool | None = setting(
        bool,
        None,
        help="sample rollouts under bfloat16 autocast (None: on where the chip does bf16 "
        "natively; the weights and the update stay fp32)",
    )
    bf16_weights: bool = setting(
        bool,
        True,
        help="under bf16 autocast, hold the frozen weights as bf16 copies while a step runs "
        "(the same products, without re-casting them in every forward; +2 bytes a parameter)",
    )
    update_batch_size: int | None = setting(
        int,
        None,
        1,
        512,
        help="completions per forward+backward of the update: a step's batch is cut into "
        "micro-batches of at most this many, their gradients summed into one optimizer step "
        "(the same update; None: 8 on a CPU, where a whole classroom batch of 32 held 7 GB, "
        "the whole batch on a GPU)",
    )

    def __post_init__(self) -> None:
        check_fields(self)
        validate(self)

    @property
    def task_spec(self) -> Task:
        """What TRL optimises: the custom reward spec when given, else the named task."""
        return task_from_spec(self.reward) if self.reward else TASKS[self.task]

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
            for name in GRPO_FIELDS
        }

    def completions_per_step(self) -> int:
        """Completions per optimizer step: batch x accumulation, TRL's defaults filled in."""
        return completions_per_step(self.resolved())

    def tokens_per_step(self) -> int:
        """Completion tokens sampled and trained on per optimizer step (at most): completions
        a step x max_completion_length (the pace is kept by it)."""
        r = self.resolved()
        return completions_per_step(r) * r["max_completion_length"]

    def with_generations(self, num_generations: int) -> RunConfig:
        """Set num_generations, the batch resized to as many whole groups as fit where it no
        longer holds whole groups (a form that edits num_generations cannot also fix it)."""
        per_step = self.completions_per_step()
        if num_generations < 2 or per_step % num_generations == 0:
            return self.replace(num_generations=num_generations)
        prompts = max(1, per_step // num_generations)
        return self.replace(
            num_generations=num_generations,
            per_device_train_batch_size=prompts * num_generations,
            gradient_accumulation_steps=1,
        )

    def micro_batches(self, cuda: bool) -> dict[str, int]:
        """The batch and accumulation TRL gets: each batch cut into micro-batches of at most
        ``update_batch_size`` (the largest divisor that fits), the accumulation multiplied to
        match. TRL then samples the same generation batch (batch x accumulation) per optimizer
        step and sums the micro-batches' gradients: the same update, in less memory."""
        r = self.resolved()
        batch, accumulation = r["per_device_train_batch_size"], r["gradient_accumulation_steps"]
        limit = self.update_batch_size or (batch if cuda else CPU_UPDATE_BATCH)
        micro = max(d for d in range(1, min(batch, limit) + 1) if batch % d == 0)
        if micro == batch:
            return {}
        return {
            "per_device_train_batch_size": micro,
            "gradient_accumulation_steps": accumulation * (batch // micro),
        }

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["lora_target_modules"] = list(self.lora_target_modules or []) or None
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        data = {k: v for k, v in data.items() if k not in RETIRED}
        if data.get("lora_target_modules") is not None:
            data["lora_target_modules"] = tuple(data["lora_target_modules"])
        return cls(**data)


RETIRED = frozenset({"fast_sampling"})
"""Fields runs saved before they were removed may still carry: read past, not refused
(``fast_sampling``: a process-wide patch of torch.multinomial, removed 2026-12-07)."""

SETTINGS = settings_of(RunConfig)
"""Every typed run setting by name (task and lora_target_modules are chosen, not typed)."""

GRPO_FIELDS = tuple(name for name, spec in SETTINGS.items() if spec.grpo)
"""The RunConfig fields that are GRPOConfig fields of the same name (passed to TRL as they are)."""


@cache
def grpo_defaults() -> dict[str, Any]:
    """GRPOConfig's field defaults (read from TRL, so they never drift from the library)."""
    from trl import GRPOConfig

    return {
        f.name: f.default
        for f in dataclasses.fields(GRPOConfig)
        if f.default is not dataclasses.MISSING
    }


@cache
def trl_loss_types() -> tuple[str, ...] | None:
    """The loss types the installed TRL offers, read from its GRPOConfig's own help text
    ("Supported values are 'grpo', 'dr_grpo', ... and 'vespo'."); ``None`` where that text
    lists none (TRL's trainer then refuses an unknown one itself, at the first step)."""
    from trl import GRPOConfig

    field = GRPOConfig.__dataclass_fields__.get("loss_type")
    text = field.metadata.get("help", "") if field is not None else ""
    listed = re.search(r"Supported values are (.*?)\.(\s|$)", text, re.DOTALL)
    found = tuple(re.findall(r"'([a-z0-9_]+)'", listed.group(1))) if listed else ()
    return found or None


def validate(cfg: RunConfig) -> None:
    """What one field's range cannot say: the task, vLLM's presence, whole groups per batch,
    a loss type the installed TRL offers."""
    if cfg.task not in TASKS:
        raise ConfigError(f"unknown task {cfg.task!r}; choose one of: {', '.join(TASKS)}")
    offered = trl_loss_types() if cfg.loss_type is not None else None
    if offered is not None and cfg.loss_type not in offered:
        raise ConfigError(
            f"loss_type {cfg.loss_type!r} is not offered by the installed TRL "
            f"{importlib.metadata.version('trl')}, which offers: {', '.join(offered)}. Choose "
            "one of those, or install the pinned TRL: pip install -r requirements.txt"
        )
    for name in cfg.task_spec.reward_funcs:  # parses a custom spec; refuses what is not registered
        try:
            reward_func(name)
        except ValueError as exc:
            raise ConfigError(f"task {cfg.task!r}: {exc}") from None
    if cfg.use_vllm and importlib.util.find_spec("vllm") is None:
        raise ConfigError(
            "use_vllm needs vLLM, which is not installed here: `pip install vllm` on a CUDA "
            "machine (TRL then generates with it), or leave use_vllm off"
        )
    r = cfg.resolved()
    batch, group = completions_per_step(r), r["num_generations"]
    if batch % group:
        raise ConfigError(
            f"per_device_train_batch_size x gradient_accumulation_steps ({batch}) must be "
            f"divisible by num_generations ({group}): each prompt needs a "
            f"whole group of completions. Fix: num_generations one of "
            f"{', '.join(str(d) for d in range(2, batch + 1) if batch % d == 0)}, or a batch "
            f"of {(batch // group + 1) * group}"
        )
