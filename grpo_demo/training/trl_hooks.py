"""What this package relies on beyond TRL's and PEFT's public API, written once.

The list ``HOOKS`` drives :func:`check_hooks` when a run starts, so a TRL or PEFT upgrade that
renames one fails at once with a message naming the versions, instead of silently losing
merged rollouts or the live completions table.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Any

from .events import TrainingError


@dataclass(frozen=True)
class Hook:
    """One internal relied on: where it lives, its name, and why."""

    library: str  # "trl" or "peft"
    owner: str  # the class: GRPOTrainer, LoraLayer
    name: str  # the attribute
    why: str
    own: bool = False  # must be GRPOTrainer's own, not the one it inherits from Trainer

    @property
    def label(self) -> str:
        return f"{self.library}.{self.owner}.{self.name}"


HOOKS = (
    Hook(
        "trl",
        "GRPOTrainer",
        "_prepare_inputs",
        "the rollout phase, run apart from the update",
        own=True,
    ),
    Hook("trl", "GRPOTrainer", "_generate_single_turn", "samples rollouts with the LoRA merged"),
    Hook("trl", "GRPOTrainer", "log", "one event per step from TRL's metrics", own=True),
    Hook("trl", "GRPOTrainer", "_logs", "the step's prompts, completions, rewards, advantages"),
    Hook("peft", "LoraLayer", "merge", "folds the adapter into the base weights while sampling"),
    Hook("peft", "LoraLayer", "get_base_layer", "the base weights to restore after a merge"),
    Hook("peft", "LoraLayer", "merged_adapters", "tells PEFT the merge was undone"),
    Hook("peft", "Linear", "get_delta_weight", "the adapter's delta, merged into bf16 copies"),
)
"""What is used beyond the public API (``TESTED_WITH``), and why: checked by ``check_hooks``."""

LOG_FIELDS = ("prompt", "completion", "rewards", "advantages")  # in GRPOTrainer._logs
TESTED_WITH = "trl 1.16, peft 0.21"


# -- checking the libraries ------------------------------------------------------------------
def versions() -> dict[str, str]:
    import peft
    import torch
    import transformers
    import trl

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "peft": peft.__version__,
    }


def _missing(what: str) -> TrainingError:
    v = versions()
    why = next((h.why for h in HOOKS if h.label == what), "see grpo_demo/training/trl_hooks.py")
    return TrainingError(
        f"{what} is missing from the installed trl {v['trl']} / peft {v['peft']}; this demo "
        f"was built on {TESTED_WITH} ({why}). Install the pinned versions: "
        "pip install -r requirements.txt"
    )


def check_hooks() -> None:
    """Fail before a run starts if a TRL/PEFT internal in ``HOOKS`` is gone."""
    from peft.tuners.lora import Linear, LoraLayer
    from transformers import Trainer
    from trl import GRPOTrainer

    owners = {"GRPOTrainer": GRPOTrainer, "LoraLayer": LoraLayer, "Linear": Linear}
    for hook in HOOKS:
        if hook.name == "_logs":
            continue  # an instance attribute: ``_check_logs`` once the trainer exists
        found = getattr(owners[hook.owner], hook.name, None)
        if found is None or (hook.own and found is getattr(Trainer, hook.name, None)):
            raise _missing(hook.label)


def _check_logs(logs: Any) -> None:
    """``_logs`` exists only once the trainer is built: check its shape then."""
    if not isinstance(logs, dict) or not set(LOG_FIELDS) <= set(logs):
        raise _missing("trl.GRPOTrainer._logs")
