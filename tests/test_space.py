"""A Hugging Face Space: what is uploaded, how the app behaves there, and a valid front matter.
No hub here: the deploy list is checked with --dry-run; the upload itself is huggingface_hub's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import gradio as gr
import pytest

from grpo_demo import space
from grpo_demo.ui import server_name
from grpo_demo.ui.handlers import Demo
from tests.test_ui_handlers import TRAIN

ROOT = Path(__file__).resolve().parent.parent

# https://huggingface.co/docs/hub/spaces-config-reference
SPACE_KEYS = {
    "title", "emoji", "colorFrom", "colorTo", "sdk", "sdk_version", "python_version",
    "app_file", "app_port", "base_path", "fullWidth", "header", "short_description",
    "models", "datasets", "tags", "thumbnail", "pinned", "hf_oauth", "hf_oauth_scopes",
    "hf_oauth_expiration_minutes", "hf_oauth_authorized_org", "disable_embedding",
    "startup_duration_timeout", "custom_headers", "preload_from_hub", "license",
    "suggested_hardware", "suggested_storage",
}  # fmt: skip
COLORS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}


def front_matter() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    block = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert block, "README must start with the Space's YAML front matter"
    pairs = (line.split(":", 1) for line in block.group(1).splitlines())
    return {k.strip(): v.strip().strip('"') for k, v in pairs}


def test_front_matter_is_a_valid_space_config():
    meta = front_matter()
    assert set(meta) <= SPACE_KEYS, set(meta) - SPACE_KEYS
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == gr.__version__
    assert (ROOT / meta["app_file"]).is_file()
    assert meta["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert {meta["colorFrom"], meta["colorTo"]} <= COLORS
    assert len(meta["short_description"]) <= 60


def test_deploy_uploads_only_what_a_space_runs_and_nothing_too_big():
    files = dict(space.space_files())
    assert {"app.py", "requirements.txt", "README.md", "grpo_demo/ui/handlers.py"} <= set(files)
    for adapter in ("four-letter", "long-answer"):
        folder = f"checkpoints/smollm2-135m/{adapter}"
        assert {f"{folder}/adapter_model.safetensors", f"{folder}/run.json"} <= set(files)
    assert not [p for p in files if p.startswith(("results/", "tests/", "bench/", ".venv"))]
    assert not [p for p in files if "test-artifacts" in p or p.endswith(".pyc")]
    assert max(files.values()) < space.MAX_FILE_BYTES


@pytest.mark.parametrize("hardware", ["zerogpu", "cpu-basic"])
def test_deploy_dry_run_lists_files_and_sizes_without_the_hub(hardware):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "grpo_demo",
            "space",
            "deploy",
            "alice/kg",
            "--dry-run",
            "--hardware",
            hardware,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    listed = [line.split("MB  ", 1)[1] for line in out.stdout.splitlines() if " MB  " in line]
    written = [p.split("  (")[0] for p in listed if p.endswith(f"(written for {hardware})")]
    assert [p.split("  (")[0] for p in listed] == [p for p, _ in space.space_files()]
    assert written == ["README.md", "requirements.txt"]
    assert re.search(r"^\d+ files, [\d.]+ MB$", out.stdout, re.M)
    assert f"suggested_hardware: {space.TARGETS[hardware].hardware}" in out.stdout


def test_zerogpu_gets_its_own_front_matter_and_requirements():
    readme = space.readme_for("zerogpu")
    meta = dict(
        (k.strip(), v.strip().strip('"'))
        for k, v in (ln.split(":", 1) for ln in readme.split("\n---\n")[0][4:].splitlines())
    )
    assert set(meta) <= SPACE_KEYS and meta["python_version"] in ("3.10.13", "3.12.12")
    assert meta["suggested_hardware"] == "zero-a10g" and meta["sdk"] == "gradio"
    own = (ROOT / "README.md").read_text()
    assert readme.split("\n---\n", 1)[1] == own.split("\n---\n", 1)[1]  # the body as is
    lines = space.requirements_for("zerogpu").splitlines()
    ours = (ROOT / "requirements.txt").read_text().splitlines()
    pinned = [ln for ln in ours if ln.startswith("torch==")]
    assert pinned and lines == [("torch" if ln in pinned else ln) for ln in ours] + ["spaces"]
    assert space.requirements_for("cpu-basic") == "\n".join(ours) + "\n"  # CPU Basic: as is
    with pytest.raises(ValueError, match="hardware must be one of zerogpu, cpu-basic"):
        space.readme_for("a100")


def test_a_zerogpu_run_fits_one_call_and_the_classroom_run_a_visitors_quota(tmp_path, monkeypatch):
    from grpo_demo import gpu_calls, pace
    from grpo_demo.presets import from_preset
    from grpo_demo.training import RunJob, in_worker

    monkeypatch.setenv("GRPO_DEMO_CACHE", str(tmp_path))  # no measured pace: the GPU estimate
    caps = space.ZEROGPU_CAPS

    def asks(**values) -> int:
        config = from_preset("classroom-four-letter", **values)
        job = RunJob(config, "x", "smollm2-135m", "", None, None, False, "", [], 1)
        return gpu_calls.seconds_for(in_worker.run_seconds(0, job))

    largest = asks(
        max_steps=caps.max_steps,
        max_completion_length=caps.max_completion_length,
        per_device_train_batch_size=caps.completions_per_step,
    )
    assert largest < gpu_calls.MAX_SECONDS  # ZeroGPU grants at most 300 s a call
    assert asks() <= 120  # the classroom run fits an unauthenticated visitor's 2 minutes
    assert pace.step_seconds("smollm2-135m", 1536, tmp_path / "no.json", gpu=True)[1] == (
        pace.GPU_FALLBACK_SOURCE
    )
    monkeypatch.setenv(space.SPACE_ENV, "alice/kg")
    monkeypatch.setenv(gpu_calls.ZERO_GPU_ENV, "true")
    assert space.run_caps() == caps


def test_a_file_of_10_mb_or_more_stops_the_deploy(tmp_path, monkeypatch):
    (tmp_path / "app.py").write_bytes(b"x" * space.MAX_FILE_BYTES)
    monkeypatch.setattr(space, "tracked_files", lambda root: ["app.py"])
    with pytest.raises(ValueError, match=r"10 MB or more: app\.py"):
        space.space_files(tmp_path)


def test_on_a_space_the_app_binds_all_interfaces(monkeypatch):
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv(space.SPACE_ENV, raising=False)
    assert server_name() == "127.0.0.1"
    monkeypatch.setenv(space.SPACE_ENV, "alice/kg")
    assert server_name() == "0.0.0.0"


def test_on_a_cpu_space_runs_are_capped_with_a_message_and_the_tab_says_so(
    tiny_resident, monkeypatch
):
    demo = Demo(tiny_resident)
    assert demo.state.caps() is None and demo.caps_note() == ""  # local: no caps
    monkeypatch.setenv(space.SPACE_ENV, "alice/kg")
    caps = demo.state.caps()
    assert caps == space.CPU_CAPS and "10 steps" in demo.caps_note()
    with pytest.raises(gr.Error, match=r"max_steps must be <= 10 on this Space \(CPU; got 11\)"):
        next(demo.train(**{**TRAIN, "name": "too-long", "max_steps": 11}))
    with pytest.raises(gr.Error, match="max_completion_length must be <= 64"):
        next(demo.train(**{**TRAIN, "name": "too-wide", "max_completion_length": 65}))
    assert demo.state.manager.current is None
    last = list(demo.train(**{**TRAIN, "name": "fits"}))[-1]
    assert "finished" in last[0]
