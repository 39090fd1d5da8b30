"""The Train form as a command line (``python -m grpo_demo train ...``: the preset and what the
form changed from it, quoted for a POSIX shell, for a terminal or a lab sheet; a test parses
it back), and the run's settings as the CLI prints them before it trains."""

from __future__ import annotations

import dataclasses
import shlex

from ..config import SETTINGS, RunConfig
from ..models import native_bf16
from ..presets import from_preset
from ..settings import format_number
from .forms import TrainRequest

PROGRAM = ("python", "-m", "grpo_demo", "train")


def quote(arg: str) -> str:
    """POSIX shell quoting a person can read: ``"I'm here"`` rather than ``'I'"'"'m here'``.

    >>> print(quote("I'm here"), quote("plain"), quote("a $b"))
    "I'm here" plain 'a $b'
    """
    if "'" in arg and not set(arg) & set('"$`\\!'):
        return f'"{arg}"'
    return shlex.quote(arg)


def train_command(asked: TrainRequest, overwrite: bool = False) -> str:
    """The CLI's ``train`` for ``asked``: preset, name, then each setting that differs."""
    config, preset = asked.config, from_preset(asked.preset)
    parts = [*PROGRAM, "--preset", asked.preset, "--name", asked.name]
    if config.reward:
        parts += ["--reward", config.reward]
    elif config.task != preset.task:
        parts += ["--task", config.task]
    for name, spec in SETTINGS.items():
        value = getattr(config, name)
        if value is None or value == getattr(preset, name):
            continue
        if spec.kind is bool:
            parts.append(spec.flag if value else f"--no-{spec.flag[2:]}")
        else:
            number = isinstance(value, int | float)
            parts += [spec.flag, format_number(value) if number else str(value)]
    for prompt in asked.probes:
        parts += ["--probe", prompt]
    if asked.probes:
        parts += ["--probe-every", str(asked.probe_every)]
    if overwrite:
        parts.append("--overwrite")
    return " ".join(quote(p) for p in parts)


def resolved_lines(config: RunConfig, resident) -> list[str]:
    """Every RunConfig field as the run uses it, one ``name = value`` line each, saying where
    a value left open came from (TRL's default, the chip, the base model)."""
    grpo = config.resolved()
    lines = []
    for f in dataclasses.fields(RunConfig):
        value, origin = getattr(config, f.name), ""
        if value is None and f.name in grpo:
            value, origin = grpo[f.name], "TRL's default"
        if value is None and f.name == "epsilon_high":
            value, origin = grpo["epsilon"], "TRL: the same as epsilon"
        if value is None and f.name in ("bf16", "bf16_rollouts"):
            value, origin = native_bf16(), "automatic: whether this chip does bf16 natively"
        if value is None and f.name == "update_batch_size":
            value, origin = "automatic", "8 completions a pass on a CPU, the whole batch on a GPU"
        if value is None and f.name == "reward":
            origin = "the task's own rewards"
        if value is None and f.name == "lora_target_modules":
            value, origin = resident.spec.lora_target_modules, "the base model's default"
        if isinstance(value, tuple | list):
            value = ", ".join(map(str, value))
        lines.append(f"  {f.name} = {value}" + (f"  ({origin})" if origin else ""))
    return lines
