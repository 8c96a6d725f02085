"""`make demo`: the main job on the built-in simulated county.

Simulates a county, loads and validates it the way a real county's export is loaded
(rejects file included), evaluates the model recipe against the baselines and the oracle on
the last school year, trains and calibrates the model on every labelled month, logs it to
MLflow (alias ``champion``), and writes the feature matrix of the latest month. Wiring only:
each step is a library call.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.build import build_features
from features.config import BaoxueConfig
from features.load import load_tables, summarize, write_rejects
from features.sim import read_truth, simulate_county, write_county

__all__ = [
    "DEMO_STUDENTS",
    "DEMO_YEARS",
    "DEMO_PRESET",
    "DEMO_SEED",
    "DemoResult",
    "run_demo",
    "replay_nightly",
    "simulate_staff_updates",
]

log = logging.getLogger(__name__)

#: the demo county (``make demo``): large enough that its test year has the positives to show
#: the model beating logistic regression and the county rule, small enough for 5 minutes on 2
#: cores (benchmarks/RESULTS.md "Demo size": 6,000 students take about 3 CPU-minutes, 10,000
#: about 5). The ``current`` preset's dropout rate (0.16% per 90 days) left even a
#: 20,000-student county 395 positives to fit, and logistic regression beat LightGBM there;
#: ``reap_2010`` (about 1%) over 4 years gives 6,000 students 1,394.
DEMO_STUDENTS = 6000
DEMO_YEARS = 4
DEMO_PRESET = "reap_2010"
DEMO_SEED = 0


@dataclass
class DemoResult:
    """What the demo produced and where."""

    out: Path
    data_dir: Path
    rows_written: dict[str, int]
    summary: pd.DataFrame
    rejects_file: Path
    meta: dict
    artefacts: dict[str, Path] = field(default_factory=dict)
    headline: pd.DataFrame | None = None
    as_of: pd.Timestamp | None = None
    runs: pd.DataFrame | None = None  # the nightly replay's runs (``jobs.storage.read_runs``)


def run_demo(
    out: str | Path,
    *,
    students: int = DEMO_STUDENTS,
    years: int = DEMO_YEARS,
    seed: int = DEMO_SEED,
    preset: str = DEMO_PRESET,
    cfg: BaoxueConfig | None = None,
    train: bool = True,
    nightly_weeks: int = 6,
) -> DemoResult:
    """Simulate a county into ``out/county``, load it back through the data contract, and
    (with ``train``) evaluate, train, track and build the latest month's features, then replay
    the nightly job over ``nightly_weeks`` Mondays of the last term (0: no replay) with the
    MLflow champion, importing simulated staff updates between the nights."""
    cfg = cfg or BaoxueConfig()
    out = Path(out)
    data_dir = out / "county"
    county = simulate_county(students=students, years=years, seed=seed, preset=preset, attendance=False)
    rows = write_county(county, data_dir)
    log.info("simulated %d students into %s", county.meta["students_total"], data_dir)
    result = load_tables(cfg.data, data_dir)
    rejects_file = write_rejects(result.rejects, out / cfg.data.rejects_file)
    demo = DemoResult(
        out=out,
        data_dir=data_dir,
        rows_written=rows,
        summary=summarize(result),
        rejects_file=rejects_file,
        meta=county.meta,
    )
    if not train:
        return demo
    from jobs.reports.model_card import model_card, write_model_card
    from training.bundle import save_bundle
    from training.evaluate import labelled_panel, write_report
    from training.pipeline import latest_window, train_tables
    from training.tracking import log_model_card, register_challenger

    tracking = f"sqlite:///{(out / 'mlruns.db').resolve()}"
    cfg = replace(cfg, train=replace(cfg.train, tracking_uri=tracking))
    truth = read_truth(data_dir)
    panel = labelled_panel(result.tables, cfg)
    bundle, report = train_tables(result.tables, cfg, truth=truth, evaluate_first=True, panel=panel)
    demo.artefacts["model bundle"] = save_bundle(bundle, out / "model" / "bundle.joblib")
    if report is not None:
        demo.artefacts["evaluation report"] = write_report(report, out / "evaluation") / "report.md"
        demo.headline = report.headline()
    reg = register_challenger(
        bundle,
        cfg.train,
        latest_window(panel, cfg.train),
        report=report,
        capacity=cfg.risk.capacity_per_school,
    )
    demo.artefacts[f"MLflow run {reg.run_id} (version {reg.version} -> {reg.alias})"] = out / "mlruns.db"
    card = model_card(bundle, cfg, report=report, data=panel, version=reg.version, decision=reg.decision.reason,
                      simulated=True)  # fmt: skip
    paths = write_model_card(card, out / "model")
    log_model_card(cfg.train, reg.run_id, paths, version=reg.version)
    demo.artefacts["model card and impact assessment"] = paths[1]
    last = result.tables.attendance["date"].max()
    demo.as_of = pd.Timestamp(last.year, last.month, 1)
    frame = build_features(result.tables, demo.as_of.date(), cfg).reset_index()
    path = out / f"features_{demo.as_of.date()}.parquet"
    frame.to_parquet(path, index=False)
    demo.artefacts[f"features on {demo.as_of.date()} ({len(frame):,} students)"] = path
    if nightly_weeks:
        uri = f"models:/{cfg.train.registered_model}@champion"
        demo.runs, more = replay_nightly(out, data_dir, cfg, model_uri=uri, weeks=nightly_weeks, seed=seed)
        demo.artefacts.update(more)
    demo.artefacts["MLflow UI (run this, then open http://127.0.0.1:5000)"] = (
        f"{_mlflow_exe()} ui --backend-store-uri {tracking}"
    )
    return demo


def _mlflow_exe() -> str:
    """The ``mlflow`` of this Python's environment, by its full path (the printed command then
    works without activating the venv); plain ``mlflow`` when there is none beside it."""
    import shutil
    import sys

    beside = Path(sys.executable).parent / "mlflow"
    return str(beside) if beside.exists() else shutil.which("mlflow") or "mlflow"


# --- the nightly loop on the simulated county (issue 6) -------------------------------------------


def _replay_nights(last_day: pd.Timestamp, weeks: int) -> list[dt.date]:
    """Mondays of the last simulated term: ``weeks`` of them from the term's third week (mid-March)."""
    start = pd.Timestamp(last_day.year, 3, 15) if last_day.month >= 3 else pd.Timestamp(last_day.year, 9, 15)
    mondays = pd.date_range(start, last_day, freq="W-MON")[:weeks]
    return [d.date() for d in mondays]


