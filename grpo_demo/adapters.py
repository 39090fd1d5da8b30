"""The one resident base model and its named LoRA adapters, on the one compute thread.

Adapters are PEFT folders (``store`` says which are safe to load), each in a slot of one
``PeftModel`` (``lora_slots``); a request picks its adapter per batch row, so "switching" never
mutates shared state. Every use of the model is a job on the compute thread (``compute.py``),
which serialises them: nothing here takes a lock. Where the GPU is another process
(``gpu_calls``), sampling goes through ``SAMPLE_ROWS``: this model's ``key``, rows and adapter
folders in (the worker's copy found by ``living``), texts out.
"""

from __future__ import annotations

import itertools
import os
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import compute, gpu_calls, lora_slots
from .lora_slots import BASE
from .models import ModelSpec, load_base, resolve_spec
from .row_batches import Row, RowBatcher, generate_rows
from .store import (
    AdapterError,
    AdapterInfo,
    clean_leftovers,
    default_checkpoints,
    discover_adapters,
    folder_state,
)

if TYPE_CHECKING:
    from peft import LoraConfig, PeftModel


class ResidentModel:
    """One base model for the whole process, plus every adapter loaded on it."""

    def __init__(self, spec: ModelSpec, model, tokenizer, checkpoints: Path):
        self.spec = spec
        self.model = model  # a plain base model until the first adapter arrives
        self.tokenizer = tokenizer
        self.checkpoints = Path(checkpoints)
        self.compute = compute.shared()  # every tensor op of the process runs on this thread
        self.batcher = RowBatcher(self.compute, self._sample_rows)  # requests share batches
        self.adapters: dict[str, AdapterInfo] = {}
        self.problems: list[str] = []
        self.load_seconds = 0.0
        self._seen: tuple | None = None  # the adapter folder as last looked at (folder_state)
        self.key = next(_KEYS)  # how a GPU worker finds its copy of this object (``living``)
        _LIVING[self.key] = self
        self._pid = os.getpid()

    @classmethod
    def load(cls, model: str | None = None, checkpoints: Path | None = None) -> ResidentModel:
        """Load the base once and every valid adapter found for it."""
        start = time.perf_counter()
        spec = resolve_spec(model)
        base_model, tokenizer = compute.shared().call(load_base, spec)
        resident = cls(spec, base_model, tokenizer, checkpoints or default_checkpoints())
        clean_leftovers(resident.adapter_dir)
        resident.refresh()
        resident.load_seconds = time.perf_counter() - start
        return resident

    @property
    def adapter_dir(self) -> Path:
        return self.checkpoints / self.spec.name

    @property
    def device(self):
        return next(self.model.parameters()).device

    def names(self) -> list[str]:
        """What a user can pick: the base, then every loaded adapter."""
        return [BASE, *sorted(self.adapters)]

    def refresh(self) -> list[str]:
        """Load adapters that appeared on disk since the last look; return the new names.

        Looking is on the caller's thread: every open page polls, and a poll with nothing new
        must not wait behind a training phase nor cost the run CPU time (an unchanged folder,
        ``folder_state``, reads no file). Loading goes to the compute thread."""
        seen = folder_state(self.adapter_dir)
        if seen == self._seen and seen is not None:
            return []
        found, problems = discover_adapters(self.checkpoints, self.spec.name)
        if all(name in self.adapters for name in found):
            self.problems, self._seen = problems, seen
            return []
        added = self.compute.call(self._load_new, found, problems)
        self._seen = seen
        return added

    def _load_new(self, found: dict[str, AdapterInfo], problems: list[str]) -> list[str]:
        self.problems = problems
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
        self.compute.call(self._add, info)

    def _add(self, info: AdapterInfo) -> None:
        was_training = self.model.training  # a trainer may own the model between steps
        try:
            self.model = lora_slots.load_slot(self.model, info.name, info.path)
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
        """Eval mode, and ``generate`` kwargs selecting one adapter per row (on the compute
        thread). Training mode and the trainer's active adapter are restored on the way out."""
        for name in set(adapters):
            self.get(name)
        with self._eval(adapters) as extra:
            yield extra

    @contextmanager
    def _eval(self, slots: list[str]) -> Iterator[dict[str, Any]]:
        """``inference`` for slot names already checked (TRL's training slot included)."""
        was_training = self.model.training
        self.model.eval()
        try:
            yield lora_slots.row_names(self.model, slots)
        finally:
            self.model.train(was_training)

    # -- GPU entry points ----------------------------------------------------------------------
    @staticmethod
    def living(key: int, infos: list[AdapterInfo]) -> ResidentModel:
        """At a GPU entry point: this process's resident model of that key (in a worker, the
        worker's copy), ready for the call (``in_worker``: ``infos``' adapters loaded)."""
        resident = _LIVING[key]
        resident.in_worker(infos)
        return resident

    def infos(self, names: list[str]) -> list[AdapterInfo]:
        """The loaded adapters among ``names`` (base and TRL's slots are not folders)."""
        return [self.adapters[n] for n in dict.fromkeys(names) if n in self.adapters]

    def in_worker(self, infos: list[AdapterInfo]) -> None:
        """At an entry point: in a fork, forget the parent's queued requests and move this copy
        onto the worker's GPU (once), then load the adapters it lacks (saved after it was
        forked) or holds in an older version, from their folders."""
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self.batcher = RowBatcher(self.compute, self._sample_rows)
            import torch

            if torch.cuda.is_available() and self.device.type == "cpu":  # the worker's GPU
                self.model.to("cuda")
        for info in infos:
            held = self.adapters.get(info.name)
            if held is None or held.run.get("created") != info.run.get("created"):
                self.add(info)

    def _sample_rows(self, rows: list[Row]) -> list[str]:
        """One batch of the batcher's rows (on the compute thread), by the GPU entry point."""
        return SAMPLE_ROWS(self.key, rows, self.infos([r.adapter for r in rows]))

    def training_model(self, lora_config: LoraConfig) -> PeftModel:
        """The resident model with a fresh, active adapter in TRL's training slot."""
        self.model = lora_slots.attach_training_slot(self.model, lora_config)
        return self.model

    def end_training(self, saved: AdapterInfo | None) -> None:
        """Load the saved adapter by name, then drop the trainer's own adapter slots."""
        if saved is not None:
            self.add(saved)
        lora_slots.detach_training_slots(self.model)


_KEYS = itertools.count(1)
_LIVING: weakref.WeakValueDictionary[int, ResidentModel] = weakref.WeakValueDictionary()
"""Every resident model of the process by key: a GPU entry point is made at import (ZeroGPU
looks for them at launch, before any model loads) and gets the model's key, not the model."""
ROW_SECONDS_PER_TOKEN = 0.05
"""A GPU decode step of a batch (~20 ms for the bundled model on an H100, doubled for a shared
GPU): what a sampling call asks ZeroGPU for, with ``START_SECONDS``."""
START_SECONDS = 5.0


def _rows_on_gpu(key: int, rows: list[Row], infos: list[AdapterInfo]) -> list[str]:
    """The entry point for sampling: rows in (adapters by slot name), texts out."""
    resident = ResidentModel.living(key, infos)
    with resident._eval([r.adapter for r in rows]) as extra:
        return generate_rows(resident.model, resident.tokenizer, rows, **extra)


def _rows_seconds(key: int, rows: list[Row], infos: list[AdapterInfo]) -> float:
    return START_SECONDS + ROW_SECONDS_PER_TOKEN * max(r.max_new_tokens for r in rows)


SAMPLE_ROWS = gpu_calls.on_gpu(_rows_on_gpu, _rows_seconds)
