"""``baoxue replay-policy`` and ``evaluate-interventions``: what the supports achieved."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jobs.cli._common import (
    ConfigOpt,
    DataOpt,
    DbOpt,
    PresetName,
    choice,
    config_with_db,
    console,
    load_county,
    open_ledger,
    parse_day,
)

__all__ = ["evaluate_interventions_cmd", "replay_policy_cmd"]


def replay_policy_cmd(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="folder for the county, snapshots.parquet and truth/")
    ],
    students: Annotated[int, typer.Option(help="students in the simulated county")] = 3000,
    years: Annotated[int, typer.Option(help="school years; the policy runs in the last one")] = 2,
    seed: Annotated[int, typer.Option(help="county, lottery and effect seed")] = 0,
    preset: Annotated[
        PresetName,
        typer.Option(
            parser=choice(PresetName, "preset"),
            help="calibration preset (reap_2010: more dropouts to learn from)",
        ),
    ] = "reap_2010",
    band: Annotated[
        int, typer.Option(help="ranks either side of each school's cut-off decided by lottery")
    ] = 5,
    places_per_100: Annotated[
        float,
        typer.Option(
            "--places-per-100",
            help="prevention places per 100 students: the lottery draws only where a school has "
            "more eligible students than places",
        ),
    ] = 1.0,
    config: ConfigOpt = None,
) -> None:
    """Simulate a county, run the job's policy on it with the borderline lottery on, and apply
    the true intervention effects (truth/intervention_effects.parquet)."""
    from features.load import tables_from_frames
    from features.sim import simulate_county
    from risk.evidence.replay import replay_policy, write_replay
    from training.pipeline import train_tables

    cfg = config_with_db(config)
    neighbour = simulate_county(students=students, years=years, seed=seed + 10_000, preset=preset)
    county = simulate_county(students=students, years=years, seed=seed, preset=preset)
    with console.status("training the job's model on a neighbouring simulated county"):
        bundle, _ = train_tables(tables_from_frames(neighbour.frames).tables, cfg, evaluate_first=False)
    with console.status("replaying the policy"):
        rep = replay_policy(
            county, bundle, config=cfg, borderline_band=band, seed=seed, places_per_100=places_per_100
        )
    rows = write_replay(rep, county, out)
    iv = rep.frames["interventions"]
    console.print(
        f"policy replayed on {rep.meta['decision_dates']}: {len(iv):,} supports "
        f"({', '.join(f'{k} {v}' for k, v in iv['assignment_mechanism'].value_counts().items())}), "
        f"{rep.meta['n_averted']} dropouts averted, {rep.meta['n_returned_after_visit']} of "
        f"{rep.meta['n_home_visits']} suspected dropouts back after a home visit; {sum(rows.values()):,} rows -> {out}",
        markup=False,
        highlight=False,
    )
    if band > 0 and not rep.meta["n_in_lottery"]:
        console.print(
            "no school had more eligible students than places, so nobody was drawn by lottery and the "
            "lottery estimate is not available; lower --places-per-100 or raise --band",
            markup=False,
            highlight=False,
        )
    else:
        console.print(
            f"lottery: {rep.meta['n_lottery_winners']} of {rep.meta['n_in_lottery']} band students drawn",
            markup=False,
            highlight=False,
        )
    console.print(f"next: baoxue evaluate-interventions --data {out}", markup=False, highlight=False)


def evaluate_interventions_cmd(
    data: DataOpt = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    snapshots: Annotated[
        Path | None,
        typer.Option(
            "--snapshots", help="snapshot file(s) instead of the database (default DATA/snapshots.parquet)"
        ),
    ] = None,
    start: Annotated[str | None, typer.Option("--from", help="first run date (YYYY-MM-DD)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="last run date (YYYY-MM-DD)")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="the HTML report")] = Path("evidence_report.html"),
    as_json: Annotated[
        bool, typer.Option("--json", help="print one JSON object instead of the table")
    ] = False,
    seed: Annotated[int, typer.Option(help="bootstrap / permutation / cross-fitting seed")] = 0,
) -> None:
    """Estimate what the supports achieved (lottery, discontinuity, doubly robust, event study, subgroups)."""
    import warnings

    import pandas as pd

    from jobs.reports.evidence import write_evidence_report
    from risk.evidence import EstimationError
    from risk.evidence.evaluate import (
        evaluate_interventions,
        evaluation_decisions,
        event_panel,
        read_snapshots,
    )

    cfg = config_with_db(config, db)
    source = data or cfg.data.source
    _, loaded = load_county(source, config)
    folder = Path(str(source))
    snap_file = snapshots or (
        folder / "snapshots.parquet" if (folder / "snapshots.parquet").exists() else None
    )
    engine = None
    if snap_file is None or db is not None:
        engine = open_ledger(cfg)
    elif loaded.tables.interventions is None and _sqlite_file_exists(cfg.job.db_url):
        engine = open_ledger(cfg)  # the supports may be there; a ledger that is not is not made
    if snap_file is not None:
        snaps = read_snapshots(snap_file)
    else:
        from jobs.storage import read_runs, read_snapshot

        runs = read_runs(engine)
        snaps = (
            pd.concat([read_snapshot(engine, run_id=r) for r in runs["run_id"]], ignore_index=True)
            if len(runs)
            else pd.DataFrame()
        )
    tables, source_note = _with_ledger_interventions(loaded.tables, engine, prefer_ledger=db is not None)
    if not len(snaps):
        raise ValueError("no risk snapshots: run the nightly job first, or pass --snapshots")
    from features.sim import TRUTH_DIR

    truth_file = folder / TRUTH_DIR / "intervention_effects.parquet"
    truth = pd.read_parquet(truth_file) if truth_file.exists() else None
    weeks_file = folder / TRUTH_DIR / "home_visit_weeks.parquet"
    visit_weeks = pd.read_parquet(weeks_file) if weeks_file.exists() else None
    first, last = (parse_day(text) if text else None for text in (start, end))
    decisions, notes = evaluation_decisions(snaps, tables, cfg, start=first, end=last, truth=truth)
    notes = [source_note, *notes]
    try:
        panel = event_panel(tables, start=first, end=last, seed=seed)
    except EstimationError as exc:  # no event study, the other designs still run
        panel, notes = None, [*notes, f"event study: {exc}"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = evaluate_interventions(decisions, panel=panel, visit_weeks=visit_weeks, seed=seed)
    ev.notes = notes + ev.notes
    path = write_evidence_report(ev, out)
    if as_json:
        print(ev.to_json())
        return
    cols = ["estimator", "intervention_type", "outcome", "estimate", "ci_low", "ci_high", "n", "n_treated"]
    if ev.simulated:
        cols += ["true_effect", "covers"]
    if len(ev.table):
        typer.echo(ev.table[cols].round(4).to_string(index=False))
    else:
        console.print("no design could estimate an effect on this data; the notes say why", markup=False)
    for n in ev.notes:
        console.print(f"- {n}", markup=False, highlight=False)
    console.print(f"report: {path}", markup=False, highlight=False)


def _with_ledger_interventions(tables, engine, *, prefer_ledger: bool):
    """``tables`` with the supports the ledger recorded (its ``interventions`` table) when the
    data has none, or when ``--db`` was given; and a note saying where they came from.

    The nightly job records the supports it assigns in the ledger, not in the county's export,
    so the ledger is where they are (``baoxue demo``'s ``ledger.db``)."""
    from jobs.storage import read_interventions

    data_iv = tables.interventions
    if engine is not None and (prefer_ledger or data_iv is None or not len(data_iv)):
        ledger_iv = read_interventions(engine)
        if len(ledger_iv):
            return tables.replace(interventions=ledger_iv), (
                f"supports: the ledger's interventions table ({len(ledger_iv):,} rows)"
            )
    if data_iv is None or not len(data_iv):
        raise ValueError(
            "interventions: neither the data nor the ledger has any supports to evaluate; "
            "pass --db with the nightly job's ledger (baoxue demo: DEMO_OUT/ledger.db)"
        )
    return tables, f"supports: the data's interventions table ({len(data_iv):,} rows)"


def _sqlite_file_exists(url: str | None) -> bool:
    """Whether ``url`` is a database other than a SQLite file, or a SQLite file that exists
    (opening a missing one would create it).

    >>> _sqlite_file_exists("sqlite:////nowhere/ledger.db"), _sqlite_file_exists("postgresql://h/db")
    (False, True)
    """
    if not url:
        return False
    if not url.startswith("sqlite:///"):
        return True
    return Path(url[len("sqlite:///") :].split("?", 1)[0]).exists()
