"""What the bench tools share: the repository root, a per-step timer, the machine's CPU line,
writing a table between two markers of BENCHMARKS.md, the step sizes and the project's run
at each, the FLOP floor (this machine's matmul peak and a step size's FLOPs at it), and a
Gradio page at the protocol level (a session, its events, its event stream).

Every tool imports these from here (and from no other tool), so the tools stay independent.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from grpo_demo.config import RunConfig
from grpo_demo.data import train_prompts
from grpo_demo.memory import rss_bytes
from grpo_demo.presets import from_preset

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


SIZES = {  # name -> (prompts a step, completions per prompt, new tokens)
    "pair": (1, 8, 32),  # one group of 8 completions x 32 tokens (the comparison)
    "classroom": (4, 8, 32),  # the classroom-four-letter preset's own sizes
}


def project_config(size: tuple[int, int, int], steps: int, **overrides) -> RunConfig:
    """The project's run at a step size, comparable with the plain-TRL arms: the four-letter
    reward, lr 1e-3 and beta 0 (TRL's default: no reference forward; the classroom preset's
    0.01 adds one), LoRA r16 on all linear layers."""
    prompts, group, tokens = size
    return from_preset(
        "classroom-four-letter",
        task="four-letter",
        learning_rate=1e-3,
        beta=0.0,
        max_steps=steps,
        num_generations=group,
        per_device_train_batch_size=prompts * group,
        max_completion_length=tokens,
        **overrides,
    )


PEAK_SHAPE = (2048, 576, 1536)  # (tokens, hidden, MLP width) of the bundled SmolLM2-135M


DECODE_ROWS = 32  # one decode step of a classroom step's 32 sequences: 32 rows, not 2048


def matmul_peak(dtype: str, repeats: int = 15, inner: int = 10, rows: int | None = None) -> float:
    """GFLOP/s of the MLP-shaped matmul in ``dtype`` ("bfloat16" or "float32"): the best of
    ``repeats`` timings of ``inner`` matmuls each, after a warm-up (a peak: on a shared
    2-core machine the median of one call moved from 540 to 2050 GFLOP/s between runs).
    ``rows``: fewer token rows (a decode step's shape, which no CPU runs at its peak)."""
    import torch

    m, k, n = PEAK_SHAPE
    m = rows or m
    kind = getattr(torch, dtype)
    a, b = torch.randn(m, k, dtype=kind), torch.randn(k, n, dtype=kind)
    for _ in range(3):
        a @ b
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            a @ b
        rates.append(2 * m * k * n * inner / (time.perf_counter() - start) / 1e9)
    return max(rates)


@dataclass(frozen=True)
class Floor:
    """One step size's FLOPs and the seconds they take at this machine's peak."""

    prompts: int
    group: int
    tokens: int
    prompt_tokens: float  # mean prompt length in tokens
    params: int
    peak_gflops: float
    peak_dtype: str

    @property
    def step_tokens(self) -> float:
        return self.prompts * self.group * (self.prompt_tokens + self.tokens)

    @property
    def rollout_flops(self) -> float:
        return 2 * self.params * self.step_tokens

    @property
    def update_flops(self) -> float:
        return 4 * self.params * self.step_tokens

    def seconds(self, flops: float) -> float:
        return flops / (self.peak_gflops * 1e9)

    @property
    def rollouts_s(self) -> float:
        return self.seconds(self.rollout_flops)

    @property
    def update_s(self) -> float:
        return self.seconds(self.update_flops)

    @property
    def step_s(self) -> float:
        return self.rollouts_s + self.update_s


def peaks() -> dict[str, float]:
    """The two peaks, and the same matmul at a decode step's 32 rows (``decode <dtype>``)."""
    out = {d: matmul_peak(d) for d in ("bfloat16", "float32")}
    out |= {f"decode {d}": matmul_peak(d, rows=DECODE_ROWS, inner=100) for d in tuple(out)}
    return out


def floor_of(resident, size: tuple[int, int, int], peak: dict[str, float], bf16: bool) -> Floor:
    """The floor of a step of ``size`` (prompts, group, tokens) on the resident base."""
    prompts, group, tokens = size
    tok = resident.tokenizer
    lengths = [len(ids) for ids in tok(train_prompts(), add_special_tokens=False)["input_ids"]]
    params = sum(p.numel() for n, p in resident.model.named_parameters() if "lora_" not in n)
    dtype = "bfloat16" if bf16 and peak["bfloat16"] > peak["float32"] else "float32"
    return Floor(prompts, group, tokens, statistics.fmean(lengths), params, peak[dtype], dtype)


def peak_line(peak: dict[str, float]) -> str:
    m, k, n = PEAK_SHAPE
    return (
        f"matmul peak ({m}×{k} @ {k}×{n}): bf16 {peak['bfloat16']:.0f} GFLOP/s, fp32 "
        f"{peak['float32']:.0f} GFLOP/s (at a decode step's {DECODE_ROWS} rows: bf16 "
        f"{peak['decode bfloat16']:.0f}, fp32 {peak['decode float32']:.0f})"
    )


def publish(text: str, write: bool, out: Path = ROOT / "BENCHMARKS.md") -> None:
    """Print a benchmark's section; with ``write``, append it to BENCHMARKS.md."""
    print(text)
    if write:
        with out.open("a") as f:
            f.write("\n" + text)


# -- a Gradio page at the protocol level (bench.load, and the suite's six-page test) -----------
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
