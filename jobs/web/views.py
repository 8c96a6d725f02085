"""The pages and actions of the staff web app (see :mod:`jobs.web` and :mod:`jobs.web.scope`).

Each page opens a session scoped to the logged-in :class:`~jobs.web.scope.Principal`; a
row outside it is simply not found, so an id out of scope gets 404 like an id that does
not exist. Changes run in :func:`jobs.storage.write_transaction` (the nightly job's lock:
a night and an edit never interleave), append ``case_events`` through
:func:`risk.cases.apply_staff_update` / :func:`risk.cases.report_dropout`, and an ``audit``
row in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from features.config import BaoxueConfig
from jobs.ledger import UPDATE_FIELD_LENGTHS
from jobs.storage import (
    AuditEntry,
    Case,
    CaseEvent,
    Intervention,
    LockTimeout,
    Note,
    PlanVersion,
    RiskSnapshot,
    Run,
    Staff,
    User,
    current_run,
    write_transaction,
)
from jobs.web.scope import AGGREGATE, COUNTY_FIGURES, MONTHLY_FORM, Principal, scoped_session
from risk.cases import (
    CLOSURE_REASONS,
    NOTE_MAX_CHARS,
    OPEN_STATUSES,
    Rejection,
    apply_staff_update,
    report_dropout,
    stable_hash,
)
from risk.reporting._common import list_group, tags_text
from risk.reporting.labels import (
    CASE_STATUS_LABELS,
    CASE_TYPE_LABELS,
    CONFIDENTIAL,
    EVENT_LABELS,
    LIST_GROUP_LABELS,
    OUTCOME_LABELS,
    ROLE_LABELS,
    STAGE_LABELS,
    TIER_LABELS,
    risk_words,
)

__all__ = ["AppState", "WebUser", "bp", "load_user"]

log = logging.getLogger(__name__)  # ids and codes only: never a name

bp = Blueprint("web", __name__)

#: what a head teacher records from a child's page
CONTACT_TYPES = ("home_visit", "talk", "phone")
_OUTCOMES = tuple(OUTCOME_LABELS)


@dataclass
class AppState:
    engine: Engine
    sessions: sessionmaker
    config: BaoxueConfig
    tables: Any
    clock: Callable[[], dt.datetime]


def _state() -> AppState:
    return current_app.extensions["baoxue"]


class WebUser(UserMixin):
    """The Flask-Login user: a :class:`Principal` (role, school, classes)."""

    def __init__(self, principal: Principal):
        self.principal = principal

    def get_id(self) -> str:
        return self.principal.staff_id


def _principal(conn, staff_id: str) -> Principal | None:
    """The login's principal, from ``users`` and ``staff`` (the one unscoped read: who is this)."""
    u = conn.execute(sa.select(User.__table__).where(User.__table__.c.staff_id == staff_id)).first()
    if u is None or not u.active:
        return None
    s = conn.execute(sa.select(Staff.__table__).where(Staff.__table__.c.staff_id == staff_id)).first()
    classes = (s.class_id,) if s is not None and s.class_id else ()
    return Principal(staff_id, u.role, None if s is None else s.school_id, classes)


def load_user(staff_id: str) -> WebUser | None:
    with _state().engine.connect() as conn:
        p = _principal(conn, staff_id)
    return None if p is None else WebUser(p)


def _me() -> Principal:
    return current_user.principal


@contextmanager
def _reading() -> Iterator[Session]:
    with scoped_session(_state().sessions, _me()) as s:
        yield s


@contextmanager
def _writing() -> Iterator[Session]:
    """A scoped session inside the nightly job's lock (a running night makes this wait)."""
    st = _state()
    try:
        with write_transaction(st.engine, timeout_s=min(st.config.job.lock_timeout_s, 10.0)) as conn:
            with scoped_session(st.sessions, _me(), bind=conn) as s:
                yield s
                s.flush()
    except LockTimeout:
        abort(503, description="the nightly job is writing the ledger; try again in a few minutes")


def _audit(s: Session, action: str, *, student_id=None, case_id=None, school_id=None, **detail) -> None:
    p = _me()
    s.add(
        AuditEntry(
            ts=_state().clock(),
            staff_id=p.staff_id,
            role=p.role,
            action=action,
            student_id=student_id,
            case_id=case_id,
            school_id=school_id,
            detail=json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str) if detail else None,
        )
    )


def _audit_view(action: str, **where) -> None:
    st = _state()
    with scoped_session(st.sessions, _me()) as s, s.begin():
        _audit(s, action, **where)


# --- language, headers, session expiry -------------------------------------------------------------


def _lang() -> str:
    return session.get("lang", "zh")


_WORDED = ("reasons_zh", "reasons_en", "tier_reason_zh", "tier_reason_en")


