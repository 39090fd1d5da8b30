"""PEFT adapter slots on the one shared model: the only module that names them or moves them.

A slot is a named LoRA adapter inside one ``PeftModel``: saved adapters sit in slots of their
own name; users call the base ``"base"`` (PEFT's row name for it: ``"__base__"``); TRL trains
the slot ``"default"`` and, with ``beta > 0``, copies it to ``"ref"`` as the KL reference. PEFT
is imported inside the functions (it takes ~5 s).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peft import LoraConfig, PeftModel

    from .models import ModelSpec

BASE = "base"  # what users pick for the base model: rows of this name get BASE_ROW
BASE_ROW = "__base__"  # PEFT's ``adapter_names=`` entry for a batch row with adapters off
TRAINING_SLOT = "default"  # the PEFT adapter TRL trains
REF_SLOT = "ref"  # TRL's copy of it as the KL reference when beta > 0
TRL_SLOTS = (TRAINING_SLOT, REF_SLOT)
WEIGHTS_DTYPE = "bfloat16"  # how saved adapters store their weights (write_trained_weights)
WEIGHTS_FILE = "adapter_model.safetensors"  # PEFT's file name in an adapter folder


def is_peft(model) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def row_names(model, adapters: list[str]) -> dict[str, list[str]]:
    """``generate`` kwargs that pick one adapter per batch row (``BASE``: adapters off).

    No ``set_adapter``: it would also flip ``requires_grad`` under a trainer between steps.
    """
    if not is_peft(model):
        return {}
    return {"adapter_names": [BASE_ROW if a == BASE else a for a in adapters]}


def base_only(model):
    """A context in which the model answers as the base (every adapter off)."""
    return model.disable_adapter() if is_peft(model) else nullcontext()


def load_slot(model, name: str, path: Path):
    """``model`` with the saved adapter at ``path`` in slot ``name`` (replacing one of that
    name); a plain model becomes a ``PeftModel``. Returns the model to keep."""
    if not is_peft(model):
        from peft import PeftModel

        return PeftModel.from_pretrained(model, str(path), adapter_name=name)
    if name in model.peft_config:
        model.delete_adapter(name)
    model.load_adapter(str(path), adapter_name=name)
    return model


def lora_config(spec: ModelSpec, r: int, alpha: int, dropout: float, targets) -> LoraConfig:
    """A LoRA config for the base (its default target modules unless ``targets``)."""
    from peft import LoraConfig

    targets = targets or spec.lora_target_modules
    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(targets) if isinstance(targets, tuple) else targets,
        fan_in_fan_out=spec.fan_in_fan_out,
        task_type="CAUSAL_LM",
    )


def attach_training_slot(model, config: LoraConfig) -> PeftModel:
    """``model`` (plain or PEFT) with a fresh, active adapter in TRL's training slot."""
    from peft import get_peft_model

    if not is_peft(model):
        return get_peft_model(model, config, adapter_name=TRAINING_SLOT)
    if set(model.peft_config) <= set(TRL_SLOTS):
        model = model.unload()  # only a failed run's leftovers: start clean
        return get_peft_model(model, config, adapter_name=TRAINING_SLOT)
    for slot in TRL_SLOTS:
        if slot in model.peft_config:
            model.delete_adapter(slot)
    model.add_adapter(TRAINING_SLOT, config)
    model.set_adapter(TRAINING_SLOT)
    return model


def reference_is_base(model) -> bool:
    """Drop TRL's ``"ref"`` copy of a training slot that is still fresh (every ``lora_B``
    zero: PEFT's init): such a copy answers exactly as the base, and without it TRL takes the
    KL reference from the base with adapters off (its own path when it wraps a model itself),
    sparing one full forward per step the LoRA layers' work. False where nothing was dropped.
    """
    if REF_SLOT not in getattr(model, "peft_config", {}) or not is_fresh(model):
        return False
    model.delete_adapter(REF_SLOT)
    return True


def is_fresh(model) -> bool:
    """Whether the training slot is as PEFT made it (every ``lora_B`` zero): the model then
    answers exactly as the base."""
    return all(not p.any() for n, p in model.named_parameters() if f"lora_B.{TRAINING_SLOT}." in n)


def detach_training_slots(model) -> None:
    """Drop TRL's training slot and its "ref" copy (PEFT keeps a model's last adapter), and
    freeze what is left: the shared model serves requests only."""
    for slot in TRL_SLOTS:
        if slot in model.peft_config and len(model.peft_config) > 1:
            with warnings.catch_warnings():  # "active adapter deleted": intended
                warnings.simplefilter("ignore", UserWarning)
                model.delete_adapter(slot)
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)


