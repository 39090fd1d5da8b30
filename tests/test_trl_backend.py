"""The TRL/PEFT internals the demo relies on: checked at start, and each one proven to fire."""

from __future__ import annotations

import pytest
import torch

from grpo_demo.training import TrainingError, TrainingRun, trl_backend
from tests.test_tiny_pipeline import PROMPTS, tiny_config

HOOK_COUNTS = ("training_step", "_generate_single_turn", "log", "merged_layers")


def test_every_hook_fires_in_a_one_step_run(tiny_resident, spied):
    cfg = tiny_config(max_steps=1, bf16_rollouts=True)
    run = TrainingRun(tiny_resident, cfg, "hooks", prompts=PROMPTS)
    assert run.start().join(timeout=300).error is None
    calls = spied
    assert all(calls.get(hook, 0) >= 1 for hook in HOOK_COUNTS), calls
    # the tiny GPT-2 has LoRA on c_attn, c_proj (x2: attention and MLP) in each of 2 blocks
    assert calls["merged_layers"] == 6 * calls["_generate_single_turn"]
    assert calls["bf16_rollouts"] == calls["_generate_single_turn"]
    assert run.history[0].metrics["reward"] == pytest.approx(run.history[0].logged["reward"])
    trained = [p for n, p in tiny_resident.model.named_parameters() if ".hooks." in n]
    assert trained and {p.dtype for p in trained} == {torch.float32}  # only rollouts were bf16


def test_without_merged_or_bf16_rollouts_those_hooks_stay_silent(tiny_resident, spied):
    cfg = tiny_config(max_steps=1, merged_rollouts=False, bf16_rollouts=False)
    run = TrainingRun(tiny_resident, cfg, "unmerged", prompts=PROMPTS)
    assert run.start().join(timeout=300).error is None
    assert spied["_generate_single_turn"] >= 1
    assert spied["merged_layers"] == 0
    assert spied["bf16_rollouts"] == 0


def test_adapters_are_saved_in_bf16_and_load_back_as_saved(tiny_resident):
    from safetensors.torch import load_file

    run = TrainingRun(tiny_resident, tiny_config(max_steps=1), "bf16-saved", prompts=PROMPTS)
    end = run.start().join(timeout=300)
    saved = load_file(str(end.adapter.path / "adapter_model.safetensors"))
    assert {v.dtype for v in saved.values()} == {torch.bfloat16}
    loaded = {k: v for k, v in tiny_resident.model.named_parameters() if ".bf16-saved." in k}
    assert len(loaded) == len(saved)
    for key, value in saved.items():
        param = loaded[key.replace(".weight", ".bf16-saved.weight")]
        assert param.dtype == torch.float32 and torch.equal(param, value.float())


def test_without_merged_rollouts_the_merge_hook_stays_silent(tiny_resident, spied):
    cfg = tiny_config(max_steps=1, merged_rollouts=False)
    run = TrainingRun(tiny_resident, cfg, "unmerged", prompts=PROMPTS)
    assert run.start().join(timeout=300).error is None
    assert spied["_generate_single_turn"] >= 1
    assert spied["merged_layers"] == 0


@pytest.mark.parametrize(
    ("owner", "attr"),
    [
        ("trl", "_generate_single_turn"),
        ("trl", "log"),
        ("peft", "merge"),
        ("peft", "merged_adapters"),
    ],
)
def test_a_missing_hook_fails_before_training_naming_the_versions(monkeypatch, owner, attr):
    from peft.tuners.lora import LoraLayer
    from trl import GRPOTrainer

    cls = GRPOTrainer if owner == "trl" else LoraLayer
    holder = next(c for c in cls.__mro__ if attr in vars(c))
    monkeypatch.delattr(holder, attr)  # for "log": Trainer's plain one is left, not GRPO's
    with pytest.raises(TrainingError, match=rf"{attr}.*installed trl .* / peft .*requirements"):
        trl_backend.check_hooks()


def test_a_run_on_a_trl_without_the_hook_ends_with_that_message(tiny_resident, monkeypatch):
    from trl import GRPOTrainer

    holder = next(c for c in GRPOTrainer.__mro__ if "_generate_single_turn" in vars(c))
    monkeypatch.delattr(holder, "_generate_single_turn")
    run = TrainingRun(tiny_resident, tiny_config(max_steps=1), "no-hook", prompts=PROMPTS)
    end = run.start().join(timeout=300)
    assert end.error and "_generate_single_turn" in end.error and not run.history
    assert "no-hook" not in tiny_resident.names()


