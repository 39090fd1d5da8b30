"""The only module that drives TRL: its config, its trainer and what it logs.

Everything else talks to a run through ``RunConfig``, ``StepEvent`` and the adapter store;
PEFT's slots (attach, merge, save) are ``lora_slots``'s. What this module and ``lora_slots``
rely on beyond the libraries' public API is the list ``HOOKS``, written once: it drives
:func:`check_hooks` when a run starts, so a TRL or PEFT upgrade that renames one fails at once
with a message naming the versions, instead of silently losing merged rollouts or the live
completions table. Each hook counts its calls (``hook_calls``), so a test can prove every one
fired. Also relied on: TRL's metric names (mapped once, in ``METRICS``), and that TRL trains
the PEFT adapter ``"default"`` and copies it to ``"ref"`` when ``beta > 0``
(``lora_slots.TRL_SLOTS``).
"""

from __future__ import annotations

import platform
import threading
import warnings
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from ..lora_slots import TRAINING_SLOT, Bf16Weights, merged_slot
from ..memory import give_back
from ..models import native_bf16
from ..sampling import fast_sampling
from .events import TrainingError

if TYPE_CHECKING:
    from peft import PeftModel

    from ..config import RunConfig


@dataclass(frozen=True)
class Hook:
    """One internal relied on: where it lives, its name, and why."""

    library: str  # "trl" or "peft"
    owner: str  # the class: GRPOTrainer, LoraLayer
    name: str  # the attribute
    why: str
    own: bool = False  # must be GRPOTrainer's own, not the one it inherits from Trainer

    @property
    def label(self) -> str:
        return f"{self.library}.{self.owner}.{self.name}"


HOOKS = (
    Hook(
        "trl",
        "GRPOTrainer",
        "_prepare_inputs",
        "the rollout phase, run apart from the update",
        own=True,
    ),
    Hook("trl", "GRPOTrainer", "_generate_single_turn", "samples rollouts with the LoRA merged"),
    Hook("trl", "GRPOTrainer", "log", "one event per step from TRL's metrics", own=True),
    Hook("trl", "GRPOTrainer", "_logs", "the step's prompts, completions, rewards, advantages"),
    Hook("peft", "LoraLayer", "merge", "folds the adapter into the base weights while sampling"),
    Hook("peft", "LoraLayer", "get_base_layer", "the base weights to restore after a merge"),
    Hook("peft", "LoraLayer", "merged_adapters", "tells PEFT the merge was undone"),
    Hook("peft", "Linear", "get_delta_weight", "the adapter's delta, merged into bf16 copies"),
)
"""What is used beyond the public API (TRL 1.16, PEFT 0.21), and why: checked by
``check_hooks`` (``_logs`` exists only on a built trainer: checked then, by ``_check_logs``)."""

LOG_FIELDS = ("prompt", "completion", "rewards", "advantages")  # in GRPOTrainer._logs
TESTED_WITH = "trl 1.16, peft 0.21"


# -- checking the libraries ------------------------------------------------------------------
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


def _missing(what: str) -> TrainingError:
    v = versions()
    why = next((h.why for h in HOOKS if h.label == what), "see grpo_demo/training/trl_backend.py")
    return TrainingError(
        f"{what} is missing from the installed trl {v['trl']} / peft {v['peft']}; this demo "
        f"was built on {TESTED_WITH} ({why}). Install the pinned versions: "
        "pip install -r requirements.txt"
    )


def _owners() -> dict[str, type]:
    from peft.tuners.lora import Linear, LoraLayer
    from trl import GRPOTrainer

    return {"GRPOTrainer": GRPOTrainer, "LoraLayer": LoraLayer, "Linear": Linear}


def check_hooks() -> None:
    """Fail before a run starts if a TRL/PEFT internal in ``HOOKS`` is gone."""
    from transformers import Trainer

    owners = _owners()
    for hook in HOOKS:
        if hook.name == "_logs":
            continue  # an instance attribute: ``_check_logs`` once the trainer exists
        owner = owners[hook.owner]
        found = getattr(owner, hook.name, None)
        if found is None or (hook.own and found is getattr(Trainer, hook.name, None)):
            raise _missing(hook.label)


