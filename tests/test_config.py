"""Every default number lives in hia/_defaults.py: no public signature or command-line option of
hia carries a numeric literal of its own (0, meaning none, an ephemeral port or an empty count,
is the one exception)."""

import ast
from pathlib import Path

import hia._defaults as D

PACKAGE = Path(__file__).resolve().parents[1] / "hia"


def _numeric(node: ast.AST) -> float | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _numeric(node.operand)
        return None if value is None else -value
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    return None


def literal_defaults(source: str, filename: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (not node.name.startswith("_") or node.name == "__init__"):
            args = node.args
            pairs = list(zip(args.args[len(args.args) - len(args.defaults):], args.defaults))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
            found += [f"{filename}:{node.lineno} {node.name}({a.arg}={v})" for a, d in pairs
                      if (v := _numeric(d)) not in (None, 0)]
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            found += [f"{filename}:{node.lineno} option default={v}" for kw in node.keywords
                      if kw.arg == "default" and (v := _numeric(kw.value)) not in (None, 0)]
    return found


def test_no_public_signature_has_a_numeric_default_of_its_own():
    offenders = [hit for path in sorted(PACKAGE.rglob("*.py")) if path.name != "_defaults.py"
                 for hit in literal_defaults(path.read_text(), str(path.relative_to(PACKAGE.parent)))]
    assert offenders == []


def test_the_walk_catches_a_literal_default():
    source = "def align(prompt, *, budget=2, seed=0, name='x', flag=True):\n    pass\n" \
             "parser.add_argument('--items', type=int, default=8)\n"
    assert literal_defaults(source, "x.py") == ["x.py:1 align(budget=2)", "x.py:3 option default=8"]


def test_the_config_is_plain_documented_numbers():
    names = [n for n in dir(D) if n.isupper()]
    assert len(names) > 40
    text = (PACKAGE / "_defaults.py").read_text()
    assert all(f"{n} = " in text or f", {n}" in text or f"{n}," in text for n in names)
