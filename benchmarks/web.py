"""Server time of the staff web app's class list and child page on a large ledger (issue 16).

Builds a synthetic SQLite ledger (``--students`` students, 50 a class, ``--runs`` weekly
snapshots of the term, a case for every 20th student, a head teacher per class), then
times ``/class/<id>`` and ``/student/<id>`` through the Flask test client (server time: the
request's whole handling, no network), logged in as the class's head teacher. Prints the
median and the 95th percentile of ``--repeat`` requests each, over different classes.

    python -m benchmarks.web --students 50000 --runs 8 --repeat 40
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from argon2 import PasswordHasher

from features.config import BaoxueConfig
from jobs.storage import Case, CaseEvent, RiskSnapshot, Run, Staff, connect, upgrade
from jobs.web import create_app
from jobs.web.auth import add_user


def build(url: str, students: int, runs: int) -> list[str]:
    engine = connect(url)
    upgrade(engine)
    classes = [f"c{i:05d}" for i in range(students // 50)]
    first = dt.date(2025, 3, 3)
    snap_cols = [c.name for c in RiskSnapshot.__table__.columns]
    with engine.begin() as conn:
        conn.execute(sa.insert(Staff.__table__), [
            {"staff_id": f"h{c}", "school_id": f"s{int(c[1:]) // 20:03d}", "role": "head_teacher", "class_id": c,
             "max_open_cases": 5, "active": True} for c in classes])  # fmt: skip
        for r in range(runs):
            day = first + dt.timedelta(days=7 * r)
            run_id = f"{day}-bench"
            counts = {
                c.name: 0 for c in Run.__table__.columns if c.name.startswith("n_") or c.name == "missed_days"
            }
            now = dt.datetime.combine(day, dt.time(2))
            conn.execute(sa.insert(Run.__table__).values(run_id=run_id, as_of=day, config_hash="bench",
                         started_at=now, finished_at=now, seconds=1.0, stage_seconds="{}", model_version="m",
                         code_version="c", data_hash="d", **counts))  # fmt: skip
            rows = []
            for i in range(students):
                c = classes[i // 50]
                p = ((i * 7919 + r * 104729) % 1000) / 1000
                tier = "red" if p > 0.97 else "yellow" if p > 0.9 else "blue" if p > 0.8 else "none"
                row = dict.fromkeys(snap_cols)
                row.update(run_id=run_id, student_id=f"st{i:06d}", as_of=day, school_id=f"s{int(c[1:]) // 20:03d}",
                           class_id=c, grade=7, probability=p, rank_class=i % 50 + 1, tier=tier,
                           listed=tier != "none", reasons_zh="缺勤增加;成绩下降", reasons_en="absences up;grades down",
                           change="steady")  # fmt: skip
                rows.append(row)
            conn.execute(sa.insert(RiskSnapshot.__table__), rows)
        cases, events = [], []
        for i in range(0, students, 20):
            c = classes[i // 50]
            cid = f"C-bench-{i:06d}"
            cases.append({"case_id": cid, "student_id": f"st{i:06d}", "opened_at": first, "trigger": "model_rank",
                          "case_type": "prevention", "owner_staff_id": f"h{c}", "four_step_stage": 0, "status": "open",
                          "school_id": f"s{int(c[1:]) // 20:03d}", "class_id": c, "opened_run_id": "r",
                          "last_run_id": "r", "last_seen": first})  # fmt: skip
            events += [{"event_id": f"E{cid}-{k}", "case_id": cid, "ts": first + dt.timedelta(days=k),
                        "event_type": "home_visit", "source": "system"} for k in range(4)]  # fmt: skip
        conn.execute(sa.insert(Case.__table__), cases)
        conn.execute(sa.insert(CaseEvent.__table__), events)
    return classes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=40)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="baoxue-web-bench-"))
    url = f"sqlite:///{folder / 'ledger.db'}"
    t0 = time.perf_counter()
    classes = build(url, args.students, args.runs)
    print(f"ledger: {args.students:,} students x {args.runs} runs built in {time.perf_counter() - t0:.1f} s")
    engine = connect(url)
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    step = max(1, len(classes) // args.repeat)
    picks = classes[::step][: args.repeat]
    for c in picks:
        add_user(engine, f"h{c}", "head_teacher", "benchmark-pw", hasher=cheap)
    app = create_app(url, BaoxueConfig())
    times: dict[str, list[float]] = {"class list": [], "child page": []}
    for c in picks:
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        client.post("/login", data={"staff_id": f"h{c}", "password": "benchmark-pw", "csrf_token": token})
        student = f"st{int(c[1:]) * 50:06d}"  # the class's first child (it has a case)
        for name, path in (("class list", f"/class/{c}"), ("child page", f"/student/{student}")):
            t = time.perf_counter()
            resp = client.get(path)
            times[name].append(time.perf_counter() - t)
            assert resp.status_code == 200, (path, resp.status_code)
    print(f"load average {os.getloadavg()[0]:.2f}; {len(picks)} requests each")
    for name, ts in times.items():
        ts = sorted(ts)
        p95 = ts[min(len(ts) - 1, int(0.95 * len(ts)))]
        print(f"{name}: median {1000 * statistics.median(ts):.0f} ms, p95 {1000 * p95:.0f} ms")


if __name__ == "__main__":
    main()