def simulate_staff_updates(cases: pd.DataFrame, as_of: dt.date, *, seed: int = 0) -> pd.DataFrame:
    """The update sheet the schools might fill in during a week: home visits and talks on open
    cases, a four-step step on some suspected dropouts, closing confirmed for students back at
    school, and two bad rows (an unknown code, a case that is not in the ledger) to show the
    rejects file. Columns are the import's (``jobs.ledger.IMPORT_COLUMNS``)."""
    rng = np.random.default_rng([seed, as_of.toordinal()])
    rows: list[dict] = []
    day = str(as_of)
    open_ = cases[cases["status"] == "open"]
    for c in open_.sample(frac=0.4, random_state=int(rng.integers(1 << 31))).itertuples():
        kind = "home_visit" if c.case_type == "suspected_dropout" else str(rng.choice(["talk", "phone"]))
        outcome = str(rng.choice(["contacted", "agreed", "no_contact"], p=[0.6, 0.3, 0.1]))
        role = "head_teacher" if c.case_type == "suspected_dropout" else "counsellor"
        rows.append(
            {"case_id": c.case_id, "ts": day, "event_type": kind, "actor_role": role, "outcome": outcome}
        )
        if c.case_type == "suspected_dropout" and c.four_step_stage == 0 and rng.random() < 0.3:
            rows.append({"case_id": c.case_id, "ts": day, "event_type": "step", "four_step_stage": 1,
                         "actor_role": "principal"})  # fmt: skip
    for c in cases[cases["status"] == "returned"].itertuples():
        if rng.random() < 0.5:
            rows.append({"case_id": c.case_id, "ts": day, "event_type": "close", "closure_reason": "returned",
                         "actor_role": "head_teacher"})  # fmt: skip
    if len(open_):
        rows.append({"case_id": open_["case_id"].iloc[0], "ts": day, "event_type": "visit"})  # unknown code
    rows.append({"case_id": "C19000101-000000000000", "ts": day, "event_type": "phone"})  # not in the ledger
    return pd.DataFrame(rows)