def _worded(rows) -> dict[str, dict[str, str]]:
    """Each snapshot row's reasons and tier reason as the reports word them: a family event says
    what happened and when (:func:`risk.reporting._common.with_family_events`), from the county
    tables when loaded; the stored words otherwise."""
    from risk.reporting._common import with_family_events

    cols = ("student_id", "as_of", "reason_codes", "tier_condition", *_WORDED)
    frame = pd.DataFrame([{c: getattr(r, c, None) for c in cols} for r in rows], columns=list(cols))
    if len(frame):
        frame = with_family_events(frame.fillna({c: "" for c in cols if c != "as_of"}), _state().tables,
                                   config=_state().config)  # fmt: skip
    return {str(r["student_id"]): {c: r[c] or "" for c in _WORDED} for r in frame.to_dict("records")}


def _display(kind: str, code) -> str:
    """A class, school or staff member as people name them, from the county tables when loaded
    (the contract's optional names; "六年级1班" and "role id" without them): the code otherwise."""
    from risk.reporting._common import class_text, owner_text, school_text

    if code is None or (isinstance(code, float) and pd.isna(code)) or code == "":
        return ""
    tables = _state().tables
    one = pd.Series([str(code)], dtype="object")
    if kind == "class":
        return str(class_text(one, tables, _lang()).iloc[0]) or str(code)
    if kind == "school":
        return str(school_text(one, tables).iloc[0]) or str(code)
    return str(owner_text(one, tables, _lang()).iloc[0]) or str(code)


@bp.app_context_processor
def _template_globals() -> dict:
    zh = _lang() == "zh"

    def t(zh_text: str, en_text: str) -> str:
        return zh_text if zh else en_text

    def lab(table: dict, code) -> str:
        if code is None or (isinstance(code, float) and pd.isna(code)):
            return ""
        pair = table.get(code)
        return str(code) if pair is None else pair[0 if zh else 1]

    return {
        "t": t,
        "lab": lab,
        "class_name": lambda class_id: _display("class", class_id),
        "school_name": lambda school_id: _display("school", school_id),
        "staff_name": lambda staff_id: _display("staff", staff_id),
        "lang": _lang(),
        "confidential": CONFIDENTIAL[0 if zh else 1],
        "TIERS": TIER_LABELS,
        "EVENTS": EVENT_LABELS,
        "OUTCOMES": OUTCOME_LABELS,
        "STAGES": STAGE_LABELS,
        "STATUSES": CASE_STATUS_LABELS,
        "CASE_TYPES": CASE_TYPE_LABELS,
        "ROLES": {**ROLE_LABELS, "county": ("县教育局", "county"), "researcher": ("研究人员", "researcher")},
        "me": current_user.principal if current_user.is_authenticated else None,
    }


_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@bp.after_app_request
def _headers(resp):
    resp.headers["Content-Security-Policy"] = _CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["X-Frame-Options"] = "DENY"
    if request.endpoint != "static":
        resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.url_value_preprocessor
def _plain_ids(_endpoint, values) -> None:
    """An id with a control character (a NUL, a newline) names nothing: 404, never a database error."""
    for v in (values or {}).values():
        if isinstance(v, str) and (len(v) > 64 or any(ord(ch) < 32 for ch in v)):
            abort(404)


@bp.before_app_request
def _expire_idle_session():
    if "lang" in request.args and request.args["lang"] in ("zh", "en"):
        session["lang"] = request.args["lang"]
    if not current_user.is_authenticated:
        return None
    now = _state().clock()
    last = session.get("seen")
    limit = dt.timedelta(minutes=_state().config.web.session_minutes)
    if last is not None and now - dt.datetime.fromisoformat(last) > limit:
        logout_user()
        session.clear()
        return redirect(url_for("web.login", next=request.path))
    session["seen"] = now.isoformat()
    return None


# --- login ------------------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    from jobs.web.auth import check_login

    error = None
    if request.method == "POST":
        st = _state()
        staff_id = request.form.get("staff_id", "").strip()
        password = request.form.get("password", "")
        with st.engine.begin() as conn:
            res = check_login(
                conn,
                staff_id,
                password,
                now=st.clock(),
                max_failures=st.config.web.max_failed_logins,
                lockout=dt.timedelta(minutes=st.config.web.lockout_minutes),
            )
            principal = _principal(conn, staff_id) if res.ok else None
        if principal is not None:
            lang = session.get("lang")
            session.clear()  # a fresh session at login (no fixation)
            if lang:
                session["lang"] = lang
            session.permanent = True
            session["seen"] = st.clock().isoformat()
            login_user(WebUser(principal))
            with scoped_session(st.sessions, principal) as s, s.begin():
                s.add(AuditEntry(ts=st.clock(), staff_id=principal.staff_id, role=principal.role, action="login",
                                 school_id=principal.school_id))  # fmt: skip
            log.info("login %s (%s)", principal.staff_id, principal.role)
            nxt = request.args.get("next", "")
            return redirect(nxt if nxt.startswith("/") and not nxt.startswith("//") else url_for("web.home"))
        log.info("failed login for id %s%s", staff_id[:64], " (locked)" if res.locked else "")
        error = "locked" if res.locked else "wrong"
    return render_template("login.html", error=error), 401 if error else 200


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    session.clear()
    return redirect(url_for("web.login"))


