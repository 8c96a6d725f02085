"""The nightly job end to end through the real CLI on a small simulated county.

One county and one model for the whole session; a replay of four nights (with missed nights
between them) is shared by the tests that only read it; tests that write work on copies.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.config import BaoxueConfig
from jobs.cli import app
from jobs.stages import STAGES
from jobs.storage import connect, dump, read_case_events, read_cases, read_runs, read_snapshot
from risk.assign import case_trigger
from risk.changes import missed_rule_alerts

runner = CliRunner()
NIGHTS = ["2024-04-15", "2024-04-16", "2024-04-22", "2024-05-06"]  # 17-19 Apr and 23 Apr-3 May missed


@pytest.fixture(scope="session")
def county(tmp_path_factory) -> dict:
    """A simulated county on disk, a small model bundle and a config with short ledger timers."""
    from tests.jobs.conftest import small_county

    root = tmp_path_factory.mktemp("nightly")
    tables, model = small_county(root, n_estimators=60)
    toml = root / "baoxue.toml"
    toml.write_text(
        f'[data]\nsource = "{root / "county"}"\n'
        f'[job]\nmodel_uri = "{model}"\nout_dir = "{root / "out"}"\n'
        "return_days = 3\nauto_close_days = 5\nescalation_days = 7\nlock_timeout_s = 1\n",
        encoding="utf-8",
    )
    return {"root": root, "config": toml, "tables": tables}


def _nightly(config: Path, db: str, day: str, **env: str):
    return runner.invoke(
        app, ["nightly", "--config", str(config), "--db", db, "--as-of", day], env=env or None
    )


@pytest.fixture(scope="session")
def replay(county) -> dict:
    """Four nights into one SQLite ledger; a copy of the file after each night."""
    root = county["root"]
    db = root / "ledger.db"
    copies = {}
    for day in NIGHTS:
        res = _nightly(county["config"], f"sqlite:///{db}", day)
        assert res.exit_code == 0, res.output
        copies[day] = root / f"ledger_{day}.db"
        shutil.copy(db, copies[day])
    return {"db": db, "copies": copies, **county}


def _copy(replay, day: str, tmp_path: Path) -> str:
    target = tmp_path / "ledger.db"
    shutil.copy(replay["copies"][day], target)
    return f"sqlite:///{target}"


def _good(url: str) -> dict:
    """The ledger without the rows that failed nights add to ``runs`` (issue 20: recorded, not lost)."""
    out = dump(connect(url))
    runs = out["runs"][out["runs"]["status"] != "failed"].reset_index(drop=True)
    for c in runs.columns:  # a column only failed rows filled reads back as None, as without them
        if runs[c].isna().all():
            runs[c] = pd.Series([None] * len(runs), dtype=object)
    out["runs"] = runs
    return out


def _assert_same(a: dict, b: dict) -> None:
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


def test_case_counts_follow_the_rules_and_the_capacity(replay):
    engine = connect(f"sqlite:///{replay['db']}")
    runs = read_runs(engine)
    assert runs["as_of"].dt.strftime("%Y-%m-%d").tolist() == NIGHTS
    cases = read_cases(engine)
    staff = replay["tables"].staff
    owners = staff[staff["role"].astype(str).isin(["counsellor", "moral_ed", "subject_teacher"])]
    capacity = owners.groupby("school_id")["max_open_cases"].sum()
    for run in runs.itertuples():
        snap = read_snapshot(engine, run_id=run.run_id)
        ruled = set(snap.loc[snap["rules"].map(case_trigger).notna(), "student_id"])
        assert run.n_students == len(snap)
        # every student with a case rule tonight has a suspected-dropout case (opened tonight or before)
        sus = cases[(cases["case_type"] == "suspected_dropout") & (cases["opened_at"] <= run.as_of)]
        assert ruled <= set(sus["student_id"])
    # one open case per student and kind; owners named; prevention within capacity plus red overflow
    open_ = cases[cases["status"].isin(["open", "returned"])]
    assert not open_.duplicated(["student_id", "case_type"]).any()
    assert open_["owner_staff_id"].notna().all()
    prev = open_[open_["case_type"] == "prevention"]
    load = prev.groupby("school_id").size()
    red_over = (
        read_case_events(engine)
        .query("event_type == 'opened'")["detail"]
        .str.contains('"over_capacity": true')
    )
    assert (load <= capacity.reindex(load.index).fillna(0) + int(red_over.sum())).all()
    # suspected-dropout cases belong to the class's head teacher
    heads = staff[staff["role"].astype(str) == "head_teacher"].set_index("class_id")["staff_id"]
    sus = cases[cases["case_type"] == "suspected_dropout"]
    assert (sus["owner_staff_id"] == sus["class_id"].map(heads)).all()


def test_the_snapshot_holds_ids_only(replay):
    engine = connect(f"sqlite:///{replay['db']}")
    names = (
        set(replay["tables"].student_names["name"]) if replay["tables"].student_names is not None else set()
    )
    for frame in dump(engine).values():
        text = frame.astype(str)
        assert not names & set(text.to_numpy().ravel())


def test_the_same_night_twice_leaves_the_database_as_one_run(replay, tmp_path):
    url = _copy(replay, NIGHTS[-1], tmp_path)
    before = dump(connect(url))
    res = _nightly(replay["config"], url, NIGHTS[-1])
    assert res.exit_code == 0 and "exists already" in res.output
    _assert_same(before, dump(connect(url)))


@pytest.mark.parametrize("stage", STAGES)
def test_a_kill_at_any_stage_leaves_the_database_unchanged(replay, tmp_path, stage):
    url = _copy(replay, NIGHTS[-2], tmp_path)
    before = dump(connect(url))
    res = _nightly(replay["config"], url, NIGHTS[-1], BAOXUE_FAIL_AT=stage)
    assert res.exit_code == 1, res.output
    assert f"run stopped before stage '{stage}'" in res.output
    _assert_same(before, _good(url))


def test_a_failed_night_then_a_good_one_is_the_same_as_one_good_night(replay, tmp_path):
    url = _copy(replay, NIGHTS[-2], tmp_path)
    assert _nightly(replay["config"], url, NIGHTS[-1], BAOXUE_FAIL_AT="record").exit_code == 1
    assert _nightly(replay["config"], url, NIGHTS[-1]).exit_code == 0
    good = dump(connect(f"sqlite:///{replay['copies'][NIGHTS[-1]]}"))
    again = _good(url)
    for frame in (good, again):
        # the store's generation names a manifest that holds file times: one per store, like a run's time
        frame["runs"] = frame["runs"].drop(
            columns=["started_at", "finished_at", "seconds", "stage_seconds", "store_generation"]
        )
    _assert_same(good, again)


def test_missed_nights_are_caught_up(replay):
    engine = connect(f"sqlite:///{replay['db']}")
    runs = read_runs(engine).set_index(runs_key := read_runs(engine)["as_of"].dt.strftime("%Y-%m-%d"))
    assert runs_key.tolist() == NIGHTS
    assert runs.loc["2024-04-22", "missed_days"] == 3  # 17, 18, 19 April (weekend has no school)
    # 23 April - 5 May: the school days of the county's calendar (Labour Day 1-5 May is off)
    cal = replay["tables"].calendar
    gap = cal[(cal["date"] > "2024-04-22") & (cal["date"] < "2024-05-06") & cal["is_school_day"].astype(bool)]
    missed = sorted(set(gap["date"].dt.date))
    assert runs.loc["2024-05-06", "missed_days"] == len(missed) and dt.date(2024, 5, 2) not in missed
    alerts = missed_rule_alerts(replay["tables"], missed, BaoxueConfig())
    fired = set(alerts.loc[alerts["rules"].map(case_trigger).notna(), "student_id"])
    sus = read_cases(engine).query("case_type == 'suspected_dropout'")
    assert fired <= set(sus["student_id"])  # none of the missed nights' alerts is lost


def test_a_returned_students_case_closes(replay, tmp_path):
    url = _copy(replay, NIGHTS[-1], tmp_path)
    engine = connect(url)
    returned = read_cases(engine, status="returned")
    if returned.empty:  # this county had no return in the replay: make one with a staff update
        case = read_cases(engine, open_only=True).query("case_type == 'suspected_dropout'").iloc[0]
        f = tmp_path / "back.csv"
        pd.DataFrame([{"case_id": case["case_id"], "ts": NIGHTS[-1], "event_type": "phone",
                       "outcome": "returned"}]).to_csv(f, index=False)  # fmt: skip
        assert (
            runner.invoke(app, ["cases", "import", str(f), "--db", url, "--as-of", NIGHTS[-1]]).exit_code == 0
        )
        returned = read_cases(engine, status="returned")
    assert len(returned)
    later = (pd.Timestamp(NIGHTS[-1]) + pd.Timedelta(days=7)).strftime("%Y-%m-%d")
    assert _nightly(replay["config"], url, later).exit_code == 0
    after = read_cases(engine).set_index("case_id").loc[returned["case_id"]]
    assert (after["status"] == "closed").all() and (after["closure_reason"] == "returned").all()
    events = read_case_events(engine, case_id=returned["case_id"].iloc[0])["event_type"].tolist()
    assert events[0] == "opened" and events[-1] == "closed" and "close_proposed" in events


def test_a_staff_update_file_imports_good_rows_and_rejects_bad_ones(replay, tmp_path):
    url = _copy(replay, NIGHTS[-1], tmp_path)
    open_ = read_cases(connect(url), open_only=True)
    a, b = open_["case_id"].iloc[0], open_["case_id"].iloc[1]
    path = tmp_path / "updates.xlsx"
    pd.DataFrame(
        {
            "案例编号": [a, a, b, "nope", b],
            "时间": ["2024-05-06", "2024-05-06", "2024-05-06", "2024-05-06", "yesterday"],
            "记录类型": ["home_visit", "step", "close", "phone", "phone"],
            "结果": ["contacted", None, None, None, None],
            "四步法阶段": [None, "1", None, None, None],
            "销号原因": [None, None, "transferred", None, None],
        }
    ).to_excel(path, index=False)
    res = runner.invoke(app, ["cases", "import", str(path), "--db", url, "--as-of", "2024-05-07"])
    assert res.exit_code == 0, res.output
    assert "imported 3" in res.output and "rejected 2" in res.output
    rejects = pd.read_csv(tmp_path / "updates.rejects.csv")
    assert rejects["file_row"].tolist() == [5, 6]
    assert rejects["reason"].str.contains("not in the ledger|not a date").all()
    cases = read_cases(connect(url)).set_index("case_id")
    assert cases.loc[a, "four_step_stage"] == 1 and cases.loc[b, "status"] == "closed"
    shown = runner.invoke(app, ["cases", "show", a, "--db", url], env={"COLUMNS": "300"})
    # the history in words (issue 19: the case log was in English codes), the codes with --lang en
    assert shown.exit_code == 0 and "家访" in shown.output and "已联系" in shown.output, shown.output
    assert "home_visit" not in shown.output and "contacted" not in shown.output
    shown = runner.invoke(app, ["cases", "show", a, "--db", url, "--lang", "en"], env={"COLUMNS": "300"})
    assert shown.exit_code == 0 and "home visit" in shown.output and "家访" not in shown.output


def test_runs_and_cases_list_read_the_ledger(replay):
    url = f"sqlite:///{replay['db']}"
    res = runner.invoke(app, ["runs", "--db", url], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "2024-05-06" in res.output
    school = read_cases(connect(url))["school_id"].iloc[0]
    res = runner.invoke(app, ["cases", "list", "--db", url, "--school", school], env={"COLUMNS": "250"})
    assert res.exit_code == 0 and "预防" in res.output and "prevention" not in res.output, res.output
    res = runner.invoke(
        app, ["cases", "list", "--db", url, "--school", school, "--lang", "en"], env={"COLUMNS": "250"}
    )
    assert res.exit_code == 0 and "prevention" in res.output
    assert runner.invoke(app, ["cases", "list", "--db", url]).exit_code == 2  # a list needs a scope


def _baoxue() -> str:
    exe = Path(sys.executable).parent / "baoxue"
    return str(exe) if exe.exists() else "baoxue"


def test_two_runs_started_together_never_both_write(replay, db_url):
    if db_url.startswith("sqlite"):
        shutil.copy(replay["copies"][NIGHTS[-2]], db_url.removeprefix("sqlite:///"))
    else:
        from jobs.storage import upgrade

        upgrade(connect(db_url))
    cmd = [_baoxue(), "nightly", "--config", str(replay["config"]), "--db", db_url, "--as-of", NIGHTS[-1]]
    env = {**os.environ, "COLUMNS": "200"}
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
             for _ in range(2)]  # fmt: skip
    outs = [p.communicate(timeout=300)[0] for p in procs]
    codes = sorted(p.returncode for p in procs)
    # one runs; the other waited lock_timeout_s (1 s) and stopped, or found the run done
    assert codes in ([0, 3], [0, 0]), outs
    if codes == [0, 3]:
        assert any("another nightly run is writing" in o for o in outs), outs
    else:
        assert any("exists already" in o for o in outs), outs
    runs = read_runs(connect(db_url))
    assert (runs["as_of"] == pd.Timestamp(NIGHTS[-1])).sum() == 1


@pytest.mark.postgres
def test_postgres_night_is_atomic_and_idempotent(county, tmp_path):
    from tests.jobs.conftest import PG_ENV, drop_pg_schema, pg_schema_url

    if not os.environ.get(PG_ENV):
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (set by .ci/run)")
    url, schema = pg_schema_url()
    try:
        runner.invoke(app, ["db", "upgrade", "--db", url])
        assert _nightly(county["config"], url, NIGHTS[0]).exit_code == 0
        before = dump(connect(url))
        for stage in ("snapshot", "cases", "commit"):
            assert _nightly(county["config"], url, NIGHTS[1], BAOXUE_FAIL_AT=stage).exit_code == 1
            _assert_same(before, _good(url))
        assert _nightly(county["config"], url, NIGHTS[1]).exit_code == 0
        once = dump(connect(url))
        assert "exists already" in _nightly(county["config"], url, NIGHTS[1]).output
        _assert_same(once, dump(connect(url)))
        assert len(read_snapshot(connect(url), as_of=NIGHTS[1])) == _good(url)["runs"]["n_students"].iloc[-1]
    finally:
        drop_pg_schema(schema)


def test_cases_list_shows_whole_case_ids_on_a_narrow_terminal(replay, monkeypatch):
    """Issue 19: the ids are copied into `cases show`; rich used to cut them to 'C2025…'."""
    from jobs.cli._common import console

    monkeypatch.setattr(console, "_width", 80)
    url = f"sqlite:///{replay['db']}"
    cases = read_cases(connect(url))
    school = cases["school_id"].iloc[0]
    res = runner.invoke(app, ["cases", "list", "--db", url, "--school", school])
    assert res.exit_code == 0
    for case_id in cases.loc[(cases["school_id"] == school) & (cases["status"] == "open"), "case_id"]:
        assert case_id in res.output


def test_cases_list_and_show_name_classes_and_owners_with_data(replay):
    """Issue 19: with the county's data, `cases` shows the class and the owner by name (the
    contract's optional classes.name and staff.name; the simulator writes made-up ones)."""
    url = f"sqlite:///{replay['db']}"
    tables = replay["tables"]
    cases = read_cases(connect(url))
    case = cases.loc[cases["owner_staff_id"].notna() & (cases["status"] == "open")].iloc[0]
    staff = tables.staff.set_index("staff_id")
    owner = staff.loc[case["owner_staff_id"]]
    klass = tables.classes.set_index("class_id").loc[case["class_id"], "name"]
    data = str(replay["root"] / "county")
    res = runner.invoke(app, ["cases", "list", "--db", url, "--class", case["class_id"], "--data", data],
                        env={"COLUMNS": "400"})  # fmt: skip
    assert res.exit_code == 0, res.output
    roles = {"head_teacher": "班主任", "counsellor": "心理教师", "moral_ed": "德育教师", "principal": "校长"}
    assert klass in res.output and f"{roles.get(owner['role'], '')} {owner['name']}".strip() in res.output
    shown = runner.invoke(
        app, ["cases", "show", case["case_id"], "--db", url, "--data", data], env={"COLUMNS": "300"}
    )
    assert shown.exit_code == 0, shown.output
    assert f"class: {klass}" in shown.output and "owner: " in shown.output and owner["name"] in shown.output
    # without --data: the ids, as before
    bare = runner.invoke(
        app, ["cases", "list", "--db", url, "--class", case["class_id"]], env={"COLUMNS": "400"}
    )
    assert bare.exit_code == 0 and klass not in bare.output and case["owner_staff_id"] in bare.output
