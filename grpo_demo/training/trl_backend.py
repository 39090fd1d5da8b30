"""The only module that touches TRL's and PEFT's internals.

Everything else talks to a run through ``RunConfig``, ``StepEvent`` and the adapter store.
What this module relies on beyond the libraries' public API is listed in ``HOOKS``; it is
checked when a run starts (:func:`check_hooks`), so a TRL or PEFT upgrade that renames one
fails at once with a message naming the versions, instead of silently losing merged rollouts
or the live completions table. Each hook also counts its calls (``hook_calls``), so a test can
prove every one of them fired.

Relied on (TRL 1.16, PEFT 0.21):

- ``Trainer.training_step`` (public): split into two lock holds, rollouts then update, so a
  request waits one phase, not one step.
- ``GRPOTrainer._prepare_inputs`` (private): the rollout phase (sampling, rewards,
  advantages), called on its own before the update; inside the update it hands back the
  prepared batch instead of sampling again.
- ``GRPOTrainer._generate_single_turn`` (private): wrapped to sample with the LoRA merged.
- ``GRPOTrainer.log`` and ``GRPOTrainer._logs`` (private): the last batch's prompts,
  completions, per-function rewards and advantages; the only place advantages are exposed.
- TRL's metric names (``reward``, ``rewards/<func>/mean``, ``kl``, ...): mapped once, here,
  to ``StepEvent`` fields.
- TRL trains the PEFT adapter named ``"default"`` and, with ``beta > 0``, copies it to
  ``"ref"``.
- PEFT's ``LoraLayer.merge``, ``get_base_layer`` and ``merged_adapters``: used to fold the
  adapter into the base for sampling and restore the base bit for bit.
"""

from __future__ import annotations

import platform
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from ..models import native_bf16
from .events import TrainingError

if TYPE_CHECKING:
    from peft import LoraConfig, PeftModel

    from ..config import RunConfig
    from ..models import ModelSpec

WEIGHTS_DTYPE = "bfloat16"  # how saved adapters store their weights (write_trained_weights)
TRAINING_SLOT = "default"  # the PEFT adapter TRL trains
REF_SLOT = "ref"  # TRL's copy of it as the KL reference when beta > 0
TRL_SLOTS = (TRAINING_SLOT, REF_SLOT)

HOOKS = {
    "trl.GRPOTrainer._prepare_inputs": "the rollout phase of a step, run apart from the update",
    "trl.GRPOTrainer._generate_single_turn": "samples rollouts with the LoRA merged",
    "trl.GRPOTrainer.log": "turns TRL's logged metrics into one event per step",
    "trl.GRPOTrainer._logs": "the step's prompts, completions, rewards and advantages",
    "peft.LoraLayer.merge": "folds the adapter into the base weights while sampling",
    "peft.LoraLayer.merged_adapters": "tells PEFT the merge was undone",
}
"""What this module uses beyond the public API, and why (checked by ``check_hooks``)."""

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
    return TrainingError(
        f"{what} is missing from the installed trl {v['trl']} / peft {v['peft']}; this demo "
        f"was built on {TESTED_WITH} ({HOOKS.get(what, 'see grpo_demo/training/trl_backend.py')})"
        ". Install the pinned versions: pip install -r requirements.txt"
    )


def check_hooks() -> None:
    """Fail before a run starts if a TRL/PEFT internal this module relies on is gone."""
    from peft.tuners.lora import LoraLayer
    from transformers import Trainer
    from trl import GRPOTrainer

    for method in ("_generate_single_turn", "_prepare_inputs"):
        if method not in vars(GRPOTrainer) or not callable(vars(GRPOTrainer)[method]):
            raise _missing(f"trl.GRPOTrainer.{method}")
    if getattr(GRPOTrainer, "log", Trainer.log) is Trainer.log:  # GRPO's own adds its metrics
        raise _missing("trl.GRPOTrainer.log")
    for attr in ("merge", "get_base_layer", "merged_adapters"):
        if not hasattr(LoraLayer, attr):
            raise _missing(f"peft.LoraLayer.{attr}")


def _check_logs(logs: Any) -> None:
    """``_logs`` exists only once the trainer is built: check its shape then."""
    if not isinstance(logs, dict) or not set(LOG_FIELDS) <= set(logs):
        raise _missing("trl.GRPOTrainer._logs")


