"""``baoxue serve``: the staff web app on the ledger."""

from __future__ import annotations

from typing import Annotated

import typer

from jobs.cli._common import ConfigOpt, DbOpt, config_with_db

__all__ = ["serve"]


def serve(
    db: DbOpt = None,
    config: ConfigOpt = None,
    host: Annotated[
        str, typer.Option(help="address to listen on (127.0.0.1: this machine only)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
) -> None:
    """Serve the staff web app (class lists, 一生一案, cases, audit) on the ledger database."""
    from werkzeug.serving import run_simple

    from jobs.web import create_app

    cfg = config_with_db(config, db)
    app = create_app(cfg.job.db_url, cfg)
    typer.echo(f"baoxue web app on http://{host}:{port}/login (Ctrl-C to stop)")
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
