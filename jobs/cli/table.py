"""``baoxue train-table``: the model recipe on any flat table, one row per student with an outcome."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from jobs.cli._common import ConfigOpt, console

__all__ = ["train_table"]

#: the figures the table shows, with their short headers (the JSON has them all)
_SHOWN = {
    "auc": "AUC",
    "pr_auc": "PR AUC",
    "precision_at_5pct": "P@5%",
    "precision_at_10pct": "P@10%",
    "recall_at_10pct": "R@10%",
    "brier": "Brier",
    "ece": "ECE",
}


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def train_table(
    file: Annotated[Path, typer.Argument(help="CSV (any separator; UTF-8, BOM or GBK), Parquet or XLSX")],
    label: Annotated[str, typer.Option(help="the outcome column")],
    positive: Annotated[
        str, typer.Option(help="the outcome value that counts as positive (e.g. 1, Dropout)")
    ],
    id: Annotated[str | None, typer.Option("--id", help="a unique row id column (never a feature)")] = None,
    time: Annotated[
        str | None, typer.Option(help="train on earlier values of this column, test on the latest")
    ] = None,
    group: Annotated[
        str | None, typer.Option(help="grouped k-fold on this column (a school, a class; never a feature)")
    ] = None,
    drop: Annotated[
        list[str] | None, typer.Option(help="a column that is not a feature (repeat the option for more)")
    ] = None,
    sep: Annotated[str | None, typer.Option(help="CSV separator (sniffed when not given)")] = None,
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet name (default: the first)")] = None,
    folds: Annotated[int, typer.Option(min=2, help="number of folds (no effect with --time)")] = 5,
    seed: Annotated[int, typer.Option(help="fold shuffling and the model's seed")] = 0,
    config: ConfigOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print one JSON object as the last line of standard output")
    ] = False,
) -> None:
    """Evaluate baoxue's model family on a flat table, out of fold, next to logistic regression."""
    from features.config import load_config
    from training.table import evaluate_table, read_table

    frame = read_table(file, sep=sep, sheet=sheet)
    result = evaluate_table(
        frame,
        label=label,
        positive=positive,
        id=id,
        time=time,
        group=group,
        drop=tuple(drop or ()),
        folds=folds,
        seed=seed,
        config=load_config(config).train,
    )
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, allow_nan=False))
        return
    split = result["split"]
    table = Table(
        title=f"{file.name}: {result['n_rows']:,} rows, positive rate {result['positive_rate']:.3f}"
    )
    table.add_column("model")
    for header in _SHOWN.values():
        table.add_column(header, justify="right")
    table.add_row("lightgbm", *(_fmt(result.get(k)) for k in _SHOWN))
    for name, figures in result["baselines"].items():
        table.add_row(name, *(_fmt(figures.get(k)) for k in _SHOWN))
    console.print(table)
    console.print(f"split: {split['kind']}" + (f" ({split['note']})" if split.get("note") else ""))
