"""The command line, end to end in subprocesses, on a tiny GPT-2 folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "grpo_demo", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_help_lists_the_commands():
    out = cli("--help")
    assert out.returncode == 0
    for command in ("train", "generate", "evaluate", "list"):
        assert command in out.stdout


def test_bad_arguments_exit_2_with_a_message():
    out = cli("train", "--name", "x", "--num-generations", "3")
    assert out.returncode == 2 and "divisible by num_generations" in out.stderr
    assert cli("train").returncode == 2  # --name is required
    assert cli("train", "--name", "x", "--preset", "config_9").returncode == 2
    out = cli("train", "--name", "x", "--loss-type", "ppo")
    assert out.returncode == 2 and "argument --loss-type: invalid choice: 'ppo'" in out.stderr
    assert "'dr_grpo'" in out.stderr  # argparse lists the choices


def test_train_help_lists_the_loss_settings_with_their_choices():
    out = cli("train", "--help")
    assert out.returncode == 0
    for usage in (
        "--loss-type {grpo,dr_grpo,dapo,bnpo,cispo,sapo,luspo,vespo}",
        "--scale-rewards {group,batch,none}",
        "--importance-sampling-level {token,sequence}",
    ):
        assert usage in out.stdout


def test_unavailable_model_exits_3(tmp_path):
    out = cli("--model", str(tmp_path / "missing"), "list")
    assert out.returncode == 3 and "smollm2-135m" in out.stderr


def test_train_generate_evaluate_on_a_tiny_gpt2(tiny_gpt2, tmp_path):
    common = ("--model", str(tiny_gpt2), "--checkpoints", str(tmp_path / "ckpt"))
    out = cli(
        *common,
        "train",
        "--name",
        "cli-demo",
        "--max-steps",
        "2",
        "--per-device-train-batch-size",
        "8",
        "--max-completion-length",
        "8",
    )
    assert out.returncode == 0, out.stderr
    assert "saved" in out.stdout and "s/step" in out.stdout
    config = out.stdout.split("run config (preset classroom-four-letter, defaults resolved):\n")[1]
    assert "  max_steps = 2\n" in config  # every field, the flags' values and TRL's defaults
    assert "  loss_type = dapo  (TRL's default)\n" in config
    assert "  lora_target_modules = " in config and "  bf16_weights = True\n" in config
    folder = tmp_path / "ckpt" / tiny_gpt2.name / "cli-demo"
    assert (folder / "adapter_model.safetensors").is_file()

    out = cli(
        *common,
        "generate",
        "--adapter",
        "cli-demo",
        "-k",
        "2",
        "--max-new-tokens",
        "5",
        "--prompt",
        "Fill that sentence",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 2 and rows[0]["adapter"] == "cli-demo"
    assert "four_letter" in rows[0]["rewards"] and "word_count" in rows[0]

    out = cli(*common, "generate", "--adapter", "nope")
    assert out.returncode == 4 and "unknown adapter" in out.stderr

    out = cli(
        *common,
        "evaluate",
        "--adapters",
        "base",
        "cli-demo",
        "-n",
        "6",
        "--max-new-tokens",
        "5",
        "--out",
        str(tmp_path / "eval"),
    )
    assert out.returncode == 0, out.stderr
    assert "four_letter median" in out.stdout
    result = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert {r["adapter"] for r in result["table1"]} == {"base", "cli-demo"}
    assert result["diversity"]["cli-demo"]["n"] == 6
    assert "win rate against the base" in out.stdout
    (wins,) = result["win_rates"]
    assert wins["adapter"] == "cli-demo" and wins["n"] == 6
    assert wins["wins"] + wins["ties"] + wins["losses"] == 6


def test_app_refuses_to_start_on_an_unavailable_model_with_a_clear_message():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRPO_DEMO_MODEL": "gpt2"}
    out = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode != 0
    assert "smollm2-135m" in out.stderr and "Traceback" not in out.stderr


def test_a_custom_reward_probes_and_scoring_the_base_from_the_cli(tiny_gpt2, tmp_path):
    common = ("--model", str(tiny_gpt2), "--checkpoints", str(tmp_path / "ckpt"))
    spec = "1*n_letter[n=3] + 2*distinct_words"
    out = cli(
        *common,
        "train",
        "--name",
        "custom",
        "--reward",
        spec,
        "--probe",
        "Fill that sentence",
        "--probe-every",
        "1",
        "--max-steps",
        "2",
        "--per-device-train-batch-size",
        "8",
        "--max-completion-length",
        "8",
        "--quiet",
    )
    assert out.returncode == 0, out.stderr
    assert "step 2 probe 'Fill that sentence' ->" in out.stdout + out.stderr
    assert "run config" not in out.stdout and "loss_type =" not in out.stdout  # --quiet
    record = json.loads((tmp_path / "ckpt" / tiny_gpt2.name / "custom" / "run.json").read_text())
    assert record["config"]["reward"] == spec
    assert record["reward_funcs"] == ["n_letter[n=3]", "distinct_words"]
    assert record["probes"]["prompts"] == ["Fill that sentence"]

    out = cli(*common, "score", "--reward", "1*length_window[low=1,high=4096]", "-k", "4")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("(tied: teaches nothing)") == 2 and "Every group ties" in out.stdout

    out = cli(*common, "train", "--name", "bad", "--reward", "__import__('os')")
    assert out.returncode == 2 and "is not 'weight*name'" in out.stderr
