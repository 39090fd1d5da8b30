"""Presets are the report's table; bad settings are refused with a clear message."""

from __future__ import annotations

import pytest

from grpo_demo.config import GRPO_FIELDS, ConfigError, RunConfig, grpo_defaults
from grpo_demo.presets import PRESETS, from_preset
from grpo_demo.store import check_adapter_name
from grpo_demo.tasks import TASKS

# The report's table (section 2.1), field by field; absent = TRL's default.
REPORT = {
    "default": {},
    "config_1": {"max_completion_length": 512},
    "config_2": {"max_completion_length": 512, "epsilon": 0.5, "learning_rate": 1e-5},
    "config_3": {
        "max_completion_length": 256,
        "epsilon": 0.7,
        "learning_rate": 1e-4,
        "beta": 0.1,
        "gradient_accumulation_steps": 2,
        "num_generations": 16,
    },
    "config_4": {
        "max_completion_length": 256,
        "epsilon": 1.0,
        "learning_rate": 1e-3,
        "beta": 0.2,
        "gradient_accumulation_steps": 4,
        "num_generations": 16,
    },
}


@pytest.mark.parametrize("name", list(REPORT))
def test_report_presets_are_verbatim(name):
    preset = PRESETS[name]
    assert preset.values == REPORT[name]
    assert preset.task == "four-letter" and preset.from_report
    cfg = from_preset(name)
    for field in GRPO_FIELDS:
        expected = REPORT[name].get(field)
        if field in ("max_steps", "seed"):
            continue
        assert getattr(cfg, field) == expected, field  # None = left to TRL
        if expected is None:
            assert cfg.resolved()[field] == grpo_defaults()[field]


@pytest.mark.parametrize(("name", "length"), [("long_512", 512), ("long_900", 900)])
def test_long_answer_presets_are_config_3_on_word_count(name, length):
    cfg = from_preset(name)
    assert cfg.task == "long-answer"
    assert TASKS[cfg.task].reward_funcs == ("word_count",)
    assert PRESETS[name].values == {**REPORT["config_3"], "max_completion_length": length}


def test_config_4_remark_says_it_collapsed():
    assert "last last last" in PRESETS["config_4"].remark


def test_classroom_presets_are_cpu_sized_and_valid():
    tasks = {
        "classroom-four-letter": "four-letter-strict",
        "classroom-long-answer": "long-answer-varied",
        "classroom-hack": "four-letter",  # the report's reward alone: hacking on purpose
        "classroom-four-letter-grpo": "four-letter-strict",  # the loss-type pair
        "classroom-four-letter-dr-grpo": "four-letter-strict",
    }
    assert set(tasks) == {
        n for n, p in PRESETS.items() if not p.from_report and not n.startswith("gpu-")
    }
    for preset, task in tasks.items():
        cfg = from_preset(preset)
        assert cfg.task == task
        r = cfg.resolved()
        assert r["max_completion_length"] <= 64 and r["max_steps"] <= 30
        assert r["learning_rate"] >= 1e-4  # LoRA-sized: TRL's 1e-6 shows nothing in minutes


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"learning_rate": 0}, "learning_rate must be > 0"),
        ({"learning_rate": -1e-4}, "learning_rate must be > 0"),
        ({"num_generations": 1, "per_device_train_batch_size": 1}, "num_generations must be 2..64"),
        ({"num_generations": 3}, "divisible by num_generations"),
        ({"max_steps": 0}, "max_steps must be 1..10000"),
        ({"max_completion_length": 0}, "max_completion_length"),
        ({"beta": -0.1}, "beta must be >= 0"),
        ({"epsilon": 0}, "epsilon must be > 0"),
        ({"temperature": 0}, "temperature must be > 0"),
        ({"task": "poetry"}, "unknown task"),
        ({"lora_r": 0}, "lora_r must be 1..256"),
        ({"loss_type": "ppo"}, "loss_type must be one of grpo, dr_grpo, dapo"),
        ({"scale_rewards": "std"}, "scale_rewards must be one of group, batch, none"),
        ({"importance_sampling_level": "word"}, "importance_sampling_level must be one of"),
        ({"epsilon_high": 0}, "epsilon_high must be > 0"),
        ({"nonsense": 1}, "unknown setting"),
    ],
)
def test_invalid_values_are_rejected_clearly(change, message):
    with pytest.raises(ConfigError, match=message):
        from_preset("classroom-four-letter", **change)


def test_wrong_types_are_config_errors():
    with pytest.raises(ConfigError):
        from_preset("default", learning_rate="fast")


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset"):
        from_preset("config_9")


def test_round_trip_through_dict():
    cfg = from_preset("config_3", max_steps=3, lora_target_modules=("q_proj",))
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "bad", ["", "Base", "has space", "../up", "base", "default", "ref", "half", "train"]
)
def test_adapter_names_are_plain(bad):
    with pytest.raises(ConfigError):
        check_adapter_name(bad)
    assert check_adapter_name("four-letter_2") == "four-letter_2"


@pytest.mark.parametrize("name", ["config_1", "config_3", "config_4", "long_900"])
def test_gpu_presets_are_the_report_configs_at_full_length(name):
    gpu, report = from_preset(f"gpu-{name}"), from_preset(name)
    assert gpu.replace(max_steps=report.max_steps) == report
    assert gpu.max_steps == 300 and gpu.bf16 is None  # bf16: decided by the hardware


def test_use_vllm_without_vllm_is_a_clear_error():
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    with pytest.raises(ConfigError, match="pip install vllm"):
        from_preset("gpu-config_3", use_vllm=True)


def test_bf16_follows_the_chip_unless_asked_and_vllm_without_cuda_is_refused(tmp_path):
    import torch

    from grpo_demo.training import TrainingError, grpo_args

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    from grpo_demo.models import native_bf16

    auto = grpo_args(from_preset("gpu-config_3"), str(tmp_path)).bf16
    assert auto is native_bf16()  # on with AVX-512 BF16 / AMX, off on an AVX2-only CPU
    assert grpo_args(from_preset("gpu-config_3", bf16=False), str(tmp_path)).bf16 is False
    assert grpo_args(from_preset("gpu-config_3", bf16=True), str(tmp_path)).bf16 is True
    with pytest.raises(ConfigError, match="true or false"):
        from_preset("gpu-config_3", bf16="yes")
    cfg = from_preset("gpu-config_3")
    object.__setattr__(cfg, "use_vllm", True)  # as if vLLM were installed without a GPU
    with pytest.raises(TrainingError, match="CUDA"):
        grpo_args(cfg, str(tmp_path))


def test_a_run_saved_with_a_removed_field_still_loads():
    """run.json files written while ``fast_sampling`` existed name it: read past, not refused."""
    saved = {**RunConfig().to_dict(), "fast_sampling": False}
    assert RunConfig.from_dict(saved) == RunConfig()
    with pytest.raises(TypeError):
        RunConfig.from_dict({**RunConfig().to_dict(), "no_such_field": 1})
