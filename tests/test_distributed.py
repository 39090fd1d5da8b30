"""`accelerate launch` with two CPU processes (gloo) on the bundled model: data-parallel GRPO.

Checks what makes a distributed run correct: one adapter written (by rank 0), equal to the
weights every rank holds, and a logged reward that averages both ranks' completions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from tests.conftest import free_port

pytestmark = pytest.mark.bundled
ROOT = Path(__file__).resolve().parent.parent


def test_two_cpu_processes_train_one_adapter(tmp_path):
    checkpoints, out = tmp_path / "ckpt", tmp_path / "ranks"
    out.mkdir()
    accelerate = Path(sys.executable).with_name("accelerate")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            str(accelerate),
            "launch",
            "--config_file",
            str(ROOT / "configs/accelerate/cpu-2proc.yaml"),
            "--main_process_port",
            str(free_port()),
            str(ROOT / "tests/dist_train.py"),
            str(checkpoints),
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["code"] for r in ranks] == [0, 0]

    folder = checkpoints / "smollm2-135m"
    assert sorted(p.name for p in folder.iterdir()) == ["dist"]  # one adapter, no leftovers
    saved = load_file(folder / "dist" / "adapter_model.safetensors")
    held = [load_file(out / f"rank{r}.safetensors") for r in (0, 1)]
    assert set(saved) == set(held[0]) == set(held[1]) and saved
    for name, weight in saved.items():  # saved in bf16: each rank's weights, rounded so
        assert weight.equal(held[0][name].to(weight.dtype)), name
        assert weight.equal(held[1][name].to(weight.dtype)), name
    assert any(w.abs().max() > 0 for n, w in saved.items() if "lora_B" in n)  # it trained

    history = json.loads((folder / "dist" / "run.json").read_text())["history"]
    assert len(history) == 2
    for step, logged in enumerate(history):
        mine, theirs = ranks[0]["local"][step], ranks[1]["local"][step]
        assert len(mine) == len(theirs) == 4  # each rank scored its own share
        both = mine + theirs
        assert logged["reward"] == pytest.approx(sum(both) / len(both), abs=1e-5)
