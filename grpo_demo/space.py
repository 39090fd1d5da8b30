"""Running as, and deploying to, a Hugging Face Space.

A Space installs ``requirements.txt`` and runs ``app.py``; the bundled model arrives by itself
(``bundled``) and the shipped adapters are stored in bf16, under the 10 MB a Space takes as a
plain file. What changes on a Space (``SPACE_ID`` is set there):

- the app binds 0.0.0.0 (the Space's proxy must reach it);
- one training run at a time for every visitor (as everywhere), and run sizes capped
  (``RunCaps``) so a run finishes in a few minutes on the Space's hardware;
- on GPU hardware the model and training use the GPU (``models.load_base``, TRL).

``deploy`` uploads only what a Space needs (``space_files``) with ``huggingface_hub``; the
token comes from ``HF_TOKEN`` or ``huggingface-cli login``, never from a file in the repo.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .models import device_name
from .settings import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SPACE_ENV = "SPACE_ID"
NEEDED = (
    "app.py",
    "requirements.txt",
    "README.md",  # the Space's config lives in its front matter
    "grpo_demo/*.py",
    "grpo_demo/*/*.py",
    "grpo_demo/data/*",
    "checkpoints/*/*/*",
    "docs/*.png",  # the README's pictures
)
"""Glob patterns (over git's tracked files) of what a Space runs; nothing else is uploaded."""
MAX_FILE_BYTES = 10_000_000  # the hub refuses larger plain (non-LFS) files


def on_space() -> bool:
    return bool(os.environ.get(SPACE_ENV))


@dataclass(frozen=True)
class RunCaps:
    """The largest run a Space visitor may start: one that ends in a few minutes."""

    max_steps: int
    max_completion_length: int
    completions_per_step: int  # per_device_train_batch_size x gradient_accumulation_steps
    hardware: str

    def check(self, resolved: dict) -> None:
        """Refuse (never shrink silently) a run bigger than the caps, naming the setting."""
        per_step = resolved["per_device_train_batch_size"] * resolved["gradient_accumulation_steps"]
        for name, value, cap in (
            ("max_steps", resolved["max_steps"], self.max_steps),
            (
                "max_completion_length",
                resolved["max_completion_length"],
                self.max_completion_length,
            ),
            ("completions per step", per_step, self.completions_per_step),
        ):
            if value > cap:
                raise ConfigError(
                    f"{name} must be <= {cap} on this Space ({self.hardware}; got {value}): "
                    "runs here are sized to finish in a few minutes. Run the app on your own "
                    "machine for longer ones."
                )

    def note(self) -> str:
        return (
            f"**On this Space ({self.hardware})** a run is capped at {self.max_steps} steps, "
            f"{self.max_completion_length} new tokens and {self.completions_per_step} "
            "completions a step, so it finishes in a few minutes; one run at a time for every "
            "visitor."
        )


CPU_CAPS = RunCaps(10, 64, 32, "CPU")  # a classroom step is ~20-30 s on 2 cores: ~4 min
GPU_CAPS = RunCaps(100, 256, 128, "GPU")  # a step is a few seconds on a small GPU


def run_caps() -> RunCaps | None:
    """The caps where the app runs on a Space (by its hardware), else ``None``: a local app is
    yours. Off a Space it returns before asking torch about the device (no import)."""
    if not on_space():
        return None
    return GPU_CAPS if device_name().startswith("cuda") else CPU_CAPS


# -- deploying -----------------------------------------------------------------------------------
def tracked_files(root: Path = ROOT) -> list[str]:
    """The repository's files as git knows them (what a clean checkout holds)."""
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True, text=True
    )
    return [p for p in out.stdout.split("\0") if p]


def space_files(root: Path = ROOT) -> list[tuple[str, int]]:
    """(path, bytes) of every file a Space needs, sorted; refuses files the hub would refuse."""
    chosen = []
    for path in tracked_files(root):
        if any(fnmatch.fnmatchcase(path, pattern) for pattern in NEEDED):
            if "/." in f"/{path}" or "__pycache__" in path:
                continue
            chosen.append((path, (root / path).stat().st_size))
    too_big = [f"{p} ({size / 1e6:.1f} MB)" for p, size in chosen if size >= MAX_FILE_BYTES]
    if too_big:
        raise ConfigError("a Space refuses plain files of 10 MB or more: " + ", ".join(too_big))
    return sorted(chosen)


def deploy(
    repo_id: str, hardware: str | None = None, private: bool = False, root: Path = ROOT
) -> str:
    """Create (or reuse) the Space and upload what it needs; return its URL."""
    from huggingface_hub import HfApi

    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ConfigError(f"Space id {repo_id!r} must look like USER/NAME")
    files = [path for path, _ in space_files(root)]
    api = HfApi()  # token: HF_TOKEN, else the one `huggingface-cli login` stored
    api.create_repo(
        repo_id,
        repo_type="space",
        space_sdk="gradio",
        space_hardware=hardware,
        private=private,
        exist_ok=True,
    )
    api.upload_folder(
        repo_id=repo_id,
        repo_type="space",
        folder_path=root,
        allow_patterns=files,
        commit_message="Deploy Language Kindergarten (python -m grpo_demo space deploy)",
    )
    return f"https://huggingface.co/spaces/{repo_id}"
