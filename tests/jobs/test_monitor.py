"""``jobs.monitor`` end to end: a simulated county, a small model, logged nights, the monitor.

The simulator is imported here only (it may move at merge). ``reap_2010`` gives a 600-student
county enough dropouts to judge; two nights whose outcome windows have closed are logged.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import pandas as pd
import pytest

from features.config import BaoxueConfig
from features.sim import simulate_county, write_county

NIGHTS = [dt.date(2023, 11, 13), dt.date(2024, 1, 8)]


@pytest.fixture(scope="module")
def logged(tmp_path_factory) -> dict:
    from features.load import load_tables
    from jobs.nightly import run_nightly
    from jobs.storage import connect, upgrade
    from training.pipeline import train_tables

    root = tmp_path_factory.mktemp("monitor")
    county = simulate_county(
        students=600, years=2, seed=11, preset="reap_2010", start_year=2022, attendance=False
    )
    write_county(county, root / "county")
    cfg = BaoxueConfig()
    train = replace(
        cfg.train, n_estimators=30, num_leaves=7, max_depth=4, min_child_samples=20, valid_months=6
    )
    cfg = replace(cfg, train=train, job=replace(cfg.job, out_dir=str(root / "out")))
    tables = load_tables(cfg.data, root / "county").tables
    bundle, _ = train_tables(tables, cfg, evaluate_first=False)
    url = f"sqlite:///{root / 'ledger.db'}"
    engine = connect(url)
    upgrade(engine)
    for night in NIGHTS:
        run_nightly(cfg, night, engine=engine, source=root / "county", model=bundle)
    engine.dispose()
    return {"root": root, "cfg": cfg, "url": url, "bundle": bundle, "tables": tables}


def test_monitor_reads_the_ledger_back(logged, tmp_path):
    from jobs.monitor import run_monitor
    from jobs.reports.monitor import write_monitor_report

    assert logged["bundle"].reference["features"]  # new bundles keep a drift reference
    r = run_monitor(logged["url"], logged["root"] / "county", config=logged["cfg"], model=logged["bundle"])
    assert [d.date() for d in r.judged] == NIGHTS
    lists = r.quality.lists
    assert set(lists["tier"]) == {"list", "red", "yellow", "blue", "capacity"}
    whole = lists.loc[lists["tier"] == "list"]
    assert (whole["n"] > 0).all() and whole["dropouts"].sum() > 0
    # every dropout is either caught (with a lead time) or on the missed list
    assert r.quality.lead_summary["events"] == len(r.quality.lead) + len(r.quality.missed)
    assert r.drift is not None and r.drift.source == "bundle"
    assert r.status in ("ok", "watch", "retrain")
    out = json.loads(r.to_json())
    assert {"lists", "missed", "calibration", "drift", "coverage", "status", "reasons"} <= set(out)
    html = write_monitor_report(r, tmp_path / "monitor.html").read_text(encoding="utf-8")
    assert "data:image/png;base64" in html and "Input drift" in html


def test_a_class_that_stops_sending_attendance_is_named(logged):
    from risk.monitoring.coverage import data_coverage

    tables = logged["tables"]
    day = dt.date(2024, 5, 20)
    cov = data_coverage(tables, day)
    assert not cov.stopped
    klass = cov.classes.sort_values("students").iloc[-1]
    from features.cohort import cohort

    c = cohort(tables, day)
    ids = c.index[c["class_id"].astype("str") == klass["class_id"]].astype("str")
    att = tables.attendance
    cut = att["student_id"].astype("str").isin(ids) & (att["date"] > pd.Timestamp("2024-05-08"))
    cov = data_coverage(tables.replace(attendance=att.loc[~cut]), day)
    assert cov.stopped == [f"{klass['school_id']}/{klass['class_id']}"]
    row = cov.classes.iloc[0]
    assert row["class_id"] == klass["class_id"] and row["days_without_attendance"] >= 7


def test_cli_monitor_json_table_report_and_fail_on(logged, tmp_path):
    from typer.testing import CliRunner

    from jobs.cli import app
    from jobs.cli.monitor import EXIT_STATUS
    from training.bundle import save_bundle

    runner = CliRunner()
    model = save_bundle(logged["bundle"], tmp_path / "bundle.joblib")
    base = ["monitor", "--db", logged["url"], "--data", str(logged["root"] / "county"), "--model", str(model)]
    res = runner.invoke(app, [*base, "--json", "--out", str(tmp_path / "m.html")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert {"lists", "missed", "calibration", "drift", "coverage", "status", "reasons"} <= set(out)
    assert {r["as_of"] for r in out["lists"]} == {f"{d:%Y-%m-%d}" for d in NIGHTS}
    assert {"tier", "expected", "precision", "recall", "n"} <= set(out["lists"][0])
    assert (tmp_path / "m.html").stat().st_size > 10_000

    table = runner.invoke(app, base)
    assert table.exit_code == 0, table.output
    assert f"status {out['status']}" in table.stdout and "realised vs expected precision" in table.stdout
    assert "2023-11-13" in table.stdout and "capacity" in table.stdout

    # two school years after the model's last as-of date: retrain, and --fail-on says so
    late = [*base, "--as-of", "2026-10-01", "--json"]
    res = runner.invoke(app, [*late, "--fail-on", "retrain"])
    assert res.exit_code == EXIT_STATUS, res.output
    last = json.loads(res.stdout.strip().splitlines()[-1])
    assert last["status"] == "retrain" and any("新学年" in r for r in last["reasons"])
    assert runner.invoke(app, late).exit_code == 0  # without --fail-on the monitor succeeded
    code = runner.invoke(app, [*base, "--fail-on", "watch"]).exit_code
    assert code == (0 if out["status"] == "ok" else EXIT_STATUS)


def test_cli_monitor_refuses_a_missing_ledger_and_a_bad_level(tmp_path):
    from typer.testing import CliRunner

    from jobs.cli import app

    runner = CliRunner()
    res = runner.invoke(
        app, ["monitor", "--db", f"sqlite:///{tmp_path / 'none.db'}", "--data", str(tmp_path)]
    )
    assert res.exit_code == 2 and "no such ledger file" in res.output
    assert not (tmp_path / "none.db").exists()  # the monitor reads, never creates
    res = runner.invoke(app, ["monitor", "--db", "sqlite://", "--fail-on", "often"])
    assert res.exit_code == 2 and "unknown status 'often'" in res.output


def _without_late(tables, schools, since: str, day: dt.date):
    """The county as if ``schools`` stopped writing down 迟到 from ``since`` (late -> present)."""
    from features.cohort import cohort

    c = cohort(tables, day)
    ids = c.index[c["school_id"].astype("str").isin(schools)].astype("str")
    att = tables.attendance
    hit = att["student_id"].astype("str").isin(ids) & (att["date"] >= pd.Timestamp(since))
    hit &= att["status"].astype("str") == "late"
    status = att["status"].astype("str").where(~hit, "present").astype(att["status"].dtype)
    return tables.replace(attendance=att.assign(status=status))


def test_a_school_that_stops_recording_late_is_flagged(logged):
    from features.build import build_features
    from features.cohort import cohort
    from jobs.monitor import read_logged_snapshots
    from jobs.storage import connect
    from risk.monitoring import monitor
    from risk.monitoring.coverage import data_coverage
    from risk.monitoring.drift import input_drift
    from training.fit import prepare_features

    tables, bundle, cfg = logged["tables"], logged["bundle"], logged["cfg"]
    day = dt.date(2024, 1, 8)
    schools = cohort(tables, day)["school_id"].astype("str").value_counts()
    big = schools.index[0]  # the largest school (about 30% of the county) stops in September
    assert not data_coverage(tables, day).stopped_statuses
    shifted = _without_late(tables, [big], "2023-09-01", day)
    assert data_coverage(shifted, day).stopped_statuses == [f"{big}/late"]
    engine = connect(logged["url"])
    snaps = read_logged_snapshots(engine)
    engine.dispose()
    r = monitor(snaps, shifted, as_of=day, train_config=cfg.train)
    assert r.status == "watch" and any("迟到" in x and f"{big}/late" in x for x in r.reasons)
    assert r.to_dict()["coverage"]["stopped_statuses"] == [f"{big}/late"]

    # the county-wide feature drift check cannot see one school, but sees every school stop
    def late_drift(t):
        current = prepare_features(build_features(t, day, cfg), bundle.features)
        d = input_drift(bundle.reference, current, month=f"{day:%m}")
        return d.table.set_index("feature").loc["att_late_count_term"]

    assert not late_drift(tables)["drifted"]
    assert not late_drift(shifted)["drifted"]
    everywhere = late_drift(_without_late(tables, list(schools.index), "2023-09-01", day))
    assert everywhere["drifted"] and everywhere["distance"] > 0.1


def _more_nights(url: str, tables) -> None:
    """Log more nights in the ledger at ``url``: a later run of 2023-11-13 whose scores differ
    (the latest run of a date is the one judged), a night whose outcome window has not closed,
    a run with no rows, and a night scored from another night's rows (an unlisted red child,
    ties in probability)."""
    import numpy as np
    import sqlalchemy as sa

    from features.cohort import cohort

    eng = sa.create_engine(url)
    with eng.begin() as conn:
        runs = pd.read_sql("SELECT * FROM runs ORDER BY as_of", conn)
        first = runs.iloc[0]
        rows = pd.read_sql(
            sa.text("SELECT * FROM risk_snapshots WHERE run_id = :r"), conn, params={"r": first["run_id"]}
        )
        rng = np.random.default_rng(5)
        plan = [("redo-1113", "2023-11-13", "2099-01-01 05:00:00"), ("late-0610", "2024-06-10", None),
                ("empty-0520", "2024-05-20", None), ("copy-1204", "2023-12-04", None)]  # fmt: skip
        for run_id, day, finished in plan:
            run = first.copy()
            run["run_id"], run["as_of"] = run_id, day
            run["finished_at"] = finished or f"{day} 03:00:00"
            run["previous_run_id"], run["config_hash"] = None, run_id
            pd.DataFrame([run]).to_sql("runs", conn, if_exists="append", index=False)
            if run_id.startswith("empty"):
                continue
            snap = rows.copy()
            if run_id.startswith("late"):
                members = cohort(tables, dt.date(2024, 6, 10)).index.astype("str")
                snap = snap.loc[snap["student_id"].isin(members)]
            snap["run_id"], snap["as_of"] = run_id, day
            p = np.round(rng.permutation(snap["probability"].to_numpy()), 2)  # ties
            snap["probability"] = p
            snap["rank_county"] = pd.Series(-p).rank(method="first").astype("int64").to_numpy()
            snap["tier"] = np.where(p >= 0.1, "red", np.where(p >= 0.03, "yellow", "none"))
            snap["listed"] = (snap["tier"] != "none") & (rng.random(len(snap)) > 0.1)
            snap["selected"] = snap["listed"] & (rng.random(len(snap)) > 0.5)
            snap.to_sql("risk_snapshots", conn, if_exists="append", index=False)
    eng.dispose()


def test_the_fast_monitor_gives_the_straightforward_result(logged, tmp_path):
    """``run_monitor`` reads only the judged nights through the driver's cursor and builds
    each night's cohort once (``method="fast"``, the default); the straightforward path reads
    every night with ``pd.read_sql`` and labels and groups each night with ``label_panel``
    and ``audit_groups``. Every table of the result is the same."""
    import importlib.util
    import shutil

    from jobs.monitor import read_logged_snapshots, run_monitor
    from jobs.storage import connect

    db = tmp_path / "ledger.db"
    shutil.copy(logged["url"].removeprefix("sqlite:///"), db)
    url = f"sqlite:///{db}"
    _more_nights(url, logged["tables"])

    engine = connect(url)
    slow = read_logged_snapshots(engine, method="read_sql")
    fast = read_logged_snapshots(engine)
    pd.testing.assert_frame_equal(read_logged_snapshots(engine, method="cursor"), slow)
    if importlib.util.find_spec("adbc_driver_sqlite") is not None:  # a dependency; "fast" works without
        pd.testing.assert_frame_equal(read_logged_snapshots(engine, method="adbc"), slow)
    some = read_logged_snapshots(engine, nights=[dt.date(2023, 12, 4)])
    engine.dispose()
    pd.testing.assert_frame_equal(fast, slow)
    assert len(fast) > 1000 and fast["as_of"].nunique() == 4  # the empty run names no night
    pd.testing.assert_frame_equal(some, slow.loc[slow["as_of"] == "2023-12-04"].reset_index(drop=True))

    kw = {"config": logged["cfg"], "model": logged["bundle"]}
    a = run_monitor(url, logged["root"] / "county", **kw)
    b = run_monitor(url, logged["root"] / "county", method="read_sql", **kw)
    assert [d.date() for d in a.judged] == [dt.date(2023, 11, 13), dt.date(2023, 12, 4), dt.date(2024, 1, 8)]
    assert a.nights == b.nights and len(a.nights) == 4 and a.judged == b.judged
    assert a.quality.by_group["dimension"].isin(["left_behind", "migrant", "hardship"]).any()
    for name in ("lists", "summary", "by_group", "missed", "lead"):
        pd.testing.assert_frame_equal(getattr(a.quality, name), getattr(b.quality, name), obj=name)
    assert a.quality.lead_summary == b.quality.lead_summary
    for name in ("by_month", "reliability"):
        pd.testing.assert_frame_equal(getattr(a.calibration, name), getattr(b.calibration, name), obj=name)
    pd.testing.assert_frame_equal(a.drift.table, b.drift.table)
    for name in ("classes", "schools", "tables", "statuses"):
        pd.testing.assert_frame_equal(getattr(a.coverage, name), getattr(b.coverage, name), obj=name)
    assert a.to_json() == b.to_json()
    # as of a date before the last nights: those are neither read nor named
    early = run_monitor(url, logged["root"] / "county", as_of=dt.date(2024, 5, 1), **kw)
    assert len(early.nights) == 3


def test_adbc_finish_in_arrow_gives_finish_frame():
    """The ADBC read's Arrow finish (:func:`jobs.monitor._finish_arrow`) gives the frame of
    the general ``_finish``: rows of two runs read out of night order, tied ranks kept in read
    order, and (through the general path) a null tier."""
    import pyarrow as pa

    from jobs.monitor import MONITOR_COLUMNS, _finish, _finish_arrow, _with_as_of

    runs = pd.DataFrame(
        {
            "run_id": ["r2", "r1"],
            "as_of": pd.to_datetime(["2024-03-02", "2024-03-01"]).astype("datetime64[us]"),
        }
    )
    base = {
        "run_id": ["r2", "r2", "r1", "r2", "r1"],
        "student_id": ["b", "a", "c", "d", "a"],
        "school_id": ["s1", "s1", "s2", "s2", "s1"],
        "class_id": ["k1", "k1", "k2", "k2", "k1"],
        "grade": [3, 4, 5, 6, 4],
        "probability": [0.5, 0.2, 0.9, 0.2, 0.1],
        "rank_county": [1, 2, 1, 2, 2],  # r2's rows "a" and "d" tie at rank 2: read order kept
        "tier": ["red", "none", "yellow", "none", "blue"],
        "listed": [1, 0, 1, 1, 1],
        "selected": [1, 0, 0, 1, 0],
    }
    for tier in (base["tier"], ["red", None, "yellow", "none", "blue"]):
        table = pa.table({**base, "tier": tier})
        fast = _finish_arrow(table, runs, MONITOR_COLUMNS)
        run = pd.Series(runs["as_of"].to_numpy("datetime64[s]"), index=runs["run_id"])
        as_of = run.reindex(table.column("run_id").to_pylist()).to_numpy()
        pd.testing.assert_frame_equal(fast, _finish(_with_as_of(table, as_of, MONITOR_COLUMNS)))
    assert fast["student_id"].tolist() == ["c", "a", "b", "a", "d"]
    assert fast["tier"].isna().tolist() == [False, False, False, True, False]
    first = _finish_arrow(pa.table(base), runs, MONITOR_COLUMNS)
    assert first["tier"].tolist() == ["yellow", "blue", "red", "none", "none"]
    assert first["as_of"].dt.day.tolist() == [1, 1, 2, 2, 2]
