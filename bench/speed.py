"""Speed suite: model load, time-to-effect, evaluation, generation, app start -> BENCHMARKS.md.

    python -m bench.speed [--only SECTION ...] [--skip SECTION ...] [--out FILE]

Sections: ``load`` (bundled model load in a fresh process, cold and warm cache), ``effect``
(time-to-effect of the classroom preset), ``eval`` (evaluation throughput vs a per-sample
pipeline loop, measured one after the other: a rough factor, not an A/B), ``gen`` (generation
tokens/s, request latency per adapter, interleaved, adapter hot-load, base reload), ``app``
(``python app.py`` to first page and to page config, warm and cold cache). The GRPO step
against plain TRL is ``python -m bench.interleaved`` (arms interleaved in one process).
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

from bench.common import ROOT, cpu_line
from grpo_demo.adapters import ResidentModel
from grpo_demo.data import eval_prompts
from grpo_demo.evaluation import evaluate
from grpo_demo.generation import SamplingParams, generate
from grpo_demo.models import load_base, resolve_spec
from grpo_demo.presets import from_preset
from grpo_demo.rewards import four_letter
from grpo_demo.training import TrainingRun

SPEED_START, SPEED_END = "<!-- speed: start -->", "<!-- speed: end -->"
SECTIONS = ("load", "effect", "eval", "gen", "app")  # GRPO step: python -m bench.interleaved
GROUP, TOKENS = 8, 32  # the comparison: 8 completions x 32 tokens, one prompt a step


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


def stats(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def eval_reward(model, tok, prompts: list[str], seed: int = 0, **generate_kwargs) -> float:
    """Mean report four-letter reward of one 48-token sample per eval prompt (fixed seed)."""
    import torch

    batch = tok(prompts, return_tensors="pt", padding=True)
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        out = model.generate(
            **batch,
            **generate_kwargs,
            do_sample=True,
            max_new_tokens=48,
            pad_token_id=tok.pad_token_id,
        )
    texts = tok.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    scores = four_letter(texts)
    return sum(scores) / len(scores)


def time_to_effect(resident, max_steps: int = 30, gain: float = 0.5) -> dict[str, float]:
    """Training seconds (evaluation excluded) until the eval-split reward is base + gain."""
    from transformers import TrainerCallback

    prompts = eval_prompts()[:32]

    def base_reward() -> float:  # on the compute thread, as every use of the model
        with resident.inference(["base"] * len(prompts)) as extra:
            return eval_reward(resident.model, resident.tokenizer, prompts, **extra)

    base = resident.compute.call(base_reward)
    found: dict[str, float] = {"base": base}

    class Probe(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.start, self.paused = time.perf_counter(), 0.0

        def on_step_end(self, args, state, control, model=None, **kwargs):
            pause = time.perf_counter()
            model.eval()
            reward = eval_reward(model, resident.tokenizer, prompts)
            model.train()
            self.paused += time.perf_counter() - pause
            found[f"step {state.global_step}"] = reward
            if reward >= base + gain:
                found["seconds"] = time.perf_counter() - self.start - self.paused
                found["steps"] = state.global_step
                control.should_training_stop = True
            return control

    cfg = from_preset("classroom-four-letter", max_steps=max_steps)  # as a class would Start it
    TrainingRun(resident, cfg, f"bench-effect-{time.time_ns()}", callbacks=[Probe()]).start().join()
    return found


def evaluation_throughput(resident, n_fast: int = 200, n_loop: int = 20) -> dict[str, float]:
    """Seconds per completion: grpo_demo.evaluation vs a per-sample pipeline loop (scaled)."""
    from transformers import pipeline

    start = time.perf_counter()
    evaluate(resident, ["base"], n_fast, max_new_tokens=48)
    fast = (time.perf_counter() - start) / n_fast
    base = resident.model.get_base_model() if resident.is_peft else resident.model
    pipe = pipeline("text-generation", model=base, tokenizer=resident.tokenizer)
    prompts = eval_prompts()
    start = time.perf_counter()

    def loop_of_pipelines() -> None:  # on the compute thread, as every use of the model
        for i in range(n_loop):
            pipe(prompts[i % len(prompts)], max_new_tokens=48, do_sample=True)

    resident.compute.call(loop_of_pipelines)
    loop = (time.perf_counter() - start) / n_loop
    return {"fast": fast, "loop": loop}


def tokens_per_second(resident, batch: int, tokens: int = 32) -> float:
    """Sampled tokens per second at a batch size (on the compute thread)."""
    return resident.compute.call(_tokens_per_second, resident, batch, tokens)


def _tokens_per_second(resident, batch: int, tokens: int) -> float:
    import torch

    tok = resident.tokenizer
    enc = tok(["Once upon a time a little fox"] * batch, return_tensors="pt", padding=True)
    with resident.inference(["base"] * batch) as extra, torch.no_grad():
        start = time.perf_counter()
        resident.model.generate(
            **enc,
            **extra,
            do_sample=True,
            min_new_tokens=tokens,
            max_new_tokens=tokens,
            pad_token_id=tok.pad_token_id,
        )
    return batch * tokens / (time.perf_counter() - start)


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

    def row(what: str, values: list[float] | float, unit: str = "s", note: str = "") -> None:
        values = values if isinstance(values, list) else [values]
        med, lo, hi = stats(values)
        rows.append(f"| {what} | {med:.3f} | {lo:.3f} | {hi:.3f} | {unit} | {note} |")
        print(rows[-1], flush=True)

    if "load" in run:  # fresh processes: before this one holds a model of its own
        row("bundled model load, new process, cold cache (GGUF -> safetensors)", model_load(True))
        row("bundled model load, new process, warm cache", model_load(False))
    if {"step", "effect", "eval", "gen"} & set(run):
        resident = ResidentModel.load(None, Path(tempfile.mkdtemp(prefix="bench-ckpt-")))
    if "effect" in run:
        found = time_to_effect(resident)
        note = f"base {found['base']:.3f}; " + ", ".join(
            f"{k} {v:.3f}" for k, v in found.items() if k.startswith("step ")
        )
        if "seconds" in found:
            row(f"time-to-effect (+0.5, reached at step {found['steps']})", found["seconds"])
        rows.append(f"| time-to-effect rewards | | | | | {note} |")
    if "eval" in run:
        ev = evaluation_throughput(resident)
        row("evaluation, grpo_demo.evaluation, per completion", ev["fast"])
        row("evaluation, per-sample pipeline loop, per completion", ev["loop"])
        row("1000 completions, grpo_demo.evaluation (scaled from 200)", ev["fast"] * 1000)
        row(
            "1000 completions, pipeline loop (scaled from 20)",
            ev["loop"] * 1000,
            note=f"{ev['loop'] / ev['fast']:.1f} x slower",
        )
    if "gen" in run:
        for batch in (1, 8, 32):
            row(f"generation, batch {batch}", [tokens_per_second(resident, batch)], "tokens/s")
        for what, seconds in adapter_switching().items():
            row(what, seconds)
        start = time.perf_counter()
        load_base(resolve_spec())
        row(
            "reloading the base model in-process (the alternative to switching)",
            [time.perf_counter() - start],
        )
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
        "| what | median | min | max | unit | note |",
        "|---|---|---|---|---|---|",
        *rows,
        SPEED_END,
    ]
    text = args.out.read_text() if args.out.exists() else "# Speed benchmarks\n"
    if SPEED_START in text:  # replace this tool's own section, keep the rest of the report
        text = (
            text[: text.index(SPEED_START)]
            + "\n".join(table)
            + text[text.index(SPEED_END) + len(SPEED_END) :]
        )
    else:
        text = text.rstrip("\n") + "\n\n## Single measurements (`python -m bench.speed`)\n\n"
        text += "\n".join(table) + "\n"
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
