"""The one resident base model and its named LoRA adapters.

Adapters live as standard PEFT folders in ``checkpoints/<base>/<name>/``. All of them are
loaded into one ``PeftModel``; a request picks its adapter per batch row through PEFT's
``adapter_names=`` (``"__base__"`` = adapters off), so "switching" never mutates shared state
(``set_adapter`` would also flip ``requires_grad`` under a running trainer). One re-entrant
lock serialises every forward pass: generation between training steps, never inside one.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import check_adapter_name
from .models import ModelSpec, load_base, resolve_spec

if TYPE_CHECKING:
    from peft import LoraConfig, PeftModel

BASE = "base"
TRAINING_SLOT = "default"  # TRL trains the adapter named "default" (and copies it to "ref")
CHECKPOINTS_ENV = "GRPO_DEMO_CHECKPOINTS"


def default_checkpoints() -> Path:
    """``$GRPO_DEMO_CHECKPOINTS``, else the repository's ``checkpoints/`` (shipped adapters)."""
    env = os.environ.get(CHECKPOINTS_ENV)
    return Path(env) if env else Path(__file__).resolve().parent.parent / "checkpoints"


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
        return self.run.get("config", {}).get("task", "?")


def validate_adapter_dir(path: Path, base: str) -> AdapterInfo:
    """Check a folder is a safetensors LoRA adapter for ``base`` before anything loads it."""
    name = path.name
    config_file = path / "adapter_config.json"
    if not config_file.is_file():
        raise AdapterError(f"{path}: no adapter_config.json")
    if not (path / "adapter_model.safetensors").is_file():
        pickled = (path / "adapter_model.bin").is_file()
        why = "pickled .bin weights are refused (they can run code)" if pickled else "missing"
        raise AdapterError(f"{path}: adapter_model.safetensors {why}")
    try:
        config = json.loads(config_file.read_text())
        run = json.loads((path / "run.json").read_text()) if (path / "run.json").is_file() else {}
    except (OSError, json.JSONDecodeError) as exc:
        raise AdapterError(f"{path}: unreadable metadata ({exc})") from None
    _check_safetensors(path / "adapter_model.safetensors")
    if config.get("peft_type") != "LORA":
        raise AdapterError(f"{path}: peft_type {config.get('peft_type')!r}, expected 'LORA'")
    adapter_base = run.get("base")
    if adapter_base is not None and adapter_base != base:
        raise AdapterError(f"{path}: trained on {adapter_base!r}, not on {base!r}")
    return AdapterInfo(name, path, base, run)


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


LEFTOVER_PREFIXES = (".tmp-", ".trash-")  # save_adapter's half-written and replaced folders
LEFTOVER_AGE_S = 600  # younger ones may be another process saving right now


def clean_leftovers(folder: Path) -> list[Path]:
    """Delete what a killed save left behind (never listed: dot-folders are skipped)."""
    removed = []
    now = time.time()
    for path in folder.iterdir() if folder.is_dir() else []:
        old = now - path.stat().st_mtime > LEFTOVER_AGE_S
        if path.is_dir() and path.name.startswith(LEFTOVER_PREFIXES) and old:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


