"""Running as, and deploying to, a Hugging Face Space (``SPACE_ID`` is set there).

A Space installs ``requirements.txt`` and runs ``app.py``; the bundled model arrives by itself
(``bundled``), the shipped adapters are bf16, under the 10 MB a Space takes as a plain file.
There the app binds 0.0.0.0 (the proxy must reach it), run sizes are capped (``RunCaps``) so a
run ends in minutes, and GPU hardware is used; on ZeroGPU (free accounts' only Gradio hardware)
the GPU lives in a worker process per call (``gpu_calls``), and a run must fit one call and a
visitor's daily quota. ``deploy`` uploads only ``space_files``; the token comes from
``HF_TOKEN`` or ``huggingface-cli login``, never from a file in the repo.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .config import completions_per_step
from .gpu_calls import where
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
        r, per_step = resolved, completions_per_step(resolved)
        for name, value, cap in (
            ("max_steps", r["max_steps"], self.max_steps),
            ("max_completion_length", r["max_completion_length"], self.max_completion_length),
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
ZEROGPU_CAPS = RunCaps(20, 128, 32, "ZeroGPU")
"""A whole run is one GPU call, and ZeroGPU grants at most 300 s a call: the largest run
(20 x 32 x 128 tokens) asks ~243 s at the GPU estimate (``pace``), the classroom preset ~90 s.
A visitor's quota (2 min unauthenticated, 5 min with a free account a day) decides how many."""


def run_caps() -> RunCaps | None:
    """The caps where the app runs on a Space (by its hardware), else ``None``: a local app is
    yours. Off a Space it returns before asking torch about the device (no import)."""
    if not on_space():
        return None
    if where() == "zerogpu":
        return ZEROGPU_CAPS
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


@dataclass(frozen=True)
class Target:
    """A Space's hardware and what it needs written differently from this repository's files."""

    hardware: str  # the hub's flavor name
    python_version: str  # what the Space's image runs (ZeroGPU accepts 3.10.13 and 3.12.12)
    requirements: dict[str, str]  # requirement line -> its replacement ("": dropped)
    extra_requirements: tuple[str, ...] = ()


TARGETS = {
    "zerogpu": Target(
        "zero-a10g",  # the hub's flavor id for ZeroGPU (the GPU itself is newer)
        "3.12.12",
        {"torch==2.13.0": "torch"},  # ZeroGPU installs a torch it supports; a pin it lacks fails
        ("spaces",),  # ZeroGPU's own package: spaces.GPU
    ),
    "cpu-basic": Target("cpu-basic", "3.11", {}),
}
"""``zerogpu``: the only Gradio hardware a free account can host (two Spaces); ``cpu-basic``:
a paid plan's (the same files as this repository)."""


def target(name: str) -> Target:
    if name not in TARGETS:
        raise ConfigError(f"hardware must be one of {', '.join(TARGETS)} (got {name!r})")
    return TARGETS[name]


def readme_for(name: str, root: Path = ROOT) -> str:
    """The README with the target's front matter (hardware suggested, its Python)."""
    text = (root / "README.md").read_text()
    head, sep, body = text.removeprefix("---\n").partition("\n---\n")
    if not sep:
        raise ConfigError("README.md must start with the Space's front matter")
    chosen = target(name)
    lines = [
        f'python_version: "{chosen.python_version}"' if ln.startswith("python_version:") else ln
        for ln in head.splitlines()
        if not ln.startswith("suggested_hardware:")
    ]
    return "---\n" + "\n".join([*lines, f"suggested_hardware: {chosen.hardware}"]) + sep + body


def requirements_for(name: str, root: Path = ROOT) -> str:
    """``requirements.txt`` for the target: its replaced lines, its extra packages."""
    chosen = target(name)
    lines = (root / "requirements.txt").read_text().splitlines()
    out = [new for line in lines if (new := chosen.requirements.get(line.strip(), line))]
    return "\n".join([*out, *chosen.extra_requirements]) + "\n"


def written_for(name: str, root: Path = ROOT) -> dict[str, str]:
    """The files a target gets written for it instead of the repository's."""
    return {"README.md": readme_for(name, root), "requirements.txt": requirements_for(name, root)}


def deploy(
    repo_id: str, hardware: str = "zerogpu", private: bool = False, root: Path = ROOT
) -> str:
    """Create (or reuse) the Space on ``hardware`` and upload what it needs in one commit;
    return its URL."""
    from huggingface_hub import CommitOperationAdd, HfApi

    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ConfigError(f"Space id {repo_id!r} must look like USER/NAME")
    written = written_for(hardware, root)
    adds = [CommitOperationAdd(p, str(root / p)) for p, _ in space_files(root) if p not in written]
    adds += [CommitOperationAdd(p, text.encode()) for p, text in written.items()]
    api = HfApi()  # token: HF_TOKEN, else the one `huggingface-cli login` stored
    api.create_repo(
        repo_id,
        repo_type="space",
        space_sdk="gradio",
        space_hardware=target(hardware).hardware,
        private=private,
        exist_ok=True,
    )
    api.create_commit(
        repo_id=repo_id,
        repo_type="space",
        operations=adds,
        commit_message="Deploy Language Kindergarten (python -m grpo_demo space deploy)",
    )
    return f"https://huggingface.co/spaces/{repo_id}"
