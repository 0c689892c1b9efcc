"""The house rules of ARCHITECTURE.md, checked: no import cycles, small modules and functions, layers that only look
down, nothing defined and never used, and an ARCHITECTURE.md that lists exactly the modules there are."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "reports", "adapters_registry", "tasks", "benchmarks")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for f in sorted((REPO / pkg).rglob("*.py")):
            parts = list(f.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = f
    return mods


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """Imports under `if TYPE_CHECKING:` never run: annotations only, so they cannot make a cycle at import time."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def _imports(module: str, path: Path) -> set[str]:
    """Every project module `module` imports, at module level or inside a function."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [_resolve(a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            targets = [_resolve(f"{base}.{a.name}") or _resolve(base) for a in node.names]
        else:
            continue
        out |= {t for t in targets if t and t != module}
    return out


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_over_400_lines():
    big = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert big == {}


def test_no_function_over_60_lines():
    long = {}
    for m, p in MODULES.items():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{m}.{node.name}"] = n
    assert long == {}


# Which packages each layer may import from the project (ARCHITECTURE.md's layers table). A layer never imports one
# below it in that table; harness.core.aggregations' lookup of task-registered aggregations (tasks.resampling) is
# the one edge from core to the task definitions, whose helpers in turn use only harness.core.
ALLOWED = {
    "harness.core": {"harness.core", "tasks"},
    "tasks": {"tasks", "harness.core"},
    "harness.models": {"harness.core", "harness.models"},
    "harness.engines": {"harness.core", "harness.models", "harness.engines"},
    "reports": {"harness.core", "reports"},
    "adapters_registry": {"harness.core", "harness.models", "adapters_registry"},
    "harness.gate": {"harness.core", "harness.gate", "reports", "adapters_registry"},
    "harness.run": {"harness.core", "harness.models", "harness.engines", "harness.run", "reports", "adapters_registry",
                    "tasks", "harness.gate"},
    "harness.train": {"harness.core", "harness.models", "harness.train", "adapters_registry", "tasks"},
}
HEAVY = {"torch", "transformers", "peft", "bitsandbytes", "accelerate", "vllm", "lm_eval"}
# Never import a heavy library, not even inside a function: what reports, gates and every cheap check run on.
TORCH_FREE = ("harness.core", "reports", "adapters_registry", "harness.gate", "harness.models.refs",
              "harness.models.aliases", "harness.models.adapters", "harness.engines.base", "harness.run.config",
              "harness.run.plan", "harness.run.records", "harness.run.cache")
# Import one only inside the function that needs it: `harness --help` and a typo's error line stay instant.
LAZY = ("tasks", "harness.cli", "harness.demo", "harness.run", "harness.train", "harness.engines.lm_eval_patches",
        "harness.engines.sliding", "harness.engines.vllm", "harness.models.quant", "benchmarks")


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "harness" and len(parts) > 2 else parts[0] if parts[0] != "harness" else module


def test_layers_only_import_downwards():
    wrong = []
    for m, targets in GRAPH.items():
        allowed = ALLOWED.get(_package(m))
        if allowed is None:
            continue  # cli, demo, benchmarks: the top, free to compose everything
        wrong += [f"{m} -> {t}" for t in targets if _package(t) not in allowed and _package(t) != "harness"]
    assert wrong == []


def _heavy_imports(path: Path) -> list[tuple[str, bool]]:
    """(library, at module level) for every import of a heavy library in the file."""
    tree = ast.parse(path.read_text())
    skip, top = _type_checking_nodes(tree), {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        else:
            continue
        found += [(n.split(".")[0], id(node) in top) for n in names if n.split(".")[0] in HEAVY]
    return found


def _in(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_heavy_libraries_only_where_the_layers_table_allows():
    wrong = []
    for m, p in MODULES.items():
        for lib, at_top in _heavy_imports(p):
            if _in(m, TORCH_FREE) or (at_top and _in(m, LAZY)):
                wrong.append(f"{m} imports {lib}" + (" at module level" if at_top else ""))
    assert wrong == []


def _defined_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]


@pytest.mark.slow  # over 10 s on the 2-core CPU: runs in CI, not in -m 'not slow'
def test_no_dead_code():
    """Every top-level function and class of the project is used somewhere besides its own definition: by the code,
    a task YAML (`!function utils.x`), the tests or the benchmarks."""
    texts = [p.read_text() for p in MODULES.values()]
    texts += [p.read_text() for p in (REPO / "tests").rglob("*.py")]
    texts += [p.read_text() for p in (REPO / "tasks").rglob("*.yaml")]
    # every word counted once (a name is a word: `\bname\b` matches exactly its occurrences as a word)
    words = Counter(re.findall(r"\w+", "\n".join(texts)))
    unused = []
    for m, p in MODULES.items():
        if m.startswith("tasks.evaluate_metrics."):
            continue  # `evaluate.load(folder)` finds the metric class by scanning the module: no name refers to it
        for name in _defined_names(p):
            uses = words[name]
            if uses <= 1:
                unused.append(f"{m}.{name}")
    assert unused == []


def _architecture_paths() -> set[str]:
    """The files of ARCHITECTURE.md's tree: an indented block where `name/` opens a folder and `name.py` is a module
    (each followed by its one-line description), nested by indentation."""
    text = (REPO / "ARCHITECTURE.md").read_text()
    tree = text.split("## The tree", 1)[1].split("\n## ", 1)[0]
    stack: list[tuple[int, str]] = []  # (indent, folder)
    paths = set()
    for line in tree.splitlines():
        m = re.match(r"^( {4,})([\w./]+)", line)
        if not m:
            continue
        indent, name = len(m.group(1)), m.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = "/".join([f for _, f in stack] + [name.rstrip("/")])
        if name.endswith("/"):
            stack.append((indent, path.split("/")[-1] if not stack else name.rstrip("/")))
        elif name.endswith(".py"):
            paths.add(path)
    return paths


def _has_code(path: Path) -> bool:
    """A package's __init__.py that holds more than its docstring (names of its own, re-exports) is a module to list."""
    body = ast.parse(path.read_text()).body
    return any(not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)) for n in body)


