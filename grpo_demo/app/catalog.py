"""What a user can pick, as text: presets, tasks, reward terms and the adapters loaded (the
CLI's ``list``)."""

from __future__ import annotations

from ..adapters import ResidentModel
from ..presets import PRESETS
from ..reward_spec import TERMS
from ..tasks import TASKS


def catalog_lines(resident: ResidentModel) -> list[str]:
    """Every preset with its remark, every task and term, and the adapters for this base."""
    out = ["presets:", *(f"  {n:24} task={p.task:20} {p.remark}" for n, p in PRESETS.items())]
    out += ["tasks:", *(f"  {name:24} {task.description}" for name, task in TASKS.items())]
    out.append("reward terms (train --reward 'weight*term[param=value] + ...'):")
    for name, term in TERMS.items():
        params = ", ".join(
            f"{k}={term.defaults[k]} ({spec.allowed_text(False)})"
            for k, spec in term.params.items()
        )
        out.append(f"  {name:24} {term.doc}" + (f" [{params}]" if params else ""))
    out.append(f"adapters for {resident.spec.name}:")
    for name in resident.names()[1:]:
        info = resident.adapters[name]
        out.append(f"  {name:24} task={info.task} steps={info.run.get('steps', '?')}")
    return out
