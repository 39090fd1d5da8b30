"""Integration: a real GRPO run on the bundled SmolLM2-135M (about a minute in all)."""

from __future__ import annotations

import json

import pytest
import torch

from grpo_demo.generation import SamplingParams, generate
from grpo_demo.models import load_base, resolve_spec
from grpo_demo.presets import from_preset
from grpo_demo.training import TrainingRun

pytestmark = pytest.mark.bundled
PROMPTS = ["Tomorrow I'm gonna learn for exam", "Fill that sentence", "Our teacher told us that"]


def test_real_grpo_run_on_the_bundled_model(bundled_resident):
    resident = bundled_resident
    base_before = {k: v.clone() for k, v in resident.model.state_dict().items()}
    cfg = from_preset(
        "classroom-four-letter",
        max_steps=2,
        per_device_train_batch_size=16,
        max_completion_length=16,
        learning_rate=3e-3,
        beta=0.04,  # exercise TRL's "ref" adapter path on the shared PeftModel
    )
    run = TrainingRun(resident, cfg, "it-four", prompts=PROMPTS, preset="classroom-four-letter")
    end = run.start().join(timeout=600)
    assert end.error is None and len(run.history) == 2
    assert all(len(e.completions) == 16 for e in run.history)
    assert "kl" in run.history[-1].metrics

    model = resident.model
    for key, value in model.get_base_model().state_dict().items():
        if "lora_" not in key:
            assert torch.equal(value, base_before[key.replace(".base_layer", "")]), key
    lora_b = [v for k, v in model.named_parameters() if "lora_B.it-four" in k]
    assert lora_b and max(v.abs().max().item() for v in lora_b) > 0  # moved from zero init

    folder = end.adapter.path
    assert {p.name for p in folder.iterdir()} == {
        "adapter_config.json",
        "adapter_model.safetensors",
        "run.json",
        "README.md",
        "steps.jsonl",  # every step's completions, rewards and advantages (the step browser)
    }
    record = json.loads((folder / "run.json").read_text())
    assert record["base"] == "smollm2-135m" and record["preset"] == "classroom-four-letter"
    assert record["config"]["learning_rate"] == 3e-3 and len(record["history"]) == 2

    # the saved folder reloads through plain PEFT on a fresh base, and changes what it says
    from peft import PeftModel

    fresh, tok = load_base(resolve_spec("smollm2-135m"))
    inputs = tok(PROMPTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        base_logits = fresh(**inputs).logits
        tuned = PeftModel.from_pretrained(fresh, str(folder)).eval()
        tuned_logits = tuned(**inputs).logits
        assert (tuned_logits - base_logits).abs().max() > 1e-3
        torch.manual_seed(0)
        greedy = tuned.generate(**inputs, do_sample=False, max_new_tokens=24)
        with tuned.disable_adapter():
            plain = tuned.generate(**inputs, do_sample=False, max_new_tokens=24)
    assert not torch.equal(greedy, plain)

    # and the resident model serves it by name next to the base
    params = SamplingParams(num_samples=4, max_new_tokens=16, seed=3)
    base_texts = [c.text for c in generate(resident, PROMPTS[0], "base", params)]
    tuned_texts = [c.text for c in generate(resident, PROMPTS[0], "it-four", params)]
    assert base_texts != tuned_texts
