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


def test_deploy_dry_run_lists_files_and_sizes_without_the_hub():
    out = subprocess.run(
        [sys.executable, "-m", "grpo_demo", "space", "deploy", "alice/kg", "--dry-run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    listed = [line.split("MB", 1)[1].strip() for line in out.stdout.splitlines() if " MB  " in line]
    assert listed == [p for p, _ in space.space_files()]
    assert re.search(r"^\d+ files, [\d.]+ MB$", out.stdout.splitlines()[-1])


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
