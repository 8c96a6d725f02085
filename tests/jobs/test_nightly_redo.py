"""Issue 20, no silent loss: a night on an empty or stale export stops (exit 4) instead of
passing as a quiet night; a night is redone with --replace; a mistaken future night is voided;
a night's identity is its inputs' content, not how the model's path is typed.

One simulated county (seed 11) and two small models for the module; each test works on its
own copies of the export and its own ledger.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.config import BaoxueConfig
from jobs.cli import app
from jobs.freshness import last_data_date
from jobs.storage import connect, dump, read_case_events, read_cases, read_runs, read_snapshot
from risk.assign import case_trigger
from risk.changes import missed_rule_alerts

pytestmark = pytest.mark.slow  # two models trained, then about 25 nights (a few minutes)
runner = CliRunner()
FIRST, LOST = "2024-04-15", "2024-04-22"  # 16-19 April are missed between them


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> dict:
    from features.load import load_tables
    from features.sim import simulate_county, write_county
    from training.bundle import save_bundle
    from training.pipeline import train_tables

    root = tmp_path_factory.mktemp("redo")
    write_county(simulate_county(students=1200, years=2, seed=11, attendance=False), root / "county")
    cfg = BaoxueConfig()
    small = replace(cfg.train, n_estimators=30, num_leaves=7, max_depth=3, min_child_samples=20)
    tables = load_tables(cfg.data, root / "county").tables
    models = {}
    for name, train in (("a", small), ("b", replace(small, n_estimators=45, seed=7))):
        bundle, _ = train_tables(tables, replace(cfg, train=train), evaluate_first=False)
        models[name] = save_bundle(bundle, root / f"model_{name}.joblib")
    toml = root / "baoxue.toml"
    toml.write_text(
        f'[data]\nsource = "{root / "county"}"\n'
        f'[job]\nmodel_uri = "{models["a"]}"\nout_dir = "{root / "out"}"\nlock_timeout_s = 5\n',
        encoding="utf-8",
    )
    return {"root": root, "config": toml, "tables": tables, "models": models}


def _nightly(county, db: str, day: str, *extra: str, data: Path | None = None):
    args = ["nightly", "--config", str(county["config"]), "--db", db, "--as-of", day, *extra]
    if data is not None:
        args += ["--data", str(data)]
    return runner.invoke(app, args)


def _export(county, tmp_path: Path, name: str, *, until: str | None = None, empty: bool = False) -> Path:
    """A copy of the county's export whose attendance ends on ``until`` (or has no row)."""
    out = tmp_path / name
    shutil.copytree(county["root"] / "county", out)
    att = pd.read_parquet(out / "attendance.parquet")
    (out / "attendance.parquet").unlink()
    if empty:  # a header-only file, as a failed export leaves it
        att.iloc[:0].to_csv(out / "attendance.csv", index=False)
    else:
        att[att["date"] <= pd.Timestamp(until)].to_parquet(out / "attendance.parquet")
    return out


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def _completed(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs that are nights (a refused or failed night is recorded as a failed row)."""
    return runs.loc[runs["status"] != "failed"].reset_index(drop=True)


def test_an_empty_export_stops_the_night_and_writes_nothing(county, tmp_path):
    db = _sqlite(tmp_path)
    assert _nightly(county, db, FIRST).exit_code == 0
    before = dump(connect(db))
    res = _nightly(county, db, LOST, data=_export(county, tmp_path, "empty", empty=True))
    assert res.exit_code == 4, res.output
    assert "attendance is empty" in res.output and "--accept-stale" in res.output
    after = dump(connect(db))
    failed = after["runs"].loc[after["runs"]["status"] == "failed"]
    assert len(failed) == 1 and "attendance is empty" in failed["error"].iloc[0]  # the stop is recorded
    after["runs"] = after["runs"].loc[after["runs"]["status"] != "failed"].reset_index(drop=True)

    def same(f: pd.DataFrame) -> pd.DataFrame:  # None and NaN alike, whatever the column's dtype
        return f.astype("object").where(f.notna(), None)

    for name, frame in before.items():  # and nothing else is written
        pd.testing.assert_frame_equal(same(frame), same(after[name]), obj=name)


def test_an_export_that_ends_a_week_early_stops_the_night_naming_the_schools(county, tmp_path):
    db = _sqlite(tmp_path)
    assert _nightly(county, db, FIRST).exit_code == 0
    res = _nightly(county, db, LOST, data=_export(county, tmp_path, "stale", until=FIRST))
    assert res.exit_code == 4, res.output
    schools = sorted(county["tables"].students["school_id"].astype(str).unique())
    assert "attendance is stale" in res.output and all(s in res.output for s in schools)
    assert read_runs(connect(db))["as_of"].dt.strftime("%Y-%m-%d").tolist() == [FIRST]


def test_accept_stale_runs_the_night_and_records_the_override(county, tmp_path):
    db = _sqlite(tmp_path)
    res = _nightly(county, db, LOST, "--accept-stale", data=_export(county, tmp_path, "stale", until=FIRST))
    assert res.exit_code == 0, res.output
    assert "stale or incomplete export" in res.output
    (override,) = read_runs(connect(db))["stale_override"]
    accepted = json.loads(override)["accepted"]
    assert [(a["table"], a["problem"]) for a in accepted] == [("attendance", "stale")]


def _missed_alerts(county) -> set[str]:
    missed = [dt.date(2024, 4, d) for d in (16, 17, 18, 19)]
    alerts = missed_rule_alerts(county["tables"], missed, BaoxueConfig())
    assert alerts["rules"].str.contains("rule_48h").any()  # the county has 48-hour alerts then
    return set(alerts.loc[alerts["rules"].map(case_trigger).notna(), "student_id"])


def test_replace_redoes_a_stale_night_opens_the_lost_alerts_and_keeps_every_event(county, tmp_path, db_url):
    if db_url.startswith("postgresql"):
        assert runner.invoke(app, ["db", "upgrade", "--db", db_url]).exit_code == 0
    assert _nightly(county, db_url, FIRST).exit_code == 0
    stale = _export(county, tmp_path, "stale", until="2024-04-12")
    assert _nightly(county, db_url, LOST, "--accept-stale", data=stale).exit_code == 0
    engine = connect(db_url)
    fired = _missed_alerts(county)
    sus = set(read_cases(engine).query("case_type == 'suspected_dropout'")["student_id"])
    assert not fired <= sus  # the stale night lost alerts
    events_before = read_case_events(engine)
    first_version = read_runs(engine)["run_id"].iloc[-1]
    # the corrected export: refused without --replace (it is not "nothing to do")
    res = _nightly(county, db_url, LOST)
    assert res.exit_code == 2 and "the data changed" in res.output and "--replace" in res.output, res.output
    res = _nightly(county, db_url, LOST, "--replace")
    assert res.exit_code == 0 and f"supersedes run {first_version}" in res.output, res.output
    runs = read_runs(engine)
    assert runs["as_of"].dt.strftime("%Y-%m-%d").tolist() == [FIRST, LOST]  # one current version a night
    redo = runs.iloc[-1]
    assert redo["supersedes_run_id"] == first_version and redo["missed_days"] == 4
    assert redo["previous_run_id"] == runs["run_id"].iloc[0]
    assert read_snapshot(engine, as_of=LOST)["run_id"].unique().tolist() == [redo["run_id"]]
    assert len(_completed(read_runs(engine, every=True))) == 3  # the refusal above is a failed row
    sus = set(read_cases(engine).query("case_type == 'suspected_dropout'")["student_id"])
    assert fired <= sus  # the lost alerts are open now
    events = read_case_events(engine)
    assert set(events_before["event_id"]) <= set(events["event_id"])  # nothing deleted
    assert "nothing to do" in _nightly(county, db_url, LOST, "--replace").output  # same inputs again


def test_voiding_a_future_night_lets_the_next_night_run(county, tmp_path, db_url):
    if db_url.startswith("postgresql"):
        assert runner.invoke(app, ["db", "upgrade", "--db", db_url]).exit_code == 0
    assert _nightly(county, db_url, FIRST).exit_code == 0
    res = _nightly(county, db_url, "2052-03-17", "--force-date", "--accept-stale")
    assert res.exit_code == 0, res.output
    engine = connect(db_url)
    future = read_runs(engine)["run_id"].iloc[-1]
    res = _nightly(county, db_url, "2024-04-16")
    assert res.exit_code == 2 and "a run for a later date (2052-03-17" in res.output, res.output
    opened = read_cases(engine).query("opened_run_id == @future")
    res_void = runner.invoke(app, ["runs", "void", future, "--reason", "typed 2052 for 2024", "--db", db_url])
    assert res_void.exit_code == 0, res_void.output
    assert f"{len(opened)} case(s) it opened closed" in res_void.output
    run = read_runs(engine, every=True).set_index("run_id").loc[future]
    assert (
        run["status"] == "void" and run["void_reason"] == "typed 2052 for 2024" and pd.notna(run["voided_at"])
    )
    closed = read_cases(engine).set_index("case_id").loc[opened["case_id"]]
    assert (closed["status"] == "closed").all() and (closed["closure_reason"] == "other").all()
    res = _nightly(county, db_url, "2024-04-16")
    assert res.exit_code == 0, res.output
    runs = read_runs(engine)
    assert runs["as_of"].dt.strftime("%Y-%m-%d").tolist() == [FIRST, "2024-04-16"]
    assert runs["previous_run_id"].iloc[-1] == runs["run_id"].iloc[0]  # as if the void night never ran
    assert read_snapshot(engine)["as_of"].iloc[0] == pd.Timestamp("2024-04-16")
    kept = int((read_case_events(engine)["run_id"] == future).sum())
    assert f"its {kept} event(s) are kept" in res_void.output
    listed = runner.invoke(app, ["runs", "list", "--all", "--db", db_url], env={"COLUMNS": "250"})
    assert listed.exit_code == 0 and future in listed.output and "void" in listed.output
    shown = runner.invoke(app, ["runs", "--db", db_url], env={"COLUMNS": "250"}).output
    table = shown.split("\nfailed ")[0]  # the table; the failed nights' lines follow it
    assert future not in table  # (the refused night's failed line names it as the later run)
    again = runner.invoke(app, ["runs", "void", future, "--reason", "x", "--db", db_url])
    assert again.exit_code == 2 and "is void" in again.output


def test_a_date_in_the_future_or_past_the_data_is_refused_unless_forced(county, tmp_path):
    db = _sqlite(tmp_path)
    res = _nightly(county, db, "2052-03-17")
    assert res.exit_code == 2 and "after today" in res.output and "--force-date" in res.output, res.output
    # two days after the export's last date (its latest dated row, whatever the table) is a
    # mistake; the day after it would be the next night
    last, _ = last_data_date(county["tables"])
    res = _nightly(county, db, str(last + dt.timedelta(days=2)))
    assert res.exit_code == 2 and f"after the data's last date ({last}" in res.output, res.output
    res = _nightly(county, db, str(last + dt.timedelta(days=2)), "--force-date", "--accept-stale")
    assert res.exit_code == 0, res.output
    assert read_runs(connect(db))["as_of"].tolist() == [pd.Timestamp(last + dt.timedelta(days=2))]


def test_the_same_model_by_another_path_is_the_same_night(county, tmp_path, monkeypatch):
    db = _sqlite(tmp_path)
    model = county["models"]["a"]
    assert _nightly(county, db, FIRST, "--model", str(model)).exit_code == 0
    monkeypatch.chdir(county["root"] / "county")
    res = _nightly(county, db, FIRST, "--model", f"../{model.name}")
    assert res.exit_code == 0 and "exists already: nothing to do" in res.output, res.output
    copy = tmp_path / "elsewhere" / "same.joblib"
    copy.parent.mkdir()
    shutil.copy(model, copy)
    res = _nightly(county, db, FIRST, "--model", str(copy))
    assert res.exit_code == 0 and "exists already: nothing to do" in res.output, res.output
    assert len(read_runs(connect(db), every=True)) == 1


def test_a_retrained_model_at_the_same_path_is_not_skipped(county, tmp_path):
    db = _sqlite(tmp_path)
    path = tmp_path / "model.joblib"
    shutil.copy(county["models"]["a"], path)
    assert _nightly(county, db, FIRST, "--model", str(path)).exit_code == 0
    shutil.copy(county["models"]["b"], path)  # retrained, saved over the old file
    res = _nightly(county, db, FIRST, "--model", str(path))
    assert res.exit_code == 2 and "the model changed" in res.output and "--replace" in res.output, res.output
    res = _nightly(county, db, FIRST, "--model", str(path), "--replace")
    assert res.exit_code == 0 and "supersedes run" in res.output, res.output
    runs = _completed(read_runs(connect(db), every=True))
    assert len(runs) == 2 and runs["model_version"].nunique() == 2
    assert read_snapshot(connect(db))["run_id"].iloc[0] == runs["run_id"].iloc[-1]
