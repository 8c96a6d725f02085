"""``baoxue monitor``: how right the past lists were, calibration, drift, coverage and the
retraining status (:func:`jobs.monitor.run_monitor`).

Exit codes: 0 when the monitor ran (whatever it found); with ``--fail-on retrain`` (or
``watch``) :data:`EXIT_STATUS` (10) when the status reached that level, so a cron job or CI
can tell "the model needs retraining" from a failure (1), a usage error (2) or a busy
ledger (3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from jobs.cli._common import ConfigOpt, DataOpt, DbOpt, choice, config_with_db, console, isna, parse_day

__all__ = ["monitor", "EXIT_STATUS", "FailOn"]

#: the exit code of ``--fail-on`` when the status reached the level named
EXIT_STATUS = 10

#: the status levels ``--fail-on`` accepts (``watch`` fails on watch and on retrain)
FailOn = Literal["watch", "retrain"]

_LEVEL = {"ok": 0, "watch": 1, "retrain": 2}


def _pct(v) -> str:
    return "" if isna(v) else f"{v:.1%}"


def _print_tables(result) -> None:
    from rich.markup import escape
    from rich.table import Table

    colour = {"ok": "green", "watch": "yellow", "retrain": "red"}[result.status]
    console.print(
        f"monitor on {result.as_of} (data until {result.until}): status [bold {colour}]{result.status}[/]; "
        f"{len(result.nights)} nights logged, {len(result.judged)} judged (outcome window {result.lag_days} days)"
    )
    for r in result.reasons:
        console.print(f"  - {escape(r)}")
    q = result.quality
    if q is not None:
        table = Table(title="lists per night: realised vs expected precision")
        for col in ("night", "tier", "listed", "dropouts", "precision", "95% interval", "expected",
                    "expected interval", "recall", "lift"):  # fmt: skip
            table.add_column(col, justify="left" if col in ("night", "tier") else "right")
        for _, r in q.lists.iterrows():
            if not r["n"]:
                continue
            table.add_row(
                f"{r['as_of']:%Y-%m-%d}", str(r["tier"]), f"{r['n']:,}", f"{r['dropouts']:,}", _pct(r["precision"]),
                f"{_pct(r['precision_low'])}–{_pct(r['precision_high'])}", _pct(r["expected"]),
                f"{_pct(r['expected_low'])}–{_pct(r['expected_high'])}", _pct(r["recall"]),
                "" if isna(r["lift"]) else f"{r['lift']:.1f}",
            )  # fmt: skip
        console.print(table)
        lead = q.lead_summary
        median = lead.get("median_lead_days")
        console.print(
            f"dropouts {int(lead.get('events', 0)):,}: caught {int(lead.get('caught', 0)):,} "
            f"({_pct(lead.get('caught_share'))}), median lead "
            f"{'?' if median is None or isna(median) else f'{median:.0f}'} days; "
            f"missed (never listed) {len(q.missed):,}",
            markup=False,
        )
    if result.calibration is not None:
        c = result.calibration
        console.print(f"realised ECE {c.overall_ece:.3f} (bound {c.max_ece})", markup=False)
    if result.drift is not None:
        d = result.drift
        drifted = d.table.loc[d.table["drifted"].astype(bool), "feature"].tolist()
        console.print(
            f"input drift: {d.share:.0%} of features above {d.threshold} ({', '.join(drifted[:8]) or 'none'}"
            f"{', …' if len(drifted) > 8 else ''})",
            markup=False,
        )
    cov = result.coverage
    stale = cov.tables.loc[cov.tables["stale"], "table"].tolist()
    console.print(
        f"coverage: {len(cov.stopped)} classes stopped sending attendance"
        f"{': ' + ', '.join(cov.stopped) if cov.stopped else ''}; statuses a school stopped recording: "
        f"{', '.join(cov.stopped_statuses) or 'none'}; stale tables: {', '.join(stale) or 'none'}",
        markup=False,
    )
    for note in result.notes[1:]:
        console.print(note, markup=False)


def _ledger_exists(url: str) -> None:
    """A usage error (exit 2) when ``url`` holds no ledger: the monitor reads, never creates."""
    from sqlalchemy.engine import make_url

    from jobs.storage import connect, current_revision

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        raise FileNotFoundError(f"--db {url}: no such ledger file (run `baoxue nightly` first)")
    engine = connect(url)
    try:
        if current_revision(engine) is None:
            raise ValueError(f"--db {url}: not a baoxue ledger (no migration; run `baoxue nightly` first)")
    finally:
        engine.dispose()


def monitor(
    db: DbOpt = None,
    data: DataOpt = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="the monitor's date (default: the last day of the data)")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write the HTML report here")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print one JSON object (the last stdout line) instead of tables")
    ] = False,
    fail_on: Annotated[
        FailOn | None,
        typer.Option(
            "--fail-on",
            parser=choice(FailOn, "status"),
            help=f"exit {EXIT_STATUS} when the status is this or worse (retrain, or watch)",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="bundle file or MLflow URI (default [job] model_uri)"),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """How the past lists turned out (realised vs expected), calibration, input drift, data
    coverage, and the status: ok, watch or retrain, with the reasons."""
    from jobs.monitor import run_monitor

    cfg = config_with_db(config, db)
    if not cfg.job.db_url:
        raise ValueError("no ledger: pass --db URL or set [job] db_url in the config")
    source = data or cfg.data.source
    if not source:
        raise ValueError("no data: pass --data DIR or set [data] source in the config")
    day = parse_day(as_of) if as_of else None
    _ledger_exists(cfg.job.db_url)
    result = run_monitor(cfg.job.db_url, source, as_of=day, config=cfg, model=model)
    if out is not None:
        from jobs.reports.monitor import write_monitor_report

        path = write_monitor_report(result, out)
        if not as_json:
            console.print(f"report: {path}", markup=False, highlight=False)
    if as_json:
        typer.echo(result.to_json())
    else:
        _print_tables(result)
    if fail_on is not None and _LEVEL[result.status] >= _LEVEL[fail_on]:
        raise typer.Exit(EXIT_STATUS)
