"""Benchmarks: model load (cold/warm), app start to first page, adapter switch, generation.

    .venv/bin/python bench/bench.py [--out bench/RESULTS.md]

Numbers are wall-clock on whatever machine runs this (written into the table). The machine's
speed drifts; A/B comparisons (base vs adapters) are interleaved within one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def timed(fn, repeat: int = 1) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def model_load(cold_cache: bool) -> float:
    env = dict(os.environ)
    if cold_cache:
        env["GRPO_DEMO_CACHE"] = tempfile.mkdtemp(prefix="bench-cache-")
    code = "from grpo_demo.models import load_base, resolve_spec; load_base(resolve_spec())"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def app_first_page(env_extra: dict[str, str] | None = None) -> tuple[float, float]:
    """Seconds from `python app.py` to HTTP 200 on / and to the page's config (all of it)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        **(env_extra or {}),
    }
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
                page = time.perf_counter() - start
                urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=10).read()
                return page, time.perf_counter() - start
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("app exited") from None
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def adapter_switching(rounds: int = 5) -> dict[str, float]:
    from grpo_demo.adapters import ResidentModel
    from grpo_demo.generation import SamplingParams, generate

    resident = ResidentModel.load()
    names = resident.names()
    params = SamplingParams(num_samples=1, max_new_tokens=1, seed=0)
    generate(resident, "Warm up", "base", params)
    per_name: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(rounds):  # interleaved: base, a, b, base, a, b, ...
        for name in names:
            per_name[name] += timed(
                lambda n=name: generate(resident, "Fill that sentence", n, params)
            )
    results = {f"1-token request, {n}": statistics.median(v) for n, v in per_name.items()}
    adapters = [resident.adapters[n] for n in names[1:]]
    if adapters:
        info = adapters[0]
        loads = timed(lambda: resident.add(info), repeat=3)
        results[f"hot-load adapter from disk ({info.name})"] = statistics.median(loads)
    gen32 = SamplingParams(num_samples=8, max_new_tokens=32, seed=0)
    for name in names:
        t = statistics.median(
            timed(lambda n=name: generate(resident, "Fill that sentence", n, gen32), repeat=2)
        )
        results[f"8 samples x 32 tokens, {name}"] = t
    return results


def grpo_steps(preset: str, steps: int) -> dict[str, float]:
    """Seconds per GRPO step of a preset, on a scratch checkpoints folder."""
    from grpo_demo.adapters import ResidentModel
    from grpo_demo.config import from_preset
    from grpo_demo.training import TrainingRun

    resident = ResidentModel.load(None, Path(tempfile.mkdtemp(prefix="bench-ckpt-")))
    run = TrainingRun(resident, from_preset(preset, max_steps=steps), "bench").start()
    end = run.join()
    if end is None or end.error:
        raise RuntimeError(f"bench run failed: {end}")
    times = [b.elapsed - a.elapsed for a, b in zip(run.history, run.history[1:], strict=False)]
    return {
        f"GRPO step, {preset} (first step)": run.history[0].elapsed,
        f"GRPO step, {preset} (later steps, median)": statistics.median(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    rows: list[tuple[str, float]] = []
    rows.append(("bundled model load, cold cache (GGUF -> safetensors)", model_load(True)))
    rows.append(("bundled model load, warm cache", model_load(False)))
    page, config = app_first_page()
    rows.append(("`python app.py` -> first page (HTTP 200 on /)", page))
    rows.append(("`python app.py` -> page config served", config))
    rows += list(adapter_switching().items())
    rows += list(grpo_steps("classroom-four-letter", 3).items())
    import torch

    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{'cuda' if torch.cuda.is_available() else 'CPU only'}, Python "
        f"{platform.python_version()}, torch {torch.__version__}"
    )
    lines = [
        "# Benchmarks",
        "",
        f"Machine: {machine}. Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "| what | seconds |",
        "|---|---|",
        *[f"| {name} | {value:.3f} |" for name, value in rows],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
