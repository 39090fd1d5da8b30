"""One saved run -> one self-contained HTML page to hand out (``python -m grpo_demo report``).

Boundary: reads an adapter folder only through ``store`` (``run.json``, ``steps.jsonl``) as
``steps.StepEvent``s, judged with ``metrics`` (the one "collapsed" rule); no model, no torch, no
Gradio. The page carries everything inline (CSS; charts as base64 PNG on ``charts.panels``), loads
nothing, and every piece of run text in it is HTML-escaped: nothing from a run is executed.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from . import metrics
from .charts import panels
from .metrics import diversity
from .reward_spec import TERMS, parse_term, task_score
from .settings import ConfigError, format_number
from .steps import StepEvent, collapse_step, step_from_history, step_from_record
from .store import RUN_RECORD, STEPS, AdapterError, AdapterInfo, load_steps, validate_adapter_dir
from .tasks import Task

REPORT_FILE = "report.html"  # the default: next to the run's run.json
SAMPLES_PER_STEP = 4  # completions shown per sampled step: the two best and two worst
MAX_TEXT = 600  # characters of one completion shown (they are short; this bounds a bad one)
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"  # loads nothing, runs nothing
RULE = (
    "metrics.py's rule: a step looks collapsed when its completions' mean distinct-word share is "
    f"under {metrics.COLLAPSE_DISTINCT}, or the median completion repeats one word "
    f"{metrics.LOOP_RUN}+ times in a row, or distinct-1 falls under {metrics.COLLAPSE_DROP:.0%} "
    "of the first step's."
)

FONT = {"title": 12, "label": 10, "ticks": 10, "legend": 8}  # points, at a page's width


# -- reading ---------------------------------------------------------------------------------
def find_run(adapter_dir: Path, name: str) -> AdapterInfo:
    """The adapter ``name`` under ``adapter_dir`` (``checkpoints/<base>``), validated by store."""
    found = adapter_dir.iterdir() if adapter_dir.is_dir() else []
    names = sorted(p.name for p in found if p.is_dir() and not p.name.startswith("."))
    if name not in names:
        raise AdapterError(
            f"unknown adapter {name!r} in {adapter_dir}; available: {', '.join(names) or 'none'}"
        )
    info = validate_adapter_dir(adapter_dir / name, adapter_dir.name)
    if not info.run:
        raise AdapterError(f"{info.path}: no {RUN_RECORD}, so nothing to report")
    return info


def read_steps(info: AdapterInfo) -> list[StepEvent]:
    """Every step: ``steps.jsonl`` where saved, else the per-step metrics of ``run.json``."""
    if saved := load_steps(info.path):
        return [step_from_record(r) for r in saved]
    if history := info.run.get("history"):
        return [step_from_history(h) for h in history]
    raise AdapterError(
        f"{info.path}: no {STEPS} and no per-step history in {RUN_RECORD}, so nothing to report"
    )


def run_task(info: AdapterInfo) -> Task:
    """What it was trained on: its task, unless run.json's own reward list says otherwise."""
    task, funcs = info.task_spec, tuple(info.run.get("reward_funcs") or ())
    if task is not None and (not funcs or task.reward_funcs == funcs):
        return task
    weights = tuple(info.run.get("reward_weights") or (1.0,) * len(funcs))
    return Task(info.task, funcs, weights, "As recorded in run.json (the task has changed since).")


def collapse_verdict(steps: list[StepEvent]) -> tuple[int | None, str]:
    """steps.collapse_step over the steps: the first step that looked collapsed (or None) and
    the evidence, in words (the numbers that tripped it, or did not)."""
    tripped = collapse_step(steps)
    first, last = steps[0], steps[-1]
    trend = ", ".join(
        f"{k.replace('_', '-')} {_f(first.all_metrics.get(k))} → {_f(last.all_metrics.get(k))}"
        for k in ("distinct_1", "distinct_2")
        if k in first.all_metrics
    )
    trend = f"From step {first.step} to step {last.step}: {trend}."
    if not any(s.completions for s in steps):
        trend += f" (Judged on {RUN_RECORD}'s per-step distinct-1: the completions were not saved.)"
    if tripped is None:
        return None, f"No step tripped the rule. {trend}"
    hit = next(s for s in steps if s.step == tripped)
    if hit.completions and hit.collapsed:
        div = diversity([c.completion for c in hit.completions])
        why = (
            f"its completions' mean distinct-word share was {_f(div['mean_distinct'])} and "
            f"the median completion's longest run of one word {div['median_run']:g}"
        )
    elif hit.collapsed:
        why = "its completions were flagged collapsed when the run recorded them"
    else:
        d1 = [_f(s.distinct_1) for s in (hit, first)]
        drop = f"{metrics.COLLAPSE_DROP:.0%} of step {first.step}'s {d1[1]}"
        why = f"distinct-1 fell to {d1[0]}, under {drop}"
    return hit.step, f"At step {hit.step}, {why}. {trend}"


