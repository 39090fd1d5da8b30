"""The adapter folder format, end to end: names, validation, discovery, clean-up, saving.

An adapter is ``checkpoints/<base>/<name>/``: a standard PEFT folder (``adapter_config.json`` +
``adapter_model.safetensors``) plus ``run.json`` (how it was trained) and a model card
(``README.md``). Only this module knows that layout: training hands it plain data and a function
that writes the weights; the resident model asks it which folders are safe to load. No PEFT or
TRL here (torch only to list the attribute names an adapter cannot take).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .lora_slots import BASE, TRL_SLOTS, WEIGHTS_FILE
from .reward_spec import task_of
from .settings import ConfigError
from .tasks import Task

CHECKPOINTS_ENV = "GRPO_DEMO_CHECKPOINTS"
ADAPTER_CONFIG = "adapter_config.json"
RUN_RECORD = "run.json"
MODEL_CARD = "README.md"
STEPS = "steps.jsonl"  # every step's completions, rewards and advantages (the step browser)
LEFTOVER_PREFIXES = (".tmp-", ".trash-")  # half-written and replaced folders of save_adapter
LEFTOVER_AGE_S = 600  # younger ones may be another process saving right now

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
RESERVED_NAMES = frozenset({BASE, *TRL_SLOTS})  # the base, and TRL's own slots


class AdapterError(ValueError):
    """An adapter folder is missing, malformed, unsafe or for another base model."""


@dataclass(frozen=True)
class AdapterInfo:
    name: str
    path: Path
    base: str
    run: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def task(self) -> str:
        """The task's name, or ``custom`` for a reward built from terms."""
        config = self.run.get("config", {})
        return "custom" if config.get("reward") else config.get("task", "?")

    @property
    def task_spec(self) -> Task | None:
        """What it was trained on: its custom reward, else its named task (None if unknown)."""
        config = self.run.get("config", {})
        return task_of(config.get("task", ""), config.get("reward"))


def default_checkpoints() -> Path:
    """``$GRPO_DEMO_CHECKPOINTS``, else the repository's ``checkpoints/`` (shipped adapters)."""
    env = os.environ.get(CHECKPOINTS_ENV)
    return Path(env) if env else Path(__file__).resolve().parent.parent / "checkpoints"


def check_adapter_name(name: str) -> str:
    """Adapter names become folder names and PEFT adapter keys: keep them plain."""
    if not _NAME.match(name or ""):
        raise ConfigError(
            f"adapter name {name!r} must be 1-48 chars of a-z, 0-9, '-' or '_', "
            "starting with a letter or digit"
        )
    if name in RESERVED_NAMES:
        raise ConfigError(f"adapter name {name!r} is reserved; pick another")
    if name.isidentifier() and name in _module_attributes():
        raise ConfigError(
            f"adapter name {name!r} is already a PyTorch module attribute (PEFT cannot load an "
            "adapter under it); pick another"
        )
    return name


def check_new_name(root: Path, name: str, overwrite: bool = False) -> None:
    """A valid name not yet taken under ``root`` (unless it may be overwritten)."""
    check_adapter_name(name)
    if (root / name).exists() and not overwrite:
        raise ConfigError(f"adapter {name!r} already exists; pick a new name")


@cache
def _module_attributes() -> frozenset[str]:
    """``half``, ``train``, ``to`` ...: PEFT stores adapters as module attributes."""
    import torch

    return frozenset(dir(torch.nn.Module))


# -- reading -----------------------------------------------------------------------------------
def validate_adapter_dir(path: Path, base: str) -> AdapterInfo:
    """Check a folder is a safetensors LoRA adapter for ``base`` before anything loads it."""
    config_file = path / ADAPTER_CONFIG
    if not config_file.is_file():
        raise AdapterError(f"{path}: no {ADAPTER_CONFIG}")
    if not (path / WEIGHTS_FILE).is_file():
        pickled = (path / "adapter_model.bin").is_file()
        why = "pickled .bin weights are refused (they can run code)" if pickled else "missing"
        raise AdapterError(f"{path}: {WEIGHTS_FILE} {why}")
    try:
        config = json.loads(config_file.read_text())
        record = path / RUN_RECORD
        run = json.loads(record.read_text()) if record.is_file() else {}
    except (OSError, json.JSONDecodeError) as exc:
        raise AdapterError(f"{path}: unreadable metadata ({exc})") from None
    _check_safetensors(path / WEIGHTS_FILE)
    if config.get("peft_type") != "LORA":
        raise AdapterError(f"{path}: peft_type {config.get('peft_type')!r}, expected 'LORA'")
    adapter_base = run.get("base")
    if adapter_base is not None and adapter_base != base:
        raise AdapterError(f"{path}: trained on {adapter_base!r}, not on {base!r}")
    return AdapterInfo(path.name, path, base, run)


def _check_safetensors(file: Path) -> None:
    """Header parses and the file holds every byte it promises (catches truncated copies)."""
    try:
        with file.open("rb") as f:
            size = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(size)) if 0 < size < 100_000_000 else None
        if not isinstance(header, dict):
            raise ValueError("no safetensors header")
        ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"]
        if not ends:
            raise ValueError("no tensors")
        if file.stat().st_size != 8 + size + max(ends):
            raise ValueError(f"{file.stat().st_size} bytes, header promises {8 + size + max(ends)}")
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise AdapterError(f"{file}: not a complete safetensors file ({exc})") from None


