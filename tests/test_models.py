"""Base-model specs, the offline failure, and the GPT-2 path (real tokenizer, tiny model)."""

from __future__ import annotations

import time

import pytest

from grpo_demo.models import BUNDLED, ModelUnavailable, load_base, resolve_spec


def test_default_is_the_bundled_model(monkeypatch):
    monkeypatch.delenv("GRPO_DEMO_MODEL", raising=False)
    assert resolve_spec().name == BUNDLED
    monkeypatch.setenv("GRPO_DEMO_MODEL", "gpt2")
    assert resolve_spec().name == "gpt2"
    assert resolve_spec("smollm2-135m").source == "bundled"  # the flag beats the env var


def test_gpt2_spec_targets_conv1d():
    spec = resolve_spec("gpt2")
    assert spec.lora_target_modules == ("c_attn", "c_proj") and spec.fan_in_fan_out


@pytest.mark.parametrize("offline", ["1", ""])
def test_uncached_hub_model_fails_fast_and_names_the_bundled_model(monkeypatch, offline, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", offline)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # nothing cached here
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: no hub
    start = time.perf_counter()
    with pytest.raises(ModelUnavailable) as err:
        load_base(resolve_spec("gpt2"))
    assert time.perf_counter() - start < 5
    assert "smollm2-135m" in str(err.value) and "not in the local" in str(err.value)


def test_local_gpt2_folder_uses_gpt2_lora_and_pads_left_with_eos(tiny_gpt2):
    spec = resolve_spec(str(tiny_gpt2))
    assert spec.source == "path" and spec.fan_in_fan_out
    assert spec.lora_target_modules == ("c_attn", "c_proj")
    _, tok = load_base(spec)
    assert tok.pad_token == tok.eos_token == "<|endoftext|>"
    assert tok.padding_side == "left"
    batch = tok(["Fill that sentence", "Tomorrow I'm gonna learn for exam"], padding=True)
    assert batch["input_ids"][0][0] == tok.eos_token_id  # the short prompt is padded on the left
    assert batch["attention_mask"][0][0] == 0
    assert tok.decode(tok("Tomorrow I'm gonna")["input_ids"]) == "Tomorrow I'm gonna"
    assert len(tok("Tomorrow")["input_ids"]) == 1  # GPT-2's real BPE, not a toy vocabulary


def test_missing_local_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailable, match="no model folder"):
        resolve_spec(str(tmp_path / "nope"))
