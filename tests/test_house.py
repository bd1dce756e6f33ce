"""The house rules a newcomer relies on (#11): no module over 400 lines, no function over 80
lines of code (docstring, comments and blank lines not counted)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "csresearch"


def _code_lines(src: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    doc = body[0] if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
        and isinstance(body[0].value.value, str) else None
    skip = set(range(doc.lineno, doc.end_lineno + 1)) if doc else set()
    return sum(1 for i in range(node.lineno, node.end_lineno + 1)
               if i not in skip and src[i - 1].strip() and not src[i - 1].strip().startswith("#"))


def test_no_module_over_400_lines_and_no_function_over_80():
    long_modules, long_functions = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        src = text.splitlines()
        if len(src) > 400:
            long_modules.append(f"{path.relative_to(PACKAGE)}: {len(src)}")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (n := _code_lines(src, node)) > 80:
                long_functions.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}: {n}")
    assert not long_modules, f"modules over 400 lines: {long_modules}"
    assert not long_functions, f"functions over 80 lines of code: {long_functions}"


def test_the_counter_counts_code_not_docstrings_or_comments():
    text = 'def f():\n    """Doc\n    more."""\n    # note\n\n    a = 1\n    return a\n'
    node = ast.parse(text).body[0]
    assert _code_lines(text.splitlines(), node) == 3
