"""The web app's class list (issue 15): cards in the static list's order, risk as a multiple of
the county average, the school's list against its places, and the 关注 section collapsed by
default (one real-browser test; the ordering is also read from the HTML without a browser)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import threading

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from jobs.ledger import sync_staff, update_ledger
from jobs.storage import RiskSnapshot, Run, connect, upgrade, write_transaction
from jobs.web import create_app
from jobs.web.auth import add_user
from tests.jobs._ledger import snapshot, staff
from tests.jobs.web.conftest import CFG, CHEAP, PASSWORD, login

DAY = dt.date(2025, 3, 10)
CHROMIUM = shutil.which("chromium")

#: class c1 of school s1 (8 places) and one student of c2; probabilities add to 1.00 over 10
#: students: the county average is 0.10
ROWS = [
    # id, class, tier, listed, probability, rules, tags
    ("r1", "c1", "red", True, 0.25, "rule_3day", ""),
    ("r2", "c1", "red", True, 0.30, "rule_3day", ""),
    ("y1", "c1", "yellow", True, 0.10, "", ""),
    ("y2", "c1", "yellow", True, 0.12, "", ""),
    ("b1", "c1", "blue", False, 0.06, "", ""),
    ("t1", "c1", "none", False, 0.02, "", "left_behind"),
    ("t2", "c1", "none", False, 0.04, "", "migrant"),
    ("n1", "c1", "none", False, 0.01, "", ""),
    ("x1", "c2", "red", True, 0.08, "rule_3day", ""),
    ("x2", "c2", "none", False, 0.02, "", "poor"),
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ["--no-sandbox"]}


@pytest.fixture
def lists_ledger(db_url):
    engine = connect(db_url, lock_timeout_s=5)
    upgrade(engine)
    snap = snapshot(
        [{"student_id": sid, "school_id": "s1", "class_id": cls, "tier": tier, "listed": listed, "selected": listed,
          "probability": p, "rules": rules, "tags": tags, "capacity": 8,
          "assignment_mechanism": "rule" if rules else ("model_rank" if listed else "")}
         for sid, cls, tier, listed, p, rules, tags in ROWS],
        DAY,
    )  # fmt: skip
    now = dt.datetime.combine(DAY, dt.time(2))
    counts = {c.name: 0 for c in Run.__table__.columns if c.name.startswith("n_") or c.name == "missed_days"}
    with write_transaction(engine) as conn:
        sync_staff(conn, staff(), "r1")
        update_ledger(conn, snap, staff(), as_of=DAY, run_id="r1", config=CFG.job)
        conn.execute(
            sa.insert(RiskSnapshot.__table__), [{**r, "run_id": "r1"} for r in snap.to_dict("records")]
        )
        conn.execute(sa.insert(Run.__table__).values(
            run_id="r1", as_of=DAY, config_hash="r1", started_at=now, finished_at=now, seconds=1.0,
            stage_seconds="{}", model_version="test", code_version="test", data_hash="x", **counts))  # fmt: skip
    add_user(engine, "h1", "head_teacher", PASSWORD, hasher=CHEAP)
    yield engine
    engine.dispose()


@pytest.fixture
def lists_app(lists_ledger, db_url):
    app = create_app(db_url, CFG, clock=lambda: dt.datetime(2025, 3, 11, 9, 0))
    app.config["TESTING"] = True
    return app


def test_class_page_orders_cards_and_hides_the_watched_under_a_collapsed_section(lists_app):
    client = lists_app.test_client()
    assert login(client, "h1").status_code == 302
    page = client.get("/class/c1").get_data(as_text=True)
    table = page.split('id="class-list"')[1].split("</table>")[0]
    order = re.findall(r">([a-z]\d)</a>", table)
    assert order == ["r2", "r1", "y2", "y1", "b1"]  # red, yellow by risk; then the watch tier
    details = re.search(r"<details[^>]*id=\"watch\"[^>]*>(.*?)</details>", page, re.S)
    assert details and " open" not in details.group(0).split(">")[0]  # collapsed by default
    assert re.findall(r">([a-z]\d)</a>", details.group(1)) == ["t2", "t1"]  # x2 is in another class
    assert "n1" not in page and "x1" not in page
    # red r1, r2, x1 and yellow y1, y2: 5 of the school's 8 places; 0.30 / 0.10 = 3
    assert re.sub(r"\s+", " ", page.split('id="places"')[1].split("</p>")[0]).count("5 人 / 名额 8") == 1
    assert "约为全县平均的3倍" in table and "<5%" not in page


def test_school_page_states_its_list_against_its_places(lists_ledger, lists_app):
    add_user(lists_ledger, "p1", "principal", PASSWORD, hasher=CHEAP)
    client = lists_app.test_client()
    assert login(client, "p1").status_code == 302
    page = client.get("/school/s1").get_data(as_text=True)
    assert "5 人 / 名额 8" in re.sub(r"\s+", " ", page.split('id="places"')[1].split("</p>")[0])


@pytest.mark.skipif(CHROMIUM is None, reason="needs the Debian chromium on PATH")
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_in_a_browser_the_watched_open_only_on_a_click(lists_app, page):
    srv = make_server("127.0.0.1", 0, lists_app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{srv.server_port}"
        page.goto(f"{base}/login")
        page.fill("input[name=staff_id]", "h1")
        page.fill("input[name=password]", PASSWORD)
        page.click("#login")
        page.wait_for_url("**/class/c1")
        assert page.locator("#class-list a").all_inner_texts() == ["r2", "r1", "y2", "y1", "b1"]
        assert not page.locator("#watch-list").is_visible()  # collapsed
        page.click("#watch summary")
        assert page.locator("#watch-list").is_visible()
        assert page.locator("#watch-list a").all_inner_texts() == ["t2", "t1"]
    finally:
        srv.shutdown()