# -- configs ---------------------------------------------------------------------------------
def lora_config(spec: ModelSpec, cfg: RunConfig) -> LoraConfig:
    from peft import LoraConfig

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
    """GRPOConfig from a RunConfig, plus what a CPU classroom machine needs."""
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
        # TRL's default bf16=True (autocast; master weights stay fp32) is faster where the chip
        # computes bf16 natively and ~5x slower where it emulates it (AVX2-only CPUs)
        bf16=cfg.bf16 if cfg.bf16 is not None else native_bf16(),
        fp16=False,
        gradient_checkpointing=False,  # ~10% faster per step; memory is plentiful
        use_cpu=not cuda,  # also what makes `accelerate launch` use gloo across CPU processes
        logging_steps=1,  # one event per step
        save_strategy="no",  # the adapter store saves the adapter, atomically
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


# -- the training slot on the shared PeftModel ------------------------------------------------
def attach_training_adapter(model, config: LoraConfig) -> PeftModel:
    """``model`` (plain or PEFT) with a fresh, active adapter in TRL's training slot."""
    from peft import PeftModel, get_peft_model

    if not isinstance(model, PeftModel):
        return get_peft_model(model, config, adapter_name=TRAINING_SLOT)
    if set(model.peft_config) <= set(TRL_SLOTS):
        model = model.unload()  # only a failed run's leftovers: start clean
        return get_peft_model(model, config, adapter_name=TRAINING_SLOT)
    for slot in TRL_SLOTS:
        if slot in model.peft_config:
            model.delete_adapter(slot)
    model.add_adapter(TRAINING_SLOT, config)
    model.set_adapter(TRAINING_SLOT)
    return model


def detach_training_adapters(model) -> None:
    """Drop TRL's training slot and its "ref" copy (PEFT keeps a model's last adapter)."""
    for slot in TRL_SLOTS:
        if slot in model.peft_config and len(model.peft_config) > 1:
            with warnings.catch_warnings():  # "active adapter deleted": intended
                warnings.simplefilter("ignore", UserWarning)
                model.delete_adapter(slot)


def write_trained_weights(model, folder) -> None:
    """The trained slot as a standard PEFT folder (what ``PeftModel.from_pretrained`` reads).

    Weights are stored in bfloat16: half the fp32 size, so an r16 all-linear adapter of the
    bundled model (9.8 MB) stays under the 10 MB a Hugging Face Space takes as a plain file.
    PEFT casts them back to the model's dtype on load.
    """
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    model.save_pretrained(str(folder), selected_adapters=[TRAINING_SLOT])
    weights = f"{folder}/adapter_model.safetensors"
    with safe_open(weights, "pt") as f:
        metadata = f.metadata()
    tensors = load_file(weights)
    half = {
        k: v.to(getattr(torch, WEIGHTS_DTYPE)).contiguous() if v.is_floating_point() else v
        for k, v in tensors.items()
    }
    save_file(half, weights, metadata=metadata)


# -- merged rollouts --------------------------------------------------------------------------
@contextmanager
def merged_lora(model, adapter: str, calls: Counter | None = None) -> Iterator[None]:
    """Fold ``adapter`` into the base weights while sampling, then restore them bit for bit.

    A LoRA layer costs four extra small ops per linear per token; merged, a rollout runs at
    base-model speed. The weights come back from a copy, not by subtracting the delta, so the
    shared base never drifts by rounding. ``calls["merged_layers"]`` counts merged layers.
    """
    from peft.tuners.lora import LoraLayer

    layers = [m for m in model.modules() if isinstance(m, LoraLayer) and adapter in m.lora_A]
    saved = [m.get_base_layer().weight.data.clone() for m in layers]
    try:
        for layer in layers:
            layer.merge(adapter_names=[adapter])
        if calls is not None:
            calls["merged_layers"] += len(layers)
        yield
    finally:
        for layer, weight in zip(layers, saved, strict=True):
            layer.get_base_layer().weight.data.copy_(weight)
            if adapter in layer.merged_adapters:
                layer.merged_adapters.remove(adapter)


