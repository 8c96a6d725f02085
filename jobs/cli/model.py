"""``baoxue train``, ``evaluate`` and ``score``: the risk model fitted, measured and applied."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jobs.cli._common import ConfigOpt, ExplainMode, choice, console, load_county, parse_day

__all__ = ["evaluate", "promote", "score", "train"]

JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        help="print the headline as one JSON object, the last line of stdout (messages go to stderr)",
    ),
]


def _say(as_json: bool):
    """Where messages go: stderr when stdout carries the JSON."""
    if not as_json:
        return console
    from rich.console import Console

    return Console(stderr=True)


def _print_json(report) -> None:
    import json
    import sys

    sys.stdout.write(json.dumps(report.summary(), ensure_ascii=False, allow_nan=False) + "\n")
    sys.stdout.flush()


def train(
    data_dir: Annotated[str, typer.Argument(help="data folder (or SQLAlchemy URL) of a county")],
    config: ConfigOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="model bundle to write")] = Path(
        "model/bundle.joblib"
    ),
    evaluate_first: Annotated[
        bool, typer.Option(help="evaluate the recipe on the last school year first")
    ] = True,
    track: Annotated[
        bool,
        typer.Option(
            help="log to MLflow as 'challenger'; promote it to 'champion' by the rule "
            "([train] promote_tolerance)"
        ),
    ] = True,
    negative_sample: Annotated[
        float | None,
        typer.Option(
            help="share of negatives kept (every positive is), at any panel size; 1 = every row "
            "(default: [train] negative_sample above [train] sample_above_rows fit rows)"
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit, calibrate and save the risk model on every labelled month (a joblib bundle).

    With --track the model is registered as 'challenger' and becomes 'champion' only when, on
    the latest labelled window, its precision at capacity is not worse than the champion's by
    more than [train] promote_tolerance and its ECE is within 0.05 (the first model always
    does); the reason is printed and recorded. `baoxue promote` overrides the rule.
    """
    from dataclasses import replace

    from features.sim import read_truth
    from jobs.reports.model_card import model_card, write_model_card
    from training.bundle import save_bundle
    from training.evaluate import labelled_panel
    from training.pipeline import latest_window, train_tables
    from training.tracking import log_model_card, register_challenger

    cfg, loaded = load_county(data_dir, config)
    if negative_sample is not None:
        train_cfg = replace(cfg.train, negative_sample=negative_sample, sample_above_rows=0)
        cfg = replace(cfg, train=train_cfg)
    tables = loaded.tables
    if as_json and not evaluate_first:
        raise ValueError("--json prints the evaluation's headline: drop --no-evaluate-first")
    say = _say(as_json)
    panel = labelled_panel(tables, cfg)
    truth = read_truth(data_dir)
    bundle, report = train_tables(tables, cfg, truth=truth, evaluate_first=evaluate_first, panel=panel)
    say.print(f"model bundle: {save_bundle(bundle, out)} (window {bundle.window})")
    if report is not None:
        say.print(report.headline().round(3).to_string())
    reg = None
    if track:
        reg = register_challenger(
            bundle,
            cfg.train,
            latest_window(panel, cfg.train),
            report=report,
            capacity=cfg.risk.capacity_per_school,
        )
        say.print(
            f"MLflow run {reg.run_id}: {cfg.train.registered_model} version {reg.version} -> {reg.alias} "
            f"({reg.decision.reason})",
            markup=False,
            highlight=False,
        )
    card = model_card(
        bundle, cfg, report=report, data=panel, version=reg.version if reg else "",
        decision=reg.decision.reason if reg else "", simulated=truth is not None,
    )  # fmt: skip
    paths = write_model_card(card, out.parent)
    if reg is not None:
        log_model_card(cfg.train, reg.run_id, paths, version=reg.version)
    say.print(f"model card: {', '.join(map(str, paths))}", markup=False, highlight=False)
    if as_json:
        _print_json(report)


