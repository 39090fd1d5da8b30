"""A classroom at the protocol level: many pages against ``python app.py`` on loopback.

    python -m bench.load [--pages 30] [--quiet-steps 3] [--steps 4] [--every 60] [--write]
    python -m bench.load --ab REV_A REV_B [--rounds 2] [--bursts 3]

Starts the app as README does (its own copy of the shipped adapters) and opens ``--pages``
pages as Gradio's page does: a session each, its 2 s run-view tick and 5 s adapter poll at
their periods, the events a page fires when a state with a ``.change`` listener changed, every
message read from the page's event stream. Then: (1) a **burst**, every page presses Generate
at once (the report's prompt with its page number, four-letter, 1 sample, 32 tokens, a seed
each), no training; (2) a **quiet run**, classroom-four-letter for ``--quiet-steps`` steps
while the pages watch; (3) a **loaded run** of ``--steps`` steps while each student presses
Generate every ``--every`` seconds. Every outcome is kept and every answer checked to hold its
own page's prompt; the app's RSS is sampled twice a second; bounded by ``--timeout``.

``--ab``: the burst alone, two commits compared interleaved (A, B, A, B: ``--rounds``): each
arm checks its commit out (a git worktree), starts its ``python app.py`` with its own shipped
adapters and the pages' timers, then 3 single Generates and ``--bursts`` bursts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, cpu_line
from bench.common.page import App, Outcome, Page

PROMPT = "Tomorrow I'm gonna learn for exam"


def start_app(port: int, checkpoints: Path, log: Path, root: Path = ROOT) -> App:
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--checkpoints", str(checkpoints)],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return App(proc, f"http://127.0.0.1:{port}")


async def wait_ready(app: App, client, timeout: float = 600) -> None:
    """The page is served, then the model has loaded (the header names it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.proc.poll() is not None:
            raise SystemExit("the app exited before serving its page")
        try:
            r = await client.get(f"{app.url}/config")
            if r.status_code == 200:
                app.config = r.json()
                break
        except Exception:
            pass
        await asyncio.sleep(0.5)
    page = Page(app, -1, client)
    poll = app.dependency(target="timer:5.0")
    while time.monotonic() < deadline:
        got = await page.call(poll, app.inputs(poll), "poll")
        if got.status == "answered" and "loading" not in json.dumps(got.output).lower():
            return
        await asyncio.sleep(1)
    raise SystemExit("the model did not load in time")


async def timers(page: Page, stop: asyncio.Event, log: list[Outcome]) -> None:
    """The page's 2 s run view and 5 s adapter poll, each waiting for its last answer (a
    Gradio timer does not fire again while its event is pending)."""
    app = page.app

    async def every(period: float, dep: dict, what: str) -> None:
        await asyncio.sleep(random.uniform(0, period))
        while not stop.is_set():
            start = time.perf_counter()
            got = await page.call(dep, app.inputs(dep), what)
            log.append(got)
            for then in app.on_change(got.changed):  # as the page's own script fires them
                log.append(await page.call(then, app.inputs(then), f"{what}: redraw"))
            await asyncio.sleep(max(period - (time.perf_counter() - start), 0.05))

    await asyncio.gather(
        every(2.0, app.dependency(target="timer:2.0"), "run view"),
        every(5.0, app.dependency(target="timer:5.0"), "adapter poll"),
    )


async def generate(page: Page, seed: int) -> Outcome:
    app = page.app
    dep = app.dependency(api_name="generate")
    prompt = f"{PROMPT} (page {page.number})"
    values = dict(prompt=prompt, adapter_choice="four-letter", num_samples=1, max_new=32, seed=seed)
    got = await page.call(dep, app.inputs(dep, **values), "generate")
    if got.status == "answered" and prompt not in json.dumps(got.output):
        got.status, got.message = "failed", "the answer does not hold this page's prompt"
    return got


async def train(page: Page, name: str, steps: int, **fields) -> Outcome:
    """The Train tab's Start with the classroom preset (``fields`` by elem_id: ``gens``,
    ``max_len``, ...), answered when the run ends."""
    app = page.app
    dep = app.dependency(api_name="train")
    values = dict(preset="classroom-four-letter", adapter_name=name, max_steps=steps, **fields)
    return await page.call(dep, app.inputs(dep, **values), f"train {name}")


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return (
        f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f} (n={len(values)})"
    )


