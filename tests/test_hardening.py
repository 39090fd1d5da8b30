"""Hardening on a tiny GPT-2: bad input everywhere, faults mid-run, nothing lost, nothing run.

The same checks against the launched app (gradio_client, many users, the soak) are in
test_app_hardening.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import gradio as gr
import pytest

from grpo_demo.adapters import ResidentModel
from grpo_demo.config import ConfigError
from grpo_demo.generation import SamplingParams, generate
from grpo_demo.store import (
    LEFTOVER_AGE_S,
    AdapterError,
    check_adapter_name,
    discover_adapters,
    validate_adapter_dir,
)
from grpo_demo.training import TrainingRun
from grpo_demo.ui.handlers import Demo
from tests.conftest import generate_by_name, served
from tests.test_tiny_pipeline import PROMPTS, tiny_config
from tests.test_ui_handlers import TRAIN

ROOT = Path(__file__).resolve().parent.parent
OK_GENERATE = ("Fill that sentence", "base", 1, 8, 1.0, 0)


@pytest.fixture
def demo(tiny_resident):
    return Demo(tiny_resident)


@pytest.fixture
def saved(tiny_resident) -> Path:
    run = TrainingRun(tiny_resident, tiny_config(max_steps=1), "good", prompts=PROMPTS)
    return run.start().join(timeout=300).adapter.path


@pytest.mark.parametrize(
    ("index", "value", "message"),
    [
        (0, "", "empty"),
        (0, " \n\t ", "empty"),
        (0, "x" * 20_000, "longer than"),
        (3, 0, "max_new_tokens"),
        (3, -5, "max_new_tokens"),
        (3, 10**9, "max_new_tokens"),
        (4, -1.0, "temperature"),
        (4, float("nan"), "temperature"),
        (2, 0, "num_samples"),
        (2, 5000, "num_samples"),
        (1, "../../etc/passwd", "unknown adapter"),
    ],
)
def test_bad_generate_input_is_refused_and_the_next_request_works(demo, index, value, message):
    args = list(OK_GENERATE)
    args[index] = value
    with pytest.raises(gr.Error, match=message):
        served(generate_by_name(demo, *args))
    assert len(served(generate_by_name(demo, *OK_GENERATE))[1]) == 1  # still serving


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"learning_rate": 0}, "learning_rate must be > 0"),
        ({"learning_rate": "fast"}, "learning_rate must be a number"),
        ({"learning_rate": float("inf")}, "finite"),
        ({"num_generations": 1}, "num_generations must be 2..64"),
        ({"max_steps": 10**7}, "max_steps must be 1..10000"),
        ({"max_steps": 2.5}, "whole number"),
        ({"max_completion_length": -1}, "max_completion_length"),
        ({"name": ""}, "adapter name"),
        ({"name": "a/b"}, "adapter name"),
        ({"name": ".."}, "adapter name"),
        ({"name": "a\x00b"}, "adapter name"),
        ({"name": "x" * 300}, "adapter name"),
    ],
)
def test_bad_training_input_is_refused_before_any_run(demo, change, message):
    with pytest.raises(gr.Error, match=message):
        next(demo.train(**{**TRAIN, "name": "x", **change}))
    assert demo.state.manager.current is None
    assert not list(demo.state.resident.adapter_dir.glob("*"))


def test_num_generations_not_dividing_the_batch_is_a_config_error():
    with pytest.raises(ConfigError, match="divisible by num_generations"):
        tiny_config(num_generations=3)


@pytest.mark.parametrize("name", ["", "a/b", "..", "../x", "a\x00b", "x" * 49, "Upper", " lead"])
def test_adapter_names_never_become_paths(name):
    with pytest.raises(ConfigError):
        check_adapter_name(name)


@pytest.mark.parametrize("n", [0, -3, 1001, 10**9])
def test_evaluation_size_is_bounded(demo, n):
    with pytest.raises(gr.Error, match="num_samples"):
        demo.evaluate(["base"], n)


def _corrupt(saved: Path, name: str) -> Path:
    bad = saved.parent / name
    bad.mkdir()
    for f in saved.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    return bad


def test_corrupt_adapters_are_listed_as_problems_and_never_loaded(tiny_resident, saved):
    truncated = _corrupt(saved, "truncated")
    weights = truncated / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    (_corrupt(saved, "no-weights") / "adapter_model.safetensors").unlink()
    garbage = _corrupt(saved, "garbage")
    (garbage / "adapter_model.safetensors").write_bytes(b"\xff" * 64)
    pickled = _corrupt(saved, "pickled")
    (pickled / "adapter_model.safetensors").rename(pickled / "adapter_model.bin")
    other = _corrupt(saved, "other-base")
    run = json.loads((other / "run.json").read_text())
    (other / "run.json").write_text(json.dumps({**run, "base": "gpt2-xl"}))
    (_corrupt(saved, "bad-json") / "adapter_config.json").write_text("{not json")

    found, problems = discover_adapters(tiny_resident.checkpoints, tiny_resident.spec.name)
    assert set(found) == {"good"}
    text = "\n".join(problems)
    for expected in ("truncated", "no-weights", "garbage", "pickled", "gpt2-xl", "bad-json"):
        assert expected in text
    assert "header promises" in text and "refused" in text
    for name in ("truncated", "pickled", "other-base"):
        with pytest.raises(AdapterError, match="unknown adapter"):
            tiny_resident.get(name)
    assert tiny_resident.names() == ["base", "good"]  # the good one still serves


def test_a_reward_that_raises_mid_run_ends_the_run_with_the_error(demo, monkeypatch):
    from grpo_demo.reward_spec import TERMS, TermInfo

    calls = []
    original = TERMS["four_letter"].func

    def flaky(completions, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("reward crashed at step 2")
        return original(completions, **kwargs)

    monkeypatch.setitem(TERMS, "four_letter", TermInfo(flaky))  # the run's one registry
    views = list(demo.train(name="flaky", **{**TRAIN, "max_steps": 5}))
    assert "reward crashed at step 2" in views[-1][0]
    assert "flaky" not in demo.state.resident.names()
    monkeypatch.undo()
    assert len(served(generate_by_name(demo, *OK_GENERATE))[1]) == 1  # the app still answers
    assert "finished" in list(demo.train(name="after", **TRAIN))[-1][0]  # and trains again


def test_stop_during_saving_still_saves_a_whole_adapter(tiny_resident, monkeypatch):
    import grpo_demo.store as store

    run = TrainingRun(tiny_resident, tiny_config(max_steps=1), "stop-save", prompts=PROMPTS)
    original = store.save_adapter

    def stop_then_save(*args, **kwargs):
        run.stop()  # a Stop click that lands while the adapter is being written
        return original(*args, **kwargs)

    monkeypatch.setattr(store, "save_adapter", stop_then_save)
    end = run.start().join(timeout=300)
    assert end.error is None and end.adapter is not None
    validate_adapter_dir(end.adapter.path, tiny_resident.spec.name)
    assert "stop-save" in tiny_resident.names()


KILL_MID_SAVE = """
import os, signal, sys
from pathlib import Path
import grpo_demo.store as store
from grpo_demo.adapters import ResidentModel
from grpo_demo.training import TrainingRun
from tests.test_tiny_pipeline import PROMPTS, tiny_config

