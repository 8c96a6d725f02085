"""The ``baoxue`` command line (typer). Each command is a few lines that call the library.

Only this module decides what "today" is; library code always takes ``as_of``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    name="baoxue",
    help="保学 baoxue: dropout early warning for compulsory school.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="baoxue.toml (defaults when absent)")]


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log progress")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


# --- commands are added below; keep each one thin -------------------------------------------------