async def classroom(args, app: App) -> dict:
    import httpx

    limits = httpx.Limits(max_connections=4 * args.pages + 20)
    async with httpx.AsyncClient(timeout=httpx.Timeout(None), limits=limits) as client:
        await wait_ready(app, client)
        pages = [Page(app, i, client) for i in range(args.pages)]
        log: list[Outcome] = []
        rss: list[tuple[float, float, str]] = []
        label = ["idle"]
        t0 = time.perf_counter()
        stop = asyncio.Event()

        async def sample_rss() -> None:
            while not stop.is_set():
                rss.append((time.perf_counter() - t0, app.rss_gb(), label[0]))
                await asyncio.sleep(0.5)

        background = [asyncio.create_task(sample_rss())]
        alone = [await generate(pages[0], 10_000 + i) for i in range(3)]
        background += [asyncio.create_task(timers(p, stop, log)) for p in pages]
        await asyncio.sleep(6)  # every page has loaded and ticked

        bursts = []
        for b in range(args.bursts if args.ab else 1):  # --ab: the burst alone, --bursts times
            label[0] = "burst"
            bursts.append(await asyncio.gather(*(generate(p, 100 * b + p.number) for p in pages)))
            label[0] = "idle"
            await asyncio.sleep(3)
        if args.ab:
            stop.set()
            await asyncio.gather(*background, return_exceptions=True)
            return {"alone": alone, "bursts": bursts}

        rss_before_quiet = app.rss_gb()
        label[0] = "quiet run"
        quiet = await train(pages[0], "load-quiet", args.quiet_steps)
        label[0] = "idle"
        rss_after_quiet = app.rss_gb()

        label[0] = "loaded run"
        students: list[Outcome] = []
        run_done = asyncio.Event()

        async def student(page: Page) -> None:
            await asyncio.sleep(random.uniform(0, args.every))
            while not run_done.is_set():
                start = time.perf_counter()
                students.append(await generate(page, random.randrange(2**31)))
                await asyncio.sleep(max(args.every - (time.perf_counter() - start), 0))

        kids = [asyncio.create_task(student(p)) for p in pages[1:]]
        loaded = await train(pages[0], "load-loaded", args.steps)
        run_done.set()
        await asyncio.gather(*kids)
        label[0] = "idle"
        await asyncio.sleep(10)
        rss_after_loaded = app.rss_gb()
        stop.set()
        await asyncio.gather(*background, return_exceptions=True)
    return {
        "alone": alone,
        "burst": bursts[0],
        "quiet": quiet,
        "loaded": loaded,
        "students": students,
        "timers": log,
        "rss": rss,
        "rss_runs": (rss_before_quiet, rss_after_quiet, rss_after_loaded),
    }


def one_app(args, tmp: Path, root: Path = ROOT) -> tuple[dict, Path]:
    """``classroom`` against ``root``'s ``python app.py`` with a fresh copy of its shipped
    adapters (under ``tmp``): what it measured, and the adapters' folder (the runs saved)."""
    checkpoints = tmp / "checkpoints"
    shutil.rmtree(checkpoints, ignore_errors=True)
    shutil.copytree(root / "checkpoints", checkpoints)
    app = start_app(args.port, checkpoints, tmp / "app.log", root=root)
    try:
        return asyncio.run(asyncio.wait_for(classroom(args, app), args.timeout)), checkpoints
    finally:
        app.proc.terminate()
        app.proc.wait(30)


def ab(args) -> str:
    """The burst, two commits interleaved; a table of both arms."""
    got: dict[str, tuple[list[float], list[float]]] = {rev: ([], []) for rev in args.ab}
    with tempfile.TemporaryDirectory(prefix="load-ab-") as tmp:
        trees = {rev: Path(tmp) / f"tree-{i}" for i, rev in enumerate(args.ab)}
        for rev, tree in trees.items():
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(tree), rev], cwd=ROOT, check=True
            )
        try:
            for _ in range(args.rounds):
                for rev, tree in trees.items():
                    arm, _ = one_app(args, Path(tmp), root=tree)
                    for burst in arm["bursts"]:
                        if any(o.status != "answered" for o in burst):
                            raise SystemExit(f"{rev}: a burst was not all answered")
                        got[rev][1].append(max(o.seconds for o in burst))
                    got[rev][0].extend(o.seconds for o in arm["alone"])
        finally:
            for tree in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)
    lines = [
        f"{args.pages} Generates at once, two commits interleaved ({args.rounds} rounds, "
        f"{args.bursts} bursts each), {time.strftime('%Y-%m-%d')}",
        "",
        f"CPU: {cpu_line()}",
        "",
        "| commit | the burst's last answer (s, min / median / max) | one Generate alone (s) |",
        "|---|---|---|",
        *(f"| {rev} | {spread(lasts)} | {spread(alone)} |" for rev, (alone, lasts) in got.items()),
    ]
    return "\n".join(lines) + "\n"


