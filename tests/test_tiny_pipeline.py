"""Train -> save -> hot-load -> generate on a tiny GPT-2 (LoRA on Conv1D): the whole loop, fast."""

from __future__ import annotations

import json
import threading

import pytest
import torch

from grpo_demo.adapters import ResidentModel
from grpo_demo.config import ConfigError
from grpo_demo.generation import (
    GenerationError,
    SamplingParams,
    check_prompts,
    generate,
    sample,
)
from grpo_demo.presets import from_preset
from grpo_demo.steps import StepEvent
from grpo_demo.store import AdapterError, discover_adapters
from grpo_demo.training import BusyError, RunEnded, TrainingManager, TrainingRun

PROMPTS = ["Tomorrow I'm gonna learn for exam", "Fill that sentence"]


def tiny_config(**kw):
    values = dict(max_steps=2, per_device_train_batch_size=8, max_completion_length=8)
    return from_preset("classroom-four-letter", **{**values, **kw})


def lora_state(model, name):
    return {k: v.detach().clone() for k, v in model.named_parameters() if f".{name}." in k}


def test_grpo_on_gpt2_conv1d_trains_lora_only_and_hot_loads(tiny_resident: ResidentModel):
    base_before = {k: v.clone() for k, v in tiny_resident.model.state_dict().items()}
    run = TrainingRun(tiny_resident, tiny_config(beta=0.1), "tiny", prompts=PROMPTS)
    end = run.start().join(timeout=300)
    assert isinstance(end, RunEnded) and end.error is None, end
    assert [e.step for e in run.history] == [1, 2]
    model = tiny_resident.model
    assert set(model.peft_config) == {"tiny"}  # TRL's default/ref slots are gone
    assert model.peft_config["tiny"].fan_in_fan_out
    assert type(model.base_model.model.transformer.h[0].attn.c_attn).__name__ == "Linear"
    lora_b = [v for k, v in model.named_parameters() if "lora_B.tiny" in k]
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b)  # LoRA B starts at 0: it moved
    for key, value in model.get_base_model().state_dict().items():
        plain = key.replace(".base_layer", "")
        if "lora_" not in key:
            assert torch.equal(value, base_before[plain]), key  # base weights untouched
    assert "tiny" in tiny_resident.names()
    assert not any(p.requires_grad for p in model.parameters())


def test_step_events_carry_every_completion_with_rewards_and_advantage(tiny_resident):
    run = TrainingRun(tiny_resident, tiny_config(max_steps=1), "events", prompts=PROMPTS)
    run.start()
    events = list(run.events())
    step, end = events
    assert isinstance(step, StepEvent) and isinstance(end, RunEnded)
    assert len(step.completions) == 8  # per_device_train_batch_size completions
    group = [c.advantage for c in step.completions]
    assert abs(sum(group)) < 1e-3  # one prompt's group: advantages are centred
    first = step.completions[0]
    assert set(first.rewards) == {"four_letter", "distinct_words", "no_long_runs"}
    r = first.rewards
    weighted = r["four_letter"] + 4.0 * r["distinct_words"] + 2.0 * r["no_long_runs"]
    assert first.reward == pytest.approx(weighted)  # the task's reward_weights (1, 4, 2)
    best = max(step.completions, key=lambda c: c.reward)
    assert best.advantage == max(c.advantage for c in step.completions)
    assert {"reward", "reward_std", "entropy"} <= set(step.metrics)
    saved = json.loads((end.adapter.path / "run.json").read_text())
    assert saved["steps"] == 1 and saved["config"]["task"] == "four-letter-strict"
    assert saved["history"][0]["reward"] == pytest.approx(step.reward)
    assert {"torch", "trl", "peft", "transformers"} <= set(saved["versions"])
    from grpo_demo.models import device_name

    assert saved["device"] == device_name()  # "cpu (2 cores)" here, "cuda (NVIDIA H100 ...)" there
    assert saved["device"] in (end.adapter.path / "README.md").read_text()


