"""What the bench tools share: the repository root, a per-step timer, the machine's CPU line
and writing a table between two markers of BENCHMARKS.md.

Every tool imports these from here (and from no other tool), so the tools stay independent.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def step_timer():
    """A Trainer callback that records each optimizer step's seconds in ``.times`` (and calls
    ``.after_step()`` after each, for whatever else a bench keeps per step)."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []
            self.after_step = lambda: None

        def on_step_begin(self, args, state, control, **kwargs):
            self._start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(time.perf_counter() - self._start)
            self.after_step()

    return StepTimer()


def cpu_line() -> str:
    """CPU model, the flags that decide bf16 speed, cores and torch's threads."""
    import torch

    model, flags = platform.processor() or "?", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("?", "", "x86_64"):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    have = ", ".join(f for f in wanted if f in flags) or "none of avx2/avx512/amx"
    return (
        f"{model}; {os.cpu_count()} cores; flags: {have}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )


def write_between(start: str, end: str, table: str, out: Path = ROOT / "BENCHMARKS.md") -> None:
    """Put ``table`` (which carries its own markers) in place of the one between ``start``
    and ``end``; a table seen for the first time goes before the file's first section."""
    text = out.read_text()
    if start in text:
        text = text[: text.index(start)] + table + text[text.index(end) + len(end) :]
    else:
        text = text.replace("\n## ", f"\n{table}\n\n## ", 1)
    out.write_text(text)


def timing_table(title: str, times: dict[str, list[float]], unit: str, digits: int = 2) -> str:
    """Interleaved arms as a markdown table: median, min and max of each."""
    lines = [title, "", f"| arm | median {unit} | min | max |", "|---|---|---|---|"]
    for name, values in times.items():
        med, low, high = statistics.median(values), min(values), max(values)
        lines.append(f"| {name} | {med:.{digits}f} | {low:.{digits}f} | {high:.{digits}f} |")
    return "\n".join(lines)
