"""Single measurements: model load, requests, app start -> BENCHMARKS.md.

    python -m bench.speed [--only SECTION ...] [--skip SECTION ...] [--out FILE]

Sections: ``load`` (bundled model load in a fresh process, cold and warm cache), ``gen``
(request latency per adapter, interleaved, adapter hot-load, 8 samples per adapter), ``app``
(``python app.py`` to first page and to page config, warm and cold cache). The GRPO step
against plain TRL is ``python -m bench.interleaved`` (arms interleaved in one process), the
time to effect ``python -m bench.classroom --stop-at-effect``.
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

from bench.common import ROOT, cpu_line, write_between
from grpo_demo.adapters import ResidentModel
from grpo_demo.generation import SamplingParams, generate

SPEED_START, SPEED_END = "<!-- speed: start -->", "<!-- speed: end -->"
SECTIONS = ("load", "gen", "app")  # GRPO step: python -m bench.interleaved


def timed(fn, repeat: int = 1) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def model_load(cold_cache: bool) -> float:
    """Seconds for a fresh process to import and load the bundled base (what a user waits for);
    a cold cache converts the bundled GGUF to safetensors first."""
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
    """Request latency per shipped adapter (interleaved, so drift hits all alike), adapter
    hot-load, and 8 samples per adapter, on a resident model of its own (the shipped adapters)."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run just these sections")
    parser.add_argument("--skip", nargs="*", default=[], choices=SECTIONS, metavar="SECTION")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    run = [s for s in (args.only or SECTIONS) if s not in args.skip]

    import torch
    import transformers
    import trl

    rows: list[str] = []

    def row(what: str, values: list[float] | float) -> None:
        values = values if isinstance(values, list) else [values]
        med, lo, hi = statistics.median(values), min(values), max(values)
        rows.append(f"| {what} | {med:.3f} | {lo:.3f} | {hi:.3f} |")
        print(rows[-1], flush=True)

    if "load" in run:  # fresh processes: before this one holds a model of its own
        row("bundled model load, new process, cold cache (GGUF -> safetensors)", model_load(True))
        row("bundled model load, new process, warm cache", model_load(False))
    if "gen" in run:
        for what, seconds in adapter_switching().items():
            row(what, seconds)
    if "app" in run:
        warm = [app_first_page() for _ in range(3)]
        row("`python app.py` -> first page, warm cache", [page for page, _ in warm])
        row("`python app.py` -> page config served, warm cache", [config for _, config in warm])
        cold = {"GRPO_DEMO_CACHE": tempfile.mkdtemp(prefix="bench-cache-")}
        first, config = app_first_page(cold)
        row("`python app.py` -> first page, first ever (empty model cache)", first)
        row("`python app.py` -> page config served, first ever (empty model cache)", config)

    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{'cuda' if torch.cuda.is_available() else 'CPU only'}; Python "
        f"{platform.python_version()}, torch {torch.__version__}, transformers "
        f"{transformers.__version__}, TRL {trl.__version__}"
    )
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    command = " ".join(["python -m bench.speed", *sys.argv[1:]])
    table = [
        SPEED_START,
        f"Run {when}: `{command}`; {machine}; {cpu_line()}. Single measurements, not A/B.",
        "",
        "| what | median s | min | max |",
        "|---|---|---|---|",
        *rows,
        SPEED_END,
    ]
    text = "\n".join(table)
    if SPEED_START in args.out.read_text():  # this tool's own section, the rest kept
        write_between(SPEED_START, SPEED_END, text, args.out)
    else:
        with args.out.open("a") as f:
            f.write(f"\n## Single measurements (`python -m bench.speed`)\n\n{text}\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