def promote(
    version: Annotated[str, typer.Argument(help="the registered model version to make champion")],
    reason: Annotated[str, typer.Option("--reason", help="why the rule is overridden (recorded)")],
    config: ConfigOpt = None,
) -> None:
    """Make a registered model version the champion, overriding the promotion rule; the reason,
    the version it replaced and 'promoted_by: override' are recorded on the version."""
    from features.config import load_config
    from training.tracking import promote as promote_version

    cfg = load_config(config)
    old = promote_version(cfg.train, version, reason, by="override")
    console.print(
        f"{cfg.train.registered_model} version {version} -> champion (replaced {old or 'none'}): {reason}",
        markup=False,
        highlight=False,
    )


def evaluate(
    data_dir: Annotated[
        str, typer.Argument(help="data folder (or SQLAlchemy URL); truth/ is used when present")
    ],
    config: ConfigOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for report.md and tables")] = Path(
        "evaluation"
    ),
    track: Annotated[bool, typer.Option(help="log the evaluation run to MLflow")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Model against the county rule, logistic regression, school context (and the oracle)."""
    from features.sim import read_truth
    from training.evaluate import evaluate_tables, write_report
    from training.tracking import log_run

    cfg, loaded = load_county(data_dir, config)
    tables = loaded.tables
    say = _say(as_json)
    report = evaluate_tables(tables, cfg, truth=read_truth(data_dir))
    say.print(report.headline().round(3).to_string())
    say.print(f"report: {write_report(report, out) / 'report.md'}")
    if track:
        say.print(f"MLflow run {log_run(report.bundle, cfg.train, report=report, register=False)}")
    if as_json:
        _print_json(report)


def score(
    data_dir: Annotated[str, typer.Argument(help="data folder (or SQLAlchemy URL) of a county")],
    as_of: Annotated[str, typer.Option("--as-of", help="the day to score (YYYY-MM-DD)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="snapshot file: .parquet, .csv or .xlsx")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="bundle file or MLflow URI (models:/baoxue@champion); default [job] model_uri",
        ),
    ] = None,
    explain: Annotated[
        ExplainMode | None,
        typer.Option(
            "--explain",
            parser=choice(ExplainMode, "explain mode"),
            help="whose reasons to compute (default: listed)",
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Score one day: risk, ranks, tier with its condition, rules, reasons (zh, en), measures."""
    import time

    from risk.assess import assess

    day = parse_day(as_of)
    if out.suffix.lower() not in (".parquet", ".csv", ".xlsx"):
        raise ValueError(f"--out {out}: write .parquet, .csv or .xlsx")
    from features.config import load_config
    from jobs.guard import check_model

    uri = model or load_config(config).job.model_uri
    if not uri:
        raise ValueError("no model: pass --model FILE_OR_URI or set [job] model_uri in the config")
    # the model first: a missing or unreadable one is said before the county is loaded (issue 19)
    scoring = check_model(uri, load_config(config))
    cfg, loaded = load_county(data_dir, config)
    start = time.perf_counter()
    snap = assess(loaded.tables, day, scoring, cfg, explain=explain)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame = snap.reset_index(drop=True)
    if out.suffix.lower() == ".parquet":
        frame.to_parquet(out, index=False)
    elif out.suffix.lower() == ".csv":
        frame.to_csv(out, index=False, encoding="utf-8-sig")  # Excel opens UTF-8 with a BOM
    else:
        frame.assign(as_of=frame["as_of"].dt.date).to_excel(out, index=False, sheet_name="risk")
    tiers = snap["tier"].value_counts().reindex(["red", "yellow", "blue", "none"]).fillna(0).astype(int)
    console.print(
        f"{out}: {len(snap):,} students on {day} in {time.perf_counter() - start:.1f} s; "
        + ", ".join(f"{t} {n:,}" for t, n in tiers.items())
        + f"; {int(snap['selected'].sum()):,} selected for a case, {int(snap['explained'].sum()):,} explained; "
        f"model {scoring.version}",
        markup=False,
        highlight=False,
    )
