"""How long a training step takes on this machine: measured by the runs here, remembered.

The Train tab's time before a run ("≈ 4 min for the whole run") and its ETA during it come from
one figure, or they disagree in front of a class: seconds per step for a step size (completion
tokens a step), from the runs on this machine, kept in the cache folder for the next start.
Before any run here, the figure ``bench.classroom`` measured on a 2-core CPU is used, and the
hint says so.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

from .bundled import cache_root

FALLBACK_SECONDS_PER_TOKEN = 0.0146
"""A classroom step (32 completions x 48 tokens) took ~22 s on a 2-core Xeon with AMX
(results/classroom.md); 8.3 s for 32 x 32 on a 2-core AMD EPYC. Used before any run here."""
FALLBACK_SOURCE = "measured on a 2-core CPU; a GPU is far faster"
GPU_FALLBACK_SECONDS_PER_TOKEN = 0.0026
"""A classroom step took ~2 s on an H100 (32 x 48 tokens: 0.0013 s a token), doubled for a
shared GPU (ZeroGPU's is half a card). Used on a GPU before any run there."""
GPU_FALLBACK_SOURCE = "estimated for a shared GPU (~2 s a classroom step on an H100, doubled)"
MEASURED = "as runs of this size went on this machine"
NEAR = 2.0  # a step measured at up to 2x (or 1/2x) the tokens is scaled to this size


def clock(seconds: float) -> str:
    """A time as a class reads it on the projector.

    >>> clock(545.4)
    '9m05s'
    """
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s"


def pace_file() -> Path:
    return cache_root() / "pace.json"


def machine() -> str:
    """Which machine a figure belongs to (a cache folder can move between machines)."""
    return f"{platform.node()}/{platform.machine()}"


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def step_seconds(
    model: str, tokens: int, path: Path | None = None, gpu: bool = False
) -> tuple[float, str]:
    """(seconds a step of ``tokens`` completion tokens takes, where the figure comes from).

    A step's cost is not proportional to its tokens (the optimizer, the prompts, the probes cost
    the same at any length), so a figure is only scaled from a run of a similar size; else the
    2-core measurement (``gpu``: the GPU estimate) is used, and the source says so."""
    runs = _read(path or pace_file()).get(f"{machine()} {model}")
    near = []
    if isinstance(runs, dict):
        for size, seconds in runs.items():
            try:
                size, seconds = int(size), float(seconds)
            except (TypeError, ValueError):
                continue
            if seconds > 0 and 1 / NEAR <= size / tokens <= NEAR:
                near.append((abs(size - tokens), size, seconds))
    if near:
        _, size, seconds = min(near)
        return seconds * tokens / size, MEASURED
    if gpu:
        return GPU_FALLBACK_SECONDS_PER_TOKEN * tokens, GPU_FALLBACK_SOURCE
    return FALLBACK_SECONDS_PER_TOKEN * tokens, FALLBACK_SOURCE


def remember_step(model: str, tokens: int, seconds: float, path: Path | None = None) -> None:
    """Keep this machine's latest seconds per step at this size for the next start (best
    effort: a read-only cache folder only loses the memory, never a run)."""
    path = path or pace_file()
    data = _read(path)
    key = f"{machine()} {model}"
    runs = data.get(key) if isinstance(data.get(key), dict) else {}
    runs[str(tokens)] = round(seconds, 3)
    data[key] = runs
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)
    except OSError:
        pass
