"""A province's night on the Dask engine against the local engine, with failures and resume.

One small simulated province (3 counties, ~1,300 students, 2 years, written by the CLI), one
model and one ``LocalCluster(2 workers, 1 thread, processes)`` for the module; the CLI reaches
the cluster through ``[compute] scheduler``. Keep it small: the module has a 90 s budget.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import distributed
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.config import BaoxueConfig, ComputeConfig
from jobs.cli import app
from jobs.province import county_db_url, read_record, record_path, run_province
from jobs.storage import connect, dump

pytestmark = pytest.mark.slow  # a province on Dask workers

runner = CliRunner()
CODES = ["990101", "990102", "990103"]
NIGHTS = [dt.date(2023, 4, 17), dt.date(2023, 4, 24)]  # a week apart: 4 missed school days caught up
# when it ran, and the git commit (others may commit between the local and the dask runs)
TIMING = ["started_at", "finished_at", "seconds", "stage_seconds", "code_version"]


@pytest.fixture(scope="module")
def province(tmp_path_factory) -> dict:
    """The province (through the CLI), a model trained on one of its counties, a cluster."""
    import dask

    from features.load import load_tables
    from training.bundle import save_bundle
    from training.pipeline import train_tables

    root = tmp_path_factory.mktemp("province")
    res = runner.invoke(app, ["simulate", "--counties", "3", "--students", "1300", "--years", "2",
                              "--seed", "5", "--out", str(root / "data")])  # fmt: skip
    assert res.exit_code == 0, res.output
    cfg = BaoxueConfig()
    cfg = replace(
        cfg, train=replace(cfg.train, n_estimators=40, num_leaves=7, max_depth=4, min_child_samples=20)
    )
    tables = load_tables(cfg.data, root / "data" / "county=990102").tables
    model = save_bundle(train_tables(tables, cfg, evaluate_first=False)[0], root / "bundle.joblib")
    # a worker that dies twice fails its task (default: 4 times), a worker holds one task at a time
    settings = {"distributed.scheduler.allowed-failures": 1, "distributed.scheduler.worker-saturation": 1.0}
    with dask.config.set(settings):
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
    client = distributed.Client(cluster)
    try:
        yield {"root": root, "data": root / "data", "model": str(model), "cfg": cfg, "client": client,
               "address": cluster.scheduler_address}  # fmt: skip
    finally:
        client.close()
        cluster.close()


def _config(province: dict, name: str, engine: str = "local") -> BaoxueConfig:
    cfg, out = province["cfg"], province["root"] / name
    return replace(
        cfg,
        data=replace(cfg.data, source=str(province["data"])),
        job=replace(cfg.job, db_url=f"sqlite:///{out}/ledger.db", model_uri=province["model"],
                    out_dir=str(out), lock_timeout_s=5),
        compute=ComputeConfig(engine=engine, scheduler=province["address"]),
    )  # fmt: skip


def _toml(province: dict, name: str, engine: str) -> Path:
    out = province["root"] / name
    out.mkdir(parents=True, exist_ok=True)
    path = out / "baoxue.toml"
    path.write_text(
        f'[data]\nsource = "{province["data"]}"\n'
        f'[job]\nmodel_uri = "{province["model"]}"\nout_dir = "{out}"\ndb_url = "sqlite:///{out}/ledger.db"\n'
        f"[train]\nn_estimators = 40\nnum_leaves = 7\nmax_depth = 4\nmin_child_samples = 20\n"
        f'[compute]\nengine = "{engine}"\nscheduler = "{province["address"]}"\n',
        encoding="utf-8",
    )
    return path


def _dumps(cfg: BaoxueConfig) -> dict[str, dict[str, pd.DataFrame]]:
    out = {}
    for code in CODES:
        url = county_db_url(cfg.job.db_url, code)
        if not Path(url.removeprefix("sqlite:///")).exists():
            out[code] = {}
            continue
        frames = dump(connect(url))
        frames["runs"] = frames["runs"].drop(columns=TIMING)
        out[code] = frames
    return out


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for code in a:
        assert a[code].keys() == b[code].keys(), code
        for name in a[code]:
            pd.testing.assert_frame_equal(a[code][name], b[code][name], obj=f"county {code}: {name}")


def _nightly(config: Path, day: dt.date, *extra: str, **env: str):
    return runner.invoke(
        app, ["nightly", "--config", str(config), "--as-of", str(day), *extra], env=env or None
    )


@pytest.fixture(scope="module")
def good(province) -> dict:
    """Both nights on the local engine (the reference), and after the first night only."""
    cfg = _config(province, "local")
    first = None
    for day in NIGHTS:
        result = run_province(cfg, day)
        assert not result.failed, result.counties
        first = first or _dumps(cfg)
    return {"first": first, "both": _dumps(cfg), "cfg": cfg}


def test_dask_engine_writes_what_the_local_engine_writes(province, good):
    config = _toml(province, "dask", "dask")
    for day in NIGHTS:
        res = _nightly(config, day)
        assert res.exit_code == 0, res.output
        assert "(dask): 3 of 3 counties" in res.output
    cfg = _config(province, "dask", "dask")
    dumps = _dumps(cfg)
    _assert_same(good["both"], dumps)  # scores, ranks, tiers, snapshots, cases, events, runs
    runs = dumps["990101"]["runs"]
    assert runs["missed_days"].tolist() == [0, 4]
    assert {len(d["risk_snapshots"]) > 0 for d in dumps.values()} == {True}
    record = read_record(record_path(cfg, NIGHTS[-1]))
    assert record["engine"] == "dask" and record["n_done"] == 3
    # the same night again: every county skips without computing
    again = run_province(cfg, NIGHTS[-1], client=province["client"])
    assert {o.status for o in again.counties.values()} == {"skipped"}
    _assert_same(dumps, _dumps(cfg))


def test_a_failed_county_leaves_the_others_committed_and_resume_reruns_it(province, good):
    config = _toml(province, "failed", "dask")
    cfg = _config(province, "failed", "dask")
    res = _nightly(config, NIGHTS[0], BAOXUE_FAIL_COUNTY="990102")  # raises in its worker task
    assert res.exit_code == 1 and "failed: 990102" in res.output, res.output
    record = read_record(record_path(cfg, NIGHTS[0]))
    assert {c: o["status"] for c, o in record["counties"].items()} == {
        "990101": "done", "990102": "failed", "990103": "done"}  # fmt: skip
    assert "InjectedFault" in record["counties"]["990102"]["error"]
    dumps = _dumps(cfg)
    assert dumps["990102"]["runs"].empty and dumps["990102"]["cases"].empty  # untouched
    for code in ("990101", "990103"):
        _assert_same({code: good["first"][code]}, {code: dumps[code]})
    # a failure in the write transaction of one county (on the driver): its ledger is unchanged
    before = _dumps(cfg)["990102"]
    res = _nightly(config, NIGHTS[0], "--resume", BAOXUE_FAIL_COUNTY="990102", BAOXUE_FAIL_AT="cases")
    assert res.exit_code == 1, res.output
    _assert_same({"x": before}, {"x": _dumps(cfg)["990102"]})
    # --resume reruns only the failed county
    result = run_province(cfg, NIGHTS[0], resume=True, client=province["client"])
    assert result.computed == ("990102",) and not result.failed
    _assert_same(good["first"], _dumps(cfg))
    assert read_record(result.record_file)["n_done"] == 3


def test_a_worker_killed_mid_run_is_retried_or_the_county_fails_cleanly(province, good, monkeypatch):
    cfg = _config(province, "killed", "dask")
    # 990103's worker dies once (after loading its partition): Dask reruns the task on a fresh
    # worker; 990101's dies every time: the county fails (KilledWorker), never half written
    monkeypatch.setenv("BAOXUE_FAIL_COUNTY", "990103:exit_once,990101:exit")
    result = run_province(cfg, NIGHTS[0], client=province["client"])
    assert result.failed == ["990101"] and "KilledWorker" in result.counties["990101"].error
    assert (Path(cfg.job.out_dir) / "county=990103" / f".killed_{result.run_id}").exists()
    dumps = _dumps(cfg)
    assert dumps["990101"]["runs"].empty and dumps["990101"]["cases"].empty
    _assert_same({c: good["first"][c] for c in CODES[1:]}, {c: dumps[c] for c in CODES[1:]})
    monkeypatch.delenv("BAOXUE_FAIL_COUNTY")
    assert run_province(cfg, NIGHTS[0], resume=True, client=province["client"]).computed == ("990101",)
    _assert_same(good["first"], _dumps(cfg))


def test_a_province_needs_one_ledger_per_county(province):
    cfg = _config(province, "pg", "local")
    cfg = replace(cfg, job=replace(cfg.job, db_url="postgresql+psycopg://u:secret@h/baoxue"))
    with pytest.raises(ValueError, match=r"\[job\] db_url: .*\{county\}") as info:
        run_province(cfg, NIGHTS[0])
    assert "secret" not in str(info.value)
