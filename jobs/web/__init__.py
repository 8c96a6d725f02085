"""The staff web app (``baoxue serve``): each person sees only their own students.

Flask 3 + Jinja2, Flask-Login sessions, Flask-WTF CSRF on every form, HTMX (a package file,
no CDN). Pages read the ledger only through the scoped session of :mod:`jobs.web.scope`;
case actions go through :mod:`risk.cases`' transitions and append ``case_events``; every
view of a child's page and every change appends an ``audit`` row. Names (from the county's
``names`` table, when ``[data] source`` is loaded) are shown on pages, never logged.

>>> app = create_app("sqlite://")
>>> app.test_client().get("/class/c1").status_code  # not logged in: to /login
302
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from pathlib import Path

from flask import Flask

from features.config import BaoxueConfig

__all__ = ["create_app"]


def create_app(
    db_url: str,
    config: BaoxueConfig | None = None,
    *,
    tables=None,
    clock: Callable[[], dt.datetime] = dt.datetime.now,
) -> Flask:
    """The app on the ledger ``db_url`` (migrated on first use for a new SQLite file).

    ``config``: ``[web]`` (session minutes, lockout) and ``[job]``; ``tables``: the county's
    loaded tables (attendance calendar, exams, household, names on the child's page; default:
    loaded from ``[data] source`` when that folder exists, else the pages show the ledger
    only); ``clock``: "now" (tests move it to expire sessions and lockouts).
    """
    from flask_login import LoginManager
    from flask_wtf.csrf import CSRFProtect

    from jobs.nightly import open_database
    from jobs.web import views
    from jobs.web.scope import session_factory

    cfg = config or BaoxueConfig()
    engine = open_database(db_url, lock_timeout_s=cfg.job.lock_timeout_s)
    if tables is None and cfg.data.source and Path(cfg.data.source).is_dir():
        from features.load import load_tables

        tables = load_tables(cfg.data, cfg.data.source).tables
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config.update(
        SECRET_KEY=cfg.web.secret_key or secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=cfg.web.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(minutes=cfg.web.session_minutes),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session (which expires)
        MAX_CONTENT_LENGTH=1 << 20,
    )
    app.extensions["baoxue"] = views.AppState(
        engine=engine, sessions=session_factory(engine), config=cfg, tables=tables, clock=clock
    )
    CSRFProtect(app)
    login = LoginManager(app)
    login.login_view = "web.login"
    login.user_loader(views.load_user)
    app.register_blueprint(views.bp)
    return app
