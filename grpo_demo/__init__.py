"""Language Kindergarten: GRPO + LoRA on a small language model, as a classroom demo."""

__version__ = "0.1.0"
