"""``docs/clauses.md`` stays true: every code symbol and test it names exists, and every clause
id the code cites has a row."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from domain import clauses

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "clauses.md").read_text(encoding="utf-8")
REFERENCE = re.compile(r"`([\w/]+\.py)::([\w.]+)`")


def _names(path: Path) -> set[str]:
    """Top-level functions and classes, and ``Class.method`` for methods."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}.{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            )
    return names


def test_every_code_symbol_and_test_named_in_the_clause_map_exists():
    references = REFERENCE.findall(DOC)
    assert len(references) > 100
    missing = []
    for file, name in references:
        path = ROOT / file if "/" in file else ROOT / "tests" / file
        if not path.exists() or name not in _names(path):
            missing.append(f"{file}::{name}")
    assert missing == []


def test_every_clause_the_code_cites_has_a_row():
    cited = {v for k, v in vars(clauses).items() if k.startswith("ETMAD_")}
    absent = sorted(c for c in cited if f"| {c} " not in DOC and f"| {c} |" not in DOC)
    assert absent == []
