"""A classroom at the protocol level: many pages against ``python app.py`` on loopback.

    python -m bench.load [--pages 30] [--quiet-steps 3] [--steps 4] [--every 60] [--write]

Starts the app as README does (a subprocess on a free loopback port, its own empty adapter
folder beside the shipped ones), opens ``--pages`` pages as Gradio's own page does (a session
each, the page's load events, its 2 s run-view timer and 5 s adapter poll at their periods,
each message read from the page's event stream) and then:

1. **burst**: every page presses Generate at once (the report's prompt with its page number,
   the four-letter adapter, 1 sample, 32 new tokens, its own seed), no training;
2. **quiet run**: the teacher's page starts classroom-four-letter for ``--quiet-steps`` steps
   while the pages only watch (timers);
3. **loaded run**: the same run for ``--steps`` steps while each student presses Generate once
   every ``--every`` seconds (at a random phase), as a class trying things out would.

Every request's outcome is kept (answered, refused with its message, or failed); an answer is
checked to hold its own page's prompt. The app's RSS is sampled twice a second. The whole
thing is bounded (``--timeout``) and stops by itself. ``--write`` appends the tables to
BENCHMARKS.md with the CPU flags.
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
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import ROOT, cpu_line
from grpo_demo.memory import rss_bytes

PROMPT = "Tomorrow I'm gonna learn for exam"


@dataclass
class Outcome:
    page: int
    what: str
    sent: float
    seconds: float
    status: str  # "answered" | "refused" | "failed"
    message: str = ""
    output: list | None = None
    changed: list = field(default_factory=list)  # states the event changed (Gradio's ids)


@dataclass
class App:
    """The app under test: its process, address and page layout (Gradio's /config)."""

    proc: subprocess.Popen | None  # None: an app started by someone else
    url: str
    config: dict = field(default_factory=dict)

    def dependency(self, api_name: str | None = None, target: str | None = None) -> dict:
        """An event by API name, or by the elem_id of its trigger (``"timer:2.0"``: a Timer)."""
        by_id = {c["id"]: c for c in self.config["components"]}
        for dep in self.config["dependencies"]:
            if api_name and dep.get("api_name") == api_name:
                return dep
            for comp_id, event in dep.get("targets", []):
                comp = by_id.get(comp_id, {})
                timer = comp.get("type") == "timer" and event == "tick"
                if timer and target == f"timer:{comp['props'].get('value')}":
                    return dep
        raise KeyError(api_name or target)

    def on_change(self, state_ids: list) -> list[dict]:
        """The events a page fires when these states changed (their ``.change`` listeners)."""
        return [
            dep
            for dep in self.config["dependencies"]
            if any(t[0] in state_ids and t[1] == "change" for t in dep.get("targets", []))
        ]

    def inputs(self, dep: dict, **by_elem_id) -> list:
        """The event's input values: the page's defaults, ``by_elem_id`` overriding; states
        are kept by the server (sent as null)."""
        by_id = {c["id"]: c for c in self.config["components"]}
        data = []
        for comp_id in dep["inputs"]:
            comp = by_id[comp_id]
            elem = (comp["props"].get("elem_id") or "").replace("-", "_")
            if comp.get("type") == "state":
                data.append(None)
            elif elem in by_elem_id:
                data.append(by_elem_id[elem])
            else:
                data.append(comp["props"].get("value"))
        return data

    def rss_gb(self) -> float:
        return rss_bytes(self.proc.pid) / 1e9 if self.proc else float("nan")


class Page:
    """One browser page: a session, its events sent to the queue, one event stream read."""

    def __init__(self, app: App, number: int, client):
        self.app, self.number, self.client = app, number, client
        self.session = uuid.uuid4().hex[:11]
        self.waiting: dict[str, asyncio.Future] = {}
        self.early: dict[str, list] = {}
        self.reader: asyncio.Task | None = None
        self.reading = False

    async def call(self, dep: dict, data: list, what: str) -> Outcome:
        sent = time.perf_counter()
        body = {
            "data": data,
            "event_data": None,
            "fn_index": dep["id"],
            "trigger_id": (dep.get("targets") or [[None]])[0][0],
            "session_hash": self.session,
        }
        try:
            r = await self.client.post(f"{self.app.url}/gradio_api/queue/join", json=body)
            r.raise_for_status()
        except Exception as exc:  # the app refused the connection: a failure, recorded
            return Outcome(self.number, what, sent, time.perf_counter() - sent, "failed", str(exc))
        event_id = r.json()["event_id"]
        done = asyncio.get_running_loop().create_future()
        self.waiting[event_id] = done
        for msg in self.early.pop(event_id, []):
            self._dispatch(msg)
        if not self.reading:
            self.reading = True
            self.reader = asyncio.create_task(self._read())
        msg = await done
        seconds = time.perf_counter() - sent
        output = msg.get("output") or {}
        if msg.get("success"):
            changed = output.get("changed_state_ids") or []
            data = output.get("data")
            return Outcome(self.number, what, sent, seconds, "answered", "", data, changed)
        text = output.get("error") or msg.get("message") or "no message"
        return Outcome(self.number, what, sent, seconds, "refused", str(text))

    def _dispatch(self, msg: dict) -> None:
        event_id = msg.get("event_id")
        if msg.get("msg") != "process_completed" or not event_id:
            return
        future = self.waiting.pop(event_id, None)
        if future is None:
            self.early.setdefault(event_id, []).append(msg)
        elif not future.done():
            future.set_result(msg)

    async def _read(self) -> None:
        """The page's event stream, reopened while events wait (Gradio closes it when none
        do); a dropped stream fails the events it carried."""
        try:
            while self.waiting:
                url = f"{self.app.url}/gradio_api/queue/data"
                params = {"session_hash": self.session}
                async with self.client.stream("GET", url, params=params) as stream:
                    async for line in stream.aiter_lines():
                        if line.startswith("data:"):
                            msg = json.loads(line[5:])
                            if msg.get("msg") == "close_stream":
                                break
                            self._dispatch(msg)
        except Exception as exc:
            for future in self.waiting.values():
                if not future.done():
                    future.set_result({"success": False, "message": f"stream: {exc}"})
            self.waiting.clear()
        finally:
            self.reading = False


def start_app(port: int, checkpoints: Path, log: Path) -> App:
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--checkpoints", str(checkpoints)],
            cwd=ROOT,
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

        label[0] = "burst"
        burst = await asyncio.gather(*(generate(p, p.number) for p in pages))
        label[0] = "idle"
        await asyncio.sleep(3)

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
        "burst": burst,
        "quiet": quiet,
        "loaded": loaded,
        "students": students,
        "timers": log,
        "rss": rss,
        "rss_after": (rss_after_quiet, rss_after_loaded),
    }


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
        f"| RSS after the quiet run / 10 s after the loaded run (GB) | "
        f"{got['rss_after'][0]:.2f} / {got['rss_after'][1]:.2f} |",
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
    args = parser.parse_args(argv)
    random.seed(0)
    with tempfile.TemporaryDirectory(prefix="load-") as tmp:
        checkpoints = Path(tmp) / "checkpoints"
        shutil.copytree(ROOT / "checkpoints", checkpoints)  # the shipped adapters
        app = start_app(args.port, checkpoints, Path(tmp) / "app.log")
        try:
            got = asyncio.run(asyncio.wait_for(classroom(args, app), args.timeout))
            text = report(args, got, checkpoints)
        finally:
            app.proc.terminate()
            app.proc.wait(30)
    print(text)
    if args.write:
        with (ROOT / "BENCHMARKS.md").open("a") as out:
            out.write("\n" + text)


if __name__ == "__main__":
    main()