def step_seconds(checkpoints: Path, name: str) -> list[float]:
    """Each step's own seconds from the saved run (``run.json``'s history: elapsed per step)."""
    path = next(checkpoints.glob(f"*/{name}/run.json"), None)
    if path is None:
        return []
    elapsed = [s["elapsed"] for s in json.loads(path.read_text())["history"]]
    return [b - a for a, b in zip([0.0, *elapsed], elapsed, strict=False)]


def report(args, got: dict, checkpoints: Path) -> str:
    burst: list[Outcome] = got["burst"]
    answered = [o.seconds for o in burst if o.status == "answered"]
    quiet, loaded = (step_seconds(checkpoints, n) for n in ("load-quiet", "load-loaded"))
    students: list[Outcome] = got["students"]
    timer_s = [o.seconds for o in got["timers"] if o.status == "answered"]
    rss = got["rss"]
    before = [r for t, r, lab in rss if lab == "idle"]

    def peak(label: str) -> float:
        return max((r for _, r, lab in rss if lab == label), default=float("nan"))

    def counts(outcomes: list[Outcome]) -> str:
        kinds = {k: sum(o.status == k for o in outcomes) for k in ("answered", "refused", "failed")}
        return ", ".join(f"{v} {k}" for k, v in kinds.items())

    ratio = statistics.median(loaded) / statistics.median(quiet) if quiet and loaded else None
    lines = [
        f"### Classroom load, {time.strftime('%Y-%m-%d')} ({args.pages} pages, loopback)",
        "",
        f"CPU: {cpu_line()}",
        "",
        "| what | measured |",
        "|---|---|",
        f"| one Generate alone (s, min / median / max) | "
        f"{spread([o.seconds for o in got['alone']])} |",
        f"| {args.pages} Generates at once, no training: latency (s) | {spread(answered)} |",
        f"| ... the last answer after | {max(answered, default=float('nan')):.1f} s |",
        f"| ... outcomes | {counts(burst)} |",
        f"| quiet step (s, {args.quiet_steps} steps, pages watching) | {spread(quiet)} |",
        f"| loaded step (s, {args.steps} steps, Generate every {args.every:.0f} s a page) | "
        f"{spread(loaded)} |",
        f"| loaded / quiet step (medians) | {ratio:.2f}x |" if ratio else "| loaded / quiet | - |",
        f"| students' Generates during the loaded run (s) | "
        f"{spread([o.seconds for o in students if o.status == 'answered'])} |",
        f"| ... outcomes | {counts(students)} |",
        f"| the runs | quiet: {got['quiet'].status}, loaded: {got['loaded'].status} |",
        f"| timer events (s) | {spread(timer_s)}; {counts(got['timers'])} |",
        f"| RSS idle before / peak burst / peak quiet run / peak loaded run (GB) | "
        f"{min(before, default=float('nan')):.2f} / {peak('burst'):.2f} / "
        f"{peak('quiet run'):.2f} / {peak('loaded run'):.2f} |",
        "| RSS just before the quiet run / after it / 10 s after the loaded run (GB) | "
        + " / ".join(f"{r:.2f}" for r in got["rss_runs"])
        + " |",
    ]
    refusals = sorted({o.message for o in burst + students if o.status != "answered"})
    if refusals:
        lines += ["", "Refusals and failures:", *(f"- {m}" for m in refusals[:10])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=30)
    parser.add_argument("--quiet-steps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--every", type=float, default=60.0, help="seconds between a page's")
    parser.add_argument("--timeout", type=float, default=3600.0, help="stop after this long")
    parser.add_argument("--port", type=int, default=7871)
    parser.add_argument("--write", action="store_true", help="append to BENCHMARKS.md")
    parser.add_argument("--ab", nargs=2, metavar="REV", help="the burst alone: two commits")
    parser.add_argument("--rounds", type=int, default=2, help="--ab: A, B rounds")
    parser.add_argument("--bursts", type=int, default=3, help="--ab: bursts an arm")
    args = parser.parse_args(argv)
    if args.ab and args.ab[0] == args.ab[1]:
        parser.error("--ab needs two different commits")
    random.seed(0)
    if args.ab:
        text = ab(args)
    else:
        with tempfile.TemporaryDirectory(prefix="load-") as tmp:
            got, checkpoints = one_app(args, Path(tmp))
            text = report(args, got, checkpoints)
    print(text)
    if args.write:
        with (ROOT / "BENCHMARKS.md").open("a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
