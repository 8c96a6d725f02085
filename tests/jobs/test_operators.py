"""Issue 20, the operator's side: salt discipline, checks before computing, failed nights
recorded, logs with time/run id/stage, one exit code per kind of failure.

One small simulated county (fixed seed) whose ids are rewritten to registry-number shape
(synthetic digits, built at run time), one model, through the real CLI (typer's CliRunner).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from jobs.cli import app
from jobs.storage import connect, read_cases, read_runs, read_snapshot

runner = CliRunner()
NIGHTS = ["2024-04-15", "2024-04-16"]
SALT_A = "county-salt-A-0123456789abcdef"  # synthetic test secrets, long enough
SALT_B = "county-salt-B-fedcba9876543210"


def _registry_no(i: int) -> str:
    """A synthetic registry-number-shaped id: 'G' + 18 digits (no real person's)."""
    return "G" + "53" + "0102" + "20" + f"{i:010d}"


@pytest.fixture(scope="session")
def county(tmp_path_factory) -> dict:
    """A simulated county keyed by registry numbers, a small model and a config."""
    import pyarrow.parquet as pq

    from tests.jobs.conftest import small_county

    root = tmp_path_factory.mktemp("operators")
    _, model = small_county(root, "plain")
    # the same county as a registry export: every student_id is a registry number
    reg = root / "county"
    shutil.copytree(root / "plain", reg)
    ids = (
        pd.read_parquet(reg / "students.parquet")["student_id"].astype("str").drop_duplicates().sort_values()
    )
    to_reg = {s: _registry_no(i) for i, s in enumerate(ids)}
    for f in reg.glob("*.parquet"):
        frame = pd.read_parquet(f)
        if "student_id" in frame.columns:
            frame["student_id"] = frame["student_id"].astype("str").map(to_reg).fillna(frame["student_id"])
            pq.write_table(__import__("pyarrow").Table.from_pandas(frame, preserve_index=False), f)
    toml = root / "baoxue.toml"
    toml.write_text(
        f'[data]\nsource = "{reg}"\n[job]\nmodel_uri = "{model}"\nout_dir = "{root / "out"}"\nlock_timeout_s = 1\n',
        encoding="utf-8",
    )
    return {"root": root, "config": toml, "model": model, "data": reg, "to_reg": to_reg}


def _nightly(
    county: dict, db: str, day: str, *args: str, pre: tuple[str, ...] = (), salt: str = SALT_A, **env
):
    """``baoxue [pre] nightly --config --db --as-of day [args]`` with the id salt in the environment."""
    return runner.invoke(
        app,
        [*pre, "nightly", "--config", str(county["config"]), "--db", db, "--as-of", day, *args],
        env={"BAOXUE_ID_SALT": salt, **env},
    )


@pytest.fixture(scope="session")
def first_night(county) -> Path:
    """A ledger after the first night under salt A (tests work on copies)."""
    db = county["root"] / "first.db"
    res = _nightly(county, f"sqlite:///{db}", NIGHTS[0])
    assert res.exit_code == 0, res.output
    return db


def _copy(first_night: Path, tmp_path: Path) -> Path:
    target = tmp_path / "ledger.db"
    shutil.copy(first_night, target)
    return target


# --- salt discipline ---------------------------------------------------------------------------


def test_a_changed_salt_stops_the_night_and_rehash_is_the_way_forward(county, first_night, tmp_path):
    control = tmp_path / "control.db"
    shutil.copy(first_night, control)
    moved = tmp_path / "moved.db"
    shutil.copy(first_night, moved)
    url = f"sqlite:///{moved}"

    # a new salt alone: refused before computing, exit 2, naming the way forward
    res = _nightly(county, url, NIGHTS[1], salt=SALT_B)
    assert res.exit_code == 2, res.output
    assert "id salt differs" in res.output and "baoxue db rehash" in res.output
    assert SALT_A not in res.output and SALT_B not in res.output  # fingerprints only
    runs = read_runs(connect(url), every=True)
    assert runs["status"].tolist() == ["ok", "failed"] and runs["failed_stage"].iloc[-1] == "preflight"
    open_before = read_cases(connect(url))

    # the documented way forward: rehash, then the night runs on the new salt
    res = runner.invoke(
        app,
        ["db", "rehash", "--old-salt-env", "OLD_SALT", "--new-salt-env", "NEW_SALT", "--config",
         str(county["config"]), "--db", url],
        env={"OLD_SALT": SALT_A, "NEW_SALT": SALT_B},
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "re-keyed" in res.output and "salt fingerprint" in res.output
    from features.identity import keyed_hash

    rekeyed = read_cases(connect(url))
    assert len(rekeyed) == len(open_before)
    old_to_new = dict(
        zip(
            keyed_hash(list(county["to_reg"].values()), SALT_A),
            keyed_hash(list(county["to_reg"].values()), SALT_B),
            strict=True,
        )
    )
    assert rekeyed["student_id"].tolist() == open_before["student_id"].map(old_to_new).tolist()

    res = _nightly(county, url, NIGHTS[1], salt=SALT_B)
    assert res.exit_code == 0, res.output
    # the same night with the old salt throughout: the same cases open, none twice
    res = _nightly(county, f"sqlite:///{control}", NIGHTS[1], salt=SALT_A)
    assert res.exit_code == 0, res.output
    a = read_runs(connect(url)).iloc[-1]
    b = read_runs(connect(f"sqlite:///{control}")).iloc[-1]
    for col in ("n_students", "n_new", "n_cases_opened", "n_open_cases", "n_left"):
        assert a[col] == b[col], col
    assert a["salt_fingerprint"] != b["salt_fingerprint"]
    cases = read_cases(connect(url))
    snap = set(read_snapshot(connect(url))["student_id"].astype(str))
    assert set(cases["student_id"]) <= snap | set(old_to_new.values())  # no orphaned case


def test_a_short_salt_is_refused(county, tmp_path):
    res = _nightly(county, f"sqlite:///{tmp_path / 'l.db'}", NIGHTS[0], salt="short")
    assert res.exit_code == 2, res.output
    assert "has 5 characters; use at least 16" in res.output


def test_registry_numbers_of_any_format_are_hashed():
    from features.identity import pseudonymize

    digits = "5301" + "02" + "2012" + "0315" + "0042"  # synthetic, built from pieces
    spaced = "G " + digits[:6] + " " + digits[6:14] + "-" + digits[14:]
    full_width = "Ｇ" + "".join(chr(ord(c) + 0xFEE0) for c in digits)
    short = "G" + digits[:10]  # truncated: still personal data
    frames = {
        "students": pd.DataFrame({"student_id": ["G" + digits, spaced, full_width, short, "local-7"]}),
        "attendance": pd.DataFrame({"student_id": [short, "local-7"]}),
    }
    out = pseudonymize(frames, SALT_A)
    ids = out["students"]["student_id"].astype(str).tolist()
    assert all(i.startswith("s-") for i in ids), ids
    assert ids[0] == ids[1] == ids[2]  # one child, three spellings
    assert ids[3] != ids[0] and not any(digits[:10] in i for i in ids)
    assert out["attendance"]["student_id"].astype(str).tolist() == [ids[3], ids[4]]  # joins hold


# --- checks before computing ----------------------------------------------------------------------


def test_a_db_in_a_missing_folder_is_refused_unless_db_upgrade_made_it(county, tmp_path):
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'ledger.db'}"
    res = _nightly(county, url, NIGHTS[0])
    assert res.exit_code == 5, res.output
    assert res.output.strip().count("\n") == 0 and "does not exist" in res.output
    assert not (tmp_path / "no").exists()
    assert runner.invoke(app, ["runs", "--db", url]).exit_code == 5
    assert runner.invoke(app, ["db", "upgrade", "--db", url]).exit_code == 0
    assert runner.invoke(app, ["runs", "--db", url]).exit_code == 0


def test_a_read_only_database_stops_before_computing(county, first_night, tmp_path):
    db = _copy(first_night, tmp_path)
    before = db.read_bytes()
    rejects = county["root"] / "out" / f"rejects_{NIGHTS[1]}.csv"  # the load stage would write it
    rejects.unlink(missing_ok=True)
    res = _nightly(county, f"sqlite:///file:{db}?mode=ro&uri=true", NIGHTS[1])
    assert res.exit_code == 5, res.output
    assert "read-only" in res.output and res.output.strip().count("\n") == 0
    assert "stage" not in res.output  # no stage ran
    assert not rejects.exists()
    assert db.read_bytes() == before


def test_a_truncated_model_is_exit_6_in_one_line_naming_the_file(county, first_night, tmp_path):
    bad = tmp_path / "truncated.joblib"
    bad.write_bytes(county["model"].read_bytes()[:2000])
    db = _copy(first_night, tmp_path)
    res = _nightly(county, f"sqlite:///{db}", NIGHTS[1], "--model", str(bad))
    assert res.exit_code == 6, res.output
    assert str(bad) in res.output and res.output.strip().count("\n") == 0
    assert "stage" not in res.output
    runs = read_runs(connect(f"sqlite:///{db}"), every=True)
    assert runs["failed_stage"].iloc[-1] == "preflight" and "ModelUnreadable" in runs["error"].iloc[-1]
    # every command that loads a bundle says the same (click turned the EOFError into "Aborted!")
    from features.errors import ModelUnreadable
    from training.bundle import load_bundle

    with pytest.raises(ModelUnreadable, match="truncated.joblib cannot be read"):
        load_bundle(bad)


# --- failed nights, logs ---------------------------------------------------------------------------


def test_a_failed_night_is_recorded_with_its_stage_and_is_no_previous_run(county, first_night, tmp_path):
    url = f"sqlite:///{_copy(first_night, tmp_path)}"
    res = _nightly(county, url, NIGHTS[1], BAOXUE_FAIL_AT="cases")
    assert res.exit_code == 1, res.output
    runs = read_runs(connect(url), every=True)
    failed = runs[runs["status"] == "failed"]
    assert len(failed) == 1 and failed["failed_stage"].iloc[0] == "cases"
    assert "\n" not in failed["error"].iloc[0] and "before stage 'cases'" in failed["error"].iloc[0]
    assert read_snapshot(connect(url), run_id=failed["run_id"].iloc[0]).empty
    assert len(read_runs(connect(url))) == 1  # only the good night
    listed = runner.invoke(app, ["runs", "--db", url])
    assert listed.exit_code == 0 and f"failed {failed['run_id'].iloc[0]} in stage cases" in listed.output
    # the rerun of the night: its previous run is the first night, not the failed row
    assert _nightly(county, url, NIGHTS[1]).exit_code == 0
    good = read_runs(connect(url))
    assert good["previous_run_id"].iloc[-1] == good["run_id"].iloc[0]
    assert good["n_new"].iloc[-1] < good["n_students"].iloc[-1] // 2  # not everyone new


def test_log_lines_carry_time_run_id_and_stage_and_log_json_parses(county, tmp_path):
    from features.config import load_config
    from jobs.nightly import night_run_id

    cfg = load_config(county["config"])
    run_a = night_run_id(cfg, dt.date.fromisoformat(NIGHTS[0]))
    url = f"sqlite:///{tmp_path / 'l.db'}"
    res = _nightly(county, url, NIGHTS[0], pre=("-v",))
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stderr.splitlines() if " run=" in ln]
    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} INFO run=(\S+) stage=(\S+) ")
    parsed = [pattern.match(ln) for ln in lines]
    assert lines and all(parsed), lines[:3]
    assert {m.group(1) for m in parsed} == {run_a}
    assert {"load", "features", "assess", "cases"} <= {m.group(2) for m in parsed}

    res = _nightly(county, url, NIGHTS[1], "--log-json")
    assert res.exit_code == 0, res.output
    records = [json.loads(ln) for ln in res.stderr.splitlines() if ln.strip()]
    assert records and all({"ts", "level", "run_id", "stage", "message"} <= set(r) for r in records)
    assert {r["run_id"] for r in records} == {night_run_id(cfg, dt.date.fromisoformat(NIGHTS[1]))}
    assert {"load", "assess", "snapshot", "cases"} <= {r["stage"] for r in records}
    dt.datetime.fromisoformat(records[0]["ts"])  # ISO 8601 with its offset


