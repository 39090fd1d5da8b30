"""What training changed: per-token log-probabilities under two models, checked against a
direct computation on an independently loaded model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from grpo_demo.adapters import BASE, AdapterError
from grpo_demo.generation import GenerationError
from grpo_demo.token_change import token_changes
from grpo_demo.training import TrainingRun
from tests.test_tiny_pipeline import PROMPTS, tiny_config


@pytest.fixture
def trained(tiny_resident):
    """The tiny resident with one adapter, moved by two steps at a high learning rate."""
    cfg = tiny_config(max_steps=2, learning_rate=0.05)
    end = TrainingRun(tiny_resident, cfg, "moved", prompts=PROMPTS).start().join(timeout=300)
    assert end.error is None
    return tiny_resident


def direct_logprobs(path, adapter_path, prompt: str, completion: str) -> list[float]:
    """One position at a time on a freshly loaded model: log p(token | everything before)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    if adapter_path is not None:
        model = PeftModel.from_pretrained(model, str(adapter_path)).eval()
    head = tok(prompt)["input_ids"]
    tail = tok(completion, add_special_tokens=False)["input_ids"]
    out = []
    with torch.no_grad():
        for i, token in enumerate(tail):
            ids = torch.tensor([head + tail[:i]])
            logits = model(input_ids=ids).logits[0, -1].float()
            out.append(torch.log_softmax(logits, -1)[token].item())
    return out


def test_each_token_is_scored_as_a_direct_computation_scores_it(trained, tiny_gpt2):
    completion = " the cat sat on the mat and then it ran"
    change = token_changes(trained, PROMPTS[0], completion, BASE, "moved")
    assert "".join(t.text for t in change.tokens) == completion
    adapter = trained.adapters["moved"].path
    before = direct_logprobs(tiny_gpt2, None, PROMPTS[0], completion)
    after = direct_logprobs(tiny_gpt2, adapter, PROMPTS[0], completion)
    assert [t.before for t in change.tokens] == pytest.approx(before, abs=1e-4)
    assert [t.after for t in change.tokens] == pytest.approx(after, abs=1e-4)
    assert any(abs(t.delta) > 1e-3 for t in change.tokens)  # the adapter moved something
    assert change.total == pytest.approx(sum(after) - sum(before), abs=1e-3)
    assert change.biggest(3)[0].delta == max((t.delta for t in change.tokens), key=abs)
    assert change.tokens[0].p_before == pytest.approx(torch.tensor(before[0]).exp().item())


def test_swapping_the_models_flips_every_change(trained):
    one = token_changes(trained, PROMPTS[1], " and so on", BASE, "moved")
    two = token_changes(trained, PROMPTS[1], " and so on", "moved", BASE)
    assert [t.delta for t in one.tokens] == pytest.approx([-t.delta for t in two.tokens])


@pytest.mark.parametrize(
    ("prompt", "completion", "before", "after", "message"),
    [
        ("Hello", " there", BASE, BASE, "two different models"),
        ("Hello", "   ", BASE, "moved", "completion to score is empty"),
        ("", " there", BASE, "moved", "prompt is empty"),
        ("Hello", " there", BASE, "nope", "unknown adapter 'nope'"),
    ],
)
def test_bad_requests_name_what_is_wrong(trained, prompt, completion, before, after, message):
    with pytest.raises((GenerationError, AdapterError), match=message):
        token_changes(trained, prompt, completion, before, after)


SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints" / "smollm2-135m"
SMOLLM = "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_update_norms_equal_the_full_product_per_layer_and_module():
    from safetensors.torch import load_file

    from grpo_demo.adapter_map import update_norms

    table = update_norms(SHIPPED / "four-letter", SMOLLM)
    assert table.shape == (30, 7)  # SmolLM2-135M: 30 layers x 7 linear modules
    assert list(table.columns[:4]) == ["q_proj", "k_proj", "v_proj", "o_proj"]
    weights = load_file(str(SHIPPED / "four-letter" / "adapter_model.safetensors"))
    key = "base_model.model.model.layers.{}.{}.lora_{}.weight"
    for layer, module, part in ((0, "q_proj", "self_attn"), (29, "down_proj", "mlp")):
        a = weights[key.format(layer, f"{part}.{module}", "A")].float()
        b = weights[key.format(layer, f"{part}.{module}", "B")].float()
        direct = (32 / 16) * torch.linalg.matrix_norm(b @ a).item()  # lora_alpha / r
        assert table.loc[layer, module] == pytest.approx(direct, rel=1e-4)


def test_the_hacked_adapter_moved_the_model_more_than_the_four_letter_one():
    """5x the learning rate (and no KL) in fewer steps: the collapse shows in the weights."""
    from grpo_demo.adapter_map import update_norms

    hacked = update_norms(SHIPPED / "hacked", SMOLLM).to_numpy().mean()
    gentle = update_norms(SHIPPED / "four-letter", SMOLLM).to_numpy().mean()
    assert hacked > 2 * gentle


def test_an_adapter_of_another_base_or_no_adapter_is_refused(tmp_path):
    import json
    import shutil

    from grpo_demo.adapter_map import update_norms
    from grpo_demo.settings import ConfigError

    other = tmp_path / "other"
    shutil.copytree(SHIPPED / "four-letter", other)
    config = json.loads((other / "adapter_config.json").read_text())
    (other / "adapter_config.json").write_text(
        json.dumps({**config, "base_model_name_or_path": "gpt2"})
    )
    with pytest.raises(ConfigError, match="'other' was trained on gpt2, not on this base"):
        update_norms(other, SMOLLM)
    with pytest.raises(ConfigError, match="not an adapter folder"):
        update_norms(tmp_path, SMOLLM)
