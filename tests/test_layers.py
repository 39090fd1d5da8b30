"""The package is a DAG of layers: read from the code's own imports (AST, nothing imported).

Layers, bottom-up; a module imports only from its own layer or below. Inside one layer the
circle check keeps the imports one-way. Gradio lives in ``ui/`` alone. A project module is
imported at the top of a file (a function-local import of one only hides a circle); heavy
libraries (torch, transformers, trl, peft, pandas, matplotlib, ...) may stay function-local.

The UI acts through the app layer: at runtime (outside ``if TYPE_CHECKING:``) a ``ui/`` module
imports from the engine (``ENGINE``: the resident model, generation and evaluation, training)
only the definitions in ``UI_MAY_IMPORT``; every action (sampling, evaluating, scoring,
training) is an ``AppState`` method or an app-layer function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("grpo_demo", "bench")
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "pure definitions",
        (
            "grpo_demo",
            "grpo_demo.rewards",
            "grpo_demo.tasks",
            "grpo_demo.settings",
            "grpo_demo.metrics",
            "grpo_demo.steps",
            "grpo_demo.charts",
            "grpo_demo.data",
            "grpo_demo.compute",
            "grpo_demo.fork_worker",
            "grpo_demo.gpu_calls",
            "grpo_demo.memory",
            "grpo_demo.bundled",
        ),
    ),
    (
        "specs and configs",
        (
            "grpo_demo.reward_spec",
            "grpo_demo.config",
            "grpo_demo.presets",
            "grpo_demo.measures",
            "grpo_demo.models",
            "grpo_demo.pace",
            "grpo_demo.space",
            "grpo_demo.lora_slots",
        ),
    ),
    ("the adapter store", ("grpo_demo.store",)),
    ("what an adapter holds and did", ("grpo_demo.report", "grpo_demo.adapter_map")),
    ("the resident model", ("grpo_demo.adapters", "grpo_demo.row_batches")),
    (
        "generation and evaluation",
        (
            "grpo_demo.generation",
            "grpo_demo.evaluation",
            "grpo_demo.learning_signal",
            "grpo_demo.quality",
            "grpo_demo.token_change",
        ),
    ),
    ("training", ("grpo_demo.training",)),
    ("the app layer", ("grpo_demo.app", "grpo_demo.limits")),
    (
        "ui, CLI and benchmarks",
        ("grpo_demo.ui", "grpo_demo.__main__", "grpo_demo.cli_files", "bench", "app"),
    ),
]
GRADIO_HOME = "grpo_demo.ui"
ENGINE = ("the resident model", "generation and evaluation", "training")
UI_MAY_IMPORT = {
    "grpo_demo.training.probes": (
        {"DEFAULT_PROBES", "PROBE_EVERY", "PROBE_SAMPLES"},
        "the before-vs-now prompts' constants: the Train form's defaults and its text",
    ),
    "grpo_demo.evaluation": ({"EVAL_SIZE", "TABLE_REWARDS"}, "Evaluate's field and columns"),
    "grpo_demo.learning_signal": ({"signal_lines", "verdict"}, "its numbers in words: text"),
}
"""What a ``ui/`` module may import at runtime from the engine: definitions, with the reason."""


def layer_of(module: str) -> int:
    """The layer of a module: the longest listed prefix (a package covers its modules)."""
    best, found = -1, None
    for i, (_, members) in enumerate(LAYERS):
        for m in members:
            if (module == m or module.startswith(m + ".")) and len(m) > best:
                best, found = len(m), i
    if found is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return found


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    files = [ROOT / "app.py", *(p for pkg in PROJECT for p in (ROOT / pkg).rglob("*.py"))]
    return {module_name(p): p for p in files}


def _resolve(module: str, is_package: bool, node: ast.ImportFrom, known: set[str]) -> list[str]:
    """The project modules an ``import``/``from ... import`` names (submodules included)."""
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, *([node.module] if node.module else [])])
    else:
        target = node.module or ""
    out = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        out.append(sub if sub in known else target)
    return out


def imports_of(
    module: str, source: str, is_package: bool, known: set[str]
) -> list[tuple[str, int, bool]]:
    """(imported project module, line, inside a function) for every import in ``source``."""
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                names = _resolve(module, is_package, child, known)
            else:
                visit(child, inner)
                continue
            for name in names:
                top = name.split(".")[0]
                if top in (*PROJECT, "app") and (name in known or top in PROJECT):
                    found.append((name, child.lineno, local))
                elif top == "gradio":
                    found.append(("gradio", child.lineno, local))

    visit(ast.parse(source), False)
    return found


def problems(files: dict[str, str], packages: set[str]) -> list[str]:
    """Every upward import, circle, gradio outside ui/ and function-local project import."""
    known = set(files)
    edges: dict[str, set[str]] = {m: set() for m in files}
    out = []
    for module, source in files.items():
        for target, line, local in imports_of(module, source, module in packages, known):
            where = f"{module}:{line}"
            if target == "gradio":
                if not (module == GRADIO_HOME or module.startswith(GRADIO_HOME + ".")):
                    out.append(f"{where} imports gradio outside ui/")
                continue
            if local:
                out.append(f"{where} imports {target} inside a function")
            if target == module or module.startswith(target + "."):
                continue  # a package's own __init__ (``from . import x`` names the package)
            if layer_of(target) > layer_of(module):
                up = LAYERS[layer_of(target)][0]
                out.append(f"{where} imports {target} ({up}) from a lower layer")
            edges[module].add(target if target in edges else module)
    out += [f"circle: {' -> '.join(c)}" for c in _circles(edges)]
    return out


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One circle per strongly tied group (Tarjan), shown as a path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    groups: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w == v:
                continue
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return groups


def _tree() -> tuple[dict[str, str], set[str]]:
    paths = sources()
    files = {m: p.read_text() for m, p in paths.items()}
    return files, {m for m, p in paths.items() if p.name == "__init__.py"}


def test_the_package_is_a_dag_of_layers():
    files, packages = _tree()
    assert problems(files, packages) == []


def test_every_module_has_a_layer():
    for module in sources():
        layer_of(module)


@pytest.mark.parametrize(
    ("module", "line", "message"),
    [
        ("grpo_demo.settings", "from .config import RunConfig", "from a lower layer"),
        ("grpo_demo.adapters", "from .training import trl_backend", "from a lower layer"),
        ("grpo_demo.store", "import gradio as gr", "gradio outside ui/"),
        (
            "grpo_demo.generation",
            "def f():\n    from .data import EXAMPLES",
            "inside a function",
        ),
    ],
)
def test_the_check_fails_on_an_added_upward_import(module, line, message):
    files, packages = _tree()
    files[module] = files[module] + "\n" + line + "\n"
    found = problems(files, packages)
    assert any(message in p and p.startswith(module) for p in found), found


def test_the_check_finds_a_circle():
    files, packages = _tree()
    files["grpo_demo.tasks"] += "\nfrom .rewards import REWARDS\n"
    files["grpo_demo.rewards"] += "\nfrom .tasks import TASKS\n"
    assert any(
        p.startswith("circle:") and "grpo_demo.tasks" in p for p in problems(files, packages)
    )


def _runtime(node: ast.AST):
    """The import statements under ``node``, but those under ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            for other in child.orelse:
                yield from _runtime(other)
        else:
            yield from _runtime(child)


