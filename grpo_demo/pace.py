"""How long a training step takes on this machine: measured by the runs here, remembered.

The Train tab promises a time ("≈ 3 min for the whole run") before a run starts and an ETA
while it runs; both must come from the same measured figure, or they disagree in front of a
class. The figure is seconds per completion token of a step (a step's cost grows with the
completions it samples and trains on), taken from every finished step of every run on this
machine and kept in the cache folder, so the next app start begins with it. Before any run
here, the figure measured by ``bench.classroom`` on a 2-core CPU is the fallback, and says so.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

from .bundled import cache_root

FALLBACK_SECONDS_PER_TOKEN = 0.0146
"""A classroom step (32 completions x 32 tokens) took ~15 s on a 2-core Xeon with AMX (the
before-vs-now probes included), results/classroom.md; 8.3 s on a 2-core AMD EPYC."""
FALLBACK_SOURCE = "measured on a 2-core CPU; a GPU is far faster"


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


def measured_speed(model: str, path: Path | None = None) -> tuple[float, str]:
    """(seconds per completion token, where the figure comes from) for this machine and base
    model (a tiny test model's pace says nothing about the bundled one's)."""
    entry = _read(path or pace_file()).get(f"{machine()} {model}")
    try:
        if float(entry) > 0:
            return float(entry), "as runs on this machine went"
    except (TypeError, ValueError):
        pass
    return FALLBACK_SECONDS_PER_TOKEN, FALLBACK_SOURCE


def remember_speed(model: str, seconds_per_token: float, path: Path | None = None) -> None:
    """Keep this machine's latest figure for the next start (best effort: a read-only cache
    folder only loses the memory, never a run)."""
    path = path or pace_file()
    data = _read(path)
    data[f"{machine()} {model}"] = seconds_per_token
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)
    except OSError:
        pass
