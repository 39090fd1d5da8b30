"""Run by test_distributed.py under `accelerate launch`: the real CLI's `train`, plus a record
per rank of the completions it scored itself and the LoRA weights it ended with."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from grpo_demo.__main__ import main
from grpo_demo.adapters import ResidentModel
from grpo_demo.lora_slots import TRAINING_SLOT
from grpo_demo.reward_spec import TERMS, TermInfo


def run(checkpoints: str, out: Path) -> int:
    rank = int(os.environ["RANK"])
    local: list[list[float]] = []
    report = TERMS["four_letter"].func

    def four_letter(completions, **kwargs):  # TRL calls it with this rank's completions only
        scores = report(completions, **kwargs)
        local.append(scores)
        return scores

    TERMS["four_letter"] = TermInfo(four_letter)  # the registry a run's rewards come from
    end_training = ResidentModel.end_training

    def dump_then_end(self, saved):
        from safetensors.torch import save_file

        trained = {
            name.replace(f".{TRAINING_SLOT}.", "."): p.detach().cpu().contiguous()
            for name, p in self.model.named_parameters()
            if f".{TRAINING_SLOT}." in name
        }
        save_file(trained, out / f"rank{rank}.safetensors")
        end_training(self, saved)

    ResidentModel.end_training = dump_then_end
    code = main(
        [
            "--checkpoints",
            checkpoints,
            "train",
            "--preset",
            "classroom-four-letter",
            "--task",
            "four-letter",
            "--name",
            "dist",
            "--max-steps",
            "2",
            "--per-device-train-batch-size",
            "4",
            "--num-generations",
            "4",
            "--max-completion-length",
            "8",
            "--quiet",
        ]
    )
    (out / f"rank{rank}.json").write_text(json.dumps({"code": code, "local": local}))
    return code


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], Path(sys.argv[2])))