def replay_nightly(
    out: Path, data_dir: Path, cfg: BaoxueConfig, *, model_uri: str, weeks: int = 6, seed: int = 0
) -> tuple[pd.DataFrame, dict[str, Path | str]]:
    """Run ``baoxue nightly`` every Monday of the last term's ``weeks`` weeks into a fresh SQLite
    ledger (missed nights in between are caught up), importing a simulated staff update sheet
    after each night. Returns the runs and the artefacts to print."""
    from jobs.ledger import import_updates
    from jobs.nightly import open_database, run_nightly
    from jobs.storage import read_cases, read_runs, read_snapshot

    db = out / "ledger.db"
    if db.exists():
        db.unlink()  # a demo starts from an empty ledger
    cfg = replace(cfg, job=replace(cfg.job, db_url=f"sqlite:///{db.resolve()}", model_uri=model_uri,
                                   out_dir=str(out / "nightly")))  # fmt: skip
    engine = open_database(cfg.job.db_url)
    tables = load_tables(cfg.data, data_dir).tables
    last = pd.Timestamp(tables.attendance["date"].max())
    updates_dir = out / "staff_updates"
    updates_dir.mkdir(parents=True, exist_ok=True)
    for night in _replay_nights(last, weeks):
        result = run_nightly(cfg, night, engine=engine, source=data_dir)
        log.info("night %s: %s", night, result.status)
        sheet = simulate_staff_updates(
            read_cases(engine, open_only=True), night + dt.timedelta(days=3), seed=seed
        )
        path = updates_dir / f"updates_{night + dt.timedelta(days=3)}.csv"
        sheet.to_csv(path, index=False, encoding="utf-8-sig")
        import_updates(engine, path, as_of=night + dt.timedelta(days=3))
    runs = read_runs(engine)
    snap = read_snapshot(engine)
    snap_path = out / f"risk_snapshot_{snap['as_of'].iloc[0].date()}.parquet"
    snap.to_parquet(snap_path, index=False)
    artefacts: dict[str, Path | str] = {
        f"ledger database ({len(runs)} nightly runs; `baoxue runs --db {cfg.job.db_url}`)": db,
        "risk snapshots: table risk_snapshots in the ledger; the last one as Parquet": snap_path,
        "staff update sheets imported (and their rejects files)": updates_dir,
    }
    from jobs.reports.bundle import inputs_from_db, write_all

    reports = write_all(
        inputs_from_db(engine, tables, rules=cfg.rules), out / "reports", students="red",
        statistics_days=cfg.reports.statistics_days,
    )  # fmt: skip
    artefacts[f"reports of the last night ({len(reports.files)} files) — open this first"] = reports.index
    logins = write_demo_logins(engine, out / "logins.txt")
    artefacts[f"staff web app logins (then: baoxue serve --db {cfg.job.db_url})"] = logins
    return runs, artefacts


def write_demo_logins(engine, path: Path) -> Path:
    """Logins of the staff web app for the demo (synthetic ids, random passwords) in ``path``:
    a head teacher and a counsellor with open cases, their principal, a county user."""
    import secrets

    from jobs.storage import read_cases, read_staff
    from jobs.web.auth import add_user

    staff, cases = read_staff(engine), read_cases(engine, open_only=True)
    owners = staff.set_index("staff_id")
    counsellor = next(o for o in cases["owner_staff_id"].dropna() if owners.loc[o, "role"] == "counsellor")
    school = owners.loc[counsellor, "school_id"]
    mine = staff[staff["school_id"] == school]
    classes = set(cases.loc[cases["school_id"] == school, "class_id"].dropna())
    head = mine.loc[(mine["role"] == "head_teacher") & mine["class_id"].isin(classes), "staff_id"].iloc[0]
    principal = mine.loc[mine["role"] == "principal", "staff_id"].iloc[0]
    lines = [
        "# demo logins of `baoxue serve` (synthetic; passwords are random for this demo)",
        "staff_id\trole\tpassword",
    ]
    for staff_id, role in ((head, "head_teacher"), (counsellor, "counsellor"), (principal, "principal"),
                           ("county-demo", "county")):  # fmt: skip
        password = secrets.token_urlsafe(9)
        add_user(engine, str(staff_id), role, password)
        lines.append(f"{staff_id}\t{role}\t{password}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