@bp.route("/")
@login_required
def home():
    p = _me()
    if p.role == "head_teacher" and p.class_ids:
        return redirect(url_for("web.class_page", class_id=p.class_ids[0]))
    if p.role == "principal" and p.school_id:
        return redirect(url_for("web.school_page", school_id=p.school_id))
    if p.role in ("county", "researcher"):
        return redirect(url_for("web.county_page"))
    with _reading() as s:
        cases = s.scalars(
            sa.select(Case).where(Case.status.in_(OPEN_STATUSES)).order_by(Case.opened_at)
        ).all()
    return render_template("home.html", cases=cases)


# --- reading helpers ----------------------------------------------------------------------------------


def _latest_run(s: Session) -> Run | None:
    # the latest night's current version: never a failed, void or superseded run
    stmt = sa.select(Run).where(current_run()).order_by(Run.as_of.desc(), Run.finished_at.desc()).limit(1)
    return s.scalars(stmt).first()


def _names(ids) -> dict[str, str]:
    """Names of ``ids`` from the county's ``student_names`` table (empty without it, or for
    researchers). Only ids the route has already read through the scoped session are asked."""
    from risk.reporting import student_names

    tables = _state().tables
    if tables is None or not _me().sees_names or not len(ids):
        return {}
    lookup = student_names(tables)
    wanted = [str(i) for i in ids]
    return {i: str(lookup[i]) for i in wanted if i in lookup.index}


def _split(text) -> list[str]:
    """A joined snapshot cell as a list: zh reasons are joined by "；", en ones and codes by ";"."""
    return [x.strip() for x in str(text or "").replace("；", ";").split(";") if x.strip()]


# --- pages ----------------------------------------------------------------------------------------------


@bp.route("/class/<class_id>")
@login_required
def class_page(class_id: str):
    _only("head_teacher", "principal")
    with _reading() as s:
        run = _latest_run(s)
        if run is None:
            abort(404)
        rows = s.scalars(
            sa.select(RiskSnapshot)
            .where(RiskSnapshot.run_id == run.run_id, RiskSnapshot.class_id == class_id)
            .order_by(RiskSnapshot.rank_class)
        ).all()
        if not rows:
            abort(404)
        open_cases = {
            c.student_id: c
            for c in s.scalars(
                sa.select(Case).where(Case.class_id == class_id, Case.status.in_(OPEN_STATUSES))
            )
        }
    means = _county_means(run.run_id)
    lang = _lang()
    group = list_group(
        pd.Series([str(r.tier) for r in rows]),
        pd.Series([bool(r.listed) for r in rows]),
        pd.Series([r.student_id in open_cases for r in rows]),
    ).tolist()
    order = {"red": 0, "yellow": 1, "selected": 2, "blue": 3, "case": 4}
    cards = sorted(
        (i for i, g in enumerate(group) if g != "none"),
        key=lambda i: (order[group[i]], -(rows[i].probability or 0.0), rows[i].student_id),
    )
    left = [i for i, g in enumerate(group) if g == "none" and rows[i].change == "left"]
    watch = sorted(
        (i for i, g in enumerate(group) if g == "none" and (rows[i].tags or "").strip() and i not in left),
        key=lambda i: (-(rows[i].probability or 0.0), rows[i].student_id),
    )

    def entry(i: int) -> dict:
        r = rows[i]
        risk = risk_words(r.probability, means[0], r.prev_probability, previous_mean=means[1], language=lang,
                          when=("上次", "last run"))  # fmt: skip
        return {"row": r, "group": group[i], "risk": risk, "tags": tags_text(r.tags or "", lang),
                "words": worded.get(r.student_id, {})}  # fmt: skip

    worded = _worded([rows[i] for i in cards + left])
    on_list, places = _school_places(run.run_id, rows[0].school_id)
    shown = [rows[i].student_id for i in cards + left + watch]
    return render_template(
        "class.html", class_id=class_id, school_id=rows[0].school_id, run=run, n_all=len(rows),
        cards=[entry(i) for i in cards], left=[entry(i) for i in left], watch=[entry(i) for i in watch],
        on_list=on_list, places=places, county_mean=means[0], group_labels=LIST_GROUP_LABELS,
        cases=open_cases, names=_names(shown), split=_split,
    )  # fmt: skip


def _county_means(run_id: str) -> tuple[float, float]:
    """The county average of a run and of the run before it (the mean calibrated probability over
    every student scored; the earlier one over this run's students' ``prev_probability``).

    A county figure (:data:`jobs.web.scope.COUNTY_FIGURES`): a head teacher's own scope holds
    only their class, whose mean is not the county's.
    """
    with _reading() as s:
        now, before = s.execute(
            sa.select(
                sa.func.avg(RiskSnapshot.probability), sa.func.avg(RiskSnapshot.prev_probability)
            ).where(RiskSnapshot.run_id == run_id),
            execution_options=COUNTY_FIGURES,
        ).one()
    return (float("nan") if now is None else float(now), float("nan") if before is None else float(before))


