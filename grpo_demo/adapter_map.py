"""Where an adapter acts: the size of its weight update per layer and module, from its files.

A LoRA adapter changes a weight ``W`` by ``scale · B·A`` (``scale = lora_alpha / r``, or
``/ sqrt(r)`` with rsLoRA). Its Frobenius norm per layer and module says which parts of the
model a task moved. Read from the saved PEFT folder alone: no model is loaded, and
``‖B·A‖`` comes from two ``r × r`` products, never the full ``out × in`` matrix.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .lora_slots import WEIGHTS_FILE
from .settings import ConfigError
from .store import ADAPTER_CONFIG

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

MODULE_ORDER = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""Attention, then the MLP, in the order a token meets them (GPT-2's c_attn, c_proj, c_fc
are not listed and keep their own order)."""
_KEY = re.compile(r"\.(\d+)\.(.+)\.lora_([AB])(?:\.[^.]+)?\.weight$")


def update_norms(folder: Path, base_model: str | None = None) -> pd.DataFrame:
    """``‖scale · B·A‖_F`` for every adapted module: rows = layers, columns = modules.

    ``base_model``: the resident's base (``adapter_config.json``'s
    ``base_model_name_or_path``); an adapter trained on another base is refused, naming both.
    """
    import pandas as pd
    import torch
    from safetensors.torch import load_file

    config_path, weights_path = folder / ADAPTER_CONFIG, folder / WEIGHTS_FILE
    if not config_path.is_file() or not weights_path.is_file():
        raise ConfigError(f"{folder.name}: not an adapter folder (no {ADAPTER_CONFIG} or weights)")
    config = json.loads(config_path.read_text())
    trained_on = config.get("base_model_name_or_path")
    if base_model and trained_on and trained_on != base_model:
        raise ConfigError(
            f"adapter {folder.name!r} was trained on {trained_on}, not on this base ({base_model})"
        )
    r, alpha = config["r"], config["lora_alpha"]
    scale = alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r
    pairs: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for key, value in load_file(str(weights_path)).items():
        if m := _KEY.search(key):
            pairs.setdefault((int(m[1]), m[2]), {})[m[3]] = value.float()
    if not pairs:
        raise ConfigError(f"{folder.name}: no per-layer LoRA weights found")
    rows = []
    for (layer, module), ab in sorted(pairs.items()):
        a, b = ab["A"], ab["B"]  # A: r × in, B: out × r
        squared = torch.trace((b.T @ b) @ (a @ a.T)).clamp_min(0)  # ‖BA‖² = tr(BᵀB·AAᵀ)
        rows.append({"layer": layer, "module": module, "norm": scale * float(squared.sqrt())})
    table = pd.DataFrame(rows).pivot(index="layer", columns="module", values="norm")
    table.columns = [c.split(".")[-1] for c in table.columns]  # self_attn.q_proj -> q_proj
    order = [c for c in MODULE_ORDER if c in table.columns]
    return table[order + [c for c in table.columns if c not in order]]


def heat_map(table: pd.DataFrame, title: str) -> Figure:
    """Layers down, modules across, darker = a larger update; sized for a 1024 px screen."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, max(3.0, 0.16 * len(table) + 1.4)))
    ax = fig.subplots()
    image = ax.imshow(table.to_numpy(), aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(table.columns)), list(table.columns), rotation=30, ha="right")
    step = max(1, len(table) // 15)
    ax.set_yticks(range(0, len(table), step), [str(i) for i in table.index[::step]])
    ax.set_ylabel("layer (0 = nearest the input)")
    ax.set_title(title, fontsize=12)
    fig.colorbar(image, ax=ax, label="‖scale · B·A‖ (larger matrices: larger norms)")
    fig.tight_layout()
    return fig


def summary_line(table: pd.DataFrame) -> str:
    """Where the update is largest, in one plain sentence."""
    by_module = table.mean().sort_values(ascending=False)
    top = table.mean(axis=1).sort_values(ascending=False).index[:3]
    return (
        f"Largest updates in {by_module.index[0]} and {by_module.index[1]}; layers "
        f"{', '.join(str(i) for i in sorted(top))} moved most (mean ‖ΔW‖ "
        f"{float(table.to_numpy().mean()):.3f})."
    )