# --- exit codes ---------------------------------------------------------------------------------------


def test_each_kind_of_failure_has_its_own_exit_code(tmp_path):
    import sqlalchemy as sa

    from features.errors import DataContractError
    from jobs.exits import (
        EXIT_CODES,
        DatabaseUnavailable,
        ModelUnreadable,
        SaltMismatch,
        StaleInput,
        exit_for,
    )
    from jobs.stages import InjectedFault
    from jobs.storage import LockTimeout

    cases = {
        InjectedFault("x"): 1,
        DataContractError("x"): 2,
        SaltMismatch("x"): 2,
        LockTimeout("x"): 3,
        StaleInput("x"): 4,
        DatabaseUnavailable("x"): 5,
        sa.exc.OperationalError("SELECT 1", {}, Exception("server closed\nthe connection")): 5,
        ModelUnreadable("m.joblib", "truncated"): 6,
    }
    for exc, code in cases.items():
        got = exit_for(exc)
        assert got is not None and got[0] == code and "\n" not in got[1], (exc, got)
    assert set(EXIT_CODES) == {0, 1, 2, 3, 4, 5, 6, 10}
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("### Exit codes") :]
    for code in EXIT_CODES:
        assert f"\n| {code} |" in table, code
    # a database that cannot be reached: one line, exit 5, no traceback
    res = runner.invoke(
        app, ["runs", "--db", "postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=2"]
    )
    assert res.exit_code == 5, res.output
    assert res.output.startswith("error: database") and res.output.strip().count("\n") == 0