def _school_places(run_id: str, school_id: str) -> tuple[int, int]:
    """The school's red + yellow students in the run and its prevention places (``capacity``): two
    numbers, a county figure like :func:`_county_means`."""
    with _reading() as s:
        rows = s.execute(
            sa.select(RiskSnapshot.tier, sa.func.count(), sa.func.max(RiskSnapshot.capacity))
            .where(RiskSnapshot.run_id == run_id, RiskSnapshot.school_id == school_id)
            .group_by(RiskSnapshot.tier),
            execution_options=COUNTY_FIGURES,
        ).all()
    on = sum(n for tier, n, _ in rows if tier in ("red", "yellow"))
    cap = max((c for _, _, c in rows if c is not None), default=0)
    return int(on), int(cap or 0)


def _student_context(s: Session, student_id: str) -> dict:
    snaps = s.scalars(
        sa.select(RiskSnapshot).where(RiskSnapshot.student_id == student_id).order_by(RiskSnapshot.as_of)
    ).all()
    cases = s.scalars(sa.select(Case).where(Case.student_id == student_id).order_by(Case.opened_at)).all()
    if not snaps and not cases:
        abort(404)
    ids = [c.case_id for c in cases]
    events = s.scalars(
        sa.select(CaseEvent).where(CaseEvent.case_id.in_(ids)).order_by(CaseEvent.ts, CaseEvent.event_id)
    ).all()
    ivs = s.scalars(sa.select(Intervention).where(Intervention.case_id.in_(ids))).all()
    plans = s.scalars(
        sa.select(PlanVersion)
        .where(PlanVersion.student_id == student_id)
        .order_by(PlanVersion.version.desc())
    ).all()
    notes = s.scalars(sa.select(Note).where(Note.student_id == student_id).order_by(Note.ts.desc())).all()
    current = snaps[-1] if snaps else None
    return {
        "student_id": student_id,
        "snaps": snaps,
        "current": current,
        "worded": (_worded([current]).get(str(current.student_id), {}) if current is not None else {}),
        "cases": cases,
        "open_case": next((c for c in reversed(cases) if c.status in OPEN_STATUSES), None),
        "events": events,
        "interventions": ivs,
        "plans": plans,
        "notes": notes,
        "school_id": current.school_id if current else cases[-1].school_id,
        "class_id": current.class_id if current else cases[-1].class_id,
    }


def _county_data(ctx: dict) -> dict:
    """Attendance calendar, exams (every exam up to the data date, as the 一生一案 sheet lists them)
    and household from the loaded county tables (when loaded)."""
    tables = _state().tables
    cur = ctx["current"]
    if tables is None or cur is None:
        return {"calendar": None, "exams": None, "profile": None}
    from risk.reporting import student_plan

    cols = [c.name for c in RiskSnapshot.__table__.columns]
    snap = pd.DataFrame([{c: getattr(cur, c) for c in cols}])
    snap["as_of"] = pd.to_datetime(snap["as_of"])
    if str(cur.student_id) not in set(tables.students["student_id"].astype("str")):
        return {"calendar": None, "exams": None, "profile": None}
    plan = student_plan(snap, cur.student_id, tables=tables, language=_lang(),
                        features_config=_state().config.features)  # fmt: skip
    return {"calendar": plan.attendance, "exams": plan.exam_history, "profile": plan.profile}


def _risk_context(ctx: dict) -> dict:
    """The child's risk now (with the run before) and over the runs, as multiples of the county
    average (:func:`risk.reporting.labels.risk_words`)."""
    cur = ctx["current"]
    now_words = ""
    if cur is not None:
        now, before = _county_means(cur.run_id)
        now_words = risk_words(cur.probability, now, cur.prev_probability, previous_mean=before,
                               language=_lang(), when=("上次", "last run"))  # fmt: skip
    return {"risk_now": now_words, "risk_words": _risk_over_runs(ctx["snaps"])}


def _risk_over_runs(snaps: list) -> list[str]:
    """Each of a child's snapshot rows' risk as a multiple of that run's county average
    (:func:`_run_means`)."""
    means = _run_means([r.run_id for r in snaps])
    lang = _lang()
    return [risk_words(r.probability, means.get(r.run_id), language=lang) for r in snaps]


def _run_means(run_ids: list[str]) -> dict[str, float]:
    """run_id -> the county average of that run (one number per run; a county figure like
    :func:`_county_means`)."""
    if not run_ids:
        return {}
    with _reading() as s:
        got = s.execute(
            sa.select(RiskSnapshot.run_id, sa.func.avg(RiskSnapshot.probability))
            .where(RiskSnapshot.run_id.in_(set(run_ids)))
            .group_by(RiskSnapshot.run_id),
            execution_options=COUNTY_FIGURES,
        ).all()
    return {r: float(m) for r, m in got if m is not None}


