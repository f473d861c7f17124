"""The package's layering, checked on its source: no import circle, and no layer importing above
itself. Imports inside functions and under TYPE_CHECKING count as much as the ones at the top."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "hia"

# Lower numbers sit lower. A module may import its own layer's modules and any lower layer's.
# Layers of one rank are independent of each other (engine and training).
LAYERS = {
    "_defaults": 0, "errors": 0,
    "core": 1,
    "storage": 2,
    "data": 3,
    "models": 4,
    "rewards": 5,
    "search": 6,
    "engine": 7, "training": 7,
    "build": 8,
    "serving": 9,
    "cli": 10,
    "__init__": 11,
}
MAX_TOP_LEVEL_MODULES = 8


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    assert len(found) > 40, f"found only {len(found)} modules under {PACKAGE}: is it the package?"
    return found


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Every hia module `path` imports, anywhere in the file."""
    return imports_in(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py", known)


def imports_in(source: str, name: str, is_package: bool, known: set[str]) -> set[str]:
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "hia")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "hia":
                continue
            for alias in node.names:  # `from hia import errors` imports the module hia.errors
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return {m for m in found if m in known and m != name}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(path, set(mods)) for name, path in mods.items()}


def test_every_module_has_a_layer() -> None:
    missing = sorted({layer_of(m) for m in modules()} - set(LAYERS))
    assert not missing, f"modules outside any layer: {missing}; give them a place in LAYERS"


def test_no_layer_imports_above_itself() -> None:
    wrong = [f"{a} imports {b}" for a, deps in graph().items() for b in deps
             if layer_of(a) != layer_of(b) and LAYERS[layer_of(b)] >= LAYERS[layer_of(a)]]
    assert not wrong, "\n".join(sorted(wrong))


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_no_import_circle() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_imports_inside_functions() -> None:
    known = {"hia.core.goal", "hia.engine.batch", "hia.engine", "hia.errors", "hia.core.budget"}
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..errors import X\n"
              "def f():\n    from hia.engine import batch\n    from .budget import Budget\n")
    assert imports_in(source, "hia.core.goal", False, known) == {"hia.engine.batch", "hia.errors", "hia.core.budget"}


def test_few_modules_at_the_top() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_no_module_reads_another_modules_private_attributes() -> None:
    """`obj._name` is read only inside the module that defines `_name` (self._x in a class, a
    module's own helpers). Reads of another object's private state cross a boundary."""
    mods = modules()
    defined: dict[str, set[str]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
        defined[name] = names
    wrong = []
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Attribute) and re.fullmatch(r"_[a-z0-9][a-z0-9_]*", node.attr)):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            if node.attr in defined[name]:
                continue  # the module's own private state, or a sibling instance of its own class
            wrong.append(f"{name}:{node.lineno} reads .{node.attr}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("rule", ["core", "engine"])
def test_the_named_rules_hold(rule: str) -> None:
    """The two rules the architecture names: core imports nothing above it, and the engine never
    imports build, serving or the CLI."""
    banned = {"core": set(LAYERS) - {"core", "_defaults", "errors"},
              "engine": {"build", "serving", "cli", "__init__"}}[rule]
    wrong = [f"{a} imports {b}" for a, deps in graph().items() if layer_of(a) == rule
             for b in deps if layer_of(b) in banned]
    assert not wrong, "\n".join(wrong)


def test_the_readme_layout_names_every_folder_and_top_module() -> None:
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):]
    folders = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    missing = [f"hia/{f}/" for f in folders if f"hia/{f}/" not in layout]
    missing += [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py" and p.name not in layout]
    assert not missing, f"the README's layout leaves out {missing}"
    named = set(re.findall(r"hia/([a-z_]+)/", layout))
    assert named <= set(folders), f"the README's layout names folders that are gone: {sorted(named - set(folders))}"


def test_the_readme_is_short_enough_to_read_at_once() -> None:
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    assert len(readme) < 12_000, f"the README has {len(readme)} characters; move detail to docs/ (limit 12,000)"