# -- charts ----------------------------------------------------------------------------------
def chart(
    title: str,
    steps: list[StepEvent],
    lines: dict[str, str],
    band: str | None = None,
    collapse: int | None = None,
    ylim: tuple[float, float] | None = None,
) -> str:
    """One panel over the steps (``lines``: label -> metric), as a PNG data URI; ``band`` is
    the metric drawn as a ± spread around the first line."""
    xs, nan = [s.step for s in steps], float("nan")
    fig, (ax,) = panels((5.0, 2.9), 1, 1, xs, FONT)
    for j, (label, key) in enumerate(lines.items()):
        ys = [nan if (v := s.all_metrics.get(key)) is None else v for s in steps]
        if all(y != y for y in ys):  # not recorded for this run (NaN everywhere)
            continue
        ax.plot(xs, ys, "o-", markersize=3, label=label)
        if band and j == 0:
            spread = [s.metrics.get(band) or 0.0 for s in steps]
            low, high = ([y + k * b for y, b in zip(ys, spread, strict=True)] for k in (-1, 1))
            ax.fill_between(xs, low, high, alpha=0.2, label="± std")
    if collapse is not None:
        ax.axvline(collapse, color="#dc2626", linestyle="--", label=f"collapse (step {collapse})")
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_title(title, fontsize=FONT["title"])
    if len(lines) > 1 or band or collapse is not None or next(iter(lines), "") not in title:
        ax.legend(fontsize=FONT["legend"], loc="best")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def charts(steps: list[StepEvent], task: Task, collapse: int | None) -> list[tuple[str, str]]:
    """(data URI, caption) for reward ± std, each term, diversity, entropy (and KL if logged)."""
    terms = {t: f"rewards/{t}" for t in task.reward_funcs}
    diverse = {"distinct-2": "distinct_2", "distinct-1": "distinct_1"}
    out = [
        (
            chart("reward (batch mean)", steps, {"reward": "reward"}, "reward_std", collapse),
            "The weighted total GRPO maximises: mean over each step's completions, ± its std.",
        ),
        (
            chart("each reward term (unweighted)", steps, terms),
            f"Each term's batch mean before its weight: {task.formula()}.",
        ),
        (
            chart("diversity of each step's completions", steps, diverse, None, collapse, (0, 1)),
            "Share of distinct word pairs and words in the step's completions (metrics.py): no "
            "reward pays for it, so a fall while the reward climbs is the model gaming it.",
        ),
        (
            chart("entropy", steps, {"entropy": "entropy"}),
            "The policy's mean token entropy: falls as the answers narrow.",
        ),
    ]
    if any("kl" in s.metrics for s in steps):
        kl = chart("KL from the base", steps, {"KL": "kl"})
        out.append((kl, "How far the adapter's token distribution moved from the base's."))
    return out


# -- HTML ------------------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _f(x: float | None) -> str:
    return "n/a" if x is None or x != x else f"{x:.3f}"


def value_text(v: Any) -> str:
    """A setting as the app shows it: ``0.005``, ``1e-06``, ``—`` for unset (the default)."""
    if v is None or isinstance(v, bool):
        return {None: "— (default)", True: "yes", False: "no"}[v]
    if isinstance(v, int | float):
        return format_number(v)
    return ", ".join(map(str, v)) if isinstance(v, list | tuple) else str(v)


def kv_table(title: str, rows: dict[str, Any]) -> str:
    body = "".join(
        f"<tr><th>{_e(k)}</th><td>{_e(value_text(v))}</td></tr>" for k, v in rows.items()
    )
    return f'<table class="kv"><caption>{_e(title)}</caption>{body}</table>'


