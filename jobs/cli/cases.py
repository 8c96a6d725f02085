"""``baoxue cases``: the case ledger (台账) for the staff responsible."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jobs.cli._common import (
    App,
    ConfigOpt,
    DbOpt,
    Language,
    choice,
    config_with_db,
    console,
    isna,
    open_ledger,
    parse_day,
)

__all__ = ["cases_app"]

#: ``--data`` of ``cases list`` and ``cases show``: names come from the county's tables
NamesData = Annotated[
    str | None,
    typer.Option(
        "--data",
        help="the county's data folder or URL: show classes and staff by name (the contract's "
        "optional classes.name and staff.name; 六年级1班 without them)",
    ),
]


def _county_tables(data: str | None, config):
    """The county's tables when ``--data`` is given (for names), else ``None``."""
    if data is None:
        return None
    from jobs.cli._common import load_county

    return load_county(data, config)[1].tables


def _with_names(frame, tables, language: str = "zh"):
    """``class`` and ``owner`` columns in words (:func:`risk.reporting._common.class_text`,
    :func:`~risk.reporting._common.owner_text`) beside the ids."""
    from risk.reporting._common import class_text, owner_text

    return frame.assign(
        **{
            "class": class_text(frame["class_id"], tables, language),
            "owner": owner_text(frame["owner_staff_id"], tables, language),
        }
    )


#: ledger columns whose codes are said in words (``--lang``), with their vocabulary
_WORDS = {
    "case_type": "CASE_TYPE_LABELS",
    "status": "CASE_STATUS_LABELS",
    "tier_last": "TIER_LABELS",
    "four_step_stage": "STAGE_LABELS",
    "event_type": "EVENT_LABELS",
    "actor_role": "ROLE_LABELS",
    "outcome": "OUTCOME_LABELS",
    "tier": "TIER_LABELS",
    "measures": "INTERVENTION_LABELS",
}

#: ``--lang`` of ``cases list`` and ``cases show``
CasesLang = Annotated[
    Language,
    typer.Option(
        "--lang", parser=choice(Language, "language"), help="codes (event, role, status, step) in words"
    ),
]


def _word(column: str, value: object, language: str = "zh") -> str:
    """A ledger value as staff read it: a code of :data:`_WORDS` in words, else :func:`_readable`.

    >>> _word("event_type", "home_visit"), _word("actor_role", "system", "en"), _word("four_step_stage", 2.0)
    ('家访', 'system', '第二步 责令改正')
    >>> _word("event_type", "county_code_9"), _word("opened_at", __import__("pandas").Timestamp("2025-04-07"))
    ('county_code_9', '2025-04-07')
    """
    if column in _WORDS and not isna(value):
        from risk.reporting import labels

        if isinstance(value, str) and ";" in value:  # a list of codes (measures)
            return "；".join(_word(column, v, language) for v in value.split(";") if v)
        if column == "four_step_stage" and isinstance(value, float) and value.is_integer():
            value = int(value)
        return labels.label(getattr(labels, _WORDS[column]), value, language)  # type: ignore[arg-type]
    return _readable(column, value, language)


cases_app = App(
    help="The case ledger (台账): list, show, import staff updates, write the update sheet template.",
    no_args_is_help=True,
)


@cases_app.command("list")
def cases_list(
    config: ConfigOpt = None,
    db: DbOpt = None,
    school: Annotated[str | None, typer.Option(help="school_id")] = None,
    class_id: Annotated[str | None, typer.Option("--class", help="class_id")] = None,
    all_: Annotated[bool, typer.Option("--all", help="closed cases too")] = False,
    data: NamesData = None,
    lang: CasesLang = "zh",
) -> None:
    """The ledger of a school or class: open cases (with --all, every case); with --data, the
    class and the owner by name."""
    from rich.table import Table

    from jobs.storage import read_cases

    if school is None and class_id is None:
        raise ValueError("name a --school or a --class: lists go only to the staff responsible")
    engine = open_ledger(config_with_db(config, db))
    frame = read_cases(engine, school_id=school, class_id=class_id, open_only=not all_)
    table = Table(title=f"cases: {school or ''} {class_id or ''} ({len(frame)})")
    cols = ["case_id", "student_id", "case_type", "trigger", "opened_at", "owner_staff_id", "four_step_stage",
            "status", "tier_last", "last_seen"]  # fmt: skip
    tables = _county_tables(data, config)
    if tables is not None:
        frame = _with_names(frame, tables, lang)
        cols = [*cols[:2], "class", *cols[2:5], "owner", *cols[5:]]
    for c in cols:  # ids are never cut: they are copied into `baoxue cases show`
        ids = c in ("case_id", "student_id", "owner_staff_id")
        table.add_column(
            c, no_wrap=ids, min_width=len(str(frame[c].map(str).max())) if ids and len(frame) else None
        )
    for _, r in frame.iterrows():
        table.add_row(*("" if isna(r[c]) else f"{r[c]:%Y-%m-%d}" if "_at" in c or c == "last_seen"
                        else _word(c, r[c], lang) for c in cols))  # fmt: skip
    console.print(table, crop=False, overflow="ignore")


