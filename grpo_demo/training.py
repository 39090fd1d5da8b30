"""One GRPO run: TRL ``GRPOTrainer`` + a fresh PEFT LoRA adapter on the resident base model.

Simplifications, stated: the loss, sampling and advantages are TRL's own (nothing hand-written
here); this module only (1) trains in a worker thread, (2) holds the resident model's lock for
each ``training_step`` so requests are served between steps, (3) publishes one ``StepEvent``
per optimizer step with TRL's logged metrics and the step's completions (prompt, each reward,
advantage), (4) honours a stop flag at the end of the current step and (5) saves the adapter
atomically as a standard PEFT folder with ``run.json`` and a model card.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .adapters import TRAINING_SLOT, AdapterInfo, ResidentModel, validate_adapter_dir
from .config import ConfigError, RunConfig, check_adapter_name
from .data import train_prompts
from .evaluation import diversity, looks_collapsed
from .models import device_name
from .rewards import get_reward


def is_main_process() -> bool:
    """Rank 0, or not distributed (``accelerate launch`` / torchrun set RANK)."""
    return int(os.environ.get("RANK", "0")) == 0


class TrainingError(RuntimeError):
    """A run could not start or finish; the message is meant for the user."""


class BusyError(TrainingError):
    """Another run holds the (single) trainer."""


@dataclass
class StepCompletion:
    prompt: str
    completion: str
    rewards: dict[str, float]  # each reward function's score
    reward: float  # their weighted sum: what the group's advantage is computed from
    advantage: float


@dataclass
class StepEvent:
    """What happened in one optimizer step (TRL's logged metrics + that step's samples)."""

    step: int
    max_steps: int
    elapsed: float
    metrics: dict[str, float]
    completions: list[StepCompletion]
    distinct_1: float
    collapsed: bool

    @property
    def reward(self) -> float:
        return self.metrics.get("reward", float("nan"))


@dataclass
class RunEnded:
    name: str
    adapter: AdapterInfo | None
    stopped: bool
    steps: int
    elapsed: float
    error: str | None = None


Event = StepEvent | RunEnded


@dataclass
class TrainingRun:
    """A run's request and its growing event history (readable by any number of viewers)."""

    resident: ResidentModel
    config: RunConfig
    name: str
    preset: str | None = None
    prompts: list[str] | None = None
    overwrite: bool = False
    owner: str = ""
    callbacks: list[Any] = field(default_factory=list)  # extra transformers TrainerCallbacks
    history: list[StepEvent] = field(default_factory=list)
    ended: RunEnded | None = None
    started_at: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        check_adapter_name(self.name)
        target = self.resident.adapter_dir / self.name
        if target.exists() and not self.overwrite:
            raise ConfigError(f"adapter {self.name!r} already exists ({target}); pick a new name")

    # -- control -------------------------------------------------------------------------
    def start(self) -> TrainingRun:
        self.started_at = time.time()
        self._thread = threading.Thread(target=self._work, name=f"grpo-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the trainer to stop after the current step; the adapter is still saved."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def running(self) -> bool:
        return self.ended is None and self._thread is not None

    def join(self, timeout: float | None = None) -> RunEnded | None:
        if self._thread:
            self._thread.join(timeout)
        return self.ended

    # -- events --------------------------------------------------------------------------
    def _publish(self, event: Event) -> None:
        with self._changed:
            if isinstance(event, RunEnded):
                self.ended = event
            else:
                self.history.append(event)
            self._changed.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Block until there are more than ``seen`` step events or the run ended."""
        with self._changed:
            return self._changed.wait_for(
                lambda: len(self.history) > seen or self.ended is not None, timeout
            )

    def events(self, poll: float = 1.0) -> Iterator[Event]:
        """Every step event from the first, then the end event; blocks while running."""
        seen = 0
        while True:
            self.wait(seen, poll)
            while seen < len(self.history):
                seen += 1
                yield self.history[seen - 1]
            if self.ended is not None and seen == len(self.history):
                yield self.ended
                return

    # -- the work --------------------------------------------------------------------------
    def _work(self) -> None:
        steps = 0
        try:
            adapter = train(self, on_step=self._publish)
            steps = len(self.history)
            self._publish(
                RunEnded(self.name, adapter, self.stopping, steps, time.time() - self.started_at)
            )
        except Exception as exc:  # report, don't swallow: the traceback goes to the log
            traceback.print_exc()
            self._publish(
                RunEnded(
                    self.name,
                    None,
                    self.stopping,
                    steps,
                    time.time() - self.started_at,
                    f"{type(exc).__name__}: {exc}",
                )
            )


class TrainingManager:
    """One trainer per resident model: a second start gets ``BusyError``, never a 2nd run."""

    def __init__(self, resident: ResidentModel):
        self.resident = resident
        self.current: TrainingRun | None = None
        self._guard = threading.Lock()

    def start(self, config: RunConfig, name: str, **kwargs: Any) -> TrainingRun:
        with self._guard:
            if self.current is not None and self.current.running:
                run = self.current
                who = f", started by {run.owner}" if run.owner else ""
                raise BusyError(
                    f"a training run is already going: {run.name!r} ({run.config.task}, step "
                    f"{len(run.history)}/{run.config.max_steps}{who}). One run at a time on "
                    "this machine - try again when it ends."
                )
            self.current = TrainingRun(self.resident, config, name, **kwargs).start()
            return self.current

    def stop(self) -> bool:
        run = self.current
        if run is None or not run.running:
            return False
        run.stop()
        return True


def lora_config(resident: ResidentModel, cfg: RunConfig):
    from peft import LoraConfig

    spec = resident.spec
    targets = cfg.lora_target_modules or spec.lora_target_modules
    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(targets) if isinstance(targets, tuple) else targets,
        fan_in_fan_out=spec.fan_in_fan_out,
        task_type="CAUSAL_LM",
    )


def grpo_args(cfg: RunConfig, output_dir: str):
    """GRPOConfig from a RunConfig, plus what this CPU needs (see DESIGN.md section 5)."""
    import torch
    from trl import GRPOConfig

    values = {k: v for k, v in cfg.resolved().items() if getattr(cfg, k) is not None}
    task = cfg.task_spec
    cuda = torch.cuda.is_available()
    if cfg.use_vllm and not cuda:
        raise TrainingError("use_vllm needs a CUDA GPU; this machine has none")
    vllm = {"use_vllm": True, "vllm_mode": "colocate"} if cfg.use_vllm else {}
    return GRPOConfig(
        output_dir=output_dir,
        **values,
        **vllm,
        reward_weights=list(task.reward_weights) if task.reward_weights else None,
        # TRL defaults to bf16, ~5x slower on this CPU: on where a GPU supports it
        bf16=cfg.bf16 if cfg.bf16 is not None else cuda and torch.cuda.is_bf16_supported(),
        fp16=False,
        gradient_checkpointing=False,  # ~10% faster per step; memory is plentiful
        use_cpu=not cuda,  # also what makes `accelerate launch` use gloo across CPU processes
        logging_steps=1,  # one event per step
        save_strategy="no",  # we save the adapter ourselves, atomically
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def _trainer_class():
    from trl import GRPOTrainer

    class ResidentGRPOTrainer(GRPOTrainer):
        """GRPOTrainer that shares the resident model: one lock per step, one event per log."""

        def __init__(self, *args, resident_lock, on_log, merged_rollouts=False, **kwargs):
            self._resident_lock = resident_lock
            self._on_log = on_log
            self._merged_rollouts = merged_rollouts
            super().__init__(*args, **kwargs)

        def training_step(self, *args, **kwargs):
            with self._resident_lock:
                return super().training_step(*args, **kwargs)

        def _generate_single_turn(self, *args, **kwargs):
            if not self._merged_rollouts or self.use_vllm:
                return super()._generate_single_turn(*args, **kwargs)
            with merged_lora(self.accelerator.unwrap_model(self.model), TRAINING_SLOT):
                return super()._generate_single_turn(*args, **kwargs)

        def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
            # TRL keeps the last generation batch (prompt, completion, reward per function,
            # advantage) in self._logs; it is the only place advantages are exposed.
            samples = [
                list(self._logs["prompt"]),
                list(self._logs["completion"]),
                {k: list(v) for k, v in self._logs["rewards"].items()},
                list(self._logs["advantages"]),
            ]
            # TRL picks "train"/"eval" metrics from model.training: hold the lock so a
            # request between steps (which sets eval mode for a moment) cannot flip it
            with self._resident_lock:
                super().log(logs, start_time)  # adds TRL's averaged metrics into ``logs``
            self._on_log(self.state.global_step, dict(logs), samples)

    return ResidentGRPOTrainer


@contextmanager
def merged_lora(model, adapter: str) -> Iterator[None]:
    """Fold ``adapter`` into the base weights while sampling, then restore them bit for bit.

    A LoRA layer costs four extra small ops per linear per token; merged, a rollout runs at
    base-model speed (bench/speed.py). The weights come back from a copy, not by subtracting
    the delta, so the shared base never drifts by rounding.
    """
    from peft.tuners.lora import LoraLayer

    layers = [m for m in model.modules() if isinstance(m, LoraLayer) and adapter in m.lora_A]
    saved = [m.get_base_layer().weight.data.clone() for m in layers]
    try:
        for layer in layers:
            layer.merge(adapter_names=[adapter])
        yield
    finally:
        for layer, weight in zip(layers, saved, strict=True):
            layer.get_base_layer().weight.data.copy_(weight)
            if adapter in layer.merged_adapters:
                layer.merged_adapters.remove(adapter)


def _stop_callback(flag: threading.Event):
    from transformers import TrainerCallback

    class StopOnFlag(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if flag.is_set():
                control.should_training_stop = True
            return control

    return StopOnFlag()


def train(run: TrainingRun, on_step: Callable[[StepEvent], None] | None = None) -> AdapterInfo:
    """Run GRPO for ``run`` on the resident model, save the adapter, load it by name."""
    from datasets import Dataset
    from transformers import PrinterCallback

    resident, cfg = run.resident, run.config
    prompts = run.prompts or train_prompts()
    if not prompts:
        raise TrainingError("no training prompts")
    start = time.time()
    summary: dict[str, float] = {}

    def on_log(step: int, logs: dict[str, float], samples: list) -> None:
        if "reward" not in logs:  # the final train_runtime/train_loss record
            summary.update({k: v for k, v in logs.items() if isinstance(v, int | float)})
            return
        event = _step_event(step, cfg, time.time() - start, logs, samples)
        if on_step:
            on_step(event)

    saved: AdapterInfo | None = None
    with tempfile.TemporaryDirectory(prefix="grpo-run-") as workdir:
        model = resident.training_model(lora_config(resident, cfg))
        try:
            trainer = _trainer_class()(
                model=model,
                reward_funcs=[get_reward(n) for n in cfg.task_spec.reward_funcs],
                args=grpo_args(cfg, workdir),
                train_dataset=Dataset.from_dict({"prompt": list(prompts)}),
                processing_class=resident.tokenizer,
                callbacks=[_stop_callback(run._stop), *run.callbacks],
                resident_lock=resident.lock,
                on_log=on_log,
                merged_rollouts=cfg.merged_rollouts,
            )
            trainer.remove_callback(PrinterCallback)  # events carry the metrics; keep stdout clean
            trainer.train()
            history = [_history_row(e) for e in run.history]
            # under `accelerate launch` every rank trains (DDP keeps the weights equal); the
            # main process alone writes the adapter
            if trainer.accelerator.is_main_process:
                with resident.lock:
                    saved = save_adapter(run, history, summary, time.time() - start)
        finally:
            resident.end_training(saved)
    return saved


def _step_event(step: int, cfg: RunConfig, elapsed: float, logs: dict, samples: list) -> StepEvent:
    prompts, completions, rewards, advantages = samples
    weights = cfg.task_spec.weights
    rows = []
    for i, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        scores = {name: float(vals[i]) for name, vals in rewards.items()}
        total = sum(weights[name] * v for name, v in scores.items())
        rows.append(StepCompletion(p, c, scores, total, float(advantages[i])))
    div = diversity([r.completion for r in rows])
    metrics = {k: float(v) for k, v in logs.items() if isinstance(v, int | float)}
    return StepEvent(
        step, cfg.max_steps, elapsed, metrics, rows, div["distinct_1"], looks_collapsed(div)
    )


def _history_row(e: StepEvent) -> dict[str, float]:
    return {"step": e.step, "elapsed": round(e.elapsed, 2), "distinct_1": e.distinct_1, **e.metrics}


def versions() -> dict[str, str]:
    import peft
    import torch
    import transformers
    import trl

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "peft": peft.__version__,
    }


def save_adapter(
    run: TrainingRun, history: list[dict], summary: dict, wall_time: float
) -> AdapterInfo:
    """Write the PEFT folder + run.json + model card to a temp dir, then rename it into place."""
    resident, cfg = run.resident, run.config
    root = resident.adapter_dir
    root.mkdir(parents=True, exist_ok=True)
    target = root / run.name
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{run.name}-", dir=root))
    try:
        resident.model.save_pretrained(str(tmp), selected_adapters=[TRAINING_SLOT])
        config_path = tmp / "adapter_config.json"
        adapter_config = json.loads(config_path.read_text())
        adapter_config["base_model_name_or_path"] = resident.spec.hub_id
        config_path.write_text(json.dumps(adapter_config, indent=2, sort_keys=True))
        rewards = [h["reward"] for h in history]
        record = {
            "name": run.name,
            "base": resident.spec.name,
            "base_model": resident.spec.hub_id,
            "preset": run.preset,
            "config": cfg.to_dict(),
            "grpo": cfg.resolved(),
            "reward_funcs": list(cfg.task_spec.reward_funcs),
            "seed": cfg.seed,
            "steps": len(history),
            "stopped_early": run.stopping,
            "wall_time_s": round(wall_time, 1),
            "seconds_per_step": round(wall_time / max(len(history), 1), 2),
            "reward_first": rewards[0] if rewards else None,
            "reward_last": rewards[-1] if rewards else None,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": versions(),
            "device": device_name(),  # a step's seconds mean little without it
            "summary": summary,
            "history": history,
        }
        (tmp / "run.json").write_text(json.dumps(record, indent=2))
        (tmp / "README.md").write_text(_model_card(record))
        info = validate_adapter_dir(tmp, resident.spec.name)  # never publish a broken folder
        if target.exists():
            if not run.overwrite:
                target = root / f"{run.name}-{int(time.time())}"  # appeared during the run
            else:
                trash = root / f".trash-{run.name}-{int(time.time())}"
                target.rename(trash)
                shutil.rmtree(trash, ignore_errors=True)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return AdapterInfo(target.name, target, info.base, record)


def _model_card(r: dict) -> str:
    g = r["grpo"]
    fmt = "{:.3f}".format
    first = "n/a" if r["reward_first"] is None else fmt(r["reward_first"])
    last = "n/a" if r["reward_last"] is None else fmt(r["reward_last"])
    return f"""---
base_model: {r["base_model"]}
library_name: peft
tags: [grpo, trl, lora, language-kindergarten]
---
# {r["name"]}

LoRA adapter (r={r["config"]["lora_r"]}, alpha={r["config"]["lora_alpha"]}) trained with TRL GRPO
on `{r["base"]}` for the task **{r["config"]["task"]}** (rewards: {", ".join(r["reward_funcs"])}).

- preset: {r["preset"] or "custom"}; seed {r["seed"]}; {r["steps"]} steps in {r["wall_time_s"]} s
  ({r["seconds_per_step"]} s/step on {r["device"]}){"; stopped early" if r["stopped_early"] else ""}
- learning_rate {g["learning_rate"]}, num_generations {g["num_generations"]},
  per_device_train_batch_size {g["per_device_train_batch_size"]},
  max_completion_length {g["max_completion_length"]}, beta {g["beta"]}, epsilon {g["epsilon"]}
- mean reward of the batch: first step {first}, last step {last}

Load it with `peft.PeftModel.from_pretrained(base_model, "<this folder>")`; `run.json` holds the
full configuration, library versions and the per-step metrics.
"""
