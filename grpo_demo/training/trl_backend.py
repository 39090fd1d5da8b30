"""The only module that drives TRL: its config, its trainer and what it logs.

Everything else talks to a run through ``RunConfig``, ``StepEvent`` and the adapter store;
PEFT's slots are ``lora_slots``'s. What is relied on beyond the libraries' public API is listed
once in ``trl_hooks`` and checked when a run starts (the tests prove each one fires, by spies);
also relied on: TRL's metric names (mapped once, in ``METRICS``), and that TRL trains the PEFT
adapter ``"default"`` and copies it to ``"ref"`` when ``beta > 0`` (``lora_slots.TRL_SLOTS``).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from functools import cache
from typing import TYPE_CHECKING, Any

from ..lora_slots import TRAINING_SLOT, Bf16Weights, merged_slot, reference_is_base
from ..memory import give_back
from ..models import native_bf16
from .events import TrainingError
from .riders import can_ride, rollouts_with_riders
from .trl_hooks import _check_logs, _missing, check_hooks

if TYPE_CHECKING:
    from peft import PeftModel

    from ..config import RunConfig
    from ..row_batches import Row


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
Riders = Callable[[int], list["Row"]]  # step -> rows to sample with that step's rollouts
OnRiders = Callable[[int, list[str]], None]  # step, the riders' texts


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
    on_phase: Callable[[str | None], None],
    let_requests_in: Callable[[], None],
    after_step: Callable[[int], None],
    callbacks: list[Any],
    riders: Riders,
    on_riders: OnRiders,
):
    """A GRPOTrainer on the shared model: one ``on_log`` per step, a stop flag honoured at the
    end of the current step. Waiting requests are let in between a step's rollouts and its
    update, and after the step (``after_step``).
    ``riders(step)``: rows sampled in that step's rollout batch, their texts to ``on_riders``."""
    from datasets import Dataset
    from transformers import PrinterCallback, TrainerCallback

    class StepEnd(TrainerCallback):
        """After each optimizer step: stop if asked, and let waiting requests use the model
        before the next step's rollouts take it (``after_step`` gets the step's number)."""

        def on_step_end(self, args, state, control, **kwargs):
            if stop.is_set():
                control.should_training_stop = True
            after_step(state.global_step)
            return control

    check_hooks()
    trainer = trainer_class()(
        model=model,
        reward_funcs=reward_funcs,
        args=grpo_args(cfg, workdir),
        train_dataset=Dataset.from_dict({"prompt": list(prompts)}),
        processing_class=tokenizer,
        callbacks=[StepEnd(), *callbacks],
        on_log=on_log,
        on_phase=on_phase,
        let_requests_in=let_requests_in,
        merged_rollouts=cfg.merged_rollouts,
        bf16_rollouts=native_bf16() if cfg.bf16_rollouts is None else cfg.bf16_rollouts,
        bf16_weights=cfg.bf16_weights,
        riders=riders,
        on_riders=on_riders,
    )
    _check_logs(getattr(trainer, "_logs", None))
    reference_is_base(model)  # the KL reference of a fresh slot: the base, adapters off
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
        on_phase: Callable[[str | None], None],
        let_requests_in: Callable[[], None],
        merged_rollouts: bool,
        bf16_rollouts: bool,
        bf16_weights: bool,
        riders: Riders,
        on_riders: OnRiders,
        **kw,
    ):
        self._on_log, self._on_phase, self._let_requests_in = on_log, on_phase, let_requests_in
        self._riders, self._on_riders, self._prepared = riders, on_riders, None
        self._merged_rollouts, self._bf16_rollouts = merged_rollouts, bf16_rollouts
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
        return self._bf16.swapped(self.accelerator.unwrap_model(self.model), slot)

    def training_step(self, model, inputs, num_items_in_batch=None):
        """The rollouts (sampling + rewards), then the update. Requests already waiting for
        the model run between them (and after the step, ``StepEnd``), so a request waits one
        phase, not one step. With micro-batches (``micro_batches``) TRL samples once per
        generation batch and the later micro-batches read its buffer (TRL's ``_step`` and
        ``_buffered_inputs``): the micro-batches of one optimizer step are one update phase,
        with no requests let in between them."""
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
        return self._prepared if self._prepared is not None else super()._prepare_inputs(inputs)

    def sampling(self) -> ExitStack:
        """The context rollouts sample in (the probes too): the LoRA merged and/or bf16
        autocast, on bf16 copies of the weights where ``bf16_weights``."""
        import torch

        stack = ExitStack()
        merge = self._merged_rollouts and not self.use_vllm
        if self._bf16 is not None and self._bf16_rollouts:  # merged into the copies
            stack.enter_context(self._bf16_phase(TRAINING_SLOT if merge else None))
            return stack
        if merge:
            model = self.accelerator.unwrap_model(self.model)
            stack.enter_context(merged_slot(model, TRAINING_SLOT))
        if self._bf16_rollouts and not self.use_vllm:
            stack.enter_context(torch.autocast(self.accelerator.device.type, torch.bfloat16))
        return stack

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, *args, **kwargs):
        """Rollouts, in :meth:`sampling`, with the step's rider rows in the same batch
        (``riders.py``) where TRL's settings allow. The log-probs the loss uses are computed
        afterwards, outside this hook."""
        step = self.state.global_step + 1
        plain = self.use_vllm or images or multimodal_fields
        riders = [] if plain or not can_ride(self.generation_config) else self._riders(step)
        with self.sampling():
            if not riders:
                return super()._generate_single_turn(
                    prompt_ids, images, multimodal_fields, *args, **kwargs
                )
            model = self.accelerator.unwrap_model(self.model)
            ids, texts = rollouts_with_riders(
                model, self.processing_class, prompt_ids, riders, self.generation_config
            )
        self._on_riders(step, texts)
        return ids, None

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
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
    means = {f"rewards/{name}": f"rewards/{name}/mean" for name in reward_funcs}
    return out | {ours: numbers[theirs] for ours, theirs in means.items() if theirs in numbers}