@pytest.mark.slow
def test_train_on_a_2000_student_county_of_the_default_preset_says_what_to_do(tmp_path):
    res = runner.invoke(app, ["simulate", "--out", str(tmp_path / "c"), "--students", "2000", "--seed", "0"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["train", str(tmp_path / "c"), "--out", str(tmp_path / "m.joblib")])
    assert res.exit_code == 2, res.output
    assert res.output.strip().count("\n") == 0
    assert "no dropouts" in res.output and "reap_2010" in res.output


@pytest.mark.postgres
def test_a_postgres_role_without_write_is_exit_5_before_computing(county, tmp_path):
    import os
    import uuid

    import sqlalchemy as sa

    from jobs.storage import upgrade
    from tests.jobs.conftest import PG_ENV, drop_pg_schema, pg_schema_url

    if not os.environ.get(PG_ENV):
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (set by .ci/run)")
    url, schema = pg_schema_url()
    role = f"baoxue_ro_{uuid.uuid4().hex[:8]}"
    try:
        upgrade(connect(url))
        with sa.create_engine(url).begin() as conn:
            conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
            conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
            conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
        ro_url = sa.make_url(url).set(username=role).render_as_string(hide_password=False)
        res = _nightly(county, ro_url, NIGHTS[0])
        assert res.exit_code == 5, res.output
        assert f"role {role} cannot write" in res.output and res.output.strip().count("\n") == 0
        assert read_runs(connect(url), every=True).empty  # nothing computed, nothing written
    finally:
        drop_pg_schema(schema)
        with sa.create_engine(os.environ[PG_ENV]).begin() as conn:
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")


def _still_append_only(url: str) -> None:
    import sqlalchemy as sa

    for table in ("risk_snapshots", "audit"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), connect(url).begin() as conn:
            conn.exec_driver_sql(f"UPDATE {table} SET student_id = student_id")


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_rehash_rekeys_every_table_and_keeps_them_append_only(county, first_night, tmp_path, backend):
    import os

    from features.identity import keyed_hash, salt_fingerprint
    from jobs.storage import dump, read_staff
    from tests.jobs.conftest import PG_ENV, drop_pg_schema, pg_schema_url

    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{_copy(first_night, tmp_path)}"
    else:
        if not os.environ.get(PG_ENV):
            pytest.skip(f"PostgreSQL tests need {PG_ENV} (set by .ci/run)")
        url, schema = pg_schema_url()
        assert runner.invoke(app, ["db", "upgrade", "--db", url]).exit_code == 0
        assert _nightly(county, url, NIGHTS[0]).exit_code == 0
    try:
        before = dump(connect(url))
        args = ["db", "rehash", "--old-salt-env", "OLD", "--new-salt-env", "NEW", "--config", str(county["config"]),
                "--db", url]  # fmt: skip
        # the wrong old salt, or a short new one: refused, nothing changes
        wrong = runner.invoke(app, args, env={"OLD": "some-other-salt-0123456789", "NEW": SALT_B})
        assert wrong.exit_code == 2 and "the old salt is not this ledger's" in wrong.output
        short = runner.invoke(app, args, env={"OLD": SALT_A, "NEW": "short"})
        assert short.exit_code == 2 and "use at least 16" in short.output
        dry = runner.invoke(app, [*args, "--dry-run"], env={"OLD": SALT_A, "NEW": SALT_B})
        assert dry.exit_code == 0 and "would re-key" in dry.output
        assert dump(connect(url))["cases"].equals(before["cases"])
        res = runner.invoke(app, args, env={"OLD": SALT_A, "NEW": SALT_B})
        assert res.exit_code == 0, res.output
        raw = list(county["to_reg"].values())
        old_to_new = dict(zip(keyed_hash(raw, SALT_A), keyed_hash(raw, SALT_B), strict=True))
        after = dump(connect(url))
        for table in ("risk_snapshots", "cases"):
            assert after[table]["student_id"].isin(set(old_to_new.values())).all(), table
            assert sorted(after[table]["student_id"]) == sorted(before[table]["student_id"].map(old_to_new))
        assert after["audit"]["action"].tolist() == ["rehash"]
        assert len(read_staff(connect(url))) == len(before["staff"])
        assert set(read_runs(connect(url))["salt_fingerprint"]) == {salt_fingerprint(SALT_B)}
        _still_append_only(url)
    finally:
        if schema:
            drop_pg_schema(schema)