def discover_adapters(root: Path, base: str) -> tuple[dict[str, AdapterInfo], list[str]]:
    """Valid adapters for ``base`` under ``root/<base>/`` by name, and why others were skipped."""
    found: dict[str, AdapterInfo] = {}
    problems: list[str] = []
    folder = root / base
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not path.is_dir() or path.name.startswith("."):
            continue
        try:
            check_adapter_name(path.name)
            found[path.name] = validate_adapter_dir(path, base)
        except ValueError as exc:
            problems.append(str(exc))
    return found, problems


def folder_state(folder: Path) -> tuple | None:
    """What changes when an adapter is saved, replaced or removed under ``folder``: each
    entry's name and modification time, and each adapter's files' (``None``: no folder).
    A save renames a finished folder into place, so a half-written adapter is never seen."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
        return tuple(
            (e.name, e.stat().st_mtime_ns, *(f.stat().st_mtime_ns for f in os.scandir(e.path)))
            for e in entries
            if e.is_dir()
        )
    except OSError:
        return None


def clean_leftovers(folder: Path) -> None:
    """Delete what a killed save left behind (never listed: dot-folders are skipped)."""
    now = time.time()
    for path in folder.iterdir() if folder.is_dir() else []:
        old = now - path.stat().st_mtime > LEFTOVER_AGE_S
        if path.is_dir() and path.name.startswith(LEFTOVER_PREFIXES) and old:
            shutil.rmtree(path, ignore_errors=True)


def load_steps(path: Path) -> list[dict[str, Any]]:
    """An adapter's saved steps (``[]`` for adapters saved without them)."""
    file = path / STEPS
    if not file.is_file():
        return []
    try:
        return [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        raise AdapterError(f"{file}: unreadable ({exc})") from None


# -- writing -----------------------------------------------------------------------------------
def save_adapter(
    root: Path,
    name: str,
    write_weights: Callable[[Path], None],
    record: dict[str, Any],
    *,
    overwrite: bool = False,
    steps: list[dict[str, Any]],
) -> AdapterInfo:
    """Write a whole adapter folder to a temp dir, check it, then rename it into place.

    ``write_weights(folder)`` writes the PEFT files; ``record`` (with ``name``, ``base`` and
    ``base_model``) becomes ``run.json`` and the model card. A folder of that name that appeared
    meanwhile is replaced with ``overwrite``, else the new one gets a time suffix: a finished
    run is never thrown away."""
    root.mkdir(parents=True, exist_ok=True)
    target = root / name
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
    try:
        write_weights(tmp)
        config_path = tmp / ADAPTER_CONFIG
        adapter_config = json.loads(config_path.read_text())
        adapter_config["base_model_name_or_path"] = record["base_model"]
        config_path.write_text(json.dumps(adapter_config, indent=2, sort_keys=True))
        (tmp / RUN_RECORD).write_text(json.dumps(record, indent=2))
        (tmp / MODEL_CARD).write_text(model_card(record))
        (tmp / STEPS).write_text("".join(json.dumps(s) + "\n" for s in steps))
        validate_adapter_dir(tmp, record["base"])  # never publish a broken folder
        if target.exists():
            if not overwrite:
                target = root / f"{name}-{int(time.time())}"  # appeared during the run
            else:
                trash = root / f".trash-{name}-{int(time.time())}"
                target.rename(trash)
                shutil.rmtree(trash, ignore_errors=True)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return AdapterInfo(target.name, target, record["base"], record)


def model_card(r: dict[str, Any]) -> str:
    """A Hub-style README for the folder: what was trained, how, and how to load it."""
    g = r["grpo"]
    fmt = "{:.3f}".format
    first = "n/a" if r["reward_first"] is None else fmt(r["reward_first"])
    last = "n/a" if r["reward_last"] is None else fmt(r["reward_last"])
    return f"""---
base_model: {r["base_model"]}
library_name: peft
tags: [grpo, trl, lora, language-kindergarten]
---
# {r["name"]}

LoRA adapter (r={r["config"]["lora_r"]}, alpha={r["config"]["lora_alpha"]}) trained with TRL GRPO
on `{r["base"]}` for the task **{r["config"]["task"]}** (rewards: {", ".join(r["reward_funcs"])}).

- preset: {r["preset"] or "custom"}; seed {r["seed"]}; {r["steps"]} steps in {r["wall_time_s"]} s
  ({r["seconds_per_step"]} s/step on {r["device"]}){"; stopped early" if r["stopped_early"] else ""}
- learning_rate {g["learning_rate"]}, num_generations {g["num_generations"]},
  per_device_train_batch_size {g["per_device_train_batch_size"]},
  max_completion_length {g["max_completion_length"]}, beta {g["beta"]}, epsilon {g["epsilon"]}
- mean reward of the batch: first step {first}, last step {last}

Load it with `peft.PeftModel.from_pretrained(base_model, "<this folder>")` (weights stored in
{r.get("weights_dtype", "float32")}; PEFT casts them to the model's dtype); `run.json` holds the
full configuration, library versions and the per-step metrics.
"""
