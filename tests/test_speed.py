"""Speed-ups keep the semantics: merged-LoRA rollouts sample what the unmerged model samples,
and bf16 copies of the frozen weights compute what autocast computes from the fp32 ones."""

from __future__ import annotations

import pytest
import torch

from grpo_demo.lora_slots import Bf16Weights, merged_slot
from grpo_demo.training import TrainingRun
from tests.test_tiny_pipeline import PROMPTS, tiny_config


@pytest.fixture
def lora_model(tiny_gpt2):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_gpt2)
    config = LoraConfig(
        r=4, target_modules=["c_attn", "c_proj"], fan_in_fan_out=True, init_lora_weights=False
    )
    tok = AutoTokenizer.from_pretrained(tiny_gpt2)
    tok.pad_token = tok.eos_token
    return get_peft_model(base, config).eval(), tok


def test_merged_rollouts_match_the_unmerged_model_and_restore_the_base(lora_model):
    model, tok = lora_model
    inputs = tok(PROMPTS[:1], return_tensors="pt")
    before = {k: v.clone() for k, v in model.get_base_model().state_dict().items()}

    def sample(greedy: bool):
        torch.manual_seed(5)
        return model.generate(
            **inputs, do_sample=not greedy, max_new_tokens=12, pad_token_id=tok.eos_token_id
        )

    with torch.no_grad():
        plain_logits = model(**inputs).logits
        plain_greedy, plain_sampled = sample(True), sample(False)
        with model.disable_adapter():
            base_logits = model(**inputs).logits
        with merged_slot(model, "default"):
            merged_logits = model(**inputs).logits
            merged_greedy, merged_sampled = sample(True), sample(False)
    assert not torch.allclose(plain_logits, base_logits, atol=1e-3)  # the adapter matters
    torch.testing.assert_close(merged_logits, plain_logits, atol=1e-5, rtol=1e-5)
    assert torch.equal(merged_greedy, plain_greedy) and torch.equal(merged_sampled, plain_sampled)
    after = model.get_base_model().state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())  # bit for bit
    assert not any(getattr(m, "merged", False) for m in model.modules())


def test_a_run_with_merged_rollouts_samples_like_the_plain_one(tiny_resident):
    """Step 1 starts from B = 0, so merging adds exactly nothing: identical samples. Later the
    merged weights differ from x·W + (x·A)·B by float rounding (~1e-7), which can flip a draw
    on this random model's nearly flat 50k-token distribution - most samples still agree."""
    runs = {}
    for merged in (True, False):
        cfg = tiny_config(max_steps=2, merged_rollouts=merged)
        run = TrainingRun(tiny_resident, cfg, f"merged-{merged}".lower(), prompts=PROMPTS)
        assert run.start().join(timeout=300).error is None
        runs[merged] = [[c.completion for c in e.completions] for e in run.history]
    assert runs[True][0] == runs[False][0]
    same = sum(a == b for a, b in zip(runs[True][1], runs[False][1], strict=True))
    assert same >= len(runs[True][1]) // 2


def test_bf16_copies_compute_what_autocast_computes_and_leave_fp32_unwritten(lora_model):
    model, tok = lora_model
    inputs = tok(PROMPTS[:2], return_tensors="pt", padding=True)
    params = dict(model.named_parameters())
    before = {k: v.clone() for k, v in params.items()}
    copies = Bf16Weights(model)
    # GPT-2's Conv1D blocks (c_attn, c_proj, c_fc) and the LM head, tied to the embedding
    assert len(copies.modules) == 2 * 4 + 1
    autocast = torch.autocast("cpu", dtype=torch.bfloat16)
    with torch.no_grad():
        with autocast:
            plain = model(**inputs).logits
        with merged_slot(model, "default"), autocast:  # the delta in fp32, as a run merges
            merged = model(**inputs).logits
        with copies.swapped(model):
            assert model.get_base_model().lm_head.weight.dtype == torch.bfloat16
            swapped = model(**inputs).logits
        with copies.swapped(model, "default"):
            assert all(m.merged for m in model.modules() if hasattr(m, "merged_adapters"))
            swapped_merged = model(**inputs).logits
        with copies.swapped(model), copies.swapped(model, "default"):  # a merge inside a step
            nested = model(**inputs).logits
    assert torch.equal(swapped, plain)
    assert torch.equal(swapped_merged, merged) and torch.equal(nested, merged)
    assert dict(model.named_parameters()).keys() == params.keys()
    assert all(p is params[k] for k, p in model.named_parameters())  # the same objects back
    assert all(torch.equal(p, before[k]) for k, p in params.items())  # fp32 never written
    assert not any(getattr(m, "merged", False) for m in model.modules())


def test_a_bf16_run_on_bf16_copies_learns_what_it_learns_on_autocast_casts(tiny_resident, spied):
    """Same seed, same products: the copies change the speed, not the run. (A resident's
    first run turns the plain model into a PeftModel and draws its second step differently
    from every run after it, copies or not: a run without them goes first.)"""
    runs = {}
    for i, copies in enumerate((False, True, False)):
        cfg = tiny_config(max_steps=2, bf16=True, bf16_rollouts=True, bf16_weights=copies)
        run = TrainingRun(tiny_resident, cfg, f"copies-{i}", prompts=PROMPTS)
        swaps = spied["bf16_weights"]
        assert run.start().join(timeout=300).error is None
        assert (spied["bf16_weights"] > swaps) == copies  # the copies were swapped in
        runs[copies] = run.history
    for a, b in zip(runs[True], runs[False], strict=True):
        assert [c.completion for c in a.completions] == [c.completion for c in b.completions]
        assert a.metrics["loss"] == pytest.approx(b.metrics["loss"], abs=1e-6)