def test_architecture_md_lists_every_module():
    on_disk = {str(p.relative_to(REPO)) for p in MODULES.values() if p.name != "__init__.py" or _has_code(p)}
    on_disk = {p for p in on_disk if not p.startswith("tasks/evaluate_metrics/")}
    listed = _architecture_paths()
    assert sorted(on_disk - listed) == [], "modules missing from ARCHITECTURE.md"
    assert sorted(listed - {str(p.relative_to(REPO)) for p in MODULES.values()}) == [], "listed but not there"


@pytest.mark.slow  # each command in a fresh interpreter: up to 12 s
@pytest.mark.parametrize("argv", [
    ["report", "{run}", "--out", "{tmp}/report", "--format", "md,html,tex,png"],
    ["gate", "{run}", "--rules", "{repo}/examples/gates.yaml", "--json", "{tmp}/gate.json"],
])
def test_report_and_gate_never_import_torch(tmp_path, argv):
    """Reports and gates read run directories: a CI job that only judges a run needs no torch, transformers or
    lm-eval, and pays none of their import time."""
    run = REPO / "tests" / "data" / "golden_run"
    args = [a.format(run=run, tmp=tmp_path, repo=REPO) for a in argv]
    code = (f"import sys; from harness.cli.app import main; rc = main({args!r}); "
            "print(rc, *[m in sys.modules for m in ('torch', 'transformers', 'lm_eval')])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    rc, *heavy = (r.stdout.strip().splitlines() or [""])[-1].split()
    assert rc in ("0", "1") and heavy == ["False", "False", "False"], r.stderr[-2000:]