def ui_reaches(files: dict[str, str], packages: set[str]) -> list[str]:
    """Every name a ``ui/`` module imports at runtime from the engine beyond ``UI_MAY_IMPORT``."""
    known, engine = set(files), {i for i, (name, _) in enumerate(LAYERS) if name in ENGINE}
    out = []
    for module, source in files.items():
        if not (module == GRADIO_HOME or module.startswith(GRADIO_HOME + ".")):
            continue
        for node in _runtime(ast.parse(source)):
            targets = (
                _resolve(module, module in packages, node, known)
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
            )
            for alias, target in zip(node.names, targets, strict=True):
                if target.split(".")[0] not in PROJECT or layer_of(target) not in engine:
                    continue
                if alias.name not in UI_MAY_IMPORT.get(target, ((),))[0]:
                    out.append(f"{module}:{node.lineno} imports {alias.name} from {target}")
    return out


def test_the_ui_acts_through_the_app_layer():
    files, packages = _tree()
    assert ui_reaches(files, packages) == []
    handlers = files["grpo_demo.ui.handlers"]
    files["grpo_demo.ui.handlers"] = handlers + (
        "\nfrom ..evaluation import EVAL_SIZE, evaluate\nfrom .. import generation\n"
        "if TYPE_CHECKING:\n    from ..training import TrainingRun\n"
    )
    lines = handlers.count("\n") + 2, handlers.count("\n") + 3
    assert ui_reaches(files, packages) == [
        f"grpo_demo.ui.handlers:{lines[0]} imports evaluate from grpo_demo.evaluation",
        f"grpo_demo.ui.handlers:{lines[1]} imports generation from grpo_demo.generation",
    ]


def shared(module: str) -> bool:
    """``bench.common`` and its modules: what the bench tools share."""
    return module == "bench.common" or module.startswith("bench.common.")


def tool_imports(files: dict[str, str], packages: set[str]) -> list[str]:
    """A bench tool importing another tool (not ``bench.common``): tools share one package."""
    known = set(files)
    out = []
    for module, source in files.items():
        if not module.startswith("bench.") or shared(module):
            continue
        for target, line, _ in imports_of(module, source, module in packages, known):
            if target.startswith("bench") and not shared(target):
                out.append(f"{module}:{line} imports {target}, another bench tool")
    return out


def test_bench_tools_share_only_bench_common():
    files, packages = _tree()
    assert tool_imports(files, packages) == []
    files["bench.profile"] += "\nfrom bench.interleaved import SIZES\n"
    assert tool_imports(files, packages) == [
        f"bench.profile:{files['bench.profile'].count(chr(10))} imports bench.interleaved, "
        "another bench tool"
    ]