def test_stop_is_honoured_within_one_step_and_still_saves(tiny_resident):
    stopped_at = []
    run = TrainingRun(tiny_resident, tiny_config(max_steps=50), "stopped", prompts=PROMPTS)
    run.start()
    for event in run.events():
        if isinstance(event, StepEvent) and not stopped_at:
            stopped_at.append(event.step)
            run.stop()
    assert run.ended.stopped and run.ended.error is None
    assert len(run.history) <= stopped_at[0] + 1  # at most the step already under way
    assert (run.ended.adapter.path / "adapter_model.safetensors").is_file()
    assert json.loads((run.ended.adapter.path / "run.json").read_text())["stopped_early"]


def test_one_training_at_a_time(tiny_resident):
    manager = TrainingManager(tiny_resident)
    first = manager.start(tiny_config(max_steps=3), "first", prompts=PROMPTS, owner="alice")
    with pytest.raises(BusyError, match=r"'first'.*alice"):
        manager.start(tiny_config(), "second", prompts=PROMPTS)
    assert manager.stop()
    first.join(timeout=300)
    assert not (tiny_resident.adapter_dir / "second").exists()


def test_generation_between_training_steps_does_not_disturb_the_run(tiny_resident):
    run = TrainingRun(tiny_resident, tiny_config(max_steps=3), "busy", prompts=PROMPTS).start()
    outputs = []

    def hammer():
        while run.ended is None:
            outputs.append(generate(tiny_resident, "Hello", "base", SamplingParams(2, 4)))

    t = threading.Thread(target=hammer)
    t.start()
    end = run.join(timeout=300)
    t.join()
    assert end.error is None and len(run.history) == 3 and outputs


def test_existing_name_is_refused_before_training(tiny_resident):
    (tiny_resident.adapter_dir / "taken").mkdir(parents=True)
    with pytest.raises(ConfigError, match="already exists"):
        TrainingRun(tiny_resident, tiny_config(), "taken")


def test_generate_is_seeded_and_compare_shares_the_seed(tiny_resident):
    TrainingRun(tiny_resident, tiny_config(max_steps=1), "a1", prompts=PROMPTS).start().join()
    params = SamplingParams(num_samples=3, max_new_tokens=6, seed=7)
    one = generate(tiny_resident, "Fill that sentence", "base", params)
    two = generate(tiny_resident, "Fill that sentence", "base", params)
    assert [c.text for c in one] == [c.text for c in two]
    assert len(one) == 3 and {"four_letter", "word_count"} <= set(one[0].rewards)
    side = sample(tiny_resident, ["Fill that sentence"], tiny_resident.names(), params)
    assert [c.adapter for c in side] == ["base"] * 3 + ["a1"] * 3
    assert [c.text for c in side[:3]] == [c.text for c in one]


@pytest.mark.parametrize(
    ("prompt", "adapter", "params", "error"),
    [
        ("", "base", {}, GenerationError),
        ("   ", "base", {}, GenerationError),
        ("x" * 3000, "base", {}, GenerationError),
        ("ok", "nope", {}, AdapterError),
        ("ok", "base", {"num_samples": 0}, GenerationError),
        ("ok", "base", {"temperature": -0.1}, GenerationError),
        ("ok", "base", {"max_new_tokens": 10_000}, GenerationError),
    ],
)
def test_a_bad_request_is_refused_where_it_is_typed(tiny_resident, prompt, adapter, params, error):
    """The engine trusts a typed request: the prompt, the adapter and the settings are each
    refused by the check the forms and the CLI run, before anything is queued."""
    with pytest.raises(error):
        check_prompts([prompt])
        tiny_resident.get(adapter)
        SamplingParams(**params)
    assert tiny_resident.batcher.waiting() == 0