def table(head: list[str], rows: list[list[str]], widths: list[str]) -> str:
    """Cells are HTML already (escaped by the caller); ``widths`` keep 1024 px from scrolling."""
    cols = "".join(f'<col style="width:{w}">' for w in widths)
    ths = "".join(f"<th>{_e(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><colgroup>{cols}</colgroup><thead><tr>{ths}</tr></thead>{trs}</table>"


def _text(s: str) -> str:
    s = s if len(s) <= MAX_TEXT else s[:MAX_TEXT] + " …"
    return f'<span class="text">{_e(s)}</span>'


def _num(x: float | None, sign: bool = False) -> str:
    return f'<span class="num">{_e("n/a" if x is None else f"{x:+.3f}" if sign else _f(x))}</span>'


def reward_section(task: Task) -> str:
    terms = []
    for label in task.reward_funcs:
        try:
            doc = TERMS[parse_term(label)[0].name].doc.replace("``", "")  # rST literals
        except ConfigError:
            doc = "(no longer a registered term)"
        terms.append(
            f"<li><code>{_e(label)}</code> (weight {task.weights[label]:g}): {_e(doc)}</li>"
        )
    return (
        f"<p><b>{_e(task.label)}</b>: reward = <code>{_e(task.formula())}</code></p>"
        f"<p>{_e(task.description)}</p><ul>{''.join(terms)}</ul>"
    )


def probes_section(run: dict[str, Any], steps: list[StepEvent], task: Task) -> str:
    probes = run.get("probes") or {}
    prompts = probes.get("prompts") or []
    if not prompts:
        return "<p>No probe prompts were recorded for this run.</p>"
    answers = [("base", probes.get("base") or [])]
    answers += [(f"step {s.step}", s.probes) for s in steps if s.probes]
    parts = []
    for i, prompt in enumerate(prompts):
        rows = [
            [_e(who), _text(texts[i]), _num(task_score(task, texts[i], {}))]
            for who, texts in answers
            if i < len(texts)
        ]
        parts.append(
            f"<h3>“{_e(prompt)}”</h3>"
            + table(["model", "answer", "task reward"], rows, ["14%", "72%", "14%"])
        )
    every = probes.get("every")
    return f"<p>Answered with one fixed seed every {_e(every)} steps.</p>" + "".join(parts)


def samples_section(steps: list[StepEvent], task: Task) -> str:
    saved = [s for s in steps if s.completions]
    if not saved:
        return (
            f"<p>This adapter was saved without <code>{STEPS}</code>: its completions were "
            "not kept, so the charts above come from the per-step metrics in "
            f"<code>{RUN_RECORD}</code>.</p>"
        )
    terms = list(task.reward_funcs)
    term_w = min(10, 40 // max(len(terms), 1))  # percent of the width, per term column
    widths = ["18%", f"{62 - len(terms) * term_w}%", *[f"{term_w}%"] * len(terms), "10%", "10%"]
    parts = []
    for k in sorted({0, len(saved) // 2, len(saved) - 1}):  # the first, middle and last
        s = saved[k]
        ranked, half = sorted(s.completions, key=lambda c: -c.advantage), SAMPLES_PER_STEP // 2
        shown = ranked[:half] + ranked[-half:] if len(ranked) > SAMPLES_PER_STEP else ranked
        rows = [
            [
                _text(c.prompt),
                _text(c.completion),
                *(_num(c.rewards.get(t)) for t in terms),
                _num(c.reward),
                _num(c.advantage, sign=True),
            ]
            for c in shown
        ]
        parts.append(
            f"<h3>step {s.step}: the {len(shown)} of {len(s.completions)} completions with the "
            "highest and lowest advantage</h3>"
            + table(["prompt", "completion", *terms, "reward", "advantage"], rows, widths)
        )
    return "".join(parts)


def report_html(adapter_dir: Path, name: str) -> str:
    """The whole report of adapter ``name`` in ``adapter_dir`` (``checkpoints/<base>``)."""
    info = find_run(adapter_dir, name)
    run, steps = info.run, read_steps(info)
    task = run_task(info)
    collapsed, why = collapse_verdict(steps)
    first, last = run.get("reward_first"), run.get("reward_last")
    cfg = run.get("config", {})
    created = (run.get("created") or "unknown date")[:16].replace("T", " ")  # ISO, minutes
    rows = {
        "preset": run.get("preset") or "custom",
        "task": "custom" if cfg.get("reward") else cfg.get("task"),
        "seed": run.get("seed"),
        "steps": f"{run.get('steps')} of {cfg.get('max_steps', '?')}"
        + (" (stopped early)" if run.get("stopped_early") else ""),
        "wall time (s)": run.get("wall_time_s"),
        "s/step": run.get("seconds_per_step"),
        "device": run.get("device"),
        "weights stored in": run.get("weights_dtype", "float32"),
        "created": created,
    }
    tables = {"run": rows, "config (RunConfig, as recorded)": cfg}
    tables |= {"resolved GRPO values": run.get("grpo", {}), "versions": run.get("versions", {})}
    settings = "".join(kv_table(title, values) for title, values in tables.items())
    figs = "".join(
        f'<figure><img src="{uri}" alt="{_e(cap)}"><figcaption>{_e(cap)}</figcaption></figure>'
        for uri, cap in charts(steps, task, collapsed)
    )
    bad = collapsed is not None
    head = f"Collapsed at step {collapsed}" if bad else "Did not collapse"
    title = f"{name}: GRPO run report"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{CSS}</style></head>
<body><main>
<h1 id="title">{_e(title)}</h1>
<p class="sub">base model <b>{_e(run.get("base_model", info.base))}</b> ({_e(info.base)}) ·
trained {_e(created)} · {_e(run.get("steps"))} steps</p>
<div class="verdict {"bad" if bad else "good"}" id="verdict"><b>{_e(head)}.</b>
{_e(why)}<br>Reward first → last step: <b id="reward">{_e(_f(first))} → {_e(_f(last))}</b>
<br><small>{_e(RULE)}</small></div>
<h2>The reward, in words</h2>{reward_section(task)}
<h2>Settings</h2><div class="grid">{settings}</div>
<h2>Over the steps</h2><div class="grid">{figs}</div>
<h2>Probe prompts over time</h2>{probes_section(run, steps, task)}
<h2>Sample completions</h2>{samples_section(steps, task)}
<footer>python -m grpo_demo report {_e(name)}</footer>
</main></body></html>
"""


def write_report(adapter_dir: Path, name: str, out: Path | None = None) -> Path:
    """Write the report (default: ``report.html`` in the adapter's folder); returns its path."""
    text = report_html(adapter_dir, name)
    path = out or adapter_dir / name / REPORT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


CSS = """
body{margin:0;background:#fff;color:#111827;font:15px/1.45 system-ui,-apple-system,"Segoe UI",
Roboto,"DejaVu Sans",Arial,sans-serif}main{max-width:980px;margin:0 auto;padding:18px 20px 32px}
h1{font-size:26px;margin:0 0 2px}h3{font-size:15px;margin:14px 0 6px}.sub{color:#4b5563}
h2{font-size:19px;margin:26px 0 10px;padding-bottom:3px;border-bottom:2px solid #e5e7eb}
.grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:12px 18px;align-items:start}
table{border-collapse:collapse;width:100%;table-layout:fixed;font-size:13.5px}
caption{text-align:left;font-weight:600;padding:2px 0}thead th,.kv th{background:#f3f4f6}
th,td{border:1px solid #e5e7eb;padding:3px 6px;text-align:left;vertical-align:top}
td,th,code{overflow-wrap:anywhere}.kv th{width:48%;font-weight:600}.text{white-space:pre-wrap}
.num{font-variant-numeric:tabular-nums;white-space:nowrap}figure{margin:0}
code{font-size:13px;background:#f3f4f6;padding:0 3px;border-radius:3px}
img{display:block;width:100%;height:auto;border:1px solid #e5e7eb}
figcaption{font-size:12.5px;color:#4b5563;margin-top:3px}footer{margin-top:24px;color:#6b7280}
.verdict{padding:10px 14px;border-radius:6px;border-left:6px solid}
.bad{background:#fef2f2;border-color:#dc2626}.good{background:#f0fdf4;border-color:#16a34a}
@media print{main{max-width:none;padding:0}h2,h3{break-after:avoid}
figure,tr,.verdict{break-inside:avoid}@page{margin:14mm}}
"""
