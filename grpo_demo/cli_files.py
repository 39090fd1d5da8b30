"""The CLI's verbs that load no model: ``report`` (a run as one HTML file) and ``space``
(deploy this demo to a Hugging Face Space). ``__main__`` parses and dispatches them."""

from __future__ import annotations

import argparse
from pathlib import Path

from .models import resolve_spec
from .report import write_report
from .space import TARGETS, deploy, space_files, written_for
from .store import default_checkpoints


def add_report_verb(sub) -> None:
    r = sub.add_parser(
        "report",
        help="write one run's report: a self-contained HTML file",
        description="Write the report of a saved adapter's training run as one HTML file that "
        "loads nothing (charts inline): settings, the reward in words, reward / terms / "
        "diversity / entropy over steps, the probes, sample completions and the collapse "
        "verdict. No model is loaded.",
        epilog="example: python -m grpo_demo report hacked --out hacked.html",
    )
    r.add_argument("name", help="adapter name (under checkpoints/<base>/)")
    r.add_argument(
        "--out", type=Path, help="HTML file to write (default: report.html in the adapter folder)"
    )


def run_report(args: argparse.Namespace) -> int:
    folder = (args.checkpoints or default_checkpoints()) / resolve_spec(args.model).name
    print(write_report(folder, args.name, args.out))
    return 0


def run_space(args: argparse.Namespace) -> int:
    files = space_files()
    written = written_for(args.hardware)
    for path, size in files:
        note = f"  (written for {args.hardware})" if path in written else ""
        print(f"{size / 1e6:9.3f} MB  {path}{note}")
    print(f"{len(files)} files, {sum(s for _, s in files) / 1e6:.1f} MB")
    if args.dry_run:
        head = written["README.md"].split("\n---\n", 1)[0]
        print(f"\nREADME.md front matter for {args.hardware}:\n{head}\n---")
        print(f"\nrequirements.txt for {args.hardware}:\n{written['requirements.txt']}", end="")
        return 0
    url = deploy(args.repo_id, args.hardware, args.private)
    print(f"deployed: {url} (the Space builds and starts in a few minutes)")
    return 0


def add_space_verb(sub) -> None:
    sp = sub.add_parser("space", help="deploy this demo to a Hugging Face Space")
    verbs = sp.add_subparsers(dest="space_command", required=True)
    d = verbs.add_parser(
        "deploy",
        help="create/update a Space with what it needs (app, package, adapters)",
        description="Create (or update) a Gradio Space and upload only what it runs: app.py, "
        "requirements.txt, README.md, grpo_demo/, checkpoints/ and the README's pictures. "
        "The token comes from HF_TOKEN or `huggingface-cli login`.",
        epilog="example: python -m grpo_demo space deploy alice/language-kindergarten "
        "--hardware zerogpu --dry-run",
    )
    d.add_argument("repo_id", metavar="USER/NAME", help="the Space to create or update")
    d.add_argument(
        "--hardware",
        choices=list(TARGETS),
        default="zerogpu",
        help="zerogpu: a free account's (GPU work in worker processes, per-visitor quota; "
        "the default); cpu-basic: needs a paid plan",
    )
    d.add_argument("--private", action="store_true", help="a private Space")
    d.add_argument("--dry-run", action="store_true", help="list the files and sizes; upload none")
