"""Command line: ``python -m grpo_demo train|generate|evaluate|score|list|report|space``.

Exit codes: 0 done, 1 the run itself failed, 2 bad arguments, 3 base model unavailable,
4 unknown or broken adapter, 130 interrupted (a training run still saves its adapter).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from tqdm import tqdm

from .adapters import AdapterError, ResidentModel
from .app import forms
from .app.catalog import catalog_lines
from .app.command import resolved_lines
from .cli_files import add_report_verb, add_space_verb, run_report, run_space
from .config import SETTINGS, ConfigError, RunConfig
from .data import EXAMPLES, train_prompts
from .evaluation import EvalSize, evaluate, save
from .generation import GenerationError, SamplingParams, check_prompts, sample
from .learning_signal import score_base, verdict
from .models import ModelUnavailable
from .presets import PRESETS
from .settings import add_arguments, settings_of
from .store import check_adapter_name
from .tasks import TASKS
from .training import PROBE_EVERY, RunEnded, TrainingRun, is_main_process

EXIT_FAILED, EXIT_USAGE, EXIT_MODEL, EXIT_ADAPTER, EXIT_INTERRUPTED = 1, 2, 3, 4, 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m grpo_demo", description="GRPO + LoRA on a small language model."
    )
    p.add_argument(
        "--model",
        help="base model: smollm2-135m (bundled, offline; default), gpt2, a hub id or a "
        "folder (env GRPO_DEMO_MODEL)",
    )
    p.add_argument(
        "--checkpoints",
        type=Path,
        help="adapter folder root (default: $GRPO_DEMO_CHECKPOINTS or checkpoints/)",
    )
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser(
        "train",
        help="run GRPO with a fresh LoRA adapter and save it",
        description="Run GRPO (TRL) with a fresh LoRA adapter on the base model and save it "
        "under checkpoints/<base>/<name>/. Settings left out take the preset's value, else "
        "TRL's default.",
        epilog="example: python -m grpo_demo train --preset classroom-four-letter --name demo "
        "--max-steps 10",
    )
    t.add_argument(
        "--preset",
        default="classroom-four-letter",
        choices=list(PRESETS),
        metavar="PRESET",
        help=f"starting point, one of: {', '.join(PRESETS)} (default classroom-four-letter; "
        "`list` shows each one's remark)",
    )
    t.add_argument("--name", required=True, help="adapter name (a-z, 0-9, - and _)")
    t.add_argument(
        "--task",
        choices=list(TASKS),
        metavar="TASK",
        help=f"reward mix, one of: {', '.join(TASKS)} (default: the preset's)",
    )
    t.add_argument(
        "--reward",
        metavar="SPEC",
        help="a reward built from registered terms instead of --task, e.g. "
        "'1*n_letter[n=3] + 4*distinct_words' (`list` shows the terms); parsed, never run",
    )
    own = {f.name: f.default for f in dataclasses.fields(RunConfig)}
    notes = {
        name: "default: the preset's, else "
        + (str(own[name]) if own[name] is not None else "TRL's" if spec.grpo else "automatic")
        for name, spec in SETTINGS.items()
    }
    add_arguments(t, SETTINGS, notes=notes)
    t.add_argument(
        "--probe",
        action="append",
        default=[],
        metavar="PROMPT",
        help="a probe prompt (repeatable, up to 5): answered with one fixed seed every "
        "--probe-every steps next to the base model's answer (printed, and kept in run.json "
        "and steps.jsonl)",
    )
    add_arguments(t, {"probe_every": PROBE_EVERY}, {"probe_every": 5})
    t.add_argument("--overwrite", action="store_true", help="replace an adapter of that name")
    t.add_argument(
        "--quiet",
        action="store_true",
        help="print neither the resolved config nor a sample completion per step",
    )

    sampling = settings_of(SamplingParams)
    defaults = {name: getattr(SamplingParams(), name) for name in sampling}
    g = sub.add_parser(
        "generate",
        help="sample completions and score them",
        description="Sample completions from the base or an adapter and score each with "
        "every reward.",
        epilog="example: python -m grpo_demo generate --adapter four-letter -k 4 --prompt "
        '"Fill that sentence"',
    )
    g.add_argument("--prompt", action="append", help="prompt (repeatable; default: examples)")
    g.add_argument("--adapter", default="base", help="adapter name, or 'base' (default base)")
    add_arguments(g, sampling, defaults, aliases={"num_samples": "-k"})
    g.add_argument("--json", action="store_true", help="print JSON lines")

    e = sub.add_parser(
        "evaluate",
        help="the report's Table 1: N samples per model",
        description="N completions per model on the held-out prompts: reward median / mean "
        "/ std (the report's Table 1), diversity and a collapse flag; JSON, CSV and PNG saved.",
        epilog="example: python -m grpo_demo evaluate --adapters base four-letter -n 200",
    )
    e.add_argument(
        "--adapters", nargs="+", default=["base"], help="'base' and/or adapter names (default base)"
    )
    add_arguments(e, settings_of(EvalSize), {"num_samples": 1000}, aliases={"num_samples": "-n"})
    add_arguments(
        e, {k: sampling[k] for k in ("max_new_tokens", "seed")}, {"max_new_tokens": 48, "seed": 0}
    )
    e.add_argument(
        "--out", type=Path, default=Path("eval_results"), help="folder (default eval_results)"
    )

    sc = sub.add_parser(
        "score",
        help="score the base model's groups with a reward before training",
        description="Sample one group per training prompt from the base model, score each "
        "completion with the task's (or a custom reward's) terms, and print the advantages "
        "GRPO would give, the groups that tie (they teach nothing) and whether this reward "
        "can move the model.",
        epilog="example: python -m grpo_demo score --reward '1*n_letter[n=3]' -k 8",
    )
    sc.add_argument("--task", choices=list(TASKS), metavar="TASK", default="four-letter")
    sc.add_argument("--reward", metavar="SPEC", help="a custom reward instead of --task")
    add_arguments(
        sc,
        {
            "num_generations": SETTINGS["num_generations"],
            "prompts": forms.SCORE_PROMPTS,
            "max_new_tokens": forms.SCORE_TOKENS,
            "seed": sampling["seed"],
        },
        {"num_generations": 8, "prompts": 2, "max_new_tokens": 32, "seed": 0},
        aliases={"num_generations": "-k"},
    )

    sub.add_parser("list", help="presets, tasks and the adapters found for the base model")
    add_report_verb(sub)

    add_space_verb(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ConfigError, ModelUnavailable, AdapterError, GenerationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if isinstance(exc, ModelUnavailable):
            return EXIT_MODEL
        return EXIT_ADAPTER if isinstance(exc, AdapterError) else EXIT_USAGE


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "train":  # the app's forms, without its caps: before anything loads
        fields = forms.Fields()
        values = {k: getattr(args, k) for k in SETTINGS}
        config = forms.run_config(
            fields, task=args.task, preset=args.preset, reward=args.reward, values=values, app=False
        )
        fields.take("name", check_adapter_name, args.name)
        args.probe, args.probe_every = forms.probe_fields(
            fields, args.probe, args.probe_every, app=False
        )
        fields.done()
        return _train(_resident(args), config, args)
    if args.command == "report":  # reads the adapter folder only: no model is loaded
        return run_report(args)
    if args.command == "space":
        return run_space(args)
    if args.command == "score":
        asked = forms.score(  # a bad spec fails before the model loads
            task=args.task,
            reward=args.reward,
            num_generations=args.num_generations,
            max_completion_length=args.max_new_tokens,
            prompts=args.prompts,
            seed=args.seed,
            app=False,
        )
        return _score(_resident(args), asked)
    if args.command in ("generate", "evaluate"):
        if args.command == "generate" and args.prompt is not None:
            check_prompts(args.prompt)  # before the model loads: a typo costs no waiting
        run = _generate if args.command == "generate" else _evaluate
        resident = _resident(args)
        for name in args.adapters if args.command == "evaluate" else [args.adapter]:
            resident.get(name)  # an unknown adapter is refused before any sampling
        return run(resident, args)
    print("\n".join(catalog_lines(_resident(args))))
    return 0


def _resident(args):
    print("loading the base model ...", file=sys.stderr)
    resident = ResidentModel.load(args.model, args.checkpoints)
    for problem in resident.problems:
        print(f"warning: skipped adapter: {problem}", file=sys.stderr)
    print(
        f"{resident.spec.name} loaded in {resident.load_seconds:.1f} s; "
        f"adapters: {', '.join(resident.names())}",
        file=sys.stderr,
    )
    return resident


def _train(resident, config, args) -> int:
    main = is_main_process()  # under `accelerate launch`, rank 0 reports and saves
    if main and not args.quiet:
        print(f"run config (preset {args.preset}, defaults resolved):", flush=True)
        print("\n".join(resolved_lines(config, resident)), flush=True)
    run = TrainingRun(
        resident,
        config,
        args.name,
        preset=args.preset,
        overwrite=args.overwrite,
        owner="cli",
        probes=args.probe,
        probe_every=args.probe_every,
    )
    run.start()
    bar = tqdm(total=config.max_steps, unit="step", desc=f"GRPO {args.name}", disable=not main)
    try:
        for event in run.events():
            if isinstance(event, RunEnded):
                break
            bar.update(1)
            bar.set_postfix(reward=f"{event.reward:.3f}", kl=f"{event.metrics.get('kl', 0):.4f}")
            if main and not args.quiet and event.completions:
                best = max(event.completions, key=lambda c: c.advantage)
                bar.write(f"step {event.step}: best {best.advantage:+.2f} {best.completion!r}")
            for prompt, answer in zip(run.probes, event.probes or [], strict=False):
                if main:
                    bar.write(f"step {event.step} probe {prompt!r} -> {answer!r}")
            if main and event.collapsed:
                bar.write("warning: completions look collapsed (one word repeated)")
    except KeyboardInterrupt:
        bar.write("stopping after this step; the adapter will still be saved ...")
        run.stop()
        run.join()
    bar.close()
    end = run.join()
    if end is None or end.error:
        print(f"error: training failed: {end.error if end else 'no result'}", file=sys.stderr)
        return EXIT_FAILED
    if not main:
        return 0
    r = end.adapter.run
    print(
        f"saved {end.adapter.path} ({end.steps} steps, {r['seconds_per_step']} s/step, "
        f"batch reward {r['reward_first']:.3f} -> {r['reward_last']:.3f})"
        + (" [stopped early]" if end.stopped else "")
    )
    return EXIT_INTERRUPTED if end.stopped and run.stopping else 0


def _score(resident, asked: forms.ScoreRequest) -> int:
    sizes = asked.num_generations, asked.max_new_tokens, asked.seed
    groups = score_base(resident, asked.task, train_prompts()[: asked.prompts], *sizes)
    print(f"reward: {asked.task.formula()}")
    for i, g in enumerate(groups, 1):
        print(f"group {i}{' (tied: teaches nothing)' if g.tied else ''}: {g.prompt!r}")
        for j, text in enumerate(g.completions):
            terms = "  ".join(f"{k}={v[j]:.2f}" for k, v in g.terms.items())
            print(f"  total={g.totals[j]:+.3f} advantage={g.advantages[j]:+.3f}  {terms}  {text!r}")
    print(verdict(groups))
    return 0


def _generate(resident, args) -> int:
    params = SamplingParams(
        args.num_samples, args.max_new_tokens, args.temperature, args.top_p, args.seed
    )
    for c in sample(resident, args.prompt or EXAMPLES[:2], [args.adapter], params):
        if args.json:
            print(json.dumps(c.to_dict()))
        else:
            scores = "  ".join(f"{k}={v:.2f}" for k, v in c.rewards.items())
            print(f"[{c.adapter}] {c.prompt}|{c.text}\n    words={c.word_count}  {scores}")
    return 0


def _evaluate(resident, args) -> int:
    with tqdm(desc="sampling", unit="batch") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = evaluate(
            resident,
            args.adapters,
            args.num_samples,
            max_new_tokens=args.max_new_tokens,
            seed=args.seed,
            on_progress=progress,
        )
    paths = save(result, args.out)
    print(result.table1().to_string())
    print(result.diversity_table().to_string())
    if result.wins is not None and not result.wins.empty:
        print("win rate against the base (own task reward, same prompt and seed):")
        print(result.wins.round(3).to_string(index=False))
    print("saved: " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
