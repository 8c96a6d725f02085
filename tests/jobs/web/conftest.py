"""A small ledger for the web tests: school s1 (classes c1, c2), school s2 (class c3), one night
written by the real ledger writer, and logins for every role (synthetic ids only)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from features.config import BaoxueConfig, JobConfig
from jobs.ledger import sync_staff, update_ledger
from jobs.storage import Case, RiskSnapshot, Run, connect, upgrade, write_transaction
from jobs.web import create_app
from jobs.web.auth import add_user
from tests.jobs._ledger import snapshot, staff

DAY = dt.date(2025, 3, 10)
PASSWORD = "correct horse 1"
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # fast tests; same code path
CFG = BaoxueConfig(job=JobConfig(owner_max_open_cases=5))

#: student -> (school, class, rule?, selected?)
STUDENTS = {
    "a": ("s1", "c1", "rule_3day", True),
    "b": ("s1", "c1", "", True),
    "c": ("s1", "c2", "", True),
    "d": ("s1", "c2", "rule_3day", True),
    "e": ("s2", "c3", "rule_3day", True),
    "f": ("s1", "c1", "", False),
}
LOGINS = {"h1": "head_teacher", "h2": "head_teacher", "p1": "principal", "p2": "principal",
          "k1": "counsellor", "k2": "counsellor", "x1": "county", "r1": "researcher"}  # fmt: skip


def night_snapshot(as_of: dt.date = DAY):
    rows = []
    for i, (sid, (school, cls, rule, sel)) in enumerate(STUDENTS.items()):
        rows.append({"student_id": sid, "school_id": school, "class_id": cls, "probability": 0.9 - i / 10,
                     "rank_school": i + 1, "rank_class": i + 1, "rank_county": i + 1, "rules": rule,
                     "selected": sel, "tier": "red" if rule else ("yellow" if sel else "none"),
                     "assignment_mechanism": "rule" if rule else "model_rank",
                     "reasons_zh": "缺勤增加;成绩下降", "reasons_en": "absences up;grades down"})  # fmt: skip
    return snapshot(rows, as_of)


def write_night(engine, run_id: str = "r1", as_of: dt.date = DAY) -> None:
    snap = night_snapshot(as_of)
    now = dt.datetime.combine(as_of, dt.time(2))
    counts = {c.name: 0 for c in Run.__table__.columns if c.name.startswith("n_") or c.name == "missed_days"}
    with write_transaction(engine) as conn:
        sync_staff(conn, staff(), run_id)
        update_ledger(conn, snap, staff(), as_of=as_of, run_id=run_id, config=CFG.job)
        conn.execute(
            sa.insert(RiskSnapshot.__table__), [{**r, "run_id": run_id} for r in snap.to_dict("records")]
        )
        conn.execute(sa.insert(Run.__table__).values(
            run_id=run_id, as_of=as_of, config_hash=run_id, started_at=now, finished_at=now, seconds=1.0,
            stage_seconds="{}", model_version="test", code_version="test", data_hash="x", **counts))  # fmt: skip


@pytest.fixture
def ledger(db_url):
    engine = connect(db_url, lock_timeout_s=5)
    upgrade(engine)
    write_night(engine)
    for sid, role in LOGINS.items():
        add_user(engine, sid, role, PASSWORD, hasher=CHEAP)
    with engine.begin() as conn:  # owners: k1 the cases of a and b (c1), k2 of e (s2), h2 of c and d
        for student, owner in (("a", "k1"), ("b", "k1"), ("c", "h2"), ("d", "h2"), ("e", "k2")):
            conn.execute(sa.update(Case.__table__).where(Case.__table__.c.student_id == student)
                         .values(owner_staff_id=owner))  # fmt: skip
    yield engine
    engine.dispose()


class Clock:
    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock(dt.datetime(2025, 3, 11, 9, 0))


@pytest.fixture
def app(ledger, db_url, clock):
    app = create_app(db_url, CFG, clock=clock)
    app.config["TESTING"] = True
    return app


def csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no csrf token in the page"
    return m.group(1)


def login(client, staff_id: str, password: str = PASSWORD):
    token = csrf(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"staff_id": staff_id, "password": password, "csrf_token": token})


@pytest.fixture
def as_role(app):
    def make(staff_id: str):
        client = app.test_client()
        resp = login(client, staff_id)
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        return client

    return make
