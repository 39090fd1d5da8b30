"""Speed suite (issue #5): GRPO step vs plain TRL, time-to-effect, evaluation throughput,
generation tokens/s, adapter switch, app start. Writes BENCHMARKS.md.

    .venv/bin/python bench/speed.py [--steps 4] [--out BENCHMARKS.md]

Everything runs in one process on this machine, side by side, so ratios survive the machine's
drift. Step times drop each run's first step (warm-up) and report median / min / max of the rest.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench import adapter_switching, app_first_page  # noqa: E402

GROUP, TOKENS = 8, 32  # the comparison: 8 completions x 32 tokens, one prompt a step


def stats(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def step_timer():
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []

        def on_step_begin(self, args, state, control, **kwargs):
            self._start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(time.perf_counter() - self._start)

    return StepTimer()


def plain_trl_steps(steps: int, **overrides) -> list[float]:
    """TRL's GRPOTrainer with its defaults (bar the shared sizes) on a fresh bundled base.

    ``use_cpu`` is the one setting TRL's defaults cannot do without here: without it GRPOConfig
    refuses to start ("Your setup doesn't support bf16/gpu").
    """
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import GRPOConfig, GRPOTrainer

    from grpo_demo.data import train_prompts
    from grpo_demo.models import load_base, resolve_spec
    from grpo_demo.rewards import four_letter

    model, tok = load_base(resolve_spec("smollm2-135m"))
    timer = step_timer()
    args = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="bench-trl-"),
        max_steps=steps,
        num_generations=GROUP,
        per_device_train_batch_size=GROUP,
        max_completion_length=TOKENS,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
        **overrides,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[four_letter],
        args=args,
        train_dataset=Dataset.from_dict({"prompt": train_prompts()}),
        processing_class=tok,
        peft_config=LoraConfig(r=16, lora_alpha=32, target_modules="all-linear"),
        callbacks=[timer],
    )
    trainer.train()
    return timer.times[1:]


def project_steps(resident, steps: int, **overrides):
    from grpo_demo.config import from_preset
    from grpo_demo.training import TrainingRun

    cfg = from_preset(
        "classroom-four-letter",
        task="four-letter",
        max_steps=steps,
        num_generations=GROUP,
        per_device_train_batch_size=GROUP,
        max_completion_length=TOKENS,
        **overrides,
    )
    timer = step_timer()
    run = TrainingRun(resident, cfg, f"bench-{time.time_ns()}", callbacks=[timer]).start()
    end = run.join()
    if end is None or end.error:
        raise RuntimeError(f"bench run failed: {end}")
    return timer.times[1:]


def eval_reward(model, tok, prompts: list[str], seed: int = 0, **generate_kwargs) -> float:
    """Mean report four-letter reward of one 48-token sample per eval prompt (fixed seed)."""
    import torch

    from grpo_demo.rewards import four_letter

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

    from grpo_demo.config import from_preset
    from grpo_demo.data import eval_prompts
    from grpo_demo.training import TrainingRun

    prompts = eval_prompts()[:32]
    with resident.inference(["base"] * len(prompts)) as extra:
        base = eval_reward(resident.model, resident.tokenizer, prompts, **extra)
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

    cfg = from_preset("classroom-four-letter", task="four-letter-diverse", max_steps=max_steps)
    TrainingRun(resident, cfg, f"bench-effect-{time.time_ns()}", callbacks=[Probe()]).start().join()
    return found


def evaluation_throughput(resident, n_fast: int = 200, n_loop: int = 20) -> dict[str, float]:
    """Seconds per completion: grpo_demo.evaluation vs a per-sample pipeline loop (scaled)."""
    from transformers import pipeline

    from grpo_demo.data import eval_prompts
    from grpo_demo.evaluation import evaluate

    start = time.perf_counter()
    evaluate(resident, ["base"], n_fast, max_new_tokens=48)
    fast = (time.perf_counter() - start) / n_fast
    base = resident.model.get_base_model() if resident.is_peft else resident.model
    pipe = pipeline("text-generation", model=base, tokenizer=resident.tokenizer)
    prompts = eval_prompts()
    start = time.perf_counter()
    with resident.lock:
        for i in range(n_loop):
            pipe(prompts[i % len(prompts)], max_new_tokens=48, do_sample=True)
    loop = (time.perf_counter() - start) / n_loop
    return {"fast": fast, "loop": loop}


def tokens_per_second(resident, batch: int, tokens: int = 32) -> float:
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
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=4, help="GRPO steps per variant (1 warm-up)")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--skip", nargs="*", default=[], help="step effect eval gen app")
    parser.add_argument("--append", action="store_true", help="add rows to an existing --out")
    args = parser.parse_args()

    import torch
    import transformers
    import trl

    from grpo_demo.adapters import ResidentModel
    from grpo_demo.models import load_base, resolve_spec

    resident = ResidentModel.load(None, Path(tempfile.mkdtemp(prefix="bench-ckpt-")))
    rows: list[str] = []

    def row(what: str, values: list[float] | float, unit: str = "s", note: str = "") -> None:
        values = values if isinstance(values, list) else [values]
        med, lo, hi = stats(values)
        rows.append(f"| {what} | {med:.3f} | {lo:.3f} | {hi:.3f} | {unit} | {note} |")
        print(rows[-1], flush=True)

    if "step" not in args.skip:
        variants = {
            "TRL GRPOTrainer defaults": plain_trl_steps(args.steps),
            "TRL + bf16 off": plain_trl_steps(args.steps, bf16=False),
            "project, merged rollouts off": project_steps(
                resident, args.steps, merged_rollouts=False
            ),
            "project (bf16 off, no grad. checkpointing, merged-LoRA rollouts)": project_steps(
                resident, args.steps
            ),
        }
        trl_default = statistics.median(variants["TRL GRPOTrainer defaults"])
        for name, times in variants.items():
            ratio = statistics.median(times) / trl_default
            row(f"GRPO step: {name}", times, note=f"{ratio:.2f} x TRL default")
    if "effect" not in args.skip:
        found = time_to_effect(resident)
        note = f"base {found['base']:.3f}; " + ", ".join(
            f"{k} {v:.3f}" for k, v in found.items() if k.startswith("step ")
        )
        if "seconds" in found:
            row(f"time-to-effect (+0.5, reached at step {found['steps']})", found["seconds"])
        rows.append(f"| time-to-effect rewards | | | | | {note} |")
    if "eval" not in args.skip:
        ev = evaluation_throughput(resident)
        row("evaluation, grpo_demo.evaluation, per completion", ev["fast"])
        row("evaluation, per-sample pipeline loop, per completion", ev["loop"])
        row("1000 completions, grpo_demo.evaluation (scaled from 200)", ev["fast"] * 1000)
        row(
            "1000 completions, pipeline loop (scaled from 20)",
            ev["loop"] * 1000,
            note=f"{ev['loop'] / ev['fast']:.1f} x slower",
        )
    if "gen" not in args.skip:
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
    if "app" not in args.skip:
        row("`python app.py` -> first page, warm cache", [app_first_page()[0] for _ in range(3)])
        cold = {"GRPO_DEMO_CACHE": tempfile.mkdtemp(prefix="bench-cache-")}
        first = app_first_page(cold)[0]
        row("`python app.py` -> first page, first ever (empty model cache)", first)

    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{'cuda' if torch.cuda.is_available() else 'CPU only'}; Python "
        f"{platform.python_version()}, torch {torch.__version__}, transformers "
        f"{transformers.__version__}, TRL {trl.__version__}"
    )
    head = [
        "# Speed benchmarks",
        "",
        f"Machine: {machine}. Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"`python bench/speed.py --steps {args.steps}`.",
        "",
        "| what | median | min | max | unit | note |",
        "|---|---|---|---|---|---|",
    ]
    if args.append and args.out.exists():
        stamp = f"Appended: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, skip={args.skip}"
        args.out.write_text(args.out.read_text() + "\n".join(rows) + f"\n\n{stamp}.\n")
    else:
        args.out.write_text("\n".join(head + rows) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