@bp.route("/student/<student_id>")
@login_required
def student_page(student_id: str):
    with _reading() as s:
        ctx = _student_context(s, student_id)
        owners = s.scalars(
            sa.select(Staff.staff_id).where(Staff.active.is_(True)).order_by(Staff.staff_id)
        ).all()
    _audit_view("view_student", student_id=student_id, school_id=ctx["school_id"])
    ctx.update(_county_data(ctx))
    ctx.update(_risk_context(ctx))
    return render_template(
        "student.html", **ctx, name=_names([student_id]).get(student_id, ""), owners=owners,
        contact_types=CONTACT_TYPES, outcomes=_OUTCOMES, split=_split, error=request.args.get("error"),
    )  # fmt: skip


@bp.route("/cases/<case_id>")
@login_required
def case_page(case_id: str):
    with _reading() as s:
        case = s.scalars(sa.select(Case).where(Case.case_id == case_id)).first()
        if case is None:
            abort(404)
        events = s.scalars(
            sa.select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.ts)
        ).all()
        owners = s.scalars(
            sa.select(Staff.staff_id).where(Staff.active.is_(True)).order_by(Staff.staff_id)
        ).all()
    _audit_view("view_case", student_id=case.student_id, case_id=case_id, school_id=case.school_id)
    return render_template(
        "case.html", case=case, events=events, owners=owners, reasons=CLOSURE_REASONS,
        name=_names([case.student_id]).get(case.student_id, ""), error=request.args.get("error"),
    )  # fmt: skip


@bp.route("/school/<school_id>")
@login_required
def school_page(school_id: str):
    _only("principal")
    with _reading() as s:
        run = _latest_run(s)
        by_tier = s.execute(
            sa.select(RiskSnapshot.class_id, RiskSnapshot.tier, sa.func.count())
            .where(RiskSnapshot.run_id == (run.run_id if run else ""), RiskSnapshot.school_id == school_id)
            .group_by(RiskSnapshot.class_id, RiskSnapshot.tier),
            execution_options=AGGREGATE,
        ).all()
        if not by_tier:
            abort(404)
        cases = s.scalars(
            sa.select(Case)
            .where(Case.school_id == school_id, Case.status.in_(OPEN_STATUSES))
            .order_by(Case.opened_at)
        ).all()
    today = _state().clock().date()
    esc = _state().config.job.escalation_days
    overdue = {
        c.case_id for c in cases if (today - c.opened_at).days > esc and c.case_type == "suspected_dropout"
    }
    classes: dict[str, dict] = {}
    for cls, tier, n in by_tier:
        classes.setdefault(cls, {})[tier] = n
    on_list, places = _school_places(run.run_id, school_id) if run else (0, 0)
    return render_template(
        "school.html", school_id=school_id, run=run, classes=classes, cases=cases, overdue=overdue,
        on_list=on_list, places=places,
        names=_names([c.student_id for c in cases]),
    )  # fmt: skip


@bp.route("/county")
@login_required
def county_page():
    if _me().role not in ("county", "researcher"):
        abort(404)
    with _reading() as s:
        run = _latest_run(s)
        tiers = s.execute(
            sa.select(RiskSnapshot.school_id, RiskSnapshot.tier, sa.func.count())
            .where(RiskSnapshot.run_id == (run.run_id if run else ""))
            .group_by(RiskSnapshot.school_id, RiskSnapshot.tier),
            execution_options=AGGREGATE,
        ).all()
        case_counts = s.execute(
            sa.select(Case.school_id, Case.case_type, Case.status, sa.func.count()).group_by(
                Case.school_id, Case.case_type, Case.status
            ),
            execution_options=AGGREGATE,
        ).all()
        named = s.scalars(sa.select(Case).order_by(Case.opened_at)).all()  # county: 四步法 cases only
    schools: dict[str, dict] = {}
    for school, tier, n in tiers:
        schools.setdefault(school, {"tiers": {}, "cases": {}})["tiers"][tier] = n
    for school, ctype, status, n in case_counts:
        key = f"{ctype}:{'open' if status in OPEN_STATUSES else 'closed'}"
        d = schools.setdefault(school, {"tiers": {}, "cases": {}})["cases"]
        d[key] = d.get(key, 0) + n
    return render_template(
        "county.html", run=run, schools=schools, named=named,
        names=_names([c.student_id for c in named]),
    )  # fmt: skip


