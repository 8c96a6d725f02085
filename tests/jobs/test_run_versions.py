"""The versions of a night in the ledger schema (migration 0004): one first version per night,
each run superseded at most once, failed and void runs outside both; reads see current versions."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from jobs.storage import Run, current_run, read_runs, read_snapshot, upgrade

DAY = dt.date(2025, 3, 10)


def _run(run_id: str, *, status: str = "ok", supersedes: str | None = None, as_of: dt.date = DAY) -> dict:
    counts = {c.name: 0 for c in Run.__table__.columns if c.name.startswith("n_") or c.name == "missed_days"}
    at = dt.datetime(2025, 3, 10, 22, 30)
    return {**counts, "run_id": run_id, "as_of": as_of, "config_hash": "cfg", "started_at": at, "finished_at": at,
            "seconds": 1.0, "stage_seconds": "{}", "model_version": "m", "code_version": "c", "data_hash": "d",
            "status": status, "supersedes_run_id": supersedes}  # fmt: skip


def _insert(engine, *rows: dict) -> None:
    with engine.begin() as conn:
        conn.execute(sa.insert(Run.__table__), list(rows))


def test_a_night_has_one_first_version_but_a_failed_or_void_run_does_not_count(engine):
    _insert(engine, _run("r1"))
    with pytest.raises(sa.exc.IntegrityError):
        _insert(engine, _run("r2"))
    _insert(engine, _run("f1", status="failed"), _run("v1", status="void"))


def test_a_run_is_superseded_at_most_once(engine):
    _insert(engine, _run("r1"), _run("r2", supersedes="r1"))
    with pytest.raises(sa.exc.IntegrityError):
        _insert(engine, _run("r3", supersedes="r1"))
    _insert(engine, _run("r3", supersedes="r2"))
    assert read_runs(engine)["run_id"].tolist() == ["r3"]
    assert read_runs(engine, every=True)["run_id"].tolist() == ["r1", "r2", "r3"]


def test_reads_skip_failed_void_and_superseded_runs(engine):
    later = DAY + dt.timedelta(days=1)
    _insert(engine, _run("r1"), _run("r2", supersedes="r1"), _run("f", status="failed", as_of=later),
            _run("v", status="void", as_of=later + dt.timedelta(days=1)))  # fmt: skip
    with engine.connect() as conn:
        current = conn.execute(sa.select(Run.run_id).where(current_run())).scalars().all()
    assert current == ["r2"]
    # a void redo makes the version it superseded current again
    with engine.begin() as conn:
        conn.execute(sa.update(Run.__table__).where(Run.run_id == "r2").values(status="void"))
    assert read_runs(engine)["run_id"].tolist() == ["r1"]
    assert read_snapshot(engine).empty  # no snapshot rows stored for r1 here: none chosen wrongly


def test_migration_0004_keeps_the_runs_and_snapshots_of_an_older_ledger(db_url):
    from jobs.storage import connect

    engine = connect(db_url)
    upgrade(engine, "0003")
    row = {k: v for k, v in _run("old").items() if k not in ("status", "supersedes_run_id")}
    with engine.begin() as conn:
        cols = ", ".join(row)
        conn.execute(sa.text(f"INSERT INTO runs ({cols}) VALUES ({', '.join(':' + k for k in row)})"), row)
        conn.execute(sa.text("INSERT INTO risk_snapshots (run_id, student_id) VALUES ('old', 's1')"))
    upgrade(engine)
    runs = read_runs(engine)
    assert runs["run_id"].tolist() == ["old"] and runs["status"].tolist() == ["ok"]
    _insert(engine, _run("old-v2", supersedes="old"))  # the old unique (as_of, config_hash) is gone
    assert read_runs(engine)["run_id"].tolist() == ["old-v2"]
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:  # the snapshot's key still holds
        conn.execute(sa.text("INSERT INTO risk_snapshots (run_id, student_id) VALUES ('nope', 's1')"))
    engine.dispose()


def test_a_nights_key_is_the_content_of_its_model_and_data_never_their_paths(tmp_path, monkeypatch):
    import os
    import shutil

    from features.config import BaoxueConfig
    from jobs.nightly import data_hash, input_key, model_hash

    (tmp_path / "m").mkdir()
    model = tmp_path / "m" / "model.joblib"
    model.write_bytes(b"model one")
    data = tmp_path / "data"
    data.mkdir()
    (data / "attendance.csv").write_text("student_id,date\ns1,2025-03-10\n")
    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    os.utime(copy / "attendance.csv", (0, 0))  # another path, another mtime, the same bytes
    monkeypatch.chdir(tmp_path / "m")
    assert model_hash("../m/model.joblib") == model_hash(str(model)) == model_hash(model)
    assert data_hash(copy) == data_hash(data)
    key = input_key(BaoxueConfig(), DAY, data=data_hash(data), model=model_hash(model))
    model.write_bytes(b"model two")  # retrained, saved over the same file
    assert input_key(BaoxueConfig(), DAY, data=data_hash(data), model=model_hash(model)) != key
    (copy / "attendance.csv").write_text("student_id,date\ns1,2025-03-10\ns2,2025-03-10\n")
    assert data_hash(copy) != data_hash(data)