def _check_logs(logs: Any) -> None:
    """``_logs`` exists only once the trainer is built: check its shape then."""
    if not isinstance(logs, dict) or not set(LOG_FIELDS) <= set(logs):
        raise _missing("trl.GRPOTrainer._logs")


# -- configs ---------------------------------------------------------------------------------
def grpo_args(cfg: RunConfig, output_dir: str):
    """GRPOConfig from a RunConfig, plus what a CPU classroom machine needs."""
    import torch
    from trl import GRPOConfig

    values = {k: v for k, v in cfg.resolved().items() if getattr(cfg, k) is not None}
    task = cfg.task_spec
    cuda = torch.cuda.is_available()
    values.update(cfg.micro_batches(cuda))
    if cfg.use_vllm and not cuda:
        raise TrainingError("use_vllm needs a CUDA GPU; this machine has none")
    vllm = {"use_vllm": True, "vllm_mode": "colocate"} if cfg.use_vllm else {}
    return GRPOConfig(
        output_dir=output_dir,
        **values,
        **vllm,
        reward_weights=list(task.reward_weights) if task.reward_weights else None,
        # TRL's default bf16=True (autocast; master weights stay fp32) is faster where the chip
        # computes bf16 natively and ~5x slower where it emulates it (AVX2-only CPUs)
        bf16=cfg.bf16 if cfg.bf16 is not None else native_bf16(),
        fp16=False,
        activation_checkpointing=False,  # ~10% faster per step; memory is plentiful
        use_cpu=not cuda,  # also what makes `accelerate launch` use gloo across CPU processes
        logging_steps=1,  # one event per step
        save_strategy="no",  # the adapter store saves the adapter, atomically
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


# -- the trainer -------------------------------------------------------------------------------
# TRL 1.16 reads the deprecated ``model.is_gradient_checkpointing`` before every rollout
# (trl/models/utils.py): a FutureWarning a step that no code here can act on
warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
Samples = tuple[list[str], list[str], dict[str, list[float]], list[float]]
OnLog = Callable[[int, dict[str, float], Samples], None]


def make_trainer(
    model: PeftModel,
    cfg: RunConfig,
    prompts: list[str],
    tokenizer,
    *,
    workdir: str,
    reward_funcs: list[Callable],
    on_log: OnLog,
    stop: threading.Event,
    on_phase: Callable[[str | None], None] = lambda phase: None,
    let_requests_in: Callable[[], None] = lambda: None,
    after_step: Callable[[int], None] | None = None,
    callbacks: list[Any] = (),
):
    """A GRPOTrainer on the shared model: one ``on_log`` per step, a stop flag honoured at
    the end of the current step, and ``hook_calls`` counting each hook. Waiting requests
    are let in between a step's rollouts and its update, and after the step
    (``after_step``: by default ``let_requests_in`` again)."""
    from datasets import Dataset
    from transformers import PrinterCallback

    check_hooks()
    trainer = trainer_class()(
        model=model,
        reward_funcs=reward_funcs,
        args=grpo_args(cfg, workdir),
        train_dataset=Dataset.from_dict({"prompt": list(prompts)}),
        processing_class=tokenizer,
        callbacks=[
            step_end_class()(stop, after_step or (lambda step: let_requests_in())),
            *callbacks,
        ],
        on_log=on_log,
        on_phase=on_phase,
        let_requests_in=let_requests_in,
        merged_rollouts=cfg.merged_rollouts,
        bf16_rollouts=native_bf16() if cfg.bf16_rollouts is None else cfg.bf16_rollouts,
        bf16_weights=cfg.bf16_weights,
        fast_sampling=cfg.fast_sampling,
    )
    _check_logs(getattr(trainer, "_logs", None))
    trainer.remove_callback(PrinterCallback)  # events carry the metrics; keep stdout clean
    return trainer


class ResidentSteps:
    """What the demo's trainer adds to ``GRPOTrainer`` (mixed in by :func:`trainer_class`):
    a step in two phases with waiting requests let in between, merged/bf16 rollouts, and one
    ``on_log`` per step. It runs on the compute thread, like every other use of the model."""

    def __init__(
        self,
        *args,
        on_log: OnLog,
        on_phase: Callable[[str | None], None] = lambda phase: None,
        let_requests_in: Callable[[], None] = lambda: None,
        merged_rollouts: bool = False,
        bf16_rollouts: bool = False,
        bf16_weights: bool = False,
        fast_sampling: bool = False,
        **kw,
    ):
        self._on_log = on_log
        self._on_phase = on_phase
        self._let_requests_in = let_requests_in
        self._prepared = None
        self._merged_rollouts = merged_rollouts
        self._bf16_rollouts = bf16_rollouts
        self._fast_sampling = fast_sampling
        self.hook_calls: Counter[str] = Counter()
        super().__init__(*args, **kw)
        self._bf16 = None  # lora_slots.Bf16Weights, where a phase runs under bf16 autocast
        if bf16_weights and (bf16_rollouts or self.args.bf16) and not self.use_vllm:
            self._bf16 = Bf16Weights(self.accelerator.unwrap_model(self.model))

    def train(self, *args, **kwargs):
        """TRL's ``train``, then the shared model's own ``forward`` back: with bf16 on,
        accelerate wraps it in autocast, and every later request would run under it."""
        try:
            return super().train(*args, **kwargs)
        finally:
            self.accelerator.unwrap_model(self.model, keep_fp32_wrapper=False)

    def _bf16_phase(self, slot: str | None = None):
        """The bf16 copies swapped in (and ``slot`` merged into them), or nothing."""
        if self._bf16 is None:
            return nullcontext()
        self.hook_calls["bf16_weights"] += 1
        model = self.accelerator.unwrap_model(self.model)
        return self._bf16.swapped(model, slot, self.hook_calls)

    def training_step(self, model, inputs, num_items_in_batch=None):
        """The rollouts (sampling + rewards), then the update. Requests already waiting for
        the model run between them (and after the step, ``StepEnd``), so a request waits one
        phase, not one step. With micro-batches (``micro_batches``) TRL samples once per
        generation batch and the later micro-batches read its buffer (TRL's ``_step`` and
        ``_buffered_inputs``): the micro-batches of one optimizer step are one update phase,
        with no requests let in between them."""
        self.hook_calls["training_step"] += 1
        every = self.args.steps_per_generation * self.num_iterations
        step = getattr(self, "_step", 0)
        fresh = step % every == 0 or getattr(self, "_buffered_inputs", None) is None
        if fresh:
            self._on_phase("rollouts")
        model.train()  # as Trainer.training_step does before it prepares inputs
        prepared = super()._prepare_inputs(inputs)  # GRPOTrainer's: this class's returns it
        if fresh:
            self._on_phase("between")
            self._let_requests_in()
        if fresh or step % self.args.gradient_accumulation_steps == 0:
            self._on_phase("update")
        self._prepared = prepared  # the inner _prepare_inputs returns it as it is
        try:
            with self._bf16_phase() if self.args.bf16 else nullcontext():
                return super().training_step(model, inputs, num_items_in_batch)
        finally:
            self._prepared = None
            if getattr(self, "_step", 0) % self.args.gradient_accumulation_steps == 0:
                give_back()  # the update's activations, freed: back to the system (memory.py)
                self._on_phase(None)

    def _prepare_inputs(self, inputs):
        self.hook_calls["_prepare_inputs"] += 1
        if self._prepared is not None:
            return self._prepared
        return super()._prepare_inputs(inputs)

    def sampling(self) -> ExitStack:
        """The context rollouts sample in (the probes too): the LoRA merged and/or bf16
        autocast, on bf16 copies of the weights where ``bf16_weights``; torch's draw with
        cheaper randoms where ``fast_sampling`` (``sampling.py``)."""
        import torch

        stack = ExitStack()
        if self._fast_sampling and not self.use_vllm:
            stack.enter_context(fast_sampling())
            self.hook_calls["fast_sampling"] += 1
        merge = self._merged_rollouts and not self.use_vllm
        if self._bf16 is not None and self._bf16_rollouts:  # merged into the copies
            stack.enter_context(self._bf16_phase(TRAINING_SLOT if merge else None))
            self.hook_calls["bf16_rollouts"] += 1
            return stack
        if merge:
            model = self.accelerator.unwrap_model(self.model)
            stack.enter_context(merged_slot(model, TRAINING_SLOT, self.hook_calls))
        if self._bf16_rollouts and not self.use_vllm:
            stack.enter_context(torch.autocast(self.accelerator.device.type, torch.bfloat16))
            self.hook_calls["bf16_rollouts"] += 1
        return stack

    def _generate_single_turn(self, *args, **kwargs):
        """Rollouts only, in :meth:`sampling`. The log-probs the loss uses are computed
        afterwards, outside this hook."""
        self.hook_calls["_generate_single_turn"] += 1
        with self.sampling():
            return super()._generate_single_turn(*args, **kwargs)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        self.hook_calls["log"] += 1
        _check_logs(self._logs)
        samples = (
            list(self._logs["prompt"]),
            list(self._logs["completion"]),
            {k: list(v) for k, v in self._logs["rewards"].items()},
            list(self._logs["advantages"]),
        )
        super().log(logs, start_time)  # adds TRL's averaged metrics into ``logs``
        self._on_log(self.state.global_step, dict(logs), samples)


@cache
def trainer_class() -> type:
    """``ResidentSteps`` over TRL's ``GRPOTrainer``, built once per process (importing TRL's
    trainer takes ~6 s, so not when this module is imported)."""
    from trl import GRPOTrainer

    return type("ResidentGRPOTrainer", (ResidentSteps, GRPOTrainer), {})


class StepEnd:
    """After each optimizer step: stop if asked, and let waiting requests use the model
    before the next step's rollouts take it (mixed into a ``TrainerCallback``;
    ``after_step`` gets the step's number)."""

    def __init__(self, flag: threading.Event, after_step: Callable[[int], None]):
        self.flag, self.after_step = flag, after_step

    def on_step_end(self, args, state, control, **kwargs):
        if self.flag.is_set():
            control.should_training_stop = True
        self.after_step(state.global_step)
        return control


@cache
def step_end_class() -> type:
    """``StepEnd`` over transformers' ``TrainerCallback``, built once per process."""
    from transformers import TrainerCallback

    return type("StepEndCallback", (StepEnd, TrainerCallback), {})


# -- TRL's metric names -> StepEvent fields ------------------------------------------------------
METRICS = {
    "reward": "reward",  # the weighted sum's batch mean: what advantages come from
    "reward_std": "reward_std",
    "frac_reward_zero_std": "frac_tied_groups",  # groups whose rewards all tie teach nothing
    "kl": "kl",  # logged only when beta > 0
    "entropy": "entropy",
    "clip_ratio/region_mean": "clip_ratio",
    "loss": "loss",
}
"""TRL's logged key -> the name the rest of the package uses (``StepEvent.metrics``)."""


def is_step_log(logs: dict[str, Any]) -> bool:
    """A per-step record (TRL also logs a final train_runtime/train_loss summary)."""
    return "reward" in logs


def step_metrics(logs: dict[str, Any], reward_funcs: tuple[str, ...]) -> dict[str, float]:
    """TRL's logs under the package's names; each reward function's mean as ``rewards/<f>``."""
    numbers = {k: float(v) for k, v in logs.items() if isinstance(v, int | float)}
    if "reward" not in numbers:
        raise _missing("the 'reward' metric of trl.GRPOTrainer.log")
    out = {ours: numbers[theirs] for theirs, ours in METRICS.items() if theirs in numbers}
    for name in reward_funcs:
        key = f"rewards/{name}/mean"
        if key in numbers:
            out[f"rewards/{name}"] = numbers[key]
    return out
