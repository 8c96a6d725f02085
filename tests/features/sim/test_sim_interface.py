"""The simulator's shape: its public interface is ``features.sim``, and no class is a god object."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import features.sim

ROOT = Path(__file__).resolve().parents[3]
SIM = ROOT / "features" / "sim"
MAX_CLASS_LINES = 300


def _imported_modules(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_code_outside_the_simulator_imports_only_its_public_interface():
    own_tests = ROOT / "tests" / "features" / "sim"
    offenders = []
    for path in ROOT.rglob("*.py"):
        if ".venv" in path.parts or path.is_relative_to(SIM) or path.is_relative_to(own_tests):
            continue
        bad = {
            m for m in _imported_modules(path.read_text(encoding="utf-8")) if m.startswith("features.sim.")
        }
        offenders += [f"{path.relative_to(ROOT)}: {m}" for m in sorted(bad)]
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        offenders += [f"{path.name}: features.sim." for line in code.splitlines() if "features.sim." in line]
    assert not offenders, offenders


def test_every_public_name_is_exported_and_no_class_is_over_300_lines():
    assert all(hasattr(features.sim, name) for name in features.sim.__all__)
    long = []
    for path in SIM.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES:
                long.append(f"{path.name}: {node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not long, long