def test_discovery_refuses_pickles_other_bases_and_junk(tiny_resident, tmp_path):
    run = TrainingRun(tiny_resident, tiny_config(max_steps=1), "good", prompts=PROMPTS)
    good = run.start().join().adapter.path
    root = tiny_resident.checkpoints / tiny_resident.spec.name
    pickled = root / "pickled"
    pickled.mkdir()
    (pickled / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    (pickled / "adapter_model.bin").write_bytes(b"not safe")
    other = root / "other-base"
    other.mkdir()
    for f in good.iterdir():
        (other / f.name).write_bytes(f.read_bytes())
    meta = json.loads((other / "run.json").read_text())
    (other / "run.json").write_text(json.dumps({**meta, "base": "gpt2-xl"}))
    (root / "empty").mkdir()
    found, problems = discover_adapters(tiny_resident.checkpoints, tiny_resident.spec.name)
    assert set(found) == {"good"}
    text = "\n".join(problems)
    assert "pickled" in text and "gpt2-xl" in text and "adapter_config.json" in text
    with pytest.raises(AdapterError, match="unknown adapter"):
        tiny_resident.get("pickled")


def test_a_fresh_resident_finds_saved_adapters(tiny_resident, tiny_gpt2):
    TrainingRun(tiny_resident, tiny_config(max_steps=1), "kept", prompts=PROMPTS).start().join()
    again = ResidentModel.load(str(tiny_gpt2), tiny_resident.checkpoints)
    assert again.names() == ["base", "kept"]
    assert not list(tiny_resident.adapter_dir.glob(".tmp-*"))  # atomic save left nothing behind


def test_a_failed_run_reports_its_error_and_the_next_run_works(tiny_resident, monkeypatch):
    import grpo_demo.store as store

    def broken(*args, **kwargs):
        raise RuntimeError("reward server exploded")

    monkeypatch.setattr(store, "save_adapter", broken)
    end = TrainingRun(tiny_resident, tiny_config(max_steps=1), "boom", prompts=PROMPTS).start()
    end = end.join(timeout=300)
    assert end.error and "reward server exploded" in end.error and end.adapter is None
    assert "boom" not in tiny_resident.names()
    monkeypatch.undo()
    run = TrainingRun(tiny_resident, tiny_config(max_steps=1), "after", prompts=PROMPTS).start()
    assert run.join(timeout=300).error is None
    assert tiny_resident.names() == ["base", "after"]
    assert set(tiny_resident.model.peft_config) == {"after"}


def test_loading_an_adapter_keeps_the_trainers_mode(tiny_resident):
    """A page load may hot-load a new adapter between two training steps: TRL reads
    model.training to file its metrics, so loading must not flip the model to eval."""
    import shutil

    first = TrainingRun(tiny_resident, tiny_config(max_steps=1), "one", prompts=PROMPTS)
    folder = first.start().join().adapter.path
    shutil.copytree(folder, folder.parent / "copy")
    tiny_resident.model.train()
    assert tiny_resident.refresh() == ["copy"]
    assert tiny_resident.model.training
    tiny_resident.model.eval()


def test_temperature_zero_is_greedy_not_an_error(tiny_resident):
    greedy = generate(tiny_resident, "Fill that sentence", "base", SamplingParams(3, 8, 0.0))
    assert len({c.text for c in greedy}) == 1  # the likeliest continuation, three times
    again = generate(tiny_resident, "Fill that sentence", "base", SamplingParams(1, 8, 0.0, seed=9))
    assert again[0].text == greedy[0].text  # no randomness: the seed does not matter


def test_a_finished_run_keeps_this_machines_pace_for_the_next_start(
    tiny_resident, tmp_path, monkeypatch
):
    """No page watches this run: the run itself keeps its seconds per step in the cache
    folder, and the next time hint for a step of that size reads it."""
    from grpo_demo.bundled import CACHE_ENV
    from grpo_demo.pace import MEASURED, pace_file, step_seconds

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    assert step_seconds(tiny_resident.spec.name, 64)[1] != MEASURED  # nothing measured yet
    run = TrainingRun(tiny_resident, tiny_config(), "paced", prompts=PROMPTS)
    end = run.start().join(timeout=300)
    assert end.error is None and pace_file().exists()
    per_step = run.history[-1].elapsed / len(run.history)
    assert step_seconds(tiny_resident.spec.name, 64) == (
        pytest.approx(per_step, abs=1e-3),
        MEASURED,
    )