def killed(path, base):  # runs after every file is written, before the rename
    os.kill(os.getpid(), signal.SIGKILL)

store.validate_adapter_dir = killed
resident = ResidentModel.load(sys.argv[1], Path(sys.argv[2]))
TrainingRun(resident, tiny_config(max_steps=1), "half-saved", prompts=PROMPTS).start().join()
"""


def test_a_process_killed_mid_save_never_lists_a_half_adapter(tiny_gpt2, tmp_path):
    checkpoints = tmp_path / "ckpt"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", KILL_MID_SAVE, str(tiny_gpt2), str(checkpoints)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert out.returncode == -9, out.stderr.decode()[-2000:]
    leftovers = list(checkpoints.glob("*/.tmp-half-saved-*"))
    assert len(leftovers) == 1 and (leftovers[0] / "adapter_model.safetensors").is_file()
    assert not (leftovers[0].parent / "half-saved").exists()

    fresh = ResidentModel.load(str(tiny_gpt2), checkpoints)
    assert fresh.names() == ["base"] and leftovers[0].exists()  # too young to be sure: kept
    old = time.time() - LEFTOVER_AGE_S - 60
    os.utime(leftovers[0], (old, old))
    assert ResidentModel.load(str(tiny_gpt2), checkpoints).names() == ["base"]
    assert not leftovers[0].exists()  # cleaned at start


def test_an_existing_name_is_never_silently_overwritten(demo):
    assert "finished" in list(demo.train(name="mine", **TRAIN))[-1][0]
    before = (demo.state.resident.adapter_dir / "mine" / "adapter_model.safetensors").read_bytes()
    with pytest.raises(gr.Error, match="already exists"):
        next(demo.train(name="mine", **TRAIN))
    after = (demo.state.resident.adapter_dir / "mine" / "adapter_model.safetensors").read_bytes()
    assert before == after


def test_user_text_is_only_ever_text(demo, tmp_path):
    marker = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {marker}') {{0.__class__}} $(touch {marker})"
    assert "1 completions" in served(generate_by_name(demo, payload, "base", 1, 8, 1.0, 0))[3]
    [completion] = generate(demo.state.resident, payload, "base", SamplingParams(1, 8))
    assert completion.prompt == payload
    with pytest.raises(gr.Error):
        next(demo.train(**{**TRAIN, "name": f"x; touch {marker}"}))
    with pytest.raises(gr.Error):
        demo.evaluate([f"../{marker.name}"], 2)
    assert not marker.exists()