def test_trl_metric_names_are_mapped_in_one_place():
    logs = {
        "reward": -1.5,
        "reward_std": 0.3,
        "rewards/four_letter/mean": -2.0,
        "rewards/four_letter/std": 0.5,
        "kl": 0.01,
        "frac_reward_zero_std": 0.25,
        "clip_ratio/region_mean": 0.0,
        "completions/mean_length": 30.0,
    }
    metrics = trl_backend.step_metrics(logs, ("four_letter",))
    assert metrics == {
        "reward": -1.5,
        "reward_std": 0.3,
        "kl": 0.01,
        "frac_tied_groups": 0.25,
        "clip_ratio": 0.0,
        "rewards/four_letter": -2.0,
    }
    with pytest.raises(TrainingError, match="'reward' metric"):
        trl_backend.step_metrics({"loss": 0.1}, ("four_letter",))


def test_after_a_bf16_run_the_shared_model_answers_as_before_it(tiny_resident):
    """Accelerate wraps the model's forward in autocast for a bf16 run; left there, every
    later request would be computed in bf16 (a forward pass no longer matched the base)."""
    from grpo_demo import lora_slots

    ids = tiny_resident.tokenizer(PROMPTS, return_tensors="pt", padding=True)["input_ids"]

    def logits():
        with torch.no_grad(), lora_slots.base_only(tiny_resident.model):
            return tiny_resident.model(input_ids=ids).logits

    before = tiny_resident.compute.call(logits)
    cfg = tiny_config(max_steps=1, bf16=True)
    run = TrainingRun(tiny_resident, cfg, "unwrapped", prompts=PROMPTS)
    assert run.start().join(timeout=300).error is None
    assert "_original_forward" not in vars(tiny_resident.model)
    assert torch.equal(tiny_resident.compute.call(logits), before)


def test_micro_batches_make_the_same_update_in_several_passes(tiny_resident, monkeypatch):
    """A step's 8 completions in one forward+backward, or in four micro-batches of 2 whose
    gradients TRL sums: the same rollouts and the same gradient at the optimizer step."""
    import torch
    from transformers import TrainerCallback

    from grpo_demo.training.trl_backend import grpo_args
    from tests.test_tiny_pipeline import PROMPTS, tiny_config

    class Gradients(TrainerCallback):
        def __init__(self):
            self.seen = {}

        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            for name, p in model.named_parameters():
                if p.grad is not None:
                    self.seen[name.replace(".default.", ".")] = p.grad.detach().clone()

    for module in tiny_resident.model.modules():  # GPT-2's dropout draws other masks per
        if isinstance(module, torch.nn.Dropout):  # micro-batch; SmolLM2 has none
            monkeypatch.setattr(module, "p", 0.0)
    grads, texts, phases = {}, {}, {}
    for size in (8, 2):
        cfg = tiny_config(max_steps=1, beta=0.0, update_batch_size=size)
        torch.manual_seed(0)  # the same LoRA initialisation for both
        spy = Gradients()
        run = TrainingRun(tiny_resident, cfg, f"u{size}", prompts=PROMPTS, callbacks=[spy])
        assert run.start().join(timeout=300).error is None
        grads[size], phases[size] = spy.seen, set(run.phases.seconds)
        texts[size] = [c.completion for c in run.history[0].completions]
    args = grpo_args(tiny_config(update_batch_size=2), "unused")
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (2, 4)
    assert args.generation_batch_size == 8  # TRL still samples the whole step at once
    assert texts[8] == texts[2]
    assert grads[8] and grads[8].keys() == grads[2].keys()
    for name, g in grads[8].items():
        assert torch.allclose(g, grads[2][name], rtol=1e-3, atol=1e-4 * g.abs().max()), name
    assert phases[8] == phases[2] == {"rollouts", "between", "update"}


def test_the_kl_reference_of_a_fresh_slot_is_the_base_with_adapters_off(tiny_resident, monkeypatch):
    """TRL's "ref" copy of a fresh slot is dropped (it answers as the base does): the same
    seed gives the same KL and loss at every step with it and without it."""
    from grpo_demo import lora_slots

    def run_with(name: str) -> list[tuple[float, float]]:
        seen = []
        make = trl_backend.make_trainer

        def spy(model, *a, **kw):
            trainer = make(model, *a, **kw)
            seen.append(set(model.peft_config))
            return trainer

        monkeypatch.setattr(trl_backend, "make_trainer", spy)
        cfg = tiny_config(max_steps=2, beta=0.5, learning_rate=0.05)
        run = TrainingRun(tiny_resident, cfg, name, prompts=PROMPTS)
        assert run.start().join(timeout=300).error is None
        monkeypatch.setattr(trl_backend, "make_trainer", make)
        assert (lora_slots.REF_SLOT in seen[0]) == (name == "kept")
        return [(e.metrics["kl"], e.metrics["loss"]) for e in run.history]

    run_with("warm-up")  # a process's first run draws its step-2 rollouts apart from later ones
    dropped = run_with("dropped")
    monkeypatch.setattr(trl_backend, "reference_is_base", lambda model: False)
    kept = run_with("kept")
    assert dropped == kept and dropped[1][0] > 0  # step 2 moved away from the reference