@bp.route("/county/monthly.xlsx")
@login_required
def county_monthly():
    """The county monthly report 月报 (the county form with zero-report rows) as XLSX.

    The form lists each new suspected-dropout case; a case not yet at a 四步法 step shows
    no name, class, sex, birth month or household (the county sees children by name only
    from the 四步法 on: :func:`risk.reporting.monthly_report` ``masked``).
    """
    import tempfile
    from pathlib import Path

    from flask import send_file

    from jobs.reports.xlsx import monthly_xlsx
    from risk.reporting.monthly import monthly_report

    _only("county")
    month = request.args.get("month", "").strip()
    if month and not _MONTH.fullmatch(month):
        abort(400, description="month: YYYY-MM")
    with _reading() as s:
        run = _latest_run(s)
        as_of = run.as_of if run else _state().clock().date()
        cases = _rows_frame(s.scalars(sa.select(Case), execution_options=MONTHLY_FORM).all(), Case)
        events = _rows_frame(s.scalars(sa.select(CaseEvent), execution_options=MONTHLY_FORM).all(), CaseEvent)
    hidden = cases.loc[pd.to_numeric(cases["four_step_stage"], errors="coerce").fillna(0).lt(1), "case_id"]
    period = month or as_of.strftime("%Y-%m")
    report = monthly_report(
        period, cases=cases, case_events=events, tables=_state().tables, as_of=as_of, language=_lang(),
        masked=set(hidden.astype("str")),
    )  # fmt: skip
    _audit_view("download_monthly", month=period, cases=len(cases))
    with tempfile.TemporaryDirectory() as tmp:
        path = monthly_xlsx(report, Path(tmp) / f"monthly-{period}.xlsx")
        data = path.read_bytes()
    return send_file(
        io.BytesIO(data),
        as_attachment=True,
        download_name=f"baoxue-monthly-{period}.xlsx",
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def _rows_frame(rows, model) -> pd.DataFrame:
    cols = [c.name for c in model.__table__.columns]
    frame = pd.DataFrame([{c: getattr(r, c) for c in cols} for r in rows], columns=cols)
    for c in ("opened_at", "closed_at", "last_seen", "returned_at", "close_proposed_at", "escalated_at",
              "ts", "next_due"):  # fmt: skip
        if c in frame.columns:
            frame[c] = pd.to_datetime(frame[c]).astype("datetime64[s]")
    return frame


_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


@bp.route("/research")
@login_required
def research_page():
    """Researchers (and county staff): counts over the runs, supports by design, case outcomes;
    the intervention evaluation report when ``[web] evidence_report`` names one."""
    _only("researcher", "county")
    with _reading() as s:
        runs = s.scalars(sa.select(Run).where(Run.status == "ok").order_by(Run.as_of.desc()).limit(12)).all()
        tiers = s.execute(
            sa.select(RiskSnapshot.run_id, RiskSnapshot.tier, sa.func.count())
            .where(RiskSnapshot.run_id.in_([r.run_id for r in runs]))
            .group_by(RiskSnapshot.run_id, RiskSnapshot.tier),
            execution_options=AGGREGATE,
        ).all()
        supports = s.execute(
            sa.select(Intervention.type, Intervention.assignment_mechanism, sa.func.count()).group_by(
                Intervention.type, Intervention.assignment_mechanism
            ),
            execution_options=AGGREGATE,
        ).all()
        outcomes = s.execute(
            sa.select(Case.case_type, Case.status, Case.closure_reason, sa.func.count()).group_by(
                Case.case_type, Case.status, Case.closure_reason
            ),
            execution_options=AGGREGATE,
        ).all()
    by_run: dict[str, dict[str, int]] = {}
    for run_id, tier, n in tiers:
        by_run.setdefault(run_id, {})[tier] = n
    evidence = _evidence_file()
    return render_template(
        "research.html", runs=runs, by_run=by_run, supports=supports, outcomes=outcomes,
        evidence=evidence is not None,
    )  # fmt: skip


def _evidence_file():
    from pathlib import Path

    name = _state().config.web.evidence_report
    path = Path(name) if name else None
    return path if path is not None and path.is_file() else None


@bp.route("/research/evidence")
@login_required
def research_evidence():
    """The intervention evaluation report (``baoxue evaluate-interventions --out``): estimates
    and balance tables only, pseudonymised, no names."""
    _only("researcher", "county")
    path = _evidence_file()
    if path is None:
        abort(404)
    return path.read_text(encoding="utf-8")


@bp.route("/audit")
@login_required
def audit_page():
    if _me().role not in ("principal", "county"):
        abort(404)
    with _reading() as s:
        rows = s.scalars(sa.select(AuditEntry).order_by(AuditEntry.audit_id.desc()).limit(500)).all()
    return render_template("audit.html", rows=rows)


# --- actions ----------------------------------------------------------------------------------------------


def _back(student_id: str, error: str | None = None):
    """After an action on a child's page: the page again (a plain form POST), or, for an HTMX
    request, just the case-history card, with the message of a refused action in it."""
    if request.headers.get("HX-Request") == "true":
        with _reading() as s:
            ctx = _student_context(s, student_id)
        card = render_template("_history.html", **ctx, split=_split, saved=error is None, partial_error=error)
        if error is None:  # the form comes back empty, so a note is not saved twice
            card += render_template("_contact.html", student_id=student_id, contact_types=CONTACT_TYPES,
                                    outcomes=_OUTCOMES, oob=True)  # fmt: skip
        return card
    return redirect(url_for("web.student_page", student_id=student_id, error=error) + "#history")


def _case_event(s: Session, case: Case, event_type: str, *, on: dt.date, **cols) -> CaseEvent | list:
    """Apply one staff update to ``case`` through :func:`risk.cases.apply_staff_update`; append its event."""
    state = {c.name: getattr(case, c.name) for c in Case.__table__.columns}
    update = {"case_id": case.case_id, "event_type": event_type, "ts": on, **cols}
    staff_ids = set(s.scalars(sa.select(Staff.staff_id)).all())
    change = apply_staff_update(state, update, staff_ids=staff_ids, as_of=_state().clock().date(),
                                lengths={**UPDATE_FIELD_LENGTHS, "documents": NOTE_MAX_CHARS})  # fmt: skip
    if isinstance(change, list):
        return change
    for k, v in change.items():
        setattr(case, k, v)
    detail = {k: cols[k] for k in ("closure_reason", "documents", "placement") if cols.get(k)}
    ev = CaseEvent(
        event_id=f"W-{stable_hash(case.case_id, event_type, uuid.uuid4().hex, n=20)}",
        case_id=case.case_id,
        ts=on,
        event_type=event_type,
        actor_role=_me().role if _me().role in ("head_teacher", "counsellor", "principal") else "other",
        outcome=cols.get("outcome"),
        next_due=cols.get("next_due"),
        four_step_stage=cols.get("four_step_stage"),
        owner_staff_id=cols.get("owner_staff_id"),
        source="web",
        run_id=None,
        detail=json.dumps({**detail, "by": _me().staff_id}, ensure_ascii=False, sort_keys=True),
        note=cols.get("note") or None,
    )
    s.add(ev)
    return ev


def _refused(problems: list[Rejection]) -> str:
    """Why an action was refused, in the user's language (the form error)."""
    return "; ".join(p.text(_lang()) for p in problems)


def _form_date(name: str, default: dt.date | None = None) -> dt.date | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        abort(400, description=f"{name}: not a date (YYYY-MM-DD)")


def _only(*roles: str) -> None:
    if _me().role not in roles:
        abort(404)


@bp.route("/student/<student_id>/contact", methods=["POST"])
@login_required
def record_contact(student_id: str):
    _only("head_teacher", "counsellor")
    etype, outcome = request.form.get("event_type"), request.form.get("outcome") or None
    if etype not in CONTACT_TYPES or (outcome is not None and outcome not in _OUTCOMES):
        abort(400, description="event_type / outcome: unknown code")
    today = _state().clock().date()
    with _writing() as s:
        ctx = _student_context(s, student_id)
        case = ctx["open_case"]
        if case is None:
            return _back(student_id, "no_case")
        res = _case_event(s, case, etype, on=_form_date("ts", today), outcome=outcome,
                          next_due=_form_date("next_due"), note=request.form.get("note", "").strip())  # fmt: skip
        if isinstance(res, list):
            return _back(student_id, _refused(res))
        _audit(s, "record_event", student_id=student_id, case_id=case.case_id, school_id=case.school_id,
               event_type=etype, outcome=outcome)  # fmt: skip
    return _back(student_id)


@bp.route("/student/<student_id>/report", methods=["POST"])
@login_required
def report_suspected(student_id: str):
    _only("head_teacher")
    today = _state().clock().date()
    with _writing() as s:
        ctx = _student_context(s, student_id)
        if any(c.case_type == "suspected_dropout" and c.status in OPEN_STATUSES for c in ctx["cases"]):
            return _back(student_id, "already_open")
        run = _latest_run(s)
        row = report_dropout(student_id, on=today, school_id=ctx["school_id"], class_id=ctx["class_id"],
                             run_id=run.run_id if run else "web", owner_staff_id=_me().staff_id)  # fmt: skip
        if s.scalars(sa.select(Case.case_id).where(Case.case_id == row["case_id"])).first():
            return _back(student_id, "already_open")
        s.add(Case(**row))
        s.flush()
        s.add(CaseEvent(event_id=f"W-{stable_hash(row['case_id'], 'opened', uuid.uuid4().hex, n=20)}",
                        case_id=row["case_id"], ts=today, event_type="opened", actor_role="head_teacher",
                        owner_staff_id=_me().staff_id, source="web",
                        detail=json.dumps({"trigger": "staff_report", "by": _me().staff_id})))  # fmt: skip
        _audit(s, "report_dropout", student_id=student_id, case_id=row["case_id"], school_id=ctx["school_id"])
    return _back(student_id)


@bp.route("/student/<student_id>/note", methods=["POST"])
@login_required
def add_note(student_id: str):
    _only("head_teacher", "counsellor", "principal")
    text = request.form.get("text", "").strip()
    if not text or len(text) > 4000:
        abort(400, description="text: 1 to 4000 characters")
    with _writing() as s:
        ctx = _student_context(s, student_id)
        case = ctx["open_case"]
        s.add(Note(note_id=f"N-{uuid.uuid4().hex[:20]}", student_id=student_id,
                   case_id=case.case_id if case else None, school_id=ctx["school_id"], class_id=ctx["class_id"],
                   author_staff_id=_me().staff_id, ts=_state().clock(), text=text))  # fmt: skip
        _audit(s, "add_note", student_id=student_id, school_id=ctx["school_id"])
    return _back(student_id)


@bp.route("/student/<student_id>/plan", methods=["POST"])
@login_required
def save_plan(student_id: str):
    """A new version of the plan; the form carries the version it was based on (a stale one: 409)."""
    _only("counsellor", "principal")
    try:
        base = int(request.form.get("base_version", ""))
    except ValueError:
        abort(400, description="base_version: a whole number")
    goal, measures = request.form.get("goal", "").strip(), request.form.get("measures", "").strip()
    if not goal or not measures:
        abort(400, description="goal and measures are required")
    try:
        with _writing() as s:
            ctx = _student_context(s, student_id)
            latest = ctx["plans"][0].version if ctx["plans"] else 0
            if latest != base:
                raise _Conflict(latest)
            case = ctx["open_case"]
            s.add(PlanVersion(
                plan_id=f"P-{uuid.uuid4().hex[:20]}", student_id=student_id, version=base + 1,
                case_id=case.case_id if case else None, school_id=ctx["school_id"], class_id=ctx["class_id"],
                goal=goal, measures=measures, owner_staff_id=request.form.get("owner_staff_id") or _me().staff_id,
                review_date=_form_date("review_date"), progress=request.form.get("progress", "").strip() or None,
                author_staff_id=_me().staff_id, created_at=_state().clock(),
            ))  # fmt: skip
            _audit(s, "plan_version", student_id=student_id, school_id=ctx["school_id"], version=base + 1)
    except (_Conflict, sa.exc.IntegrityError) as exc:
        latest = exc.latest if isinstance(exc, _Conflict) else None
        with _reading() as s:
            ctx = _student_context(s, student_id)
        ctx.update(_county_data(ctx))
        ctx.update(_risk_context(ctx))
        return render_template(
            "student.html", **ctx, name=_names([student_id]).get(student_id, ""), owners=[],
            contact_types=CONTACT_TYPES, outcomes=_OUTCOMES, split=_split, error=None,
            conflict={"base": base, "latest": latest if latest is not None else ctx["plans"][0].version,
                      "goal": goal, "measures": measures},
        ), 409  # fmt: skip
    return _back(student_id)


class _Conflict(Exception):
    def __init__(self, latest: int):
        super().__init__(latest)
        self.latest = latest


def _case_for_action(s: Session, case_id: str) -> Case:
    case = s.scalars(sa.select(Case).where(Case.case_id == case_id)).first()
    if case is None:
        abort(404)
    return case


def _case_back(case_id: str, error: str | None = None):
    return redirect(url_for("web.case_page", case_id=case_id, error=error))


@bp.route("/cases/<case_id>/assign", methods=["POST"])
@login_required
def assign_owner(case_id: str):
    _only("principal")
    owner = request.form.get("owner_staff_id", "").strip()
    with _writing() as s:
        case = _case_for_action(s, case_id)
        res = _case_event(s, case, "reassigned", on=_state().clock().date(), owner_staff_id=owner)
        if isinstance(res, list):
            return _case_back(case_id, _refused(res))
        _audit(
            s,
            "assign_owner",
            student_id=case.student_id,
            case_id=case_id,
            school_id=case.school_id,
            owner=owner,
        )
    return _case_back(case_id)


@bp.route("/cases/<case_id>/close", methods=["POST"])
@login_required
def close_case(case_id: str):
    _only("principal")
    reason = request.form.get("closure_reason", "")
    if reason not in CLOSURE_REASONS:
        abort(400, description="closure_reason: unknown code")
    with _writing() as s:
        case = _case_for_action(s, case_id)
        res = _case_event(s, case, "close", on=_state().clock().date(), closure_reason=reason)
        if isinstance(res, list):
            return _case_back(case_id, _refused(res))
        _audit(
            s, "close", student_id=case.student_id, case_id=case_id, school_id=case.school_id, reason=reason
        )
    return _case_back(case_id)


@bp.route("/cases/<case_id>/step", methods=["POST"])
@login_required
def take_step(case_id: str):
    """Escalate to the next 四步法 step, with its date, the due date and the documents."""
    _only("principal")
    try:
        stage = int(request.form.get("four_step_stage", ""))
    except ValueError:
        abort(400, description="four_step_stage: 1-4")
    if not 1 <= stage <= 4:
        abort(400, description="four_step_stage: 1-4")
    documents = request.form.get("documents", "").strip()  # too long: refused, never cut
    with _writing() as s:
        case = _case_for_action(s, case_id)
        res = _case_event(s, case, "step", on=_form_date("ts", _state().clock().date()), four_step_stage=stage,
                          next_due=_form_date("next_due"), documents=documents)  # fmt: skip
        if isinstance(res, list):
            return _case_back(case_id, _refused(res))
        _audit(s, "step", student_id=case.student_id, case_id=case_id, school_id=case.school_id, stage=stage)
    return _case_back(case_id)