class ResidentModel:
    """One base model for the whole process, plus every adapter loaded on it."""

    def __init__(self, spec: ModelSpec, model, tokenizer, checkpoints: Path):
        self.spec = spec
        self.model = model  # a plain base model until the first adapter arrives
        self.tokenizer = tokenizer
        self.checkpoints = Path(checkpoints)
        self.lock = threading.RLock()
        self.adapters: dict[str, AdapterInfo] = {}
        self.problems: list[str] = []
        self.load_seconds = 0.0

    @classmethod
    def load(cls, model: str | None = None, checkpoints: Path | None = None) -> ResidentModel:
        """Load the base once and every valid adapter found for it."""
        start = time.perf_counter()
        spec = resolve_spec(model)
        base_model, tokenizer = load_base(spec)
        resident = cls(spec, base_model, tokenizer, checkpoints or default_checkpoints())
        clean_leftovers(resident.adapter_dir)
        resident.refresh()
        resident.load_seconds = time.perf_counter() - start
        return resident

    @property
    def adapter_dir(self) -> Path:
        return self.checkpoints / self.spec.name

    @property
    def is_peft(self) -> bool:
        from peft import PeftModel

        return isinstance(self.model, PeftModel)

    @property
    def device(self):
        return next(self.model.parameters()).device

    def names(self) -> list[str]:
        """What a user can pick: the base, then every loaded adapter."""
        return [BASE, *sorted(self.adapters)]

    def refresh(self) -> list[str]:
        """Load adapters that appeared on disk since the last look; return the new names."""
        found, self.problems = discover_adapters(self.checkpoints, self.spec.name)
        added = []
        for name, info in found.items():
            if name not in self.adapters:
                try:
                    self.add(info)
                    added.append(name)
                except AdapterError as exc:
                    self.problems.append(str(exc))
        return added

    def add(self, info: AdapterInfo) -> None:
        """Load one validated adapter next to the others (the base stays where it is)."""
        with self.lock:
            was_training = self.model.training  # a trainer may own the model between steps
            try:
                if self.is_peft:
                    if info.name in self.model.peft_config:
                        self.model.delete_adapter(info.name)
                    self.model.load_adapter(str(info.path), adapter_name=info.name)
                else:
                    from peft import PeftModel

                    self.model = PeftModel.from_pretrained(
                        self.model, str(info.path), adapter_name=info.name
                    )
            except (RuntimeError, ValueError, KeyError, OSError) as exc:
                raise AdapterError(f"{info.path}: does not fit {self.spec.name} ({exc})") from None
            self.model.train(was_training)
            self.adapters[info.name] = info

    def get(self, name: str) -> AdapterInfo | None:
        """``None`` for the base; raises with the valid names for an unknown adapter."""
        if name == BASE:
            return None
        if name not in self.adapters:
            self.refresh()
        if name not in self.adapters:
            raise AdapterError(f"unknown adapter {name!r}; available: {', '.join(self.names())}")
        return self.adapters[name]

    @contextmanager
    def inference(self, adapters: list[str]) -> Iterator[dict[str, Any]]:
        """Hold the lock, eval mode, and give ``generate`` kwargs selecting one adapter per row.

        Training mode and the trainer's active adapter are restored on the way out.
        """
        for name in set(adapters):
            self.get(name)
        with self.lock:
            was_training = self.model.training
            self.model.eval()
            try:
                if self.is_peft:
                    rows = ["__base__" if a == BASE else a for a in adapters]
                    yield {"adapter_names": rows}
                else:
                    yield {}
            finally:
                self.model.train(was_training)

    def training_model(self, lora_config: LoraConfig) -> PeftModel:
        """The resident model with a fresh, active adapter in TRL's training slot."""
        from peft import get_peft_model

        with self.lock:
            if self.is_peft and set(self.model.peft_config) <= {TRAINING_SLOT, "ref"}:
                self.model = self.model.unload()  # only a failed run's leftovers: start clean
            if self.is_peft:
                for slot in (TRAINING_SLOT, "ref"):
                    if slot in self.model.peft_config:
                        self.model.delete_adapter(slot)
                self.model.add_adapter(TRAINING_SLOT, lora_config)
                self.model.set_adapter(TRAINING_SLOT)
            else:
                self.model = get_peft_model(self.model, lora_config, adapter_name=TRAINING_SLOT)
            return self.model

    def end_training(self, saved: AdapterInfo | None) -> None:
        """Load the saved adapter by name, then drop TRL's training slot and "ref" copy."""
        with self.lock:
            if saved is not None:
                self.add(saved)
            for slot in (TRAINING_SLOT, "ref"):
                # PEFT cannot delete a model's last adapter; a lone, inactive slot is harmless
                if slot in self.model.peft_config and len(self.model.peft_config) > 1:
                    with warnings.catch_warnings():  # "active adapter deleted": intended
                        warnings.simplefilter("ignore", UserWarning)
                        self.model.delete_adapter(slot)
            self.model.eval()
            for param in self.model.parameters():
                param.requires_grad_(False)