# -- the trainer -------------------------------------------------------------------------------
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
    lock: threading.RLock,
    on_log: OnLog,
    stop: threading.Event,
    on_phase: Callable[[str | None], None] = lambda phase: None,
    let_requests_in: Callable[[], None] = lambda: None,
    callbacks: list[Any] = (),
):
    """A GRPOTrainer on the shared model: one lock per step, one ``on_log`` per step, a stop
    flag honoured at the end of the current step, and ``hook_calls`` counting each hook."""
    from datasets import Dataset
    from transformers import PrinterCallback

    check_hooks()
    trainer = _trainer_class()(
        model=model,
        reward_funcs=reward_funcs,
        args=grpo_args(cfg, workdir),
        train_dataset=Dataset.from_dict({"prompt": list(prompts)}),
        processing_class=tokenizer,
        callbacks=[_step_end_callback(stop, let_requests_in), *callbacks],
        resident_lock=lock,
        on_log=on_log,
        on_phase=on_phase,
        let_requests_in=let_requests_in,
        merged_rollouts=cfg.merged_rollouts,
        bf16_rollouts=native_bf16() if cfg.bf16_rollouts is None else cfg.bf16_rollouts,
    )
    _check_logs(getattr(trainer, "_logs", None))
    trainer.remove_callback(PrinterCallback)  # events carry the metrics; keep stdout clean
    return trainer


def _trainer_class():
    import torch
    from trl import GRPOTrainer

    class ResidentGRPOTrainer(GRPOTrainer):
        """GRPOTrainer that shares the resident model: one lock per step, one event per log."""

        def __init__(
            self,
            *args,
            resident_lock,
            on_log,
            on_phase=lambda phase: None,
            let_requests_in=lambda: None,
            merged_rollouts=False,
            bf16_rollouts=False,
            **kw,
        ):
            self._resident_lock = resident_lock
            self._on_log = on_log
            self._on_phase = on_phase
            self._let_requests_in = let_requests_in
            self._prepared = None
            self._merged_rollouts = merged_rollouts
            self._bf16_rollouts = bf16_rollouts
            self.hook_calls: Counter[str] = Counter()
            super().__init__(*args, **kw)

        def training_step(self, model, inputs, num_items_in_batch=None):
            """Two lock holds, not one: the rollouts (sampling + rewards), then the update.
            Requests already waiting for the model are let in between them and after the
            update, so a request waits one phase, not one step."""
            self.hook_calls["training_step"] += 1
            with self._resident_lock:
                self._on_phase("rollouts")
                model.train()  # as Trainer.training_step does before it prepares inputs
                prepared = GRPOTrainer._prepare_inputs(self, inputs)
                self._on_phase("between")
            self._let_requests_in()
            with self._resident_lock:
                self._on_phase("update")
                self._prepared = prepared  # the inner _prepare_inputs returns it as it is
                try:
                    return super().training_step(model, inputs, num_items_in_batch)
                finally:
                    self._prepared = None
                    self._on_phase(None)

        def _prepare_inputs(self, inputs):
            self.hook_calls["_prepare_inputs"] += 1
            if self._prepared is not None:
                return self._prepared
            return super()._prepare_inputs(inputs)

        def _generate_single_turn(self, *args, **kwargs):
            """Rollouts only: with the LoRA merged and/or under bf16 autocast. The log-probs
            the loss uses are computed afterwards, outside this hook, in fp32."""
            self.hook_calls["_generate_single_turn"] += 1
            with ExitStack() as stack:
                if self._merged_rollouts and not self.use_vllm:
                    model = self.accelerator.unwrap_model(self.model)
                    stack.enter_context(merged_lora(model, TRAINING_SLOT, self.hook_calls))
                if self._bf16_rollouts and not self.use_vllm:
                    device = self.accelerator.device.type
                    stack.enter_context(torch.autocast(device, dtype=torch.bfloat16))
                    self.hook_calls["bf16_rollouts"] += 1
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
            # TRL picks "train"/"eval" metrics from model.training: hold the lock so a
            # request between steps (which sets eval mode for a moment) cannot flip it
            with self._resident_lock:
                super().log(logs, start_time)  # adds TRL's averaged metrics into ``logs``
            self._on_log(self.state.global_step, dict(logs), samples)

    return ResidentGRPOTrainer


def _step_end_callback(flag: threading.Event, let_requests_in: Callable[[], None]):
    from transformers import TrainerCallback

    class StepEnd(TrainerCallback):
        """After each optimizer step: stop if asked, and let waiting requests use the model
        before the next step's rollouts take it."""

        def on_step_end(self, args, state, control, **kwargs):
            if flag.is_set():
                control.should_training_stop = True
            let_requests_in()
            return control

    return StepEnd()


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
