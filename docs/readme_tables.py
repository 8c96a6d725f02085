"""Regenerate the README's generated blocks (data contract, feature catalogue, risk snapshot,
the package layout).

    .venv/bin/python docs/readme_tables.py        # rewrite README.md in place
A test fails when README.md is out of date with the code.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


ROOT = README.parent
PACKAGES = ("features", "training", "risk", "jobs")


def layout_markdown() -> str:
    """One line per module of the four packages: its path and the first sentence of its docstring.

    Package ``__init__`` files appear only for subpackages (their docstring says what the
    subpackage is); migrations are left out.
    """
    import ast

    lines: list[str] = []
    for package in PACKAGES:
        lines += ["", f"**`{package}/`**", ""]
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "migrations/" in rel or rel == f"{package}/__init__.py":
                continue
            doc = (ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "").strip()
            first = doc.split("\n\n")[0].replace("\n", " ").split(". ")[0].rstrip(".")
            lines.append(f"- `{rel}`: {first or '(no docstring)'}")
    return "\n".join(lines).strip() + "\n"


def blocks() -> dict[str, str]:
    from features.catalog import catalog_markdown
    from features.contract import contract_markdown
    from risk.snapshot import snapshot_markdown

    return {
        "contract": contract_markdown(),
        "catalog": catalog_markdown(),
        "snapshot": snapshot_markdown(),
        "layout": layout_markdown(),
    }


def render(text: str) -> str:
    for name, body in blocks().items():
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
        text = pattern.sub(lambda m, b=body: m.group(1) + b.rstrip() + "\n" + m.group(2), text)
    return text


if __name__ == "__main__":
    new = render(README.read_text(encoding="utf-8"))
    README.write_text(new, encoding="utf-8")
    sys.exit(0)