@cases_app.command("show")
def cases_show(
    case_id: Annotated[str, typer.Argument(help="the case's id")],
    config: ConfigOpt = None,
    db: DbOpt = None,
    data: NamesData = None,
    lang: CasesLang = "zh",
) -> None:
    """One case and its history (events in order); with --data, the class and staff by name."""
    from rich.table import Table

    from jobs.storage import read_case_events, read_cases

    engine = open_ledger(config_with_db(config, db))
    cases = read_cases(engine)
    if case_id not in set(cases["case_id"]):
        raise ValueError(f"no case {case_id!r} in the ledger (see `baoxue cases list`)")
    tables = _county_tables(data, config)
    if tables is not None:
        cases = _with_names(cases, tables, lang)
    case = cases.set_index("case_id").loc[case_id]
    console.print(f"case_id: {case_id}", markup=False, highlight=False)
    for k, v in case.items():
        if not isna(v):
            console.print(f"{k}: {_word(k, v, lang)}", markup=False, highlight=False)
    table = Table(title="history")
    cols = [
        "ts",
        "event_type",
        "source",
        "actor_role",
        "outcome",
        "four_step_stage",
        "owner_staff_id",
        "next_due",
    ]
    for c in cols:
        table.add_column(c, no_wrap=c in ("ts", "owner_staff_id", "next_due"))
    events = read_case_events(engine, case_id=case_id)
    if tables is not None:
        from risk.reporting._common import owner_text

        events = events.assign(
            owner_staff_id=owner_text(events["owner_staff_id"], tables, lang).replace("", None)
        )
    for _, r in events.iterrows():
        table.add_row(*("" if isna(r[c]) else f"{r[c]:%Y-%m-%d}" if c in ("ts", "next_due") else _word(c, r[c], lang)
                        for c in cols))  # fmt: skip
    console.print(table)
    for _, r in events.iterrows():  # the evidence of each event, one line each
        if not isna(r["detail"]) and str(r["detail"]).strip():
            console.print(f"{r['ts']:%Y-%m-%d} {_word('event_type', r['event_type'], lang)}: {_readable('detail', r['detail'], lang)}",
                          markup=False, highlight=False)  # fmt: skip


def _readable(key: str, value: object, language: str = "zh") -> str:
    """A ledger value as a person reads it: dates as dates, probabilities as percentages, the
    JSON of an event's detail as ``key: value`` pairs (numbers rounded), lists joined.

    >>> _readable("probability_last", 0.123456), _readable("opened_at", __import__("pandas").Timestamp("2025-04-07"))
    ('12.3%', '2025-04-07')
    >>> _readable("detail", '{"probability": 0.4567891, "rules": ["rule_3day"], "tier": "red"}')
    'probability: 45.7%; rules: rule_3day; tier: 红色预警'
    """
    import json

    import pandas as pd

    if isinstance(value, pd.Timestamp) or hasattr(value, "isoformat") and not isinstance(value, str):
        return f"{pd.Timestamp(value):%Y-%m-%d}"
    if isinstance(value, float) and ("probability" in key or key.endswith("_share")):
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:g}"
    if key == "detail" and isinstance(value, str) and value.startswith(("{", "[")):
        try:
            data = json.loads(value)
        except ValueError:
            return value
        if isinstance(data, dict):
            return "; ".join(
                f"{k}: {_word(k, v, language)}" for k, v in data.items() if v not in (None, "", [])
            )
        return _readable(key, data, language)
    if isinstance(value, list):
        return ", ".join(_readable(key, v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_readable(k, v)}" for k, v in value.items())
    return str(value)


@cases_app.command("import")
def cases_import(
    file: Annotated[Path, typer.Argument(help="staff updates, CSV or XLSX (case_id, ts, event_type, ...)")],
    config: ConfigOpt = None,
    db: DbOpt = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="the import's date (default: today)")] = None,
    rejects: Annotated[Path | None, typer.Option(help="rejects CSV (default FILE.rejects.csv)")] = None,
) -> None:
    """Import staff updates (home visits, outcomes, steps, placements, closing) as case events."""
    from jobs.ledger import import_updates

    day = parse_day(as_of)
    cfg = config_with_db(config, db)
    engine = open_ledger(cfg)
    res = import_updates(engine, file, as_of=day, rejects_file=rejects, lock_timeout_s=cfg.job.lock_timeout_s)
    n_bad = res.rejects.loc[res.rejects["file_row"] > 1, "file_row"].nunique() if len(res.rejects) else 0
    if res.unknown_columns:
        console.print(
            f"warning: unknown column(s) not imported: {', '.join(res.unknown_columns)} "
            "(see the rejects file, row 1; `baoxue cases template` writes a sheet with the known headers)",
            markup=False,
            highlight=False,
        )
    console.print(
        f"{file}: {res.rows} rows; imported {res.imported}, imported before {res.already}, rejected {n_bad} "
        f"(rejects file: {res.rejects_file})",
        markup=False,
        highlight=False,
    )


@cases_app.command("template")
def cases_template(
    file: Annotated[Path, typer.Argument(help="the sheet to write, XLSX or CSV")] = Path("case_updates.xlsx"),
    lang: Annotated[
        Language, typer.Option("--lang", parser=choice(Language, "language"), help="header language")
    ] = "zh",
) -> None:
    """Write an empty staff update sheet with the import's headers (备注 = note included)."""
    from jobs.ledger import write_update_template

    console.print(f"wrote {write_update_template(file, lang=lang)}", markup=False, highlight=False)