def write_trained_weights(model, folder: Path | str) -> None:
    """The trained slot as a standard PEFT folder (what ``PeftModel.from_pretrained`` reads).

    Weights are stored in bfloat16: half the fp32 size, so an r16 all-linear adapter of the
    bundled model (9.8 MB) stays under the 10 MB a Hugging Face Space takes as a plain file.
    PEFT casts them back to the model's dtype on load.
    """
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    model.save_pretrained(str(folder), selected_adapters=[TRAINING_SLOT])
    weights = f"{folder}/{WEIGHTS_FILE}"
    with safe_open(weights, "pt") as f:
        metadata = f.metadata()
    half = {
        k: v.to(getattr(torch, WEIGHTS_DTYPE)).contiguous() if v.is_floating_point() else v
        for k, v in load_file(weights).items()
    }
    save_file(half, weights, metadata=metadata)


@contextmanager
def merged_slot(model, slot: str) -> Iterator[None]:
    """Fold ``slot`` into the base weights while sampling, then restore them bit for bit.

    A LoRA layer costs four extra small ops per linear per token; merged, a rollout runs at
    base-model speed. The weights come back from a copy, not by subtracting the delta, so the
    shared base never drifts by rounding (the PEFT internals used: ``trl_hooks.HOOKS``)."""
    from peft.tuners.lora import LoraLayer

    layers = [m for m in model.modules() if isinstance(m, LoraLayer) and slot in m.lora_A]
    saved = [m.get_base_layer().weight.data.clone() for m in layers]
    try:
        for layer in layers:
            layer.merge(adapter_names=[slot])
        yield
    finally:
        for layer, weight in zip(layers, saved, strict=True):
            layer.get_base_layer().weight.data.copy_(weight)
            if slot in layer.merged_adapters:
                layer.merged_adapters.remove(slot)


class Bf16Weights:
    """bf16 copies of the frozen matmul weights, made once per run, swapped in under autocast.

    Autocast re-casts a weight that needs no gradient in every forward (it caches trainable
    ones only): 135M parameters per decode token and per update pass, the largest item in a CPU
    step's profile. Given the same values in bf16 already, it computes the same products. The
    fp32 weights are never written, so requests between phases see them untouched.
    """

    def __init__(self, model) -> None:
        import torch
        from torch import nn
        from transformers.pytorch_utils import Conv1D

        self.modules = [
            m
            for name, m in model.named_modules()
            if isinstance(m, nn.Linear | Conv1D)
            and ".lora_" not in name
            and m.weight.dtype == torch.float32
            and not m.weight.requires_grad
        ]
        self.fp32 = {id(m): m.weight for m in self.modules}  # what a merge starts from
        seen: dict[int, nn.Parameter] = {}  # a tied LM head shares its embedding's weight
        for m in self.modules:
            w = m.weight
            if id(w) not in seen:
                seen[id(w)] = nn.Parameter(w.detach().to(torch.bfloat16), requires_grad=False)
        self.copies = [seen[id(m.weight)] for m in self.modules]

    @contextmanager
    def swapped(self, model, slot: str | None = None):
        """Within: bf16 autocast with the bf16 copies in place; with ``slot``, that adapter
        folded in (``bf16(W + delta)``, what autocast makes of a merged fp32 weight), so a
        rollout runs at base-model speed without writing the fp32 weights."""
        import torch
        from peft.tuners.lora import LoraLayer
        from torch import nn

        now = [m._parameters["weight"] for m in self.modules]
        use = dict(zip(map(id, self.modules), self.copies, strict=True))
        layers = []
        if slot is not None:
            layers = [m for m in model.modules() if isinstance(m, LoraLayer) and slot in m.lora_A]
            exact = torch.autocast(model.device.type, enabled=False)  # the delta in fp32
            for layer in layers:
                base = layer.get_base_layer()
                weight = self.fp32[id(base)].detach()  # fp32 even inside another swap
                with exact:
                    merged = (weight + layer.get_delta_weight(slot)).to(torch.bfloat16)
                use[id(base)] = nn.Parameter(merged, requires_grad=False)
                layer.merged_adapters.append(slot)  # PEFT then runs the base layer only
        try:
            for m in self.modules:
                m._parameters["weight"] = use[id(m)]
            with torch.autocast(model.device.type, dtype=torch.bfloat16):
                yield
        finally:
            for m, weight in zip(self.modules, now, strict=True):
                m._parameters["weight"] = weight
            for layer in layers:
                layer.merged_adapters.remove(slot)
